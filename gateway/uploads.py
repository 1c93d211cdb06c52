"""CSV uploads: where the bytes go, what the file and its variable are called, and what may be
imported from the server's own disk."""

import keyword
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from shared.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def safe_filename(name: str | None) -> str:
    """The client's file name cut down to a plain name in the workspace's top folder."""
    base = os.path.basename((name or "").replace("\\", "/"))
    cleaned = _UNSAFE.sub("_", base).strip("._")
    if not cleaned:
        return "upload.csv"
    return cleaned[:120]


def variable_name(filename: str) -> str:
    """A Python identifier named after the file: `tdi rentals-2024.csv` -> `tdi_rentals_2024`."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    name = _NOT_IDENTIFIER.sub("_", stem).strip("_").lower() or "df"
    if name[0].isdigit() or keyword.iskeyword(name) or name.startswith("_"):
        name = f"df_{name}"
    return name


def staging_path(workspace: Path, filename: str) -> Path:
    """A hidden file next to the final one: the upload only takes its real name once it parsed,
    so a failed upload never replaces a file the user already had."""
    return workspace / f".upload-{secrets.token_hex(6)}-{filename}"


async def write_stream(chunks: AsyncIterator[bytes], target: Path, limit: int) -> int:
    """Write the chunks to `target`, refusing (and removing it) past `limit` bytes."""
    written = 0
    try:
        with target.open("xb") as f:
            async for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise PayloadTooLarge(
                        f"the file is larger than MAX_UPLOAD_BYTES allows ({limit} bytes)"
                    )
                f.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


def resolve_import(import_dir: Path | None, file_path: str) -> Path:
    """The real file `file_path` names, if it lies inside IMPORT_DIR once symlinks are resolved.

    Relative paths are taken relative to IMPORT_DIR. Anything outside it is 403 whether or not it
    exists, so the answer says nothing about the rest of the server's disk.
    """
    if import_dir is None:
        raise Forbidden(
            "importing files from the server's disk is disabled; set IMPORT_DIR to allow a "
            "folder, or upload the file as multipart/form-data"
        )
    root = import_dir.resolve()
    candidate = (root / file_path).resolve()
    if not candidate.is_relative_to(root):
        raise Forbidden(f"'{file_path}' is outside the import folder IMPORT_DIR")
    if not candidate.exists():
        raise NotFound(f"'{file_path}' does not exist in the import folder")
    if not candidate.is_file():
        raise InvalidInput(f"'{file_path}' is not a regular file")
    return candidate
