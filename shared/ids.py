"""Chat ids and workspace file names: what the gateway accepts before touching Redis or disk."""

import re
import secrets
import string
from datetime import UTC, datetime

# The brief's examples have no suffix (chat_20250202_162145); ours add one so two chats made in the
# same second never collide. Both forms are valid ids.
CHAT_ID_RE = re.compile(r"^chat_\d{8}_\d{6}(?:_[a-z0-9]{4,16})?$")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def new_chat_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))
    return f"chat_{stamp}_{suffix}"


def is_chat_id(value: str) -> bool:
    return bool(CHAT_ID_RE.fullmatch(value))


def workspace_parts(path: str) -> list[str]:
    """Split a client-given workspace path into safe components, or raise InvalidPath.

    Refuses absolute paths, `..`, empty and dot components, NUL and backslashes: anything that could
    name a file outside the workspace before symlinks are even considered.
    """
    from shared.errors import InvalidPath

    if not path or "\x00" in path or "\\" in path:
        raise InvalidPath("the file path is empty or contains a NUL byte or backslash")
    if path.startswith("/"):
        raise InvalidPath("absolute paths are not allowed; give a path relative to the workspace")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidPath(f"'{path}' has an empty, '.' or '..' component")
    return parts
