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
class _Budget:
    entries: int
    deadline: float


@dataclass
class _Folder:
    fd: int
    prefix: bytes
    depth: int
    # Subfolder names still to enter, in reverse order so that pop() takes the next one.
    pending: list[bytes]


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
    listed. Depth first without recursion, holding one descriptor per level entered."""
    deadline = time.monotonic() + time_limit_s
    listing = Listing()
    try:
        # The rule: the workspace folder itself is a mount point the sandbox cannot replace;
        # everything below it is opened relative to a descriptor, never by path.
        top = os.open(workspace, DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return listing
    budget = _Budget(max_entries, deadline)
    found: list[tuple[bytes, FileInfo]] = []
    stack = [_read_folder(top, b"", 0, budget, listing, found)]
    try:
        while stack and listing.cut not in ("entries", "time"):
            folder = stack[-1]
            if not folder.pending:
                os.close(stack.pop().fd)
                continue
            name = folder.pending.pop()
            if folder.depth >= max_depth:
                listing.cut = "depth"
                folder.pending.clear()
                continue
            try:
                # The rule: relative to the parent's descriptor, never following a link; a folder
                # swapped for a symlink since it was read fails here and is skipped.
                fd = os.open(name, DIR_FLAGS, dir_fd=folder.fd)
            except OSError:
                continue
            path = folder.prefix + name + b"/"
            stack.append(_read_folder(fd, path, folder.depth + 1, budget, listing, found))
    finally:
        for folder in stack:
            os.close(folder.fd)
    listing.files = [info for _, info in sorted(found, key=lambda pair: pair[0])]
    return listing


def _read_folder(
    fd: int,
    prefix: bytes,
    depth: int,
    budget: _Budget,
    listing: Listing,
    found: list[tuple[bytes, FileInfo]],
) -> _Folder:
    """Add the folder's regular files to `found` (by raw path) and note its subfolders, within
    the budget; past it, mark the listing cut."""
    subfolders: list[bytes] = []
    try:
        entries = os.scandir(fd)
    except OSError:
        return _Folder(fd, prefix, depth, subfolders)
    with entries:
        for entry in entries:
            if budget.entries <= 0:
                listing.cut = "entries"
                break
            if time.monotonic() > budget.deadline:
                listing.cut = "time"
                break
            budget.entries -= 1
            name = os.fsencode(entry.name)
            try:
                # d_type from the directory read; a link is never a dir or file here.
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(name)
                elif entry.is_file(follow_symlinks=False):
                    # fstatat relative to fd, not following links; a swap since the read is seen.
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        found.append((prefix + name, _file_info(prefix + name, st)))
            except OSError:
                continue
    subfolders.sort(reverse=True)
    return _Folder(fd, prefix, depth, subfolders)


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
