"""Which workspace files a cell created, modified or deleted.

Taken by the server, not the kernel: it works the same when the cell crashed the kernel, and user
code cannot break it by changing directory or patching `os`.
"""

import logging
import os
import stat
import subprocess
from dataclasses import dataclass

from shared.protocol import FileChange

MAX_ENTRIES = 20_000
_COMPLAINT_BYTES = 2000

log = logging.getLogger(__name__)
_warned = False

Key = tuple[str, ...]


@dataclass
class Snapshot:
    files: dict[str, tuple[int, int]]  # relative path -> (mtime_ns, size)
    # Set when the walk stopped at MAX_ENTRIES: the last path seen, in walk order.
    cut_at: Key | None = None


def snapshot(root: str, max_entries: int = MAX_ENTRIES) -> Snapshot:
    """Regular files under root, without following symlinks, walked depth first in sorted order
    so that a walk cut short always covers the same leading part of the tree."""
    global _warned
    files: dict[str, tuple[int, int]] = {}
    pending = _sorted_entries(root, "")
    seen = 0
    while pending:
        entry, relative = pending.pop()
        seen += 1
        if seen > max_entries:
            if not _warned:
                _warned = True
                log.warning("workspace has over %d entries; the rest is not tracked", max_entries)
            return Snapshot(files, _key(relative))
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            pending.extend(_sorted_entries(entry.path, relative + "/"))
        elif stat.S_ISREG(info.st_mode):
            files[relative] = (info.st_mtime_ns, info.st_size)
    return Snapshot(files)


def _sorted_entries(directory: str, prefix: str) -> list[tuple[os.DirEntry[str], str]]:
    """Entries in reverse name order, so that popping from the end visits them in order."""
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name, reverse=True)
    except OSError:
        return []
    return [(entry, prefix + entry.name) for entry in entries]


def changes(before: Snapshot, after: Snapshot) -> list[FileChange]:
    limit = min((s.cut_at for s in (before, after) if s.cut_at is not None), default=None)

    def visible(path: str) -> bool:
        return limit is None or _key(path) < limit

    result = []
    for path, (mtime, size) in after.files.items():
        old = before.files.get(path)
        if old is None:
            if visible(path):
                result.append(FileChange(path=_shown(path), size=size, change="created"))
        elif old != (mtime, size):
            result.append(FileChange(path=_shown(path), size=size, change="modified"))
    for path, (_, size) in before.files.items():
        if path not in after.files and visible(path):
            result.append(FileChange(path=_shown(path), size=size, change="deleted"))
    result.sort(key=lambda c: c.path)
    return result


def _key(path: str) -> Key:
    return tuple(path.split("/"))


def _shown(path: str) -> str:
    """The path for the report: names may hold any bytes (decoded with surrogate escapes, which
    JSON cannot carry); those that are not UTF-8 are shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def clear(root: str) -> None:
    """Delete everything inside root (not root itself: it is a mount point), at any depth.

    GNU find walks with fts: relative to descriptors, never following a symlink (a link is
    removed, not entered), with a bounded number of descriptors however deep the tree is. Raises
    OSError with find's first complaint when something could not be deleted."""
    with subprocess.Popen(
        ["find", root, "-xdev", "-mindepth", "1", "-delete"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as find:
        assert find.stderr is not None
        complaint = find.stderr.read(_COMPLAINT_BYTES)
        # A tree of a million unremovable files makes a million lines: drain them, keep one.
        while find.stderr.read(64 * 1024):
            pass
    if find.returncode != 0:
        first = complaint.decode("utf-8", "replace").partition("\n")[0]
        raise OSError(f"find exited with status {find.returncode}: {first}")
