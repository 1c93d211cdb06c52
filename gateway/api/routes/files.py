"""A chat's workspace files: list and download."""

import os
from urllib.parse import quote, unquote, unquote_to_bytes

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from gateway.api.deps import ChatDep, SessionsDep
from gateway.api.openapi import errors
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


def disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
