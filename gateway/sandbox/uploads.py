"""Uploads: where the bytes go, what the file and its variables are called, and what may be
imported from the server's own disk."""

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.sandbox.files import DIR_FLAGS
from shared.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidInput,
    InvalidPath,
    NotFound,
    PayloadTooLarge,
)
from shared.uploads import identifier

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# name_2.csv, name_3.csv, ...: as many tries for a free name before giving up (409).
_MAX_SUFFIX = 1000


def safe_filename(name: str | None, default: str = "upload.csv") -> str:
    """The client's file name cut down to a plain name in the workspace's top folder."""
    base = os.path.basename((name or "").replace("\\", "/"))
    cleaned = _UNSAFE.sub("_", base).strip("._")
    if not cleaned:
        return default
    return cleaned[:120]


def refuse_traversal(name: str | None) -> None:
    """InvalidPath for a client's file name that tries to leave its folder (`..`, an absolute
    path): refused, not quietly cut down, since no honest client sends one."""
    given = (name or "").replace("\\", "/")
    if given.startswith("/") or ".." in given.split("/"):
        raise InvalidPath(
            f"the file name {given[:200]!r} leads out of its folder; send a plain file name"
        )


def variable_name(filename: str) -> str:
    """A Python identifier named after the file: `tdi rentals-2024.csv` -> `tdi_rentals_2024`."""
    return identifier(filename.rsplit(".", 1)[0] if "." in filename else filename)


def numbered(filename: str, n: int) -> str:
    """The n-th other name for a file: `sales.csv` -> `sales_2.csv`."""
    stem, dot, suffix = filename.rpartition(".")
    return f"{stem}_{n}.{suffix}" if dot and stem else f"{filename}_{n}"


class StagedUpload:
    """The upload's bytes in a hidden file of the workspace, next to where it will be kept: it
    only takes its real name once it parsed, so a failed upload never replaces a user's file.

    User code can swap the staged name for a symlink at any moment, so the gateway never uses that
    name as a path: the file is created with O_EXCL|O_NOFOLLOW relative to the workspace's
    descriptor, written, chowned and chmodded through its own descriptor, and renamed or unlinked
    relative to the workspace's descriptor (acting on a link there only moves or removes the link).
    Its methods block: run them on the file pool.
    """

    def __init__(self, workspace: Path, filename: str) -> None:
        self.name = f".upload-{secrets.token_hex(6)}-{filename}"
        # The rule: the workspace folder itself is a mount point the sandbox cannot replace.
        self._dir = os.open(workspace, DIR_FLAGS)
        try:
            # The rule: a new file, relative to the folder's descriptor, never through a link.
            fd = os.open(self.name, _CREATE_FLAGS, 0o640, dir_fd=self._dir)
        except BaseException:
            os.close(self._dir)
            raise
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def hand_to_sandbox(self, uid: int) -> None:
        """Let the sandbox's user read the file and delete it on a reset."""
        self._file.flush()
        # The rule: on the descriptor we created, never on the name user code can swap.
        if os.getuid() == 0:
            os.fchown(self._file.fileno(), uid, uid)
        os.fchmod(self._file.fileno(), 0o640)
        self._file.close()

    def keep_as(self, filename: str) -> None:
        # The rule: both names relative to the workspace's descriptor; neither is followed.
        try:
            os.rename(self.name, filename, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except FileNotFoundError as e:
            raise Conflict("code running in the sandbox moved the uploaded file away") from e

    def keep(self, filename: str, overwrite: bool, avoid: set[str]) -> str:
        """Give the file its name, or when something has that name already (or it is in
        `avoid`), the first free one of name_2.ext, name_3.ext, ...; returns the name kept.
        With `overwrite` a file of that name is replaced; a folder never is."""
        if overwrite and filename not in avoid:
            try:
                # The rule, as in keep_as: relative to the descriptor, nothing followed.
                os.rename(self.name, filename, src_dir_fd=self._dir, dst_dir_fd=self._dir)
                return filename
            except FileNotFoundError as e:
                raise Conflict("code running in the sandbox moved the uploaded file away") from e
            except OSError as e:
                if e.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise
        candidates = [filename] + [numbered(filename, n) for n in range(2, _MAX_SUFFIX + 1)]
        for candidate in candidates:
            if candidate in avoid:
                continue
            try:
                # A link fails where the name is taken (rename would replace it), so user code
                # making that name meanwhile loses nothing. Neither name is followed.
                os.link(
                    self.name,
                    candidate,
                    src_dir_fd=self._dir,
                    dst_dir_fd=self._dir,
                    follow_symlinks=False,
                )
            except FileExistsError:
                continue
            except FileNotFoundError as e:
                raise Conflict("code running in the sandbox moved the uploaded file away") from e
            os.unlink(self.name, dir_fd=self._dir)
            return candidate
        raise Conflict(
            f"'{filename}' and {_MAX_SUFFIX - 1} numbered names like it are taken; rename the "
            "file, or send overwrite=true to replace it"
        )

    def discard(self) -> None:
        """Remove the staged name (whatever is there now: unlink never follows a link)."""
        self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.name, dir_fd=self._dir)

    def close(self) -> None:
        self._file.close()
        os.close(self._dir)


async def write_stream(
    chunks: AsyncIterator[bytes],
    write: Callable[[bytes], Awaitable[None]],
    limit: int,
) -> int:
    """Pass the chunks to `write`, refusing past `limit` bytes (the caller discards the file)."""
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > limit:
            raise PayloadTooLarge(
                f"the file is larger than MAX_UPLOAD_BYTES allows ({limit} bytes)"
            )
        await write(chunk)
    return written


@dataclass
class ImportedFile:
    """A file of IMPORT_DIR, already open: what was checked is what is read."""

    file: BinaryIO
    name: str
    size: int


def open_import(import_dir: Path | None, file_path: str) -> ImportedFile:
    """The regular file `file_path` names, if it lies inside IMPORT_DIR once symlinks are resolved.

    Relative paths are taken relative to IMPORT_DIR. Anything outside it is 403 whether or not it
    exists, so the answer says nothing about the rest of the server's disk. The file is opened
    once and the check is made on what was opened (its descriptor's real path), so no link or
    folder changed between a check and the open can lead outside.
    """
    if import_dir is None:
        raise Forbidden(
            "importing files from the server's disk is disabled; set IMPORT_DIR to allow a "
            "folder, or upload the file as multipart/form-data",
            ErrorCode.IMPORT_NOT_ALLOWED,
        )
    if "\x00" in file_path:
        raise InvalidInput("the file path contains a NUL byte")
    root = import_dir.resolve()
    outside = Forbidden(
        f"'{file_path}' is outside the import folder IMPORT_DIR", ErrorCode.IMPORT_NOT_ALLOWED
    )
    try:
        # O_PATH: no file is opened for reading (no device's open has an effect, no FIFO waits)
        # before we know what it is and where it lies.
        found = os.open(root / file_path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        # Only which error to give: the same 403 for a path outside whether or not it exists.
        if not _leads_inside(root, file_path):
            raise outside from e
        if isinstance(e, (FileNotFoundError, NotADirectoryError)):
            raise NotFound(
                f"'{file_path}' does not exist in the import folder", ErrorCode.FILE_NOT_FOUND
            ) from e
        raise InvalidInput(f"'{file_path}' cannot be opened: {e.strerror}") from e
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{found}"))
        if not opened.is_relative_to(root):
            raise outside
        st = os.fstat(found)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"'{file_path}' is not a regular file")
        # Through the descriptor's own link: the very file just checked, not a path again.
        fd = os.open(f"/proc/self/fd/{found}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(found)
    return ImportedFile(os.fdopen(fd, "rb"), opened.name, st.st_size)


def _leads_inside(root: Path, file_path: str) -> bool:
    try:
        return (root / file_path).resolve().is_relative_to(root)
    except OSError:  # a link changing while it is resolved
        return False
