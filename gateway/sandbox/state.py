"""A chat's session state: its variables, resetting it, and loading uploaded CSVs into it.

Variables live only in the sandbox (pickles are never opened here); this module asks the
executor. Resets and uploads hold the chat's query lock, so they never race a running query.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway.chats.journal import RestartRecord, UploadRecord
from gateway.chats.store import Chat, ChatStore
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import workspace_edits
from gateway.sandbox.disk_usage import DiskQuota
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.file_pool import FilePool
from gateway.sandbox.files import Listing, open_file, walk
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.uploads import StagedUpload, variable_name, write_stream
from gateway.settings import Settings
from shared.errors import AppError, InvalidPath, NotFound, SandboxError, SandboxTimeout
from shared.protocol import LoadCsvRequest, LoadCsvResult, VariableList, VariableValue

_LOCK_TTL_S = 600.0
T = TypeVar("T")


class SessionService:
    def __init__(self, chats: ChatStore, sandboxes: SandboxManager, settings: Settings) -> None:
        self._chats = chats
        self._sandboxes = sandboxes
        self._settings = settings
        self._files = FilePool()
        self._disk = DiskQuota(settings.sandbox_disk_limit)

    def workspace(self, chat: Chat) -> Path:
        return self._sandboxes.paths(chat.chat_id).workspace

    async def list_files(self, chat: Chat) -> Listing:
        """The workspace's files, bounded and time-boxed (see gateway.sandbox.files.walk)."""
        return await self._files.walk(chat.user_id, walk, self.workspace(chat))

    async def open_file(self, chat: Chat, path: str) -> tuple[int, os.stat_result]:
        return await self._files.run(open_file, self.workspace(chat), path)

    async def read_small_file(self, chat: Chat, path: str, limit: int) -> bytes | None:
        """A workspace file's bytes (as `open_file` finds it), or None when it is not there or
        larger than `limit` bytes."""
        try:
            fd, st = await self.open_file(chat, path)
        except (NotFound, InvalidPath):
            return None
        if st.st_size > limit:
            os.close(fd)
            return None
        return b"".join([chunk async for chunk in self.read_file(fd, st.st_size)])

    async def delete_file(self, chat: Chat, path: str) -> None:
        """Delete a file or folder of the workspace (a folder with all it holds)."""
        await self._files.walk(chat.user_id, workspace_edits.delete, self.workspace(chat), path)

    async def move_file(self, chat: Chat, source: str, destination: str, overwrite: bool) -> None:
        await self._files.run(
            workspace_edits.move, self.workspace(chat), source, destination, overwrite
        )

    def archive(self, chat: Chat) -> AsyncIterator[bytes]:
        """The workspace as a zip, made as it is sent."""
        workspace = self.workspace(chat)
        return self._files.produce(
            chat.user_id, lambda out: workspace_edits.write_archive(workspace, out)
        )

    def read_file(self, fd: int, size: int) -> AsyncIterator[bytes]:
        """The bytes of a file `open_file` opened; closes it at the end."""
        return self._files.stream(fd, size)

    async def variables(self, chat: Chat) -> VariableList:
        if not await asyncio.to_thread(self._has_state, chat.chat_id):
            # Nothing was ever checkpointed: no need to start a sandbox to say so.
            return VariableList(variables=[])
        return await self._call(chat, lambda client: client.variables())

    async def variable(self, chat: Chat, name: str, offset: int, limit: int) -> VariableValue:
        return await self._call(chat, lambda client: client.variable(name, offset, limit))

    async def variable_csv(self, chat: Chat, name: str) -> AsyncIterator[bytes]:
        async def started(client: ExecutorClient) -> tuple[AsyncIterator[bytes], bytes]:
            stream = client.variable_csv(name)
            # The first chunk pulled here, so a 404 or 409 is answered as such before the 200.
            return stream, await anext(stream, b"")

        stream, first = await self._call(chat, started)

        async def chunks() -> AsyncIterator[bytes]:
            yield first
            async for chunk in stream:
                yield chunk

        return chunks()

    async def restart(self, chat: Chat) -> None:
        """Delete all the chat's variables and files and start a fresh kernel."""
        async with self._chats.query_lock(chat.chat_id, ttl_s=_LOCK_TTL_S):
            status = await self._sandboxes.poll(chat.chat_id)
            if status == "running":
                await self._call(chat, lambda client: client.reset())
            else:
                # No kernel holds the state: clearing the folders is the whole reset, and the
                # next query starts an empty kernel.
                await self._files.walk(chat.user_id, self._clear_folders, chat.chat_id)
            await self._chats.append_message(chat.chat_id, RestartRecord())

    async def load_csv(
        self, chat: Chat, filename: str, chunks: AsyncIterator[bytes], size: int | None = None
    ) -> LoadCsvResult:
        """Store the CSV in the workspace and load it as a DataFrame named after the file.
        On any failure nothing is left behind: no file, no variable. Refused when the chat is
        past its SANDBOX_DISK_LIMIT, or the upload (`size` bytes, when known up front) would
        take it past."""
        async with self._chats.query_lock(chat.chat_id, ttl_s=_LOCK_TTL_S):
            paths = self._sandboxes.paths(chat.chat_id)
            room = await self._disk.room_for_upload([paths.workspace, paths.state], size)
            # The chat's folders exist once its sandbox has started.
            await self._sandboxes.ensure_running(chat)
            files = self._files
            staged = await files.run(StagedUpload, self.workspace(chat), filename)
            try:
                await write_stream(
                    self._disk.within(chunks, room),
                    lambda chunk: files.run(staged.write, chunk),
                    self._settings.max_upload_bytes,
                )
                uid = self._sandboxes.uid(chat.chat_id)
                if uid is None:
                    raise SandboxError("the chat's sandbox stopped before the upload was stored")
                await files.run(staged.hand_to_sandbox, uid)
                request = LoadCsvRequest(path=staged.name, variable=variable_name(filename))
                result = await self._call(chat, lambda client: client.load_csv(request))
                await files.run(staged.keep_as, filename)
            except BaseException:
                # On the loop, not the pool: an unlink and a close, and a cancelled request must
                # still get them done.
                staged.discard()
                raise
            finally:
                staged.close()
            await self._chats.append_message(
                chat.chat_id,
                UploadRecord(file=filename, variable=result.variable, shape=result.shape),
            )
            return result.model_copy(update={"path": filename})

    async def _call(self, chat: Chat, action: Callable[[ExecutorClient], Awaitable[T]]) -> T:
        """Run `action` against the chat's executor, starting the sandbox again once if it was
        stopped or killed since we last talked to it and the request never reached it.

        Never retried: a request the executor may have acted on (the connection broke after it
        was sent), an executor that did not answer in time (SandboxTimeout), and the executor's
        own error answers (the typed errors of gateway.sandbox.executor)."""
        for attempt in (1, 2):
            client = await self._sandboxes.ensure_running(chat)
            try:
                return await action(client)
            except ExecutorUnavailable as e:
                self._sandboxes.mark_unavailable(chat.chat_id)
                if e.accepted:
                    raise SandboxError(
                        f"the sandbox stopped answering while it handled the request: {e}"
                    ) from e
                if attempt == 2:
                    raise SandboxError(f"the sandbox could not be reached: {e}") from e
            except SandboxTimeout:
                # Have the next request find out whether the executor answers at all.
                self._sandboxes.mark_unavailable(chat.chat_id)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _has_state(self, chat_id: str) -> bool:
        # Only asks whether the folder (a mount point, ours) has any entry; nothing is opened in it.
        state = self._sandboxes.paths(chat_id).state
        return state.is_dir() and any(state.iterdir())

    def _clear_folders(self, chat_id: str) -> None:
        # The rule: chat_folders works below each folder by descriptor, never following a link.
        paths = self._sandboxes.paths(chat_id)
        for folder in (paths.workspace, paths.state):
            try:
                chat_folders.clear(folder)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise AppError(f"the reset could not delete everything: {e}") from e
