"""A chat's session state: its variables, resetting it, and uploads (kept as files, and loaded as
DataFrames when they hold data).

Variables live only in the sandbox (pickles are never opened here); this module asks the
executor. Resets and uploads hold the chat's query lock, so they never race a running query.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gateway.chats.journal import RestartRecord, UploadedDataset, UploadRecord
from gateway.chats.store import Chat, ChatStore
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import workspace_edits
from gateway.sandbox.disk_usage import DiskQuota, UserDiskLimit
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.file_pool import FilePool
from gateway.sandbox.files import Listing, open_file, walk
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.upload_models import (
    IncomingFile,
    UploadedFile,
    UploadError,
    UploadOptions,
    UploadResult,
)
from gateway.sandbox.uploads import StagedUpload, variable_name, write_stream
from gateway.settings import Settings
from shared.errors import (
    AppError,
    InvalidPath,
    NotFound,
    PayloadTooLarge,
    SandboxError,
    SandboxTimeout,
)
from shared.protocol import (
    WORKSPACE_DIR,
    LoadCsvRequest,
    LoadCsvResult,
    LoadRequest,
    LoadResult,
    VariableList,
    VariableValue,
)
from shared.uploads import claimed_format

_LOCK_TTL_S = 600.0
T = TypeVar("T")


@dataclass
class _Batch:
    """What the files of one upload have taken so far: disk room (None: no limit), and the file
    and variable names that later files of it must not reuse, even to overwrite."""

    room: int | None
    files: set[str] = field(default_factory=set)
    variables: list[str] = field(default_factory=list)

    def kept(self, path: str, size: int, variables: list[str]) -> None:
        self.files.add(path)
        self.variables += variables
        if self.room is not None:
            self.room -= size


class SessionService:
    def __init__(
        self,
        chats: ChatStore,
        sandboxes: SandboxManager,
        settings: Settings,
        user_disk_limit: UserDiskLimit | None = None,
    ) -> None:
        self._chats = chats
        self._sandboxes = sandboxes
        self._settings = settings
        self._files = FilePool()
        self._disk = DiskQuota(settings.sandbox_disk_limit, user_disk_limit)

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
        """Delete all the chat's variables, files and installed packages, and start a fresh
        kernel."""
        async with self._chats.query_lock(chat.chat_id, ttl_s=_LOCK_TTL_S):
            status = await self._sandboxes.poll(chat.chat_id)
            if status == "running":
                # The packages first: the kernel the reset starts must not find them. Its
                # sandbox mounts them read-only, so only the gateway can clear them.
                await self._files.walk(chat.user_id, self._clear_packages, chat.chat_id)
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
            room = await self._disk.room_for_upload(
                paths.measured, size, chat.chat_id, chat.user_id
            )
            # The chat's folders exist once its sandbox has started.
            await self._sandboxes.ensure_running(chat)
            files = self._files
            staged = await files.run(StagedUpload, self.workspace(chat), filename)
            try:
                written = await write_stream(
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
            record = UploadRecord(
                file=filename,
                variable=result.variable,
                shape=result.shape,
                size=written,
                format="csv",
                datasets=[UploadedDataset.of(result)],
            )
            await self._chats.append_message(chat.chat_id, record)
            return result.model_copy(update={"path": filename})

    async def upload(
        self, chat: Chat, files: list[IncomingFile], options: UploadOptions
    ) -> UploadResult:
        """Keep each file in the workspace, and load those of a data format as DataFrames: a
        result per file. Refused whole (nothing stored) when the chat is past its
        SANDBOX_DISK_LIMIT or the files, their sizes known up front, would take it past. A file
        that fails is never left half-written; if none was stored, its error is the answer,
        else it is reported in its place beside the others."""
        async with self._chats.query_lock(chat.chat_id, ttl_s=_LOCK_TTL_S):
            paths = self._sandboxes.paths(chat.chat_id)
            sizes = [f.size for f in files]
            total = None if None in sizes else sum(size or 0 for size in sizes)
            room = await self._disk.room_for_upload(
                paths.measured, total, chat.chat_id, chat.user_id
            )
            # The chat's folders exist once its sandbox has started.
            await self._sandboxes.ensure_running(chat)
            results: list[UploadedFile] = []
            failures: list[AppError] = []
            batch = _Batch(room)
            for incoming in files:
                try:
                    result = await self._keep(chat, incoming, options, batch)
                except AppError as e:
                    failures.append(e)
                    error = UploadError(status=e.status, code=e.code, detail=e.detail)
                    results.append(UploadedFile(name=incoming.name, kind="failed", error=error))
                    continue
                results.append(result)
            if len(failures) == len(files):
                raise failures[0]
            return UploadResult(files=results)

    async def _keep(
        self,
        chat: Chat,
        incoming: IncomingFile,
        options: UploadOptions,
        batch: _Batch,
    ) -> UploadedFile:
        """Store one file (staged, then named: never half-written), load it when its name
        claims a data format, and journal it."""
        limit = self._settings.max_upload_bytes
        if incoming.size is not None and incoming.size > limit:
            raise PayloadTooLarge(
                f"'{incoming.filename}' has {incoming.size} bytes, more than "
                f"MAX_UPLOAD_BYTES allows ({limit} bytes)"
            )
        format = claimed_format(incoming.filename)
        files = self._files
        staged = await files.run(StagedUpload, self.workspace(chat), incoming.filename)
        try:
            size = await write_stream(
                self._disk.within(incoming.chunks, batch.room),
                lambda chunk: files.run(staged.write, chunk),
                limit,
            )
            uid = self._sandboxes.uid(chat.chat_id)
            if uid is None:
                raise SandboxError("the chat's sandbox stopped before the upload was stored")
            await files.run(staged.hand_to_sandbox, uid)
            loaded = LoadResult()
            if format is not None:
                request = LoadRequest(
                    path=staged.name,
                    variable=variable_name(incoming.filename),
                    format=format,
                    delimiter=options.delimiter,
                    encoding=options.encoding,
                    overwrite=options.overwrite,
                    keep=batch.variables,
                )
                loaded = await self._call(chat, lambda client: client.load(request))
            path = await files.run(staged.keep, incoming.filename, options.overwrite, batch.files)
        except BaseException:
            # On the loop, not the pool: an unlink and a close, and a cancelled request must
            # still get them done.
            staged.discard()
            raise
        finally:
            staged.close()
        datasets = [d.model_copy(update={"path": path}) for d in loaded.datasets]
        load_error = loaded.error
        if load_error is not None:
            # The parser named the file by its staged name, which the user never saw.
            staged_path = f"{WORKSPACE_DIR}/{staged.name}"
            load_error = load_error.replace(staged_path, path).replace(staged.name, path)
        batch.kept(path, size, [d.variable for d in datasets])
        first = datasets[0] if datasets else None
        await self._chats.append_message(
            chat.chat_id,
            UploadRecord(
                file=path,
                variable=first.variable if first else "",
                shape=first.shape if first else [],
                size=size,
                format=format,
                datasets=[UploadedDataset.of(d) for d in datasets],
                load_error=load_error,
            ),
        )
        return UploadedFile(
            name=incoming.name,
            kind="dataset" if datasets else "file",
            path=path,
            size=size,
            format=format,
            datasets=datasets,
            load_error=load_error,
        )

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

    def _clear_packages(self, chat_id: str) -> None:
        try:
            chat_folders.clear(self._sandboxes.paths(chat_id).packages)
        except FileNotFoundError:
            return
        except OSError as e:
            raise AppError(f"the reset could not delete the installed packages: {e}") from e

    def _clear_folders(self, chat_id: str) -> None:
        # The rule: chat_folders works below each folder by descriptor, never following a link.
        paths = self._sandboxes.paths(chat_id)
        for folder in (paths.workspace, paths.state, paths.packages):
            try:
                chat_folders.clear(folder)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise AppError(f"the reset could not delete everything: {e}") from e
