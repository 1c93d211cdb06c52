"""Reading a chat's workspace from the host, safely.

User code owns the workspace: it can plant symlinks to any host path, swap a directory for a link
between any check and any use (`renameat2(RENAME_EXCHANGE)` in a loop), nest folders thousands deep
and name files with any bytes. So nothing here acts on a path inside the workspace: each directory
is opened with O_NOFOLLOW relative to its parent's descriptor and read through that descriptor, so a
symlink anywhere fails the open itself and nothing outside the workspace is ever read. Listings are
bounded (entries visited, depth, time) and say when they were cut.
"""

import errno
import mimetypes
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel

from shared.errors import ErrorCode, InvalidPath, NotFound
from shared.ids import workspace_parts

# Every entry read counts (files, folders, links, anything), so 100k symlinks cost no more than
# this many; the executor's change report tracks as many.
MAX_ENTRIES = 20_000
# Deeper than any project's folders; bounds the descriptors one walk holds open (one per level).
MAX_DEPTH = 32
# A listing answers within about this long however the workspace looks.
TIME_LIMIT_S = 2.0

# How the gateway opens any folder of a chat: never through a link (README, "What the gateway
# trusts").
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Cut = Literal["entries", "depth", "time"]


class FileInfo(BaseModel):
    # For display: the relative path, with bytes that are not UTF-8 shown as U+FFFD.
    path: str
    # The exact relative path, percent-encoded: `/file/{chat_id}/{href}` downloads it.
    href: str
    size: int
    modified: str
    media_type: str


@dataclass
class Listing:
    files: list[FileInfo] = field(default_factory=list)
    # Why the walk stopped early or skipped folders; None when it saw everything.
    cut: Cut | None = None


@dataclass
class _Folder:
    fd: int
    path: bytes
    depth: int
    # Subfolder names still to enter, in reverse order so that pop() takes the next one.
    pending: list[bytes]


class BoundedWalk:
    """Every entry below folders user code fills, read without trusting them: each folder is
    opened with O_NOFOLLOW relative to its parent's descriptor (a symlink is reported as itself,
    never entered; a folder swapped for one since it was read is skipped), depth first without
    recursion, one descriptor per level entered. One budget (entries read, depth, time) covers
    every folder walked with it; `cut` says why it stopped early, None when it saw everything."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_depth: int = MAX_DEPTH,
        time_limit_s: float = TIME_LIMIT_S,
    ) -> None:
        self._entries = max_entries
        self._max_depth = max_depth
        self._deadline = time.monotonic() + time_limit_s
        self.cut: Cut | None = None

    @property
    def stopped(self) -> bool:
        """Out of entries or time: nothing more is read, below any folder."""
        return self.cut in ("entries", "time")

    def entries(self, top: Path) -> Iterator[tuple[bytes, os.stat_result]]:
        """(raw path relative to `top`, lstat) of `top` itself (path b"") and of every entry
        below it, within the budget; nothing when `top` does not exist."""
        try:
            # The rule: `top` is a folder the sandbox cannot replace (a mount point);
            # everything below it is opened relative to a descriptor, never by path.
            fd = os.open(top, DIR_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return
        stack = [_Folder(fd, b"", 0, [])]
        try:
            yield b"", os.fstat(fd)
            yield from self._read(stack[0])
            while stack and not self.stopped:
                folder = stack[-1]
                if not folder.pending:
                    os.close(stack.pop().fd)
                    continue
                name = folder.pending.pop()
                if folder.depth >= self._max_depth:
                    self.cut = "depth"
                    folder.pending.clear()
                    continue
                try:
                    # The rule: relative to the parent's descriptor, never following a link; a
                    # folder swapped for a symlink since it was read fails here and is skipped.
                    below = os.open(name, DIR_FLAGS, dir_fd=folder.fd)
                except OSError:
                    continue
                stack.append(_Folder(below, folder.path + name + b"/", folder.depth + 1, []))
                yield from self._read(stack[-1])
        finally:
            for folder in stack:
                os.close(folder.fd)

    def _read(self, folder: _Folder) -> list[tuple[bytes, os.stat_result]]:
        """The folder's entries with their lstat, within the budget; its subfolders are noted
        in `folder.pending`. Read whole before anything is yielded, so that a walk holds one
        descriptor per level, not a directory stream besides."""
        found: list[tuple[bytes, os.stat_result]] = []
        try:
            entries = os.scandir(folder.fd)
        except OSError:
            return found
        with entries:
            for entry in entries:
                if self._entries <= 0:
                    self.cut = "entries"
                    break
                if time.monotonic() > self._deadline:
                    self.cut = "time"
                    break
                self._entries -= 1
                name = os.fsencode(entry.name)
                try:
                    # fstatat relative to the folder's descriptor, not following a link.
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append((folder.path + name, st))
                if stat.S_ISDIR(st.st_mode):
                    folder.pending.append(name)
        folder.pending.sort(reverse=True)
        return found


def media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def list_files(workspace: Path) -> list[FileInfo]:
    """Regular files under the workspace (see `walk`), without saying whether it was cut."""
    return walk(workspace).files


def walk(
    workspace: Path,
    max_entries: int = MAX_ENTRIES,
    max_depth: int = MAX_DEPTH,
    time_limit_s: float = TIME_LIMIT_S,
) -> Listing:
    """Regular files under the workspace, sorted by path; symlinks are neither followed nor
    listed (see BoundedWalk)."""
    walker = BoundedWalk(max_entries, max_depth, time_limit_s)
    found = [
        (path, _file_info(path, st))
        for path, st in walker.entries(workspace)
        if stat.S_ISREG(st.st_mode)
    ]
    return Listing(
        files=[info for _, info in sorted(found, key=lambda pair: pair[0])], cut=walker.cut
    )


def _file_info(raw_path: bytes, st: os.stat_result) -> FileInfo:
    shown = raw_path.decode("utf-8", "replace")
    return FileInfo(
        path=shown,
        href=quote(raw_path, safe="/"),
        size=st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
        media_type=media_type(shown),
    )


def open_file(workspace: Path, path: str) -> tuple[int, os.stat_result]:
    """An O_RDONLY descriptor of the regular file `path` inside the workspace, and its stat.

    `path` may hold any bytes (as os.fsdecode gives them). Raises InvalidPath for paths that try
    to leave the workspace, NotFound for anything else that is not a regular file reachable
    without following a symlink.
    """
    parts = workspace_parts(path)
    try:
        # The rule: the workspace folder is ours; below it, one component at a time, by descriptor.
        dir_fd = os.open(workspace, DIR_FLAGS)
    except FileNotFoundError as e:
        raise NotFound(f"file '{_shown(path)}' not found", ErrorCode.FILE_NOT_FOUND) from e
    try:
        for part in parts[:-1]:
            next_fd = _open_component(dir_fd, part, os.O_RDONLY | os.O_DIRECTORY, path)
            os.close(dir_fd)
            dir_fd = next_fd
        # O_NONBLOCK: a FIFO planted in place of a file must not hang the open.
        fd = _open_component(dir_fd, parts[-1], os.O_RDONLY | os.O_NONBLOCK, path)
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotFound(f"'{_shown(path)}' is not a regular file", ErrorCode.FILE_NOT_FOUND)
    return fd, st


def _open_component(dir_fd: int, name: str, flags: int, path: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        # O_DIRECTORY with O_NOFOLLOW reports a symlink as "not a directory": look again.
        if e.errno in (errno.ELOOP, errno.EMLINK) or _is_symlink(dir_fd, name):
            raise InvalidPath(
                f"'{_shown(path)}' goes through a symbolic link; links are not served"
            ) from e
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFound(f"file '{_shown(path)}' not found", ErrorCode.FILE_NOT_FOUND) from e
        raise


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _shown(path: str) -> str:
    """`path` fit for a message: bytes that are not UTF-8 as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def read_chunks(fd: int, size: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Up to `size` bytes of the file, in chunks (user code may grow it while it is sent; the
    answer's Content-Length was `size`). Does not close the descriptor."""
    left = size
    while left > 0 and (chunk := os.read(fd, min(chunk_size, left))):
        left -= len(chunk)
        yield chunk
