"""The sandbox manager: starts, stops, removes and adopts the chats' sandboxes, and the pool's.

Like dockerspawner: async orchestrators (ensure_running, stop, remove, adopt) on top of a few
blocking primitives (get, create, start, stop, remove), which are gateway.sandbox.containers, the
code that talks to Docker; each runs through asyncio.to_thread. A chat's package installer is
gateway.sandbox.installer.

Several gateway processes share the engine. One starts, stops or removes a chat's sandbox at a
time (a lease in Redis, gateway.sandbox.coordination), and what a process remembers of a sandbox
(that it answered, what it was made with) is a cache: when it is wrong, the next request to the
sandbox fails before it is sent, and the sandbox is looked up again.
"""

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import docker
from docker.errors import APIError, ImageNotFound

from gateway import metrics
from gateway.chats.store import Chat
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import installer, inventory
from gateway.sandbox.containers import (
    ChatPaths,
    Identity,
    PooledContainer,
    SandboxContainers,
    chat_of,
    identity_of,
    role_of,
)
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.executor_socket import SandboxSocket
from gateway.sandbox.installer import InstallOutcome
from gateway.sandbox.inventory import SandboxView
from gateway.sandbox.runtime import Runtime
from gateway.settings import DEFAULT_IMAGE, Settings
from shared.errors import ErrorCode, SandboxError
from shared.errors import NotFound as ChatNotFound
from shared.packages import Requirement

log = logging.getLogger(__name__)

# 128 + SIGKILL: the container's init was killed, or exited saying its child was.
_KILLED_EXIT_CODE = 137

# Asked before a sandbox is made or started, and again after: True once the chat's deletion has
# begun. Deletion lives in the chat store; the manager only has to respect it.
IsDeleted = Callable[[str], Awaitable[bool]]
# The host uid of a chat's sandbox (chat id, first uid of the range): handed out once per chat by
# the chat store, so no per-uid kernel limit (inotify instances, processes, ...) is shared
# between tenants.
UidOf = Callable[[str, int], Awaitable[int]]
# Whether a query runs in the chat now (its query lock is held, by any gateway process).
IsBusy = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class Pooled:
    """A warm pooled sandbox as the pool hands it out: its pool id and the uid it runs as."""

    pool_id: str
    uid: int


class PoolTaker(Protocol):
    """What the manager needs of the pool (gateway.sandbox.pool.SandboxPool)."""

    async def take(self, chat_id: str) -> Pooled | None:
        """A warm pooled sandbox for a chat whose sandbox never ran, handed out once."""
        ...

    async def taken(self, pool_id: str) -> None:
        """The claim of `pool_id` is over, done or undone."""
        ...


class SandboxManager:
    def __init__(
        self,
        client: docker.DockerClient,
        settings: Settings,
        runtime: Runtime,
        coordination: SandboxCoordination,
        is_deleted: IsDeleted,
        uid_of: UidOf,
        is_busy: IsBusy,
    ) -> None:
        self._containers = SandboxContainers(client, settings, runtime)
        self._settings = settings
        self._coordination = coordination
        self._is_deleted = is_deleted
        self._uid_of = uid_of
        self._is_busy = is_busy
        # Each chat's client, with the identity of the container it was made for.
        self._clients: dict[str, tuple[Identity, ExecutorClient]] = {}
        # Each container's identity, read from the container itself.
        self._identities: dict[str, Identity] = {}
        self._closing: set[asyncio.Future[None]] = set()
        # Chats whose executor answered since we last saw it fail: the warm path skips Docker.
        self._running: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        # The warm pool new chats' first starts claim from, when SANDBOX_POOL_SIZE is not 0.
        self.pool: PoolTaker | None = None
        # Called before a chat's sandbox starts, when USER_MAX_RUNNING_SANDBOXES is on: stops
        # another of the user's sandboxes to make room, or refuses (gateway.quotas).
        self.make_room: Callable[[Chat], Awaitable[None]] | None = None

    @property
    def runtime(self) -> Runtime:
        return self._containers.runtime

    @property
    def own_uid(self) -> int | None:
        """The uid every sandbox runs as when we are not root; None: each chat has its own."""
        return self._containers.own_uid

    def paths(self, chat_id: str) -> ChatPaths:
        return self._containers.paths(chat_id)

    # --- orchestrators ---

    def _lock(self, chat_id: str) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _exclusive(self, chat_id: str) -> AsyncIterator[None]:
        """The one start, stop or removal of the chat's sandbox: within this process (a lock,
        so its own callers queue without asking Redis), then among all of them (a lease)."""
        async with self._lock(chat_id), self._coordination.exclusive(chat_id):
            yield

    def client(self, chat_id: str) -> ExecutorClient:
        """The client of the chat's executor as of its container's secret; ExecutorUnavailable
        when this gateway has not seen the container yet (ensure_running starts it)."""
        identity = self._identities.get(chat_id)
        if identity is None:
            raise ExecutorUnavailable(f"the sandbox of {chat_id} has not been started")
        known = self._clients.get(chat_id)
        if known is not None and known[0] == identity:
            return known[1]
        if known is not None:
            self._closing.add(asyncio.ensure_future(known[1].aclose()))
        sandbox_socket = SandboxSocket(
            self._settings.data_dir, chat_id, identity.uid, identity.peer_uid
        )
        client = ExecutorClient(sandbox_socket, chat_id, identity.secret)
        self._clients[chat_id] = (identity, client)
        return client

    def uid(self, chat_id: str) -> int | None:
        """The uid the chat's sandbox runs as, once this gateway has seen it start."""
        identity = self._identities.get(chat_id)
        return None if identity is None else identity.uid

    async def ensure_running(self, chat: Chat) -> ExecutorClient:
        """The chat's executor, creating or starting its container first when needed.

        The start runs as its own task that every caller awaits (shielded): a caller that is
        cancelled (a client went away) must not abandon a half-done start for the next caller
        to trip over, for instance by removing the socket a just-started executor made."""
        chat_id = chat.chat_id
        await self._coordination.touch(chat_id)
        if chat_id not in self._running:
            start = self._starting.get(chat_id)
            if start is None:
                start = self._starting[chat_id] = asyncio.create_task(self._start(chat))
                start.add_done_callback(lambda _: self._starting.pop(chat_id, None))
            await asyncio.shield(start)
        return self.client(chat_id)

    async def ensure_room(self, chat: Chat) -> None:
        """Make room for the chat's sandbox under USER_MAX_RUNNING_SANDBOXES, or refuse, unless
        this process knows it runs already (so a warm query asks Docker nothing)."""
        if self.make_room is not None and chat.chat_id not in self._running:
            await self.make_room(chat)

    async def _start(self, chat: Chat) -> None:
        chat_id = chat.chat_id
        if self.make_room is not None:
            # Before the chat's own lock: making room takes other chats' locks, and two starts
            # of one user must never wait on each other's.
            await self.make_room(chat)
        async with self._exclusive(chat_id):
            if chat_id in self._running:
                return
            await self._refuse_if_deleted(chat_id, made=False)
            began = time.perf_counter()
            claimed = await self._claim_pooled(chat)
            how = "claimed" if claimed else await self._start_container(chat, clean=False)
            # Asked again now that it exists: a delete that began meanwhile may have missed it.
            await self._refuse_if_deleted(chat_id, made=True)
            try:
                if not claimed:  # a claimed one answered as the chat's already
                    await self._wait_ready(chat_id)
            except ExecutorUnavailable as e:
                # User code put something else at the socket's name. A clean restart kills that
                # code and lets the executor bind a real socket again (variables are restored).
                log.warning(
                    "sandbox of %s tampered with its socket (%s); restarting it", chat_id, e
                )
                await self._start_container(chat, clean=True)
                try:
                    await self._wait_ready(chat_id)
                except ExecutorUnavailable as again:
                    raise SandboxError(f"the sandbox's socket is not usable: {again}") from again
            if how is not None:  # None: another process had started it
                metrics.sandbox_started(how, time.perf_counter() - began)
            self._running.add(chat_id)
            # Written whatever this process last wrote: another may have reaped it meanwhile.
            await self._coordination.touch(chat_id, force=True)

    async def _claim_pooled(self, chat: Chat) -> bool:
        """Make a warm pooled sandbox the chat's, for a chat whose sandbox never ran. False when
        the pool has none, or the claim fails (the pooled sandbox is then removed, and the
        caller starts the chat's cold: a pool's failure is never the user's)."""
        pool = self.pool
        chat_id = chat.chat_id
        if chat.image != DEFAULT_IMAGE:
            return False  # the pool holds SANDBOX_IMAGE's sandboxes only
        if pool is None or await asyncio.to_thread(os.path.lexists, self.paths(chat_id).root):
            return False
        pooled = await pool.take(chat_id)
        if pooled is None:
            return False
        try:
            identity = await asyncio.to_thread(
                self._containers.take_pooled, pooled.pool_id, chat_id
            )
        except (APIError, SandboxError, OSError) as e:
            log.warning("pooled sandbox %s not claimed for %s: %s", pooled.pool_id, chat_id, e)
            await asyncio.to_thread(self._containers.remove_pooled, pooled.pool_id)
            await pool.taken(pooled.pool_id)
            return False
        self._identities[chat_id] = identity
        try:
            await self.client(chat_id).claim()
        except SandboxError as e:
            log.warning("pooled sandbox %s refused %s: %s", pooled.pool_id, chat_id, e.detail)
            self._identities.pop(chat_id, None)
            await asyncio.to_thread(self._containers.remove, chat_id)
            return False
        finally:
            await pool.taken(pooled.pool_id)
        log.info("sandbox of %s claimed from the pool (%s)", chat_id, pooled.pool_id)
        return True

    async def pool_scope(self) -> str:
        """See SandboxContainers.pool_scope; a SandboxError naming the image when it is missing."""
        try:
            return await asyncio.to_thread(self._containers.pool_scope)
        except ImageNotFound as e:
            raise self._containers.image_missing() from e

    async def make_pooled(self, pool_id: str, uid: int, scope: str) -> None:
        """Start a pooled sandbox and wait until its executor answers, its kernel warm; one
        that gets nowhere is removed again."""
        began = time.perf_counter()
        try:
            identity = await asyncio.to_thread(self._containers.make_pooled, pool_id, uid, scope)
            self._identities[pool_id] = identity
            await self._wait_ready(pool_id)
            metrics.sandbox_started("pool", time.perf_counter() - began)
        except BaseException:
            await asyncio.shield(self.remove_pooled(pool_id))
            raise
        finally:
            await self._forget(pool_id)

    async def remove_pooled(self, pool_id: str) -> None:
        await asyncio.to_thread(self._containers.remove_pooled, pool_id)

    async def list_pooled(self) -> list[PooledContainer]:
        return await asyncio.to_thread(self._containers.list_pooled)

    async def _forget(self, serves: str) -> None:
        """Drop what this process knows of a container (its identity and client)."""
        self._identities.pop(serves, None)
        known = self._clients.pop(serves, None)
        if known is not None:
            await known[1].aclose()

    async def _start_container(self, chat: Chat, clean: bool) -> str | None:
        """How the container started (see SandboxContainers.ensure_started)."""
        uid = self.own_uid
        if uid is None:
            uid = await self._uid_of(chat.chat_id, self._settings.sandbox_uid_base)
        try:
            identity, how = await asyncio.to_thread(
                self._containers.ensure_started, chat, uid, clean
            )
        except APIError as e:
            raise SandboxError(f"could not start the sandbox: {e.explanation or e}") from e
        except chat_folders.FolderNotCleared as e:
            raise SandboxError(
                f"the chat's files could not be handed to its sandbox's uid ({e}); "
                "reset or delete the chat"
            ) from e
        self._identities[chat.chat_id] = identity
        return how

    async def _refuse_if_deleted(self, chat_id: str, made: bool) -> None:
        """NotFound once the chat's deletion began; what this start `made` is removed first."""
        if await self._is_deleted(chat_id):
            if made:
                await asyncio.to_thread(self._containers.remove, chat_id)
            raise ChatNotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)

    def mark_unavailable(self, chat_id: str) -> None:
        """Forget that the chat's executor answered; the next ensure_running checks Docker."""
        self._running.discard(chat_id)

    async def _wait_ready(self, chat_id: str) -> None:
        """Wait until the executor answers as this chat's. ExecutorUnavailable(tampered) at once
        when the socket's name holds something else; SandboxError past the start timeout."""
        client = self.client(chat_id)
        deadline = time.monotonic() + self._settings.sandbox_start_timeout_s
        while True:
            try:
                await client.health()
                return
            except ExecutorUnavailable as e:
                if e.tampered:
                    raise
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"the sandbox did not become ready within "
                        f"{self._settings.sandbox_start_timeout_s:.0f} s: {e}"
                    ) from e
            await asyncio.sleep(0.02)

    async def install(self, chat: Chat, requirements: list[Requirement]) -> InstallOutcome:
        """Install packages of the store into the chat's packages folder, which its running
        kernel has on sys.path (sandbox_runner.kernel). Starts the chat's sandbox first: its
        folders exist then, with their owner, and a pooled sandbox has been claimed."""
        await self.ensure_running(chat)
        uid = self.uid(chat.chat_id)
        if uid is None:
            raise SandboxError("the chat's sandbox stopped before the install began")
        try:
            return await asyncio.to_thread(
                installer.run,
                self._containers,
                chat.chat_id,
                uid,
                self._containers.image_of(chat),
                requirements,
            )
        except APIError as e:
            raise SandboxError(f"could not run the installer: {e.explanation or e}") from e

    async def stop(self, chat_id: str) -> None:
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            await asyncio.to_thread(self._containers.stop, chat_id)
            await self._coordination.forget(chat_id)

    async def restart(self, chat_id: str) -> bool:
        """Restart the chat's container; its workspace and checkpoints stay. False if none."""
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            return await asyncio.to_thread(self._containers.restart, chat_id)

    async def remove(self, chat_id: str) -> None:
        """Remove the chat's container and every file of it (workspace, state, socket)."""
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            await self._forget(chat_id)
            await asyncio.to_thread(self._containers.remove, chat_id)
            await self._coordination.forget(chat_id)
        self._locks.pop(chat_id, None)

    async def exit_reason(self, chat_id: str) -> str:
        """Why the chat's container stopped, in words for the user, from Docker's record."""
        container = await asyncio.to_thread(self._containers.get, chat_id)
        # A stream cut by a kill is seen a moment before Docker records the container's end.
        for _ in range(30):
            if container is None or not container.attrs.get("State", {}).get("Running"):
                break
            await asyncio.sleep(0.1)
            container = await asyncio.to_thread(self._containers.get, chat_id)
        if container is None:
            return "its container was removed"
        state = container.attrs.get("State", {})
        code = state.get("ExitCode")
        # Docker (20.10) sets OOMKilled when anything in the container was OOM-killed during
        # its run, such as a kernel the executor replaced long before (runc): it is taken for
        # the container's end only when that end was a SIGKILL too. Under gVisor an OOM always
        # kills the whole container, so there it is exact; under runc a `docker kill` after an
        # earlier kernel OOM still reads as one.
        if state.get("OOMKilled") and code == _KILLED_EXIT_CODE:
            return (
                f"it ran out of memory (the sandbox's limit is "
                f"{self._settings.sandbox_memory_limit}, SANDBOX_MEMORY_LIMIT)"
            )
        if state.get("Running"):
            return "its executor stopped answering"
        if code == _KILLED_EXIT_CODE:
            return f"its container was killed (exit code {code}, SIGKILL)"
        return f"its container stopped (exit code {code})"

    async def poll(self, chat_id: str) -> str | None:
        """The container's Docker status ("running", "exited", ...) or None when there is none."""
        container = await asyncio.to_thread(self._containers.get, chat_id)
        return None if container is None else container.status

    async def adopt(self) -> dict[str, str]:
        """Take over the sandboxes already there (left by a previous gateway, or run by the
        other processes): chat id -> container status. Running ones go on serving; stopped ones
        are started on their chat's next query."""
        containers = await asyncio.to_thread(self._containers.list_managed)
        found: dict[str, str] = {}
        for container in containers:
            chat_id = chat_of(container)
            if chat_id is None:
                continue  # a pooled sandbox nobody claimed (gateway.sandbox.pool keeps those)
            found[chat_id] = container.status
            identity = identity_of(container)
            if identity is not None:
                self._identities[chat_id] = identity
        await self._coordination.adopted(
            [chat_id for chat_id, status in found.items() if status == "running"]
        )
        return found

    async def stop_old_builds(self) -> list[str]:
        """Stop the sandboxes that run an older build of their image (`make images` ran since
        they started), unless a query runs in them: a chat's next use starts it from the new
        build with its variables restored, instead of an old kernel serving a new gateway. One
        still busy is left to its idle stop. Run once in the background when a gateway process
        starts, not on its way to serving. Returns the chats stopped."""
        stopped: list[str] = []
        try:
            old = await asyncio.to_thread(self._containers.old_builds)
        except Exception as e:  # Docker failing: the idle stops move them later
            log.warning("could not look for sandboxes of older image builds: %s", e)
            return stopped
        for chat_id in old:
            why = "its image was built again since it started"
            try:
                if await self.stop_unused(chat_id, why=why):
                    stopped.append(chat_id)
            except Exception as e:  # Docker or Redis failing: its idle stop comes later
                log.warning("could not stop the old build of %s's sandbox: %s", chat_id, e)
        return stopped

    async def interrupt(self, chat_id: str) -> None:
        """Interrupt the cell running in the chat's sandbox, if its container runs: the cell of
        a query whose gateway process died. Never raises for a sandbox that cannot be asked."""
        container = await asyncio.to_thread(self._containers.get, chat_id)
        identity = None if container is None else identity_of(container)
        if container is None or container.status != "running" or identity is None:
            return
        self._identities[chat_id] = identity
        await self.client(chat_id).interrupt()

    async def stop_idle(self) -> list[str]:
        """Stop the sandboxes no gateway process used for SANDBOX_IDLE_TIMEOUT_S and in which
        no query runs; their files and state stay. Returns the chats stopped."""
        stopped = []
        for chat_id in await self._coordination.idle():
            if await self.stop_unused(chat_id, why="idle", only_if_idle=True):
                stopped.append(chat_id)
        return stopped

    async def stop_unused(self, chat_id: str, why: str, only_if_idle: bool = False) -> bool:
        """Stop the chat's sandbox unless a query runs in it (`only_if_idle`: or it was used
        since it counted as idle); its files and state stay. False when it was in use."""
        if await self._is_busy(chat_id):
            return False  # a cell longer than the idle timeout is not idleness
        async with self._exclusive(chat_id):
            if only_if_idle and not await self._coordination.still_idle(chat_id):
                return False  # used while we looked
            # A query another process sends now (its cache says "running") would be cut off by
            # the stop: the executor is retired first, and refuses it untouched, so that query
            # starts the sandbox again and runs there.
            if not await self._retire(chat_id):
                return False  # in use after all
            log.info("stopping the sandbox of %s (%s)", chat_id, why)
            self._running.discard(chat_id)
            await asyncio.to_thread(self._containers.stop, chat_id)
            await self._coordination.forget(chat_id)
            return True

    async def running_chats(self) -> list[str]:
        """The chats whose sandbox runs now, by any gateway process of this DATA_DIR."""
        return [chat_id for chat_id, status in (await self.states()).items() if status == "running"]

    async def states(self) -> dict[str, str]:
        """chat id -> its container's status, for every chat that has one."""
        return await asyncio.to_thread(self._containers.states)

    async def inventory(self) -> list[SandboxView]:
        """Every sandbox of this DATA_DIR (pooled ones too) with its resource use now."""
        containers = await asyncio.to_thread(self._containers.list_managed)
        return await asyncio.to_thread(inventory.describe, containers, role_of)

    async def _retire(self, chat_id: str) -> bool:
        """See ExecutorClient.retire; True for a sandbox this process cannot reach."""
        try:
            client = self.client(chat_id)
        except ExecutorUnavailable:
            # Started by another process: its secret is on the container.
            container = await asyncio.to_thread(self._containers.get, chat_id)
            identity = None if container is None else identity_of(container)
            if identity is None:
                return True
            self._identities[chat_id] = identity
            client = self.client(chat_id)
        return await client.retire()

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await asyncio.gather(*self._closing)
