"""A chat's workspace files: list, download, delete, move, and download all as a zip."""

import os
import re
from urllib.parse import quote, unquote, unquote_to_bytes

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ChatDep, SessionsDep
from gateway.api.openapi import errors
from gateway.chats.store import Chat
from gateway.sandbox.files import FileInfo, media_type

router = APIRouter(tags=["files"])

# Served inline only when a browser cannot run script from them; anything else (HTML, SVG, ...)
# written by user code is a download, so it can never act within the gateway's origin.
_INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv"}

# Set on a listing that stopped early ("entries", "depth" or "time"); the body stays a list.
TRUNCATED_HEADER = "X-Listing-Truncated"

_LISTING = {
    "headers": {
        TRUNCATED_HEADER: {
            "description": "Set when the listing stopped early: why",
            "schema": {"type": "string", "enum": ["entries", "depth", "time"]},
        }
    }
}
# Any media type a file's name suggests (application/octet-stream when none); only images and
# plain text are inline, the rest come as downloads.
_DOWNLOAD = {
    "description": "The file's bytes, with the media type its name suggests",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get("/files/{chat_id}", responses={200: _LISTING})
async def get_files(chat: ChatDep, sessions: SessionsDep, response: Response) -> list[FileInfo]:
    """Files in the chat's workspace: path, href (to download it), size, modified time, media
    type. Bounded and time-boxed; a cut listing has the X-Listing-Truncated header."""
    listing = await sessions.list_files(chat)
    if listing.cut is not None:
        response.headers[TRUNCATED_HEADER] = listing.cut
    return listing.files


@router.get(
    "/file/{chat_id}/{path:path}",
    response_class=StreamingResponse,
    responses={200: _DOWNLOAD, **errors(400)},
)
async def get_file(
    chat: ChatDep, path: str, request: Request, sessions: SessionsDep
) -> StreamingResponse:
    """One file's bytes, with its media type; `path` is a listing's `href`."""
    exact = _raw_path(request, chat.chat_id) or path
    fd, st = await sessions.open_file(chat, exact)
    shown = os.fsencode(exact).decode("utf-8", "replace")
    kind = media_type(shown)
    how = "inline" if kind in _INLINE_TYPES else "attachment"
    response = StreamingResponse(sessions.read_file(fd, st.st_size), media_type=kind)
    response.headers["content-length"] = str(st.st_size)
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["content-security-policy"] = "sandbox; default-src 'none'"
    filename = shown.rsplit("/", 1)[-1]
    response.headers["content-disposition"] = disposition(how, filename)
    return response


@router.get(
    "/files/{chat_id}/archive",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def get_archive(chat: ChatDep, sessions: SessionsDep) -> StreamingResponse:
    """All the workspace's files as one zip, made as it is sent (links and special files left
    out; a walk cut short adds ARCHIVE_INCOMPLETE.txt saying why)."""
    return StreamingResponse(
        sessions.archive(chat),
        media_type="application/zip",
        headers={
            "content-disposition": disposition("attachment", f"{download_stem(chat)} files.zip")
        },
    )


@router.delete("/file/{chat_id}/{path:path}", responses=errors(400, 409))
async def delete_file(
    chat: ChatDep, path: str, request: Request, sessions: SessionsDep
) -> dict[str, str]:
    """Delete a file, or a folder with everything in it. A link is deleted itself, never what
    it points to."""
    exact = _raw_path(request, chat.chat_id) or path
    await sessions.delete_file(chat, exact)
    return {"deleted": os.fsencode(exact).decode("utf-8", "replace")}


# A path relative to the workspace: components that are not empty, "." or "..", without NUL
# or backslash (what shared.ids.workspace_parts accepts), said as a pattern for the schema.
_COMPONENT = r"(?:[^/\\\x00.][^/\\\x00]*|\.[^/\\\x00.][^/\\\x00]*|\.\.[^/\\\x00]+)"
WORKSPACE_PATH = rf"^{_COMPONENT}(?:/{_COMPONENT})*$"


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        pattern=WORKSPACE_PATH,
        max_length=4096,
        description="the new path, relative to the workspace; its folder must exist",
    )
    overwrite: bool = Field(default=False, description="replace a file already at `path`")


@router.patch("/file/{chat_id}/{path:path}", responses=errors(400, 409))
async def move_file(
    chat: ChatDep, path: str, move: Move, request: Request, sessions: SessionsDep
) -> dict[str, str]:
    """Rename or move a file or folder within the workspace: `{"path": "new/name.csv"}`. An
    existing file there is replaced only with `"overwrite": true`, a folder never."""
    exact = _raw_path(request, chat.chat_id) or path
    await sessions.move_file(chat, exact, move.path, move.overwrite)
    return {"path": move.path}


def _raw_path(request: Request, chat_id: str) -> str | None:
    """The file path exactly as the client encoded it, any bytes (as os.fsdecode gives them).

    The server decodes `path` as UTF-8, turning bytes that are not UTF-8 into U+FFFD; a name
    that is not UTF-8 can only be found from the raw request path. None when there is none."""
    raw: bytes | None = request.scope.get("raw_path")
    if not raw:
        return None
    segments = raw.split(b"/")
    for i in range(len(segments) - 2):
        if segments[i] == b"file" and unquote(segments[i + 1].decode("latin-1")) == chat_id:
            return os.fsdecode(unquote_to_bytes(b"/".join(segments[i + 2 :])))
    return None


def download_stem(chat: Chat) -> str:
    """A file name for what is downloaded of a chat: its title, tamed, else its id."""
    return re.sub(r"[^\w\- ]+", "_", chat.title).strip(" _")[:60] or chat.chat_id


def disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
