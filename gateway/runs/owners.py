"""Which gateway process owns a run, and whether that process still lives.

Every gateway process has an owner id, written beside each query it journals as running. A process
is alive while its heartbeat key in Redis is (renewed every third of GATEWAY_HEARTBEAT_TTL_S). A
process that dies leaves its queries `running`; any other process (or its own successor) finds them
and marks them interrupted once their owner is dead, never while it lives and runs them.

A heartbeat only tells of a death after its TTL. Processes on one host (the usual case: they share
DATA_DIR with the sandboxes) also hold a lock file under DATA_DIR/gateways/, which the kernel frees
the moment the process dies, however it died: a lock file that can be locked by someone else is a
dead owner's, at once. An owner with no lock file here (another host) is judged by its heartbeat.
"""

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import socket
from pathlib import Path

from redis.asyncio import Redis

from gateway import keys

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    """Unique per process start; readable in logs (host and pid) but never parsed."""
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())[:40]
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


class Owners:
    """This process's owner id and heartbeat, and the liveness of other owners."""

    def __init__(self, redis: Redis, lock_dir: Path, ttl_s: float) -> None:
        self._redis = redis
        self._lock_dir = lock_dir
        self.ttl_s = ttl_s
        self.id = new_owner_id()
        self._lock_fd: int | None = None

    def _lock_path(self, owner: str) -> Path | None:
        # Owner ids are ours (new_owner_id), but they come back from Redis: only a plain name
        # becomes a path.
        if not owner or "/" in owner or owner.startswith("."):
            return None
        return self._lock_dir / f"{owner}.lock"

    async def start(self) -> None:
        """Announce this process: its lock file, then its first heartbeat."""
        self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._lock_path(self.id)
        assert path is not None
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock_fd = fd
        await self.beat()

    async def beat(self) -> None:
        await self._redis.set(keys.gateway_heartbeat(self.id), "1", px=int(self.ttl_s * 1000))

    async def alive(self, owners: set[str]) -> set[str]:
        """Those of `owners` that still live."""
        alive: set[str] = set()
        remote: list[str] = []
        for owner in owners:
            if owner == self.id:
                alive.add(owner)
                continue
            local = self._local_liveness(owner)
            if local is None:
                remote.append(owner)
            elif local:
                alive.add(owner)
        if remote:
            async with self._redis.pipeline(transaction=False) as pipe:
                for owner in remote:
                    pipe.exists(keys.gateway_heartbeat(owner))
                beats = await pipe.execute()
            alive.update(owner for owner, beat in zip(remote, beats, strict=True) if beat)
        return alive

    def _local_liveness(self, owner: str) -> bool | None:
        """True or False when the owner's lock file is here; None when it is not (another host,
        or an owner from before lock files)."""
        path = self._lock_path(owner)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cannot read the lock file of gateway process %s: %s", owner, e)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return True
            raise
        else:
            # Ours now, so its owner is gone: the file has served its purpose.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return False
        finally:
            os.close(fd)

    async def close(self) -> None:
        """Leave cleanly: the heartbeat goes at once, so nobody waits out its TTL."""
        with contextlib.suppress(Exception):
            await self._redis.delete(keys.gateway_heartbeat(self.id))
        if self._lock_fd is not None:
            path = self._lock_path(self.id)
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            os.close(self._lock_fd)
            self._lock_fd = None
