"""Changing a chat's workspace on its user's request: delete a file or folder, move or rename one,
and pack the whole workspace as a zip.

The rule of gateway.sandbox.files holds: the workspace folder is the gateway's own; below it every
component is opened relative to its parent's descriptor with O_NOFOLLOW, so a symlink user code
planted is acted on as itself (deleted, moved, left out of the zip), never followed. A folder is
deleted with gateway.sandbox.folders' descriptor walk. Nothing here creates a file or folder the
sandbox would then not own: a move needs its destination folder to exist already.
"""

import errno
import os
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from gateway.sandbox import folders
from gateway.sandbox.files import DIR_FLAGS, MAX_DEPTH, BoundedWalk, open_file, read_chunks
from shared.errors import Conflict, ErrorCode, InvalidPath, NotFound
from shared.ids import workspace_parts

# What an archive may hold: more entries, or more time to walk them, than a listing.
ARCHIVE_MAX_ENTRIES = 100_000
ARCHIVE_TIME_LIMIT_S = 30.0
# Written into an archive that is not the whole workspace, saying why.
INCOMPLETE_NOTE = "ARCHIVE_INCOMPLETE.txt"
_PIECE = 256 * 1024


def _shown(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "replace")


def _open_parent(workspace: Path, path: str) -> tuple[int, str]:
    """A descriptor of the folder that holds `path`, reached without following a link, and the
    name of `path` in it. The caller closes the descriptor."""
    parts = workspace_parts(path)
    dir_fd = os.open(workspace, DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=dir_fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise InvalidPath(
                        f"'{_shown(path)}' goes through a symbolic link or a file, not a folder"
                    ) from e
                if e.errno == errno.ENOENT:
                    raise NotFound(
                        f"no folder '{_shown(part)}' in '{_shown(path)}'", ErrorCode.FILE_NOT_FOUND
                    ) from e
                raise
            os.close(dir_fd)
            dir_fd = next_fd
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd, parts[-1]


def _lstat(dir_fd: int, name: str, path: str) -> os.stat_result:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError as e:
        raise NotFound(f"file '{_shown(path)}' not found", ErrorCode.FILE_NOT_FOUND) from e


def delete(workspace: Path, path: str) -> None:
    """Delete the file, link or folder (with everything in it) at `path`."""
    dir_fd, name = _open_parent(workspace, path)
    try:
        if stat.S_ISDIR(_lstat(dir_fd, name, path).st_mode):
            top = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                folders.empty(top)
            finally:
                os.close(top)
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError as e:
        raise NotFound(f"file '{_shown(path)}' not found", ErrorCode.FILE_NOT_FOUND) from e
    finally:
        os.close(dir_fd)


def move(workspace: Path, source: str, destination: str, overwrite: bool) -> None:
    """Move or rename `source` to `destination`, whose folder must exist. An existing file
    there is replaced only with `overwrite`; a folder there never is."""
    if workspace_parts(destination)[: len(workspace_parts(source))] == workspace_parts(source):
        raise InvalidPath("a folder cannot be moved into itself")
    src_fd, src_name = _open_parent(workspace, source)
    try:
        _lstat(src_fd, src_name, source)
        dst_fd, dst_name = _open_parent(workspace, destination)
        try:
            try:
                there = os.lstat(dst_name, dir_fd=dst_fd)
            except FileNotFoundError:
                there = None
            if there is not None and stat.S_ISDIR(there.st_mode):
                raise Conflict(f"a folder '{_shown(destination)}' exists already")
            if there is not None and not overwrite:
                raise Conflict(
                    f"'{_shown(destination)}' exists already; send \"overwrite\": true to "
                    "replace it"
                )
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def write_archive(workspace: Path, out: Callable[[bytes], None]) -> None:
    """The workspace's regular files as a zip, written to `out` as it is made (a stream: each
    entry with a data descriptor). Links and special files are left out; files are read by
    descriptor, each up to the size it had when opened. A walk cut short (too many entries, too
    deep, too slow) adds INCOMPLETE_NOTE saying so."""
    walker = BoundedWalk(ARCHIVE_MAX_ENTRIES, MAX_DEPTH, ARCHIVE_TIME_LIMIT_S)
    sink = _Sink(out)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for raw_path, st in walker.entries(workspace):
            if not stat.S_ISREG(st.st_mode):
                continue
            path = os.fsdecode(raw_path)
            try:
                fd, opened = open_file(workspace, path)
            except (NotFound, InvalidPath):
                continue  # gone or swapped for a link since the walk saw it
            try:
                info = zipfile.ZipInfo(
                    raw_path.decode("utf-8", "replace"), _zip_time(opened.st_mtime)
                )
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=opened.st_size > 2**31) as entry:
                    for chunk in read_chunks(fd, opened.st_size):
                        entry.write(chunk)
            finally:
                os.close(fd)
        if walker.cut is not None:
            archive.writestr(
                INCOMPLETE_NOTE,
                f"This archive holds only part of the workspace: its walk stopped early "
                f"({walker.cut}). Download the other files one by one.\n",
            )
    sink.close()


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(mtime, 315532800))  # zip cannot date before 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


class _Sink:
    """A write-only, unseekable file for zipfile (so it writes each entry with a data
    descriptor), passing what it gets to `out` in pieces of about _PIECE bytes."""

    def __init__(self, out: Callable[[bytes], None]) -> None:
        self._out = out
        self._written = 0
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        self._written += len(data)
        if len(self._pending) >= _PIECE:
            self.close()
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._pending:
            self._out(bytes(self._pending))
            self._pending.clear()
