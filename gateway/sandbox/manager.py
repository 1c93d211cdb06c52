"""The sandbox manager: the only code that talks to Docker.

Like dockerspawner: a few blocking primitives (get, create, start, stop, remove) and async
orchestrators on top (ensure_running, stop, remove, adopt). Containers are found by name, so a
restarted gateway reuses what exists instead of creating a twin; Docker's 404 means "gone" and
404/409 on stop or remove mean "already done".
"""

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import LogConfig, Ulimit

from gateway.chats.store import Chat
from gateway.sandbox import folders as chat_folders
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.executor_socket import SANDBOX_UID, SandboxSocketBackend, sandbox_uid
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

ENV_CHAT_ID = "EXECUTOR_CHAT_ID"
ENV_SECRET = "EXECUTOR_SECRET"

# Asked before a sandbox is made or started, and again after: True once the chat's deletion has
# begun. Deletion lives in the chat store; the manager only has to respect it.
IsDeleted = Callable[[str], Awaitable[bool]]


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
        self, client: docker.DockerClient, settings: Settings, is_deleted: IsDeleted
    ) -> None:
        self._docker = client
        self._settings = settings
        self._is_deleted = is_deleted
        self._clients: dict[str, ExecutorClient] = {}
        # Each container's executor secret, read from the container itself (so a restarted
        # gateway learns it again from Docker).
        self._secrets: dict[str, str] = {}
        self._closing: set[asyncio.Future[None]] = set()
        # Chats whose executor answered since we last saw it fail: the warm path skips Docker.
        self._running: set[str] = set()
        self._last_used: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._user = self._sandbox_user()

    def paths(self, chat_id: str) -> ChatPaths:
        return ChatPaths(self._settings.data_dir / "chats" / chat_id)

    # --- blocking primitives (run through asyncio.to_thread) ---

    def _get(self, chat_id: str) -> Container | None:
        try:
            return self._docker.containers.get(container_name(chat_id))
        except NotFound:
            return None

    def _create(self, chat: Chat) -> Container:
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
                },
                user=self._user,
                network_mode="none",
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                pids_limit=s.sandbox_pids_limit,
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
                    "SANDBOX_EXEC_TIMEOUT_S": str(s.sandbox_exec_timeout_s),
                    ENV_CHAT_ID: chat.chat_id,
                    ENV_SECRET: secret,
                },
            )
        except ImageNotFound as e:
            raise SandboxError(
                f"sandbox image '{s.sandbox_image}' is missing; build it with `make images`"
            ) from e

    def _ensure_started(self, chat: Chat, clean: bool = False) -> str:
        """Create or start the chat's container; returns its executor secret. `clean` restarts
        a running one too, for a socket that user code tampered with."""
        self._prepare_dirs(chat.chat_id)
        container = self._get(chat.chat_id)
        if container is not None and _secret_of(container) is None:
            # Made by a gateway that gave executors no secret: make it anew (its variables and
            # files are in its folders and come back).
            log.info("replacing the sandbox of %s, made without an executor secret", chat.chat_id)
            container.remove(force=True)
            container = None
        if container is None:
            try:
                container = self._create(chat)
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
        secret = _secret_of(container)
        if secret is None:
            raise SandboxError(f"the sandbox of {chat.chat_id} has no executor secret")
        return secret

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

    def _prepare_dirs(self, chat_id: str) -> None:
        paths = self.paths(chat_id)
        for folder in (paths.root, paths.workspace, paths.state, paths.run):
            folder.mkdir(mode=0o750, parents=True, exist_ok=True)
            if os.getuid() == 0:
                os.chown(folder, SANDBOX_UID, SANDBOX_UID)

    def _sandbox_user(self) -> str:
        # As root we hand the chat folders to the image's unprivileged user. Otherwise we cannot
        # chown, so the sandbox runs as our own (non-root) uid, which owns the folders.
        if os.getuid() == 0:
            return f"{SANDBOX_UID}:{SANDBOX_UID}"
        return f"{os.getuid()}:{os.getgid()}"

    # --- orchestrators ---

    def _lock(self, chat_id: str) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def client(self, chat_id: str) -> ExecutorClient:
        """The client of the chat's executor as of its container's secret; ExecutorUnavailable
        when this gateway has not seen the container yet (ensure_running starts it)."""
        secret = self._secrets.get(chat_id)
        if secret is None:
            raise ExecutorUnavailable(f"the sandbox of {chat_id} has not been started")
        client = self._clients.get(chat_id)
        if client is None or client.secret != secret:
            if client is not None:
                self._closing.add(asyncio.ensure_future(client.aclose()))
            backend = SandboxSocketBackend(self._settings.data_dir, chat_id, sandbox_uid())
            client = self._clients[chat_id] = ExecutorClient(backend, chat_id, secret)
        return client

    async def ensure_running(self, chat: Chat) -> ExecutorClient:
        """The chat's executor, creating or starting its container first when needed.

        The start runs as its own task that every caller awaits (shielded): a caller that is
        cancelled (a client went away) must not abandon a half-done start for the next caller
        to trip over, for instance by removing the socket a just-started executor made."""
        chat_id = chat.chat_id
        self._last_used[chat_id] = time.monotonic()
        if chat_id not in self._running:
            start = self._starting.get(chat_id)
            if start is None:
                start = self._starting[chat_id] = asyncio.create_task(self._start(chat))
                start.add_done_callback(lambda _: self._starting.pop(chat_id, None))
            await asyncio.shield(start)
        return self.client(chat_id)

    async def _start(self, chat: Chat) -> None:
        chat_id = chat.chat_id
        async with self._lock(chat_id):
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

    async def _start_container(self, chat: Chat, clean: bool) -> None:
        try:
            secret = await asyncio.to_thread(self._ensure_started, chat, clean)
        except APIError as e:
            raise SandboxError(f"could not start the sandbox: {e.explanation or e}") from e
        self._secrets[chat.chat_id] = secret

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
        async with self._lock(chat_id):
            self._running.discard(chat_id)
            await asyncio.to_thread(self._stop, chat_id)

    async def restart(self, chat_id: str) -> bool:
        """Restart the chat's container; its workspace and checkpoints stay. False if none."""
        async with self._lock(chat_id):
            self._running.discard(chat_id)
            return await asyncio.to_thread(self._restart, chat_id)

    async def remove(self, chat_id: str) -> None:
        """Remove the chat's container and every file of it (workspace, state, socket)."""
        async with self._lock(chat_id):
            self._running.discard(chat_id)
            self._last_used.pop(chat_id, None)
            self._secrets.pop(chat_id, None)
            client = self._clients.pop(chat_id, None)
            if client is not None:
                await client.aclose()
            await asyncio.to_thread(self._remove, chat_id)
        self._locks.pop(chat_id, None)

    async def poll(self, chat_id: str) -> str | None:
        """The container's Docker status ("running", "exited", ...) or None when there is none."""
        container = await asyncio.to_thread(self._get, chat_id)
        return None if container is None else container.status

    async def adopt(self) -> dict[str, str]:
        """Take over the sandboxes a previous gateway left: chat id -> container status.
        Running ones go on serving; stopped ones are started on their chat's next query."""
        containers = await asyncio.to_thread(self._list_managed)
        now = time.monotonic()
        found = {c.labels[LABEL_CHAT]: c.status for c in containers if LABEL_CHAT in c.labels}
        for container in containers:
            secret = _secret_of(container)
            if LABEL_CHAT in container.labels and secret is not None:
                self._secrets[container.labels[LABEL_CHAT]] = secret
        for chat_id in found:
            self._last_used[chat_id] = now
        return found

    async def stop_idle(self) -> list[str]:
        """Stop the sandboxes unused for SANDBOX_IDLE_TIMEOUT_S; their files and state stay."""
        cutoff = time.monotonic() - self._settings.sandbox_idle_timeout_s
        idle = [chat_id for chat_id, used in self._last_used.items() if used < cutoff]
        for chat_id in idle:
            lock = self._lock(chat_id)
            if lock.locked():
                continue
            log.info("stopping idle sandbox of %s", chat_id)
            await self.stop(chat_id)
            self._last_used.pop(chat_id, None)
        return idle

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await asyncio.gather(*self._closing)


def _secret_of(container: Container) -> str | None:
    """The executor secret the container was created with (None: made by an older gateway)."""
    # Docker's inspect JSON: Config.Env is a list of "NAME=value" strings.
    env: list[str] = container.attrs.get("Config", {}).get("Env") or []
    for entry in env:
        name, _, value = entry.partition("=")
        if name == ENV_SECRET and value:
            return value
    return None
