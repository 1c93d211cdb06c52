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
import ctypes
import hashlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import LogConfig, Ulimit

from gateway import metrics
from gateway.chats.store import Chat
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import inventory, seccomp
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.executor_socket import SandboxSocket
from gateway.sandbox.inventory import SandboxView
from gateway.sandbox.runtime import Runtime
from gateway.settings import DEFAULT_IMAGE, Settings
from shared.errors import ErrorCode, SandboxError, SandboxTimeout
from shared.errors import NotFound as ChatNotFound
from shared.ids import is_chat_id
from shared.packages import CHAT_PACKAGES_DIR, STORE_DIR, Requirement
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

# A sandbox made for the pool: its pool id ("pool-<hex>"), and the digest of everything it was
# made with (see SandboxManager.pool_scope). It keeps these labels once claimed (labels cannot
# change); its name then says whose it is.
LABEL_POOL = "ai-data-scientist.pool-id"
LABEL_POOL_SCOPE = "ai-data-scientist.pool-scope"
NAME_PREFIX = "ads-"
# A chat's package installer (install_packages): a one-shot container, `ads-install-<chat id>`.
LABEL_INSTALLER = "ai-data-scientist.installer-for"
INSTALLER_PREFIX = "install-"
# The longest an install may take (wheels of hundreds of MB unpack slowly under gVisor).
INSTALL_TIMEOUT_S = 300.0
# What is read of the installer's stdout (its one JSON line) and stderr (pip's output).
INSTALL_RESULT_BYTES = 64 * 1024
INSTALL_OUTPUT_BYTES = 32 * 1024
# Each chat's installed packages live in DATA_DIR/chat-packages/<chat id>, outside the chats'
# noexec mount (gateway/sandbox/data_mount.py): they hold compiled extensions, which must load.
# The chat's sandbox mounts that folder read-only, so user code can never write a program there;
# only the installer, which runs pip and nothing else, writes it.
PACKAGES_FOLDER = "chat-packages"

# 128 + SIGKILL: the container's init was killed, or exited saying its child was.
_KILLED_EXIT_CODE = 137
ENV_CHAT_ID = "EXECUTOR_CHAT_ID"
ENV_SECRET = "EXECUTOR_SECRET"
ENV_WARM_IMPORTS = "EXECUTOR_WARM_IMPORTS"

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
class InstallOutcome:
    """What the installer said: its result line, and the end of pip's output (both capped)."""

    exit_code: int
    result: bytes
    output: str


@dataclass(frozen=True)
class ChatPaths:
    root: Path
    # The chat's installed packages: beside the chat's folder, not in it (see PACKAGES_FOLDER).
    packages: Path

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

    @property
    def measured(self) -> list[Path]:
        """What counts against SANDBOX_DISK_LIMIT: files, saved variables, installed packages."""
        return [self.workspace, self.state, self.packages]


def container_name(chat_id: str) -> str:
    """The container of a chat, or of a pooled sandbox (by its pool id)."""
    return f"{NAME_PREFIX}{chat_id}"


def chat_of(container: Container) -> str | None:
    """The chat a managed container serves: its label, or for one claimed from the pool (whose
    labels were fixed before it had a chat) its name. None for an unclaimed pooled one."""
    return _chat_served(container.labels, container.name or "")


def role_of(container: Container) -> inventory.Role:
    """What a managed container is to the admin views: a chat's installer (which serves no chat,
    so chat_of says None of it, as of a pooled one), a chat's sandbox, or a pooled one."""
    installs_for = container.labels.get(LABEL_INSTALLER)
    if installs_for:
        return "installer", installs_for
    chat_id = chat_of(container)
    return ("chat", chat_id) if chat_id else ("pool", None)


def _chat_served(labels: dict[str, str], name: str) -> str | None:
    """chat_of, from a container's labels and name as any listing gives them."""
    labelled = labels.get(LABEL_CHAT)
    if labelled:
        return labelled
    named = name.removeprefix(NAME_PREFIX)
    return named if is_chat_id(named) else None


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


@dataclass(frozen=True)
class PooledContainer:
    """A pooled sandbox not claimed yet, as Docker lists it."""

    pool_id: str
    scope: str
    running: bool
    created_at: float


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
        self.own_uid = None if os.getuid() == 0 else os.getuid()
        # The warm pool new chats' first starts claim from, when SANDBOX_POOL_SIZE is not 0.
        self.pool: PoolTaker | None = None
        # Called before a chat's sandbox starts, when USER_MAX_RUNNING_SANDBOXES is on: stops
        # another of the user's sandboxes to make room, or refuses (gateway.quotas).
        self.make_room: Callable[[Chat], Awaitable[None]] | None = None

    def paths(self, chat_id: str) -> ChatPaths:
        data_dir = self._settings.data_dir
        return ChatPaths(data_dir / "chats" / chat_id, data_dir / PACKAGES_FOLDER / chat_id)

    def image_of(self, chat: Chat) -> str:
        """The image the chat's sandbox is made from: its choice in SANDBOX_IMAGES."""
        image = self._settings.image_choices.get(chat.image)
        if image is None:
            raise SandboxError(
                f"the chat was made on the sandbox image '{chat.image}', which SANDBOX_IMAGES "
                "no longer names; ask the operator to name it again"
            )
        return image

    def _store_exists(self) -> bool:
        return self._settings.packages_dir.is_dir()

    # --- blocking primitives (run through asyncio.to_thread) ---

    def _get(self, chat_id: str) -> Container | None:
        try:
            return self._docker.containers.get(container_name(chat_id))
        except NotFound:
            return None

    def _create(self, chat: Chat, uid: int) -> Container:
        return self._create_container(
            chat.chat_id,
            uid,
            {LABEL_CHAT: chat.chat_id, LABEL_USER: chat.user_id},
            image=self.image_of(chat),
        )

    def _hardening(self, uid: int, labels: dict[str, str]) -> dict[str, Any]:
        """What every container of ours is made with: the layers of README's "The sandbox"."""
        s = self._settings
        return {
            "labels": {
                LABEL_MANAGED: "true",
                LABEL_DATA_DIR: str(s.data_dir),
                LABEL_SECCOMP: SECCOMP_DIGEST,
                **labels,
            },
            "user": f"{uid}:{uid}",
            "runtime": self.runtime,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges", f"seccomp={seccomp.PROFILE_JSON}"],
            "pids_limit": self._pids_limit(),
            "mem_limit": s.sandbox_memory_limit,
            "memswap_limit": s.sandbox_memory_limit,
            "nano_cpus": int(s.sandbox_cpus * 1e9),
            "ulimits": [
                Ulimit(name="nofile", soft=1024, hard=1024),
                Ulimit(
                    name="fsize", soft=s.sandbox_file_size_limit, hard=s.sandbox_file_size_limit
                ),
            ],
            "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
            "init": True,
            "log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"}),
        }

    def _store_mount(self) -> dict[str, dict[str, str]]:
        """The package store, read-only, where it exists (checked at each creation)."""
        if not self._store_exists():
            return {}
        return {str(self._settings.packages_dir): {"bind": STORE_DIR, "mode": "ro"}}

    def _create_container(
        self,
        serves: str,
        uid: int,
        labels: dict[str, str],
        warm_imports: bool = False,
        image: str | None = None,
    ) -> Container:
        """A hardened sandbox container named for `serves` (a chat id, or a pool id) and
        mounting its folders; `labels` come on top of the ones every sandbox has. `image`:
        the chat's (SANDBOX_IMAGES); pooled sandboxes are always SANDBOX_IMAGE's."""
        paths = self.paths(serves)
        s = self._settings
        image = image or s.sandbox_image
        # Sent by the gateway with every request to this container's executor, which refuses
        # requests without it. User code of this chat can read it (it runs as the executor's
        # uid); it only opens this same chat's executor, which that code already runs in.
        secret = secrets.token_urlsafe(32)
        try:
            return self._docker.containers.create(
                image,
                name=container_name(serves),
                **self._hardening(uid, labels),
                volumes={
                    str(paths.workspace): {"bind": WORKSPACE_DIR, "mode": "rw"},
                    str(paths.state): {"bind": STATE_DIR, "mode": "rw"},
                    str(paths.run): {"bind": SOCKET_DIR, "mode": "rw"},
                    str(paths.packages): {"bind": CHAT_PACKAGES_DIR, "mode": "ro"},
                    **self._store_mount(),
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
                    ENV_CHAT_ID: serves,
                    ENV_SECRET: secret,
                    **({ENV_WARM_IMPORTS: "1"} if warm_imports else {}),
                },
            )
        except ImageNotFound as e:
            raise self._image_missing(image) from e

    def _image_missing(self, image: str | None = None) -> SandboxError:
        image = image or self._settings.sandbox_image
        return SandboxError(f"sandbox image '{image}' is missing; build it with `make images`")

    def _ensure_started(
        self, chat: Chat, uid: int, clean: bool = False
    ) -> tuple[Identity, str | None]:
        """Create or start the chat's container; returns what it was made with, and how it
        started ("created", "restarted"; None: it ran already). `clean` restarts a running one
        too, for a socket that user code tampered with."""
        container = self._get(chat.chat_id)
        created = False
        how: str | None = None
        if container is not None and clean and container.status == "running":
            container.stop(timeout=2)
            container.reload()
        if container is not None:
            outdated = self._outdated(container, uid, self.image_of(chat))
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
                created = True
            except APIError as e:
                if e.status_code != 409:
                    raise
                # Another request created it between our get and create: use theirs.
                container = self._get(chat.chat_id)
                if container is None:
                    raise
        if container.status != "running":
            # A socket left by the previous run (or whatever user code put at its name) would
            # not answer until the new executor replaces it; clearing the name makes the
            # readiness wait below exact. unlink does not follow a link.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                self.paths(chat.chat_id).socket.unlink()
            container.start()
            how = "created" if created else "restarted"
        identity = _identity_of(container)
        if identity is None:
            raise SandboxError(f"the sandbox of {chat.chat_id} has no executor secret")
        return identity, how

    def _pids_limit(self) -> int:
        """Docker's pids limit counts host tasks. Under gVisor those are gVisor's own threads
        (about 60 for a started executor and kernel) plus one to two host tasks per process or
        thread of user code, so SANDBOX_PIDS_LIMIT is scaled to keep its meaning: roughly that
        many processes and threads for user code."""
        limit = self._settings.sandbox_pids_limit
        return limit if self.runtime == "runc" else 2 * limit + _GVISOR_OWN_TASKS

    def _outdated(self, container: Container, uid: int, image: str) -> str | None:
        """Why an existing container must be made anew, or None."""
        made_from = container.attrs.get("Config", {}).get("Image")
        if made_from != image:
            return f"it was made from the image {made_from}, the chat's is {image}"
        mounts = {m.get("Destination") for m in container.attrs.get("Mounts") or []}
        if CHAT_PACKAGES_DIR not in mounts:
            return "it was made without the chat's packages folder"
        if (STORE_DIR in mounts) != self._store_exists():
            return "the package store (PACKAGES_DIR) appeared or went since it was made"
        identity = _identity_of(container)
        if identity is None:
            return "it was made without an executor secret"
        if identity.uid != uid:
            return f"it runs as uid {identity.uid}, the chat's is {uid}"
        if identity.runtime != self.runtime:
            return f"it runs under {identity.runtime}, sandboxes now use {self.runtime}"
        if container.labels.get(LABEL_SECCOMP) != SECCOMP_DIGEST:
            return "it was made with another seccomp profile"
        if LABEL_POOL in container.labels and container.status != "running":
            # Docker mounts a container's folders by path at each start, and it was made with
            # the pool's paths, which are the chat's now under another name (see pool.py).
            return "it came from the pool, and its mounts name the pool's folders"
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
        if LABEL_POOL in container.labels:
            # Started again it would mount the pool's paths (see _outdated): it is removed
            # instead, and the chat's next query makes it anew with the state restored.
            container.remove(force=True)
            return True
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
        self._remove_installer(chat_id)
        # The rule: chat_folders deletes below the chat's folder by descriptor, following no link.
        paths = self.paths(chat_id)
        chat_folders.remove_tree(paths.root)
        chat_folders.remove_tree(paths.packages)

    def _run_installer(
        self, chat_id: str, uid: int, image: str, requirements: list[Requirement]
    ) -> InstallOutcome:
        """Run the chat's installer (sandbox_runner/install.py) to its end and remove it: the
        sandbox's hardening, its image and uid, no network, the store read-only, and of the
        chat only its packages folder, read-write. pip and nothing else runs there."""
        paths = self.paths(chat_id)
        self._remove_installer(chat_id)  # one left by a gateway that died during an install
        # The requirements were validated (shared.packages.parse_requirement): no option, URL
        # or path can be among them, and the installer checks them again.
        command = ["python", "-P", "-m", "sandbox_runner.install", *map(str, requirements)]
        try:
            container = self._docker.containers.create(
                image,
                command,
                name=container_name(INSTALLER_PREFIX + chat_id),
                **self._hardening(uid, {LABEL_INSTALLER: chat_id}),
                volumes={
                    str(paths.packages): {"bind": CHAT_PACKAGES_DIR, "mode": "rw"},
                    **self._store_mount(),
                },
                working_dir="/tmp",
                environment={"HOME": "/tmp", "USER": "sandbox", "LOGNAME": "sandbox"},
            )
        except ImageNotFound as e:
            raise self._image_missing(image) from e
        try:
            container.start()
            try:
                exit_code = int(container.wait(timeout=INSTALL_TIMEOUT_S)["StatusCode"])
            except Exception as e:  # the SDK's read timeout (requests') or a lost connection
                raise SandboxTimeout(
                    f"the install did not finish within {INSTALL_TIMEOUT_S:.0f} s"
                ) from e
            # json-file logs are capped at 2 MB (_hardening); only their ends are kept.
            result = container.logs(stdout=True, stderr=False)[-INSTALL_RESULT_BYTES:]
            output = container.logs(stdout=False, stderr=True)[-INSTALL_OUTPUT_BYTES:]
        finally:
            self._remove_installer(chat_id)
        return InstallOutcome(exit_code, result, output.decode("utf-8", "replace"))

    def _remove_installer(self, chat_id: str) -> None:
        with contextlib.suppress(NotFound):
            self._docker.api.remove_container(
                container_name(INSTALLER_PREFIX + chat_id), force=True, v=True
            )

    def _managed_filter(self) -> dict[str, str | list[str] | bool]:
        return {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_DATA_DIR}={self._settings.data_dir}"]}

    def _list_managed(self) -> list[Container]:
        return self._docker.containers.list(
            all=True,
            filters=self._managed_filter(),
            # The SDK lists, then inspects each: one that another process removed in between
            # (a chat deleted, a pooled sandbox claimed or dropped) is left out, not an error
            # that stops a starting gateway.
            ignore_removed=True,
        )

    def _prepare_dirs(self, chat_id: str, uid: int) -> None:
        """Make the chat's folders, owned by its uid. The container is not running here."""
        paths = self.paths(chat_id)
        paths.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        paths.packages.parent.mkdir(mode=0o755, exist_ok=True)
        for folder in (paths.workspace, paths.state, paths.run, paths.packages):
            try:
                folder.mkdir(mode=0o750)
            except FileExistsError:
                # A chat from before uids were per chat (or a changed SANDBOX_UID_BASE): its
                # files pass to its uid now. The sandbox cannot chown (no capabilities), so a
                # folder's owner is only ever what we made it.
                if self.own_uid is None and os.lstat(folder).st_uid != uid:
                    chat_folders.chown_tree(folder, uid)
        if self.own_uid is None:
            for folder in (paths.root, paths.workspace, paths.state, paths.run, paths.packages):
                os.chown(folder, uid, uid, follow_symlinks=False)

    # --- the pool's primitives (gateway.sandbox.pool decides when) ---

    def _pool_scope(self) -> str:
        """A digest of everything a sandbox is made with: DATA_DIR, the image as built now, the
        runtime, the limits, the seccomp profile, the uid scheme. Pooled sandboxes are kept and
        claimed per scope, so a chat never gets one made under other settings."""
        s = self._settings
        image = self._docker.images.get(s.sandbox_image).id
        made_with = (
            str(s.data_dir),
            image,
            self.runtime,
            s.sandbox_memory_limit,
            s.sandbox_cpus,
            self._pids_limit(),
            s.sandbox_file_size_limit,
            s.sandbox_exec_timeout_s,
            SECCOMP_DIGEST,
            self.own_uid,
            str(s.packages_dir),
            self._store_exists(),
        )
        return hashlib.sha256(repr(made_with).encode()).hexdigest()[:16]

    def _make_pooled(self, pool_id: str, uid: int, scope: str) -> Identity:
        """Create and start a pooled sandbox, with folders of its own under DATA_DIR/chats (on
        the same file system as the chats', so a claim can rename them)."""
        self._prepare_dirs(pool_id, uid)
        container = self._create_container(
            pool_id, uid, {LABEL_POOL: pool_id, LABEL_POOL_SCOPE: scope}, warm_imports=True
        )
        container.start()
        identity = _identity_of(container)
        if identity is None:
            raise SandboxError(f"the pooled sandbox {pool_id} has no executor secret")
        return identity

    def _take_pooled(self, pool_id: str, chat_id: str) -> Identity:
        """Make the pooled sandbox the chat's: its container gets the chat's name (Docker
        refuses, 409, if the chat has a container already), then its folders the chat's folder
        name. The mounts follow: they hold the folders themselves, not their paths."""
        container = self._get(pool_id)
        if container is None or container.status != "running":
            raise SandboxError(f"the pooled sandbox {pool_id} is not running")
        identity = _identity_of(container)
        if identity is None:
            raise SandboxError(f"the pooled sandbox {pool_id} has no executor secret")
        container.rename(container_name(chat_id))
        try:
            _rename_no_replace(self.paths(pool_id).root, self.paths(chat_id).root)
            _rename_no_replace(self.paths(pool_id).packages, self.paths(chat_id).packages)
        except OSError:
            container.remove(force=True)
            raise
        return identity

    def _list_pooled(self) -> list[PooledContainer]:
        """Unclaimed pooled sandboxes of this DATA_DIR, whatever their scope."""
        pooled = []
        for container in self._list_managed():
            pool_id = container.labels.get(LABEL_POOL, "")
            if container.name != container_name(pool_id):
                continue  # claimed: a chat's now
            created = container.attrs.get("Created", "")
            pooled.append(
                PooledContainer(
                    pool_id=pool_id,
                    scope=container.labels.get(LABEL_POOL_SCOPE, ""),
                    running=container.status == "running",
                    created_at=_docker_time(created),
                )
            )
        return pooled

    def _remove_pooled(self, pool_id: str) -> None:
        """Remove an unclaimed pooled sandbox and its folders (by descriptor, as _remove)."""
        self._remove(pool_id)

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
            identity = await asyncio.to_thread(self._take_pooled, pooled.pool_id, chat_id)
        except (APIError, SandboxError, OSError) as e:
            log.warning("pooled sandbox %s not claimed for %s: %s", pooled.pool_id, chat_id, e)
            await asyncio.to_thread(self._remove_pooled, pooled.pool_id)
            await pool.taken(pooled.pool_id)
            return False
        self._identities[chat_id] = identity
        try:
            await self.client(chat_id).claim()
        except SandboxError as e:
            log.warning("pooled sandbox %s refused %s: %s", pooled.pool_id, chat_id, e.detail)
            self._identities.pop(chat_id, None)
            await asyncio.to_thread(self._remove, chat_id)
            return False
        finally:
            await pool.taken(pooled.pool_id)
        log.info("sandbox of %s claimed from the pool (%s)", chat_id, pooled.pool_id)
        return True

    async def pool_scope(self) -> str:
        """See _pool_scope; a SandboxError naming the image when it is missing."""
        try:
            return await asyncio.to_thread(self._pool_scope)
        except ImageNotFound as e:
            raise self._image_missing() from e

    async def make_pooled(self, pool_id: str, uid: int, scope: str) -> None:
        """Start a pooled sandbox and wait until its executor answers, its kernel warm; one
        that gets nowhere is removed again."""
        began = time.perf_counter()
        try:
            identity = await asyncio.to_thread(self._make_pooled, pool_id, uid, scope)
            self._identities[pool_id] = identity
            await self._wait_ready(pool_id)
            metrics.sandbox_started("pool", time.perf_counter() - began)
        except BaseException:
            await asyncio.shield(self.remove_pooled(pool_id))
            raise
        finally:
            await self._forget(pool_id)

    async def remove_pooled(self, pool_id: str) -> None:
        await asyncio.to_thread(self._remove_pooled, pool_id)

    async def list_pooled(self) -> list[PooledContainer]:
        return await asyncio.to_thread(self._list_pooled)

    async def _forget(self, serves: str) -> None:
        """Drop what this process knows of a container (its identity and client)."""
        self._identities.pop(serves, None)
        known = self._clients.pop(serves, None)
        if known is not None:
            await known[1].aclose()

    async def _start_container(self, chat: Chat, clean: bool) -> str | None:
        """How the container started (see _ensure_started)."""
        uid = self.own_uid
        if uid is None:
            uid = await self._uid_of(chat.chat_id, self._settings.sandbox_uid_base)
        try:
            identity, how = await asyncio.to_thread(self._ensure_started, chat, uid, clean)
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
                self._run_installer, chat.chat_id, uid, self.image_of(chat), requirements
            )
        except APIError as e:
            raise SandboxError(f"could not run the installer: {e.explanation or e}") from e

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
            await self._forget(chat_id)
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
        container = await asyncio.to_thread(self._get, chat_id)
        return None if container is None else container.status

    async def adopt(self) -> dict[str, str]:
        """Take over the sandboxes already there (left by a previous gateway, or run by the
        other processes): chat id -> container status. Running ones go on serving; stopped ones
        are started on their chat's next query."""
        containers = await asyncio.to_thread(self._list_managed)
        found: dict[str, str] = {}
        for container in containers:
            chat_id = chat_of(container)
            if chat_id is None:
                continue  # a pooled sandbox nobody claimed (gateway.sandbox.pool keeps those)
            found[chat_id] = container.status
            identity = _identity_of(container)
            if identity is not None:
                self._identities[chat_id] = identity
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
            await asyncio.to_thread(self._stop, chat_id)
            await self._coordination.forget(chat_id)
            return True

    async def running_chats(self) -> list[str]:
        """The chats whose sandbox runs now, by any gateway process of this DATA_DIR."""
        return [chat_id for chat_id, status in (await self.states()).items() if status == "running"]

    async def states(self) -> dict[str, str]:
        """chat id -> its container's status, for every chat that has one."""
        # One listing call: the SDK's list inspects every container after it, a call each,
        # and this runs before every sandbox start when USER_MAX_RUNNING_SANDBOXES is on.
        rows = await asyncio.to_thread(
            self._docker.api.containers, all=True, filters=self._managed_filter()
        )
        states = {}
        for row in rows:
            names = row.get("Names") or [""]
            chat_id = _chat_served(row.get("Labels") or {}, names[0].lstrip("/"))
            if chat_id is not None:
                states[chat_id] = str(row.get("State", ""))
        return states

    async def inventory(self) -> list[SandboxView]:
        """Every sandbox of this DATA_DIR (pooled ones too) with its resource use now."""
        containers = await asyncio.to_thread(self._list_managed)
        return await asyncio.to_thread(inventory.describe, containers, role_of)

    async def _retire(self, chat_id: str) -> bool:
        """See ExecutorClient.retire; True for a sandbox this process cannot reach."""
        try:
            client = self.client(chat_id)
        except ExecutorUnavailable:
            # Started by another process: its secret is on the container.
            container = await asyncio.to_thread(self._get, chat_id)
            identity = None if container is None else _identity_of(container)
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


# <stdio.h>: renameat2's flag, and the "current directory" descriptor for paths as given.
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def _rename_no_replace(source: Path, target: Path) -> None:
    """Rename a folder, failing (EEXIST) rather than replacing whatever has the target name:
    os.rename would silently replace an empty folder there."""
    done = _libc.renameat2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
    )
    if done != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(target))


def _docker_time(value: str) -> float:
    """Unix time of a timestamp in Docker's inspect JSON ("2026-12-01T16:42:08.123456789Z");
    0 when it does not parse."""
    try:
        return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


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
