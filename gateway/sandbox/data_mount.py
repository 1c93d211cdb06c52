"""The chats' folders on a mount of their own with noexec, nosuid and nodev.

Docker's bind mounts take no such options, but a bind mount inherits the flags of the mount its
source lies on. So `DATA_DIR/chats` is bind-mounted onto itself with those flags, and every
sandbox's `/workspace`, `/state` and `/run/executor` come from it: nothing user code writes there
can be run as a program or loaded as a shared library (under runc the kernel refuses with
EACCES; under gVisor such a program dies with SIGSEGV when its pages are mapped), no set-uid bit
counts and no device node opens. Python files there still import: they are read, not executed.

A gateway running as root on the host makes the mount itself (and leaves it: other gateway
processes on the same DATA_DIR rely on it). In a container it may not mount, so `make up` makes it
on the host first (deploy/ensure-data-mount.sh); the gateway checks and logs which it found.
"""

import ctypes
import ctypes.util
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

REQUIRED = frozenset({"noexec", "nosuid", "nodev"})
# <sys/mount.h>
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000


def mount_options(path: Path, mountinfo: str | None = None) -> frozenset[str]:
    """The per-mount options (rw, noexec, ...) of the mount `path` lies on: the last-mounted
    of the mounts with the longest mount point that contains it."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    target = os.path.realpath(path)
    best: tuple[int, frozenset[str]] = (-1, frozenset())
    for line in mountinfo.splitlines():
        # "id parent major:minor root mount-point options ...", the mount point octal-escaped.
        fields = line.split(" ")
        if len(fields) < 6:
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best[0]:
            best = (len(point), frozenset(fields[5].split(",")))
    return best[1]


def ensure(chats: Path) -> bool:
    """True when `chats` is on a noexec,nosuid,nodev mount, after making one if we can (as root
    in the host's mount namespace). False, with a warning logged, when we cannot. Gateway
    processes starting together take turns (a lock file beside `chats`), so the first mounts
    and the others find its mount rather than stacking their own on it."""
    chats.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(
        chats.parent / ".chats-mount.lock",
        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _ensure(chats)
    finally:
        os.close(fd)


def _ensure(chats: Path) -> bool:
    if mount_options(chats) >= REQUIRED:
        log.info("sandbox folders under %s are mounted noexec,nosuid,nodev", chats)
        return True
    if os.getuid() == 0:
        try:
            _mount(str(chats), str(chats), _MS_BIND)
            _mount(
                "none",
                str(chats),
                _MS_REMOUNT | _MS_BIND | _MS_NOEXEC | _MS_NOSUID | _MS_NODEV,
            )
        except OSError as e:
            log.warning("could not mount %s noexec,nosuid,nodev: %s", chats, e)
        if mount_options(chats) >= REQUIRED:
            log.info("mounted %s onto itself noexec,nosuid,nodev", chats)
            return True
    log.warning(
        "sandbox folders under %s are NOT mounted noexec,nosuid,nodev: files user code writes "
        "there can be run as programs. As root on the host: deploy/ensure-data-mount.sh %s",
        chats,
        chats.parent,
    )
    return False


def _mount(source: str, target: str, flags: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mount(source.encode(), target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
