"""The sandbox manager: the only code that talks to Docker.

Like dockerspawner: a few blocking primitives (get, create, start, stop, remove) and async
orchestrators on top (ensure_running, stop, remove, adopt). Containers are found by name, so a
restarted gateway reuses what exists instead of creating a twin; Docker's 404 means "gone" and
404/409 on stop or remove mean "already done".

Several gateway processes share the engine. One starts, stops or removes a chat's sandbox at a
time (a lease in Redis, gateway.sandbox.coordination), and what a process remembers of a sandbox
(that it answered, what it was made with) is a cache: when it is wrong, the next request to the
sandbox fails before it is sent, and the sandbox is looked up again.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import LogConfig, Ulimit

from gateway.chats.store import Chat
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import seccomp
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.executor_socket import SandboxSocket
from gateway.sandbox.runtime import Runtime
from gateway.settings import Settings
from shared.errors import ErrorCode, SandboxError
from shared.errors import NotFound as ChatNotFound
from shared.protocol import SOCKET_DIR, SOCKET_NAME, STATE_DIR, WORKSPACE_DIR

log = logging.getLogger(__name__)

LABEL_MANAGED = "ai-data-scientist.managed"
LABEL_CHAT = "ai-data-scientist.chat-id"
LABEL_USER = "ai-data-scientist.user-id"
# Scopes adoption to one deployment: two gateways on one engine (say `make up` and the test suite)
# each see only the sandboxes of their own DATA_DIR.
LABEL_DATA_DIR = "ai-data-scientist.data-dir"
# The seccomp profile a container was made with, by digest: one made with an older profile is
# made anew, so a tightened profile reaches every chat.
LABEL_SECCOMP = "ai-data-scientist.seccomp"
SECCOMP_DIGEST = hashlib.sha256(seccomp.PROFILE_JSON.encode()).hexdigest()[:16]

# Host tasks gVisor itself runs per sandbox (sentry, gofer and their Go threads), measured with a
# started executor and kernel; see SandboxManager._pids_limit.
_GVISOR_OWN_TASKS = 96

ENV_CHAT_ID = "EXECUTOR_CHAT_ID"
ENV_SECRET = "EXECUTOR_SECRET"

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
class Identity:
    """What a chat's container was made with, as read back from Docker (so a restarted gateway
    learns it again): the executor's secret, the uid it runs as, and its runtime."""

    secret: str
    uid: int
    runtime: str

    @property
    def peer_uid(self) -> int:
        """Who listens on the executor socket as the host sees it: the sandbox's own uid under
        runc; under gVisor the socket is served by gVisor's sandbox process, root on the host
        (the socket file still belongs to the chat's uid, which the gofer creates it as)."""
        return 0 if self.runtime == "runsc" else self.uid


@dataclass(frozen=True)
class ChatPaths:
    root: Path

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def socket(self) -> Path:
        return self.run / SOCKET_NAME


def container_name(chat_id: str) -> str:
    return f"ads-{chat_id}"


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
        self._docker = client
        self._settings = settings
        self.runtime: Runtime = runtime
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
        # As root we hand each chat's folders to a uid of its own. Otherwise we cannot chown, so
        # every sandbox runs as our own (non-root) uid, which owns the folders.
        self._own_uid = None if os.getuid() == 0 else os.getuid()

    def paths(self, chat_id: str) -> ChatPaths:
        return ChatPaths(self._settings.data_dir / "chats" / chat_id)

    # --- blocking primitives (run through asyncio.to_thread) ---

    def _get(self, chat_id: str) -> Container | None:
        try:
            return self._docker.containers.get(container_name(chat_id))
        except NotFound:
            return None

    def _create(self, chat: Chat, uid: int) -> Container:
        paths = self.paths(chat.chat_id)
        s = self._settings
        # Sent by the gateway with every request to this container's executor, which refuses
        # requests without it. User code of this chat can read it (it runs as the executor's
        # uid); it only opens this same chat's executor, which that code already runs in.
        secret = secrets.token_urlsafe(32)
        try:
            return self._docker.containers.create(
                s.sandbox_image,
                name=container_name(chat.chat_id),
                labels={
                    LABEL_MANAGED: "true",
                    LABEL_CHAT: chat.chat_id,
                    LABEL_USER: chat.user_id,
                    LABEL_DATA_DIR: str(s.data_dir),
                    LABEL_SECCOMP: SECCOMP_DIGEST,
                },
                user=f"{uid}:{uid}",
                runtime=self.runtime,
                network_mode="none",
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges", f"seccomp={seccomp.PROFILE_JSON}"],
                pids_limit=self._pids_limit(),
                mem_limit=s.sandbox_memory_limit,
                memswap_limit=s.sandbox_memory_limit,
                nano_cpus=int(s.sandbox_cpus * 1e9),
                ulimits=[
                    Ulimit(name="nofile", soft=1024, hard=1024),
                    Ulimit(
                        name="fsize", soft=s.sandbox_file_size_limit, hard=s.sandbox_file_size_limit
                    ),
                ],
                tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
                init=True,
                log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"}),
                volumes={
                    str(paths.workspace): {"bind": WORKSPACE_DIR, "mode": "rw"},
                    str(paths.state): {"bind": STATE_DIR, "mode": "rw"},
                    str(paths.run): {"bind": SOCKET_DIR, "mode": "rw"},
                },
                working_dir=WORKSPACE_DIR,
                # An allow-list: nothing of the gateway's own environment (secrets) goes in.
                environment={
                    "HOME": "/tmp",
                    # The image has no passwd entry for the chat's uid; getpass and friends
                    # read these first.
                    "USER": "sandbox",
                    "LOGNAME": "sandbox",
                    "SANDBOX_EXEC_TIMEOUT_S": str(s.sandbox_exec_timeout_s),
                    ENV_CHAT_ID: chat.chat_id,
                    ENV_SECRET: secret,
                },
            )
        except ImageNotFound as e:
            raise SandboxError(
                f"sandbox image '{s.sandbox_image}' is missing; build it with `make images`"
            ) from e

    def _ensure_started(self, chat: Chat, uid: int, clean: bool = False) -> Identity:
        """Create or start the chat's container; returns what it was made with. `clean`
        restarts a running one too, for a socket that user code tampered with."""
        container = self._get(chat.chat_id)
        if container is not None:
            outdated = self._outdated(container, uid)
            if outdated:
                # Made by an older gateway or under other settings: make it anew (its variables
                # and files are in its folders and come back).
                log.info("replacing the sandbox of %s: %s", chat.chat_id, outdated)
                container.remove(force=True)
                container = None
        self._prepare_dirs(chat.chat_id, uid)
        if container is None:
            try:
                container = self._create(chat, uid)
            except APIError as e:
                if e.status_code != 409:
                    raise
                # Another request created it between our get and create: use theirs.
                container = self._get(chat.chat_id)
                if container is None:
                    raise
        if clean and container.status == "running":
            container.stop(timeout=2)
            container.reload()
        if container.status != "running":
            # A socket left by the previous run (or whatever user code put at its name) would
            # not answer until the new executor replaces it; clearing the name makes the
            # readiness wait below exact. unlink does not follow a link.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                self.paths(chat.chat_id).socket.unlink()
            container.start()
        identity = _identity_of(container)
        if identity is None:
            raise SandboxError(f"the sandbox of {chat.chat_id} has no executor secret")
        return identity

    def _pids_limit(self) -> int:
        """Docker's pids limit counts host tasks. Under gVisor those are gVisor's own threads
        (about 60 for a started executor and kernel) plus one to two host tasks per process or
        thread of user code, so SANDBOX_PIDS_LIMIT is scaled to keep its meaning: roughly that
        many processes and threads for user code."""
        limit = self._settings.sandbox_pids_limit
        return limit if self.runtime == "runc" else 2 * limit + _GVISOR_OWN_TASKS

    def _outdated(self, container: Container, uid: int) -> str | None:
        """Why an existing container must be made anew, or None."""
        identity = _identity_of(container)
        if identity is None:
            return "it was made without an executor secret"
        if identity.uid != uid:
            return f"it runs as uid {identity.uid}, the chat's is {uid}"
        if identity.runtime != self.runtime:
            return f"it runs under {identity.runtime}, sandboxes now use {self.runtime}"
        if container.labels.get(LABEL_SECCOMP) != SECCOMP_DIGEST:
            return "it was made with another seccomp profile"
        return None

    def _stop(self, chat_id: str) -> None:
        container = self._get(chat_id)
        if container is None:
            return
        try:
            container.stop(timeout=2)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:
                raise

    def _restart(self, chat_id: str) -> bool:
        container = self._get(chat_id)
        if container is None or container.labels.get(LABEL_DATA_DIR) != str(
            self._settings.data_dir
        ):
            return False
        container.restart(timeout=2)
        return True

    def _remove(self, chat_id: str) -> None:
        try:
            self._docker.api.remove_container(container_name(chat_id), force=True, v=True)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:
                raise
        # The rule: chat_folders deletes below the chat's folder by descriptor, following no link.
        chat_folders.remove_tree(self.paths(chat_id).root)

    def _list_managed(self) -> list[Container]:
        return self._docker.containers.list(
            all=True,
            filters={
                "label": [f"{LABEL_MANAGED}=true", f"{LABEL_DATA_DIR}={self._settings.data_dir}"]
            },
        )

    def _prepare_dirs(self, chat_id: str, uid: int) -> None:
        """Make the chat's folders, owned by its uid. The container is not running here."""
        paths = self.paths(chat_id)
        paths.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        for folder in (paths.workspace, paths.state, paths.run):
            try:
                folder.mkdir(mode=0o750)
            except FileExistsError:
                # A chat from before uids were per chat (or a changed SANDBOX_UID_BASE): its
                # files pass to its uid now. The sandbox cannot chown (no capabilities), so a
                # folder's owner is only ever what we made it.
                if self._own_uid is None and os.lstat(folder).st_uid != uid:
                    chat_folders.chown_tree(folder, uid)
        if self._own_uid is None:
            for folder in (paths.root, paths.workspace, paths.state, paths.run):
                os.chown(folder, uid, uid, follow_symlinks=False)

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

    async def _start(self, chat: Chat) -> None:
        chat_id = chat.chat_id
        async with self._exclusive(chat_id):
            if chat_id in self._running:
                return
            await self._refuse_if_deleted(chat_id, made=False)
            await self._start_container(chat, clean=False)
            # Asked again now that it exists: a delete that began meanwhile may have missed it.
            await self._refuse_if_deleted(chat_id, made=True)
            try:
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
            self._running.add(chat_id)
            # Written whatever this process last wrote: another may have reaped it meanwhile.
            await self._coordination.touch(chat_id, force=True)

    async def _start_container(self, chat: Chat, clean: bool) -> None:
        uid = self._own_uid
        if uid is None:
            uid = await self._uid_of(chat.chat_id, self._settings.sandbox_uid_base)
        try:
            identity = await asyncio.to_thread(self._ensure_started, chat, uid, clean)
        except APIError as e:
            raise SandboxError(f"could not start the sandbox: {e.explanation or e}") from e
        except chat_folders.FolderNotCleared as e:
            raise SandboxError(
                f"the chat's files could not be handed to its sandbox's uid ({e}); "
                "reset or delete the chat"
            ) from e
        self._identities[chat.chat_id] = identity

    async def _refuse_if_deleted(self, chat_id: str, made: bool) -> None:
        """NotFound once the chat's deletion began; what this start `made` is removed first."""
        if await self._is_deleted(chat_id):
            if made:
                await asyncio.to_thread(self._remove, chat_id)
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

    async def stop(self, chat_id: str) -> None:
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            await asyncio.to_thread(self._stop, chat_id)
            await self._coordination.forget(chat_id)

    async def restart(self, chat_id: str) -> bool:
        """Restart the chat's container; its workspace and checkpoints stay. False if none."""
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            return await asyncio.to_thread(self._restart, chat_id)

    async def remove(self, chat_id: str) -> None:
        """Remove the chat's container and every file of it (workspace, state, socket)."""
        async with self._exclusive(chat_id):
            self._running.discard(chat_id)
            self._identities.pop(chat_id, None)
            known = self._clients.pop(chat_id, None)
            if known is not None:
                await known[1].aclose()
            await asyncio.to_thread(self._remove, chat_id)
            await self._coordination.forget(chat_id)
        self._locks.pop(chat_id, None)

    async def exit_reason(self, chat_id: str) -> str:
        """Why the chat's container stopped, in words for the user, from Docker's record."""
        container = await asyncio.to_thread(self._get, chat_id)
        # A stream cut by a kill is seen a moment before Docker records the container's end.
        for _ in range(30):
            if container is None or not container.attrs.get("State", {}).get("Running"):
                break
            await asyncio.sleep(0.1)
            container = await asyncio.to_thread(self._get, chat_id)
        if container is None:
            return "its container was removed"
        state = container.attrs.get("State", {})
        if state.get("OOMKilled"):
            return (
                f"it ran out of memory (the sandbox's limit is "
                f"{self._settings.sandbox_memory_limit}, SANDBOX_MEMORY_LIMIT)"
            )
        if state.get("Running"):
            return "its executor stopped answering"
        return f"its container stopped (exit code {state.get('ExitCode')})"

    async def poll(self, chat_id: str) -> str | None:
        """The container's Docker status ("running", "exited", ...) or None when there is none."""
        container = await asyncio.to_thread(self._get, chat_id)
        return None if container is None else container.status

    async def adopt(self) -> dict[str, str]:
        """Take over the sandboxes already there (left by a previous gateway, or run by the
        other processes): chat id -> container status. Running ones go on serving; stopped ones
        are started on their chat's next query."""
        containers = await asyncio.to_thread(self._list_managed)
        found = {c.labels[LABEL_CHAT]: c.status for c in containers if LABEL_CHAT in c.labels}
        for container in containers:
            identity = _identity_of(container)
            if LABEL_CHAT in container.labels and identity is not None:
                self._identities[container.labels[LABEL_CHAT]] = identity
        await self._coordination.adopted(
            [chat_id for chat_id, status in found.items() if status == "running"]
        )
        return found

    async def interrupt(self, chat_id: str) -> None:
        """Interrupt the cell running in the chat's sandbox, if its container runs: the cell of
        a query whose gateway process died. Never raises for a sandbox that cannot be asked."""
        container = await asyncio.to_thread(self._get, chat_id)
        identity = None if container is None else _identity_of(container)
        if container is None or container.status != "running" or identity is None:
            return
        self._identities[chat_id] = identity
        await self.client(chat_id).interrupt()

    async def stop_idle(self) -> list[str]:
        """Stop the sandboxes no gateway process used for SANDBOX_IDLE_TIMEOUT_S and in which
        no query runs; their files and state stay. Returns the chats stopped."""
        stopped = []
        for chat_id in await self._coordination.idle():
            if await self._is_busy(chat_id):
                continue  # a cell longer than the idle timeout is not idleness
            async with self._exclusive(chat_id):
                if not await self._coordination.still_idle(chat_id):
                    continue  # used while we looked
                log.info("stopping idle sandbox of %s", chat_id)
                self._running.discard(chat_id)
                await asyncio.to_thread(self._stop, chat_id)
                await self._coordination.forget(chat_id)
                stopped.append(chat_id)
        return stopped

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await asyncio.gather(*self._closing)


def _identity_of(container: Container) -> Identity | None:
    """What the container was created with; None when it has no executor secret (made by an
    older gateway) or no numeric user."""
    # Docker's inspect JSON: Config.Env is a list of "NAME=value" strings, Config.User "uid:gid",
    # HostConfig.Runtime the runtime's name.
    config = container.attrs.get("Config", {})
    env: list[str] = config.get("Env") or []
    secret = next(
        (value for name, _, value in (e.partition("=") for e in env) if name == ENV_SECRET),
        "",
    )
    user: str = config.get("User") or ""
    uid = user.partition(":")[0]
    runtime: str = container.attrs.get("HostConfig", {}).get("Runtime") or "runc"
    if not secret or not uid.isdigit():
        return None
    return Identity(secret=secret, uid=int(uid), runtime=runtime)
