"""A chat's workspace files: list and download."""

import asyncio
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from gateway.deps import ChatDep, SandboxesDep
from gateway.workspace import FileInfo, list_files, media_type, open_file, read_chunks

router = APIRouter(tags=["files"])

# Served inline only when a browser cannot run script from them; anything else (HTML, SVG, ...)
# written by user code is a download, so it can never act within the gateway's origin.
_INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv"}


@router.get("/files/{chat_id}")
async def get_files(chat: ChatDep, sandboxes: SandboxesDep) -> list[FileInfo]:
    """Files in the chat's workspace: path, size, modified time, media type."""
    return await asyncio.to_thread(list_files, sandboxes.paths(chat.chat_id).workspace)


@router.get("/file/{chat_id}/{path:path}")
async def get_file(chat: ChatDep, path: str, sandboxes: SandboxesDep) -> StreamingResponse:
    """One file's bytes, with its media type."""
    fd, st = await asyncio.to_thread(open_file, sandboxes.paths(chat.chat_id).workspace, path)
    kind = media_type(path)
    how = "inline" if kind in _INLINE_TYPES else "attachment"
    response = StreamingResponse(read_chunks(fd), media_type=kind)
    response.headers["content-length"] = str(st.st_size)
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["content-security-policy"] = "sandbox; default-src 'none'"
    filename = path.rsplit("/", 1)[-1]
    response.headers["content-disposition"] = disposition(how, filename)
    return response


def disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
