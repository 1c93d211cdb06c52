"""The sandboxes' containers: the blocking Docker primitives (get, create, start, stop, remove)
that gateway.sandbox.manager orchestrates, each run through asyncio.to_thread.

Containers are found by name, so a restarted gateway reuses what exists instead of creating a
twin; Docker's 404 means "gone" and 404/409 on stop or remove mean "already done". This module
and the installer built on it (gateway.sandbox.installer) are the only code that talks to Docker
about sandboxes.
"""

import contextlib
import ctypes
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import LogConfig, Ulimit

from gateway.chats.store import Chat
from gateway.sandbox import folders as chat_folders
from gateway.sandbox import inventory, seccomp
from gateway.sandbox.runtime import Runtime
from gateway.settings import Settings
from shared.errors import SandboxError
from shared.ids import is_chat_id
from shared.packages import CHAT_PACKAGES_DIR, STORE_DIR
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
# started executor and kernel; see SandboxContainers._pids_limit.
_GVISOR_OWN_TASKS = 96

# A sandbox made for the pool: its pool id ("pool-<hex>"), and the digest of everything it was
# made with (see SandboxContainers.pool_scope). It keeps these labels once claimed (labels cannot
# change); its name then says whose it is.
LABEL_POOL = "ai-data-scientist.pool-id"
LABEL_POOL_SCOPE = "ai-data-scientist.pool-scope"
NAME_PREFIX = "ads-"
# A chat's package installer (install_packages): a one-shot container, `ads-install-<chat id>`.
# Its name and label are here, not in gateway.sandbox.installer (which runs it): role_of reads
# the label, and removing a chat's sandbox removes its installer too (remove_installer), so this
# module needs them, and the installer module imports this one, never the other way round.
LABEL_INSTALLER = "ai-data-scientist.installer-for"
INSTALLER_PREFIX = "install-"
# Each chat's installed packages live in DATA_DIR/chat-packages/<chat id>, outside the chats'
# noexec mount (gateway/sandbox/data_mount.py): they hold compiled extensions, which must load.
# The chat's sandbox mounts that folder read-only, so user code can never write a program there;
# only the installer, which runs pip and nothing else, writes it.
PACKAGES_FOLDER = "chat-packages"

ENV_CHAT_ID = "EXECUTOR_CHAT_ID"
ENV_SECRET = "EXECUTOR_SECRET"
ENV_WARM_IMPORTS = "EXECUTOR_WARM_IMPORTS"


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
class PooledContainer:
    """A pooled sandbox not claimed yet, as Docker lists it."""

    pool_id: str
    scope: str
    running: bool
    created_at: float


class SandboxContainers:
    """The blocking primitives, on one Docker client; none is safe to call from the event loop
    (the manager runs each through asyncio.to_thread)."""

    def __init__(self, client: docker.DockerClient, settings: Settings, runtime: Runtime) -> None:
        self.docker = client
        self._settings = settings
        self.runtime: Runtime = runtime
        # As root we hand each chat's folders to a uid of its own. Otherwise we cannot chown, so
        # every sandbox runs as our own (non-root) uid, which owns the folders.
        self.own_uid = None if os.getuid() == 0 else os.getuid()

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

    def get(self, chat_id: str) -> Container | None:
        try:
            return self.docker.containers.get(container_name(chat_id))
        except NotFound:
            return None

    def _create(self, chat: Chat, uid: int) -> Container:
        return self._create_container(
            chat.chat_id,
            uid,
            {LABEL_CHAT: chat.chat_id, LABEL_USER: chat.user_id},
            image=self.image_of(chat),
        )

    def hardening(self, uid: int, labels: dict[str, str]) -> dict[str, Any]:
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

    def store_mount(self) -> dict[str, dict[str, str]]:
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
            return self.docker.containers.create(
                image,
                name=container_name(serves),
                **self.hardening(uid, labels),
                volumes={
                    str(paths.workspace): {"bind": WORKSPACE_DIR, "mode": "rw"},
                    str(paths.state): {"bind": STATE_DIR, "mode": "rw"},
                    str(paths.run): {"bind": SOCKET_DIR, "mode": "rw"},
                    str(paths.packages): {"bind": CHAT_PACKAGES_DIR, "mode": "ro"},
                    **self.store_mount(),
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
            raise self.image_missing(image) from e

    def image_missing(self, image: str | None = None) -> SandboxError:
        image = image or self._settings.sandbox_image
        return SandboxError(f"sandbox image '{image}' is missing; build it with `make images`")

    def ensure_started(
        self, chat: Chat, uid: int, clean: bool = False
    ) -> tuple[Identity, str | None]:
        """Create or start the chat's container; returns what it was made with, and how it
        started ("created", "restarted"; None: it ran already). `clean` restarts a running one
        too, for a socket that user code tampered with."""
        container = self.get(chat.chat_id)
        created = False
        how: str | None = None
        if container is not None and clean and container.status == "running":
            container.stop(timeout=2)
            container.reload()
        if container is not None:
            image = self.image_of(chat)
            # Which build the tag names now matters only to a container about to start: a
            # running one is never made anew for it (see _outdated), so it costs no lookup.
            image_id = self._image_id(image) if container.status != "running" else None
            outdated = self._outdated(container, uid, image, image_id)
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
                container = self.get(chat.chat_id)
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
        identity = identity_of(container)
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

    def _image_id(self, image: str) -> str | None:
        """The id of the image a tag names now; None when it is missing (creating a container
        from it then says so)."""
        try:
            return str(self.docker.images.get(image).id)
        except ImageNotFound:
            return None

    def _outdated(
        self, container: Container, uid: int, image: str, image_id: str | None = None
    ) -> str | None:
        """Why an existing container must be made anew, or None. `image_id`: what `image`
        names now, when known."""
        made_from = container.attrs.get("Config", {}).get("Image")
        if made_from != image:
            return f"it was made from the image {made_from}, the chat's is {image}"
        if image_id and container.attrs.get("Image") != image_id and container.status != "running":
            # `make images` built the tag again (a new kernel, new packages). A running one is
            # left to serve (a cell may be running in it, asked by another gateway process):
            # SandboxManager.stop_old_builds stops those that are idle when a gateway starts.
            return f"{image} was built again since it was made"
        mounts = {m.get("Destination") for m in container.attrs.get("Mounts") or []}
        if CHAT_PACKAGES_DIR not in mounts:
            return "it was made without the chat's packages folder"
        if (STORE_DIR in mounts) != self._store_exists():
            return "the package store (PACKAGES_DIR) appeared or went since it was made"
        identity = identity_of(container)
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

    def old_builds(self) -> list[str]:
        """The chats whose sandbox runs from an older build of its image: the image's tag names
        another image now."""
        now: dict[str, str | None] = {}
        chats = []
        for container in self.list_managed():
            chat_id = chat_of(container)
            tag = container.attrs.get("Config", {}).get("Image", "")
            if chat_id is None or container.status != "running" or not tag:
                continue
            if tag not in now:
                now[tag] = self._image_id(tag)
            if now[tag] and container.attrs.get("Image") != now[tag]:
                chats.append(chat_id)
        return chats

    def stop(self, chat_id: str) -> None:
        container = self.get(chat_id)
        if container is None:
            return
        try:
            container.stop(timeout=2)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:
                raise

    def restart(self, chat_id: str) -> bool:
        container = self.get(chat_id)
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

    def remove(self, chat_id: str) -> None:
        try:
            self.docker.api.remove_container(container_name(chat_id), force=True, v=True)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:
                raise
        self.remove_installer(chat_id)
        # The rule: chat_folders deletes below the chat's folder by descriptor, following no link.
        paths = self.paths(chat_id)
        chat_folders.remove_tree(paths.root)
        chat_folders.remove_tree(paths.packages)

    def remove_installer(self, chat_id: str) -> None:
        """Remove the chat's installer container (gateway.sandbox.installer), if there is one."""
        with contextlib.suppress(NotFound):
            self.docker.api.remove_container(
                container_name(INSTALLER_PREFIX + chat_id), force=True, v=True
            )

    def _managed_filter(self) -> dict[str, str | list[str] | bool]:
        return {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_DATA_DIR}={self._settings.data_dir}"]}

    def list_managed(self) -> list[Container]:
        return self.docker.containers.list(
            all=True,
            filters=self._managed_filter(),
            # The SDK lists, then inspects each: one that another process removed in between
            # (a chat deleted, a pooled sandbox claimed or dropped) is left out, not an error
            # that stops a starting gateway.
            ignore_removed=True,
        )

    def states(self) -> dict[str, str]:
        """chat id -> its container's status, for every chat that has one."""
        # One listing call: the SDK's list inspects every container after it, a call each,
        # and this runs before every sandbox start when USER_MAX_RUNNING_SANDBOXES is on.
        rows = self.docker.api.containers(all=True, filters=self._managed_filter())
        states = {}
        for row in rows:
            names = row.get("Names") or [""]
            chat_id = _chat_served(row.get("Labels") or {}, names[0].lstrip("/"))
            if chat_id is not None:
                states[chat_id] = str(row.get("State", ""))
        return states

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

    def pool_scope(self) -> str:
        """A digest of everything a sandbox is made with: DATA_DIR, the image as built now, the
        runtime, the limits, the seccomp profile, the uid scheme. Pooled sandboxes are kept and
        claimed per scope, so a chat never gets one made under other settings."""
        s = self._settings
        image = self.docker.images.get(s.sandbox_image).id
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

    def make_pooled(self, pool_id: str, uid: int, scope: str) -> Identity:
        """Create and start a pooled sandbox, with folders of its own under DATA_DIR/chats (on
        the same file system as the chats', so a claim can rename them)."""
        self._prepare_dirs(pool_id, uid)
        container = self._create_container(
            pool_id, uid, {LABEL_POOL: pool_id, LABEL_POOL_SCOPE: scope}, warm_imports=True
        )
        container.start()
        identity = identity_of(container)
        if identity is None:
            raise SandboxError(f"the pooled sandbox {pool_id} has no executor secret")
        return identity

    def take_pooled(self, pool_id: str, chat_id: str) -> Identity:
        """Make the pooled sandbox the chat's: its container gets the chat's name (Docker
        refuses, 409, if the chat has a container already), then its folders the chat's folder
        name. The mounts follow: they hold the folders themselves, not their paths."""
        container = self.get(pool_id)
        if container is None or container.status != "running":
            raise SandboxError(f"the pooled sandbox {pool_id} is not running")
        identity = identity_of(container)
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

    def list_pooled(self) -> list[PooledContainer]:
        """Unclaimed pooled sandboxes of this DATA_DIR, whatever their scope."""
        pooled = []
        for container in self.list_managed():
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

    def remove_pooled(self, pool_id: str) -> None:
        """Remove an unclaimed pooled sandbox and its folders (by descriptor, as remove)."""
        self.remove(pool_id)


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


def identity_of(container: Container) -> Identity | None:
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
