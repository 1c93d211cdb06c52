"""Reading a chat's workspace from the host, safely.

User code owns the workspace and can plant symlinks to any host path, or swap a file for one between
our check and our open. So paths are opened one component at a time relative to the previous
directory's descriptor with O_NOFOLLOW: a symlink anywhere in the path fails the open itself, and
nothing outside the workspace is ever read.
"""

import errno
import mimetypes
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from shared.errors import InvalidPath, NotFound
from shared.ids import workspace_parts

MAX_LISTED_FILES = 10_000


class FileInfo(BaseModel):
    path: str
    size: int
    modified: str
    media_type: str


def media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def list_files(workspace: Path) -> list[FileInfo]:
    """Regular files under the workspace, sorted; symlinks are neither followed nor listed."""
    files: list[FileInfo] = []
    if not workspace.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = os.path.relpath(full, workspace)
            files.append(
                FileInfo(
                    path=rel,
                    size=st.st_size,
                    modified=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
                    media_type=media_type(name),
                )
            )
            if len(files) >= MAX_LISTED_FILES:
                return files
    return files


def open_file(workspace: Path, path: str) -> tuple[int, os.stat_result]:
    """An O_RDONLY descriptor of the regular file `path` inside the workspace, and its stat.

    Raises InvalidPath for paths that try to leave the workspace, NotFound for anything else
    that is not a regular file reachable without following a symlink.
    """
    parts = workspace_parts(path)
    try:
        dir_fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError as e:
        raise NotFound(f"file '{path}' not found") from e
    try:
        for part in parts[:-1]:
            next_fd = _open_component(dir_fd, part, os.O_RDONLY | os.O_DIRECTORY, path)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = _open_component(dir_fd, parts[-1], os.O_RDONLY | os.O_NONBLOCK, path)
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotFound(f"'{path}' is not a regular file")
    return fd, st


def _open_component(dir_fd: int, name: str, flags: int, path: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        # O_DIRECTORY with O_NOFOLLOW reports a symlink as "not a directory": look again.
        if e.errno in (errno.ELOOP, errno.EMLINK) or _is_symlink(dir_fd, name):
            raise InvalidPath(f"'{path}' goes through a symbolic link; links are not served") from e
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFound(f"file '{path}' not found") from e
        raise


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def read_chunks(fd: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Yield the file's bytes and close the descriptor, even when the client goes away."""
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk
