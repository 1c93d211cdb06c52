"""A chat's disk use, and its soft quota (SANDBOX_DISK_LIMIT).

The host's file system (ext4 here, without project quotas) cannot cap one folder, and the gateway
cannot mount a file system per chat from its container, so the quota is soft: the chat's
`workspace/` and `state/` are measured after each run and before each upload. Past the limit the
run's result says so (`disk`), and uploads are refused; code still runs, so the user can delete
files. README: The sandbox, "Disk quota".

The measuring walks folders user code owns with the listings' walker (`files.BoundedWalk`): each
folder opened with O_NOFOLLOW relative to its parent's descriptor (a symlink is counted as itself,
never followed), bounded (entries, depth, time); a cut walk says its total is only a lower bound.
It counts allocated blocks (`st_blocks`), not sizes, so a sparse file counts what it really
holds, and each inode once, so hard links do not multiply a file.
"""

import asyncio
import stat
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gateway.chats.journal import DiskUsage
from gateway.sandbox.files import MAX_DEPTH, BoundedWalk, Cut
from shared.errors import ErrorCode, PayloadTooLarge

# It runs after every run, so it must stay cheap: 100k entries (all it visits) take about half a
# second of CPU here; past these bounds the total is "at least" what was counted.
MAX_ENTRIES = 100_000
TIME_LIMIT_S = 1.0
# A run that changed nothing reuses its chat's measure this long (see DiskQuota.after_run): the
# walk is a tenth of the gateway's CPU for a trivial cell.
REUSE_S = 10.0
_REMEMBERED_CHATS = 10_000
# st_blocks counts 512-byte units whatever the file system's block size (stat(2)).
_BLOCK = 512

FREE_SPACE = (
    "delete files with code (os.remove, shutil.rmtree) or variables you no longer need (del), "
    "or restart or delete the chat"
)


@dataclass(frozen=True)
class Measured:
    used_bytes: int
    # Why the walk stopped before it saw everything; None when the total is exact.
    cut: Cut | None = None


def measure(
    folders: Iterable[Path],
    max_entries: int = MAX_ENTRIES,
    max_depth: int = MAX_DEPTH,
    time_limit_s: float = TIME_LIMIT_S,
) -> Measured:
    """Bytes allocated under the folders (themselves included), each inode counted once, within
    one budget for all of them (see BoundedWalk); a missing folder is 0."""
    walker = BoundedWalk(max_entries, max_depth, time_limit_s)
    used = 0
    # (device, inode) of every file with more than one link seen so far.
    linked: set[tuple[int, int]] = set()
    for folder in folders:
        for _, st in walker.entries(folder):
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in linked:
                    continue
                linked.add(key)
            used += st.st_blocks * _BLOCK
        if walker.stopped:
            break
    return Measured(used, walker.cut)


def size_text(n: int) -> str:
    """Bytes for people, in powers of 1024 as SANDBOX_DISK_LIMIT's units: 5.0 MiB."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class UserDiskLimit(Protocol):
    """USER_DISK_LIMIT over all of a user's chats (gateway.quotas.Quotas)."""

    async def disk_room(
        self, user_id: str, chat_id: str, chat_bytes: int, size: int | None
    ) -> int | None: ...

    async def after_measure(self, user_id: str, chat_id: str, chat_bytes: int) -> str | None: ...


class DiskQuota:
    """SANDBOX_DISK_LIMIT over a chat's `workspace/` and `state/`, and the user's limit over
    all their chats when one is given (each 0: no limit; nothing is measured when neither is
    on). The walks run on a thread, off the event loop."""

    def __init__(self, limit_bytes: int, user_limit: UserDiskLimit | None = None) -> None:
        self.limit_bytes = limit_bytes
        self._user_limit = user_limit
        # Each chat's last measure after a run (monotonic time, usage), newest last.
        self._last: OrderedDict[str, tuple[float, DiskUsage]] = OrderedDict()

    async def after_run(
        self, chat_id: str, folders: list[Path], changed: bool, user_id: str | None = None
    ) -> DiskUsage | None:
        """The chat's use after a run, with a warning when it is past the limit. A run that,
        by the executor's account, `changed` no file and no variable leaves the use as it was:
        the chat's last measure is given again while it is recent. The account comes from the
        sandbox and may lie; it can only delay the warning by REUSE_S, never an upload's
        check, which always measures."""
        user_limit = self._user_limit if user_id is not None else None
        if not self.limit_bytes and user_limit is None:
            return None
        last = self._last.get(chat_id)
        if not changed and last is not None and time.monotonic() - last[0] < REUSE_S:
            usage = last[1]
        else:
            usage = await self._measure_after_run(folders)
            self._last[chat_id] = (time.monotonic(), usage)
            self._last.move_to_end(chat_id)
            while len(self._last) > _REMEMBERED_CHATS:
                self._last.popitem(last=False)
        if user_limit is not None and user_id is not None:
            warning = await user_limit.after_measure(user_id, chat_id, usage.used_bytes)
            if warning:
                both = " ".join(text for text in (usage.warning, warning) if text)
                usage = usage.model_copy(update={"over_limit": True, "warning": both})
        return usage

    async def _measure_after_run(self, folders: list[Path]) -> DiskUsage:
        measured = await asyncio.to_thread(measure, folders)
        over = bool(self.limit_bytes) and measured.used_bytes > self.limit_bytes
        return DiskUsage(
            used_bytes=measured.used_bytes,
            limit_bytes=self.limit_bytes,
            at_least=measured.cut is not None,
            over_limit=over,
            warning=(
                f"{self._past(measured)}. Uploads are refused until it is back under: {FREE_SPACE}."
                if over
                else None
            ),
        )

    async def room_for_upload(
        self, folders: list[Path], size: int | None, chat_id: str = "", user_id: str | None = None
    ) -> int | None:
        """Bytes an upload may still write (None: no limit). PayloadTooLarge
        (`disk_quota_exceeded`) when the chat is past its limit already, or when the upload's
        `size`, known up front, would take it past; QuotaExceeded the same for the user's."""
        user_limit = self._user_limit if user_id is not None else None
        if not self.limit_bytes and user_limit is None:
            return None
        measured = await asyncio.to_thread(measure, folders)
        room = None
        if self.limit_bytes:
            room = self.limit_bytes - measured.used_bytes
            if room <= 0:
                raise _refusal(f"{self._past(measured)}, so uploads are refused")
            if size is not None and size > room:
                raise _refusal(
                    f"{_used(measured)} of its disk limit of {size_text(self.limit_bytes)} "
                    f"(SANDBOX_DISK_LIMIT); this upload of {size_text(size)} would take it past"
                )
        if user_limit is not None and user_id is not None:
            user_room = await user_limit.disk_room(user_id, chat_id, measured.used_bytes, size)
            if user_room is not None:
                room = user_room if room is None else min(room, user_room)
        return room

    async def within(self, chunks: AsyncIterator[bytes], room: int | None) -> AsyncIterator[bytes]:
        """The upload's chunks, refused (`disk_quota_exceeded`) once they pass `room` bytes."""
        written = 0
        async for chunk in chunks:
            written += len(chunk)
            if room is not None and written > room:
                raise _refusal(
                    f"This upload is larger than the {size_text(room)} left under the disk "
                    "limits (SANDBOX_DISK_LIMIT per chat, USER_DISK_LIMIT per user)"
                )
            yield chunk

    def _past(self, measured: Measured) -> str:
        return (
            f"{_used(measured)}, past its disk limit of {size_text(self.limit_bytes)} "
            "(SANDBOX_DISK_LIMIT)"
        )


def _used(measured: Measured) -> str:
    amount = size_text(measured.used_bytes)
    if measured.cut is not None:
        amount = f"at least {amount}"
    return f"This chat's files and saved variables use {amount}"


def _refusal(why: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"{why}. To make room, {FREE_SPACE}.", ErrorCode.DISK_QUOTA_EXCEEDED)
