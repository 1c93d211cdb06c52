"""A chat's session state: variables, restart, uploads (a CSV, or any files)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from gateway.api.deps import AuditDep, ChatDep, SessionsDep, SettingsDep, UserDep
from gateway.api.errors import first_problem
from gateway.api.openapi import errors
from gateway.api.routes.files import disposition
from gateway.audit import AuditAction
from gateway.sandbox.upload_models import (
    DELIMITERS,
    ENCODINGS,
    MAX_UPLOAD_FILES,
    Delimiter,
    Encoding,
    IncomingFile,
    UploadResult,
    upload_options,
)
from gateway.sandbox.uploads import open_import, refuse_traversal, safe_filename
from shared.errors import ErrorCode, InvalidInput, NotFound, PayloadTooLarge, Unprocessable
from shared.protocol import LoadCsvResult, VariableInfo, VariableValue

router = APIRouter(tags=["state"])

_CHUNK = 1024 * 1024
# Form fields a multipart upload may have beside its file before parsing stops (400); any at all
# is refused once parsed (422), but a few are read first to say so.
_MAX_FIELDS = 5
_FILE_PATH = "^[^\\u0000]*[^./\\u0000][^\\u0000]*$"


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_path: str = Field(
        description="a file in IMPORT_DIR, relative to it or absolute",
        # No NUL byte, and not only dots and slashes (a folder, never a file): both are 400.
        json_schema_extra={"pattern": _FILE_PATH},
    )


# The two bodies upload_csv reads itself (it streams the file instead of letting FastAPI parse it).
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": "text/csv"}},
        },
        "application/json": {"schema": ImportRequest.model_json_schema()},
    },
}


_DELIMITER_TEXT = "CSV/TSV: the delimiter, instead of detecting it"
_ENCODING_TEXT = "CSV/TSV/JSON: the text encoding, instead of detecting it"
_OVERWRITE_TEXT = "replace a file and a variable of the same name, instead of numbering the new"


class ImportAnyRequest(ImportRequest):
    delimiter: Delimiter | None = Field(default=None, description=_DELIMITER_TEXT)
    encoding: Encoding | None = Field(default=None, description=_ENCODING_TEXT)
    overwrite: bool | None = Field(default=None, description=_OVERWRITE_TEXT)


# The option fields a multipart upload may have beside its files (query parameters work too).
_OPTION_FIELDS = ("delimiter", "encoding", "overwrite")
_OPTIONS_SCHEMA = {
    "delimiter": {"type": "string", "enum": list(DELIMITERS), "description": _DELIMITER_TEXT},
    "encoding": {"type": "string", "enum": list(ENCODINGS), "description": _ENCODING_TEXT},
    "overwrite": {"type": "string", "enum": ["true", "false"], "description": _OVERWRITE_TEXT},
}
_UPLOAD_ANY_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "minItems": 1,
                        "maxItems": MAX_UPLOAD_FILES,
                    },
                    **_OPTIONS_SCHEMA,
                },
                "required": ["file"],
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": "application/octet-stream"}},
        },
        "application/json": {"schema": ImportAnyRequest.model_json_schema()},
    },
}
_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}}
# The ASCII subset of Python's identifiers, as the schema's pattern; the route checks the rest.
_IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]*$"


@router.get("/variables/{chat_id}", responses=errors(409, 502, 503, 504))
async def list_variables(chat: ChatDep, sessions: SessionsDep) -> list[VariableInfo]:
    """The chat's variables: name, type, shape, size, whether persisted, a short preview."""
    return (await sessions.variables(chat)).variables


@router.get(
    "/variable/{chat_id}/{name}",
    response_model=VariableValue,
    responses={200: _CSV, **errors(400, 409, 502, 503, 504)},
)
async def get_variable(
    chat: ChatDep,
    name: Annotated[str, Path(json_schema_extra={"pattern": _IDENTIFIER})],
    sessions: SessionsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> VariableValue | StreamingResponse:
    """One variable as JSON (DataFrames paginated by offset/limit), or `?format=csv`."""
    if not name.isidentifier():
        raise Unprocessable(f"'{name}' is not a Python variable name")
    try:
        if format == "csv":
            chunks = await sessions.variable_csv(chat, name)
            response = StreamingResponse(chunks, media_type="text/csv")
            response.headers["content-disposition"] = disposition("attachment", f"{name}.csv")
            return response
        return await sessions.variable(chat, name, offset, limit)
    except NotFound as e:
        # The executor's 404 names no kind; on this route it is the variable that is missing.
        if e.code is ErrorCode.NOT_FOUND:
            raise NotFound(e.detail, ErrorCode.VARIABLE_NOT_FOUND) from e
        raise


@router.post("/restart/{chat_id}", responses=errors(409, 502, 503, 504))
async def restart(
    chat: ChatDep, request: Request, user: UserDep, sessions: SessionsDep, audit: AuditDep
) -> dict[str, str]:
    """Reset the session: delete all variables and files; the chat and its messages stay."""
    await sessions.restart(chat)
    await audit.record(
        AuditAction.SANDBOX_RESTARTED, request=request, actor=user, target=chat.chat_id
    )
    return {"restarted": chat.chat_id}


@router.post(
    "/upload_csv/{chat_id}",
    responses=errors(400, 403, 409, 502, 503, 504),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload_csv(
    chat: ChatDep, request: Request, sessions: SessionsDep, settings: SettingsDep
) -> LoadCsvResult:
    """Upload a CSV (multipart field `file`) or import `{"file_path": ...}` from IMPORT_DIR;
    it is kept in the workspace and loaded as a DataFrame named after the file."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=_MAX_FIELDS) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Unprocessable('send the CSV as the multipart form field "file"')
            if len(form.multi_items()) > 1:
                raise Unprocessable('send only the multipart form field "file", the CSV')
            # Starlette spooled the whole file before the route runs: its size is known.
            return await sessions.load_csv(
                chat, safe_filename(upload.filename), _read(upload.file), upload.size
            )
    if content_type.startswith("application/json"):
        try:
            body = ImportRequest.model_validate_json(await request.body())
        except ValidationError as e:
            problem = first_problem(e, ImportRequest)
            raise Unprocessable(f'send {{"file_path": "..."}}: {problem}') from e
        source = await asyncio.to_thread(open_import, settings.import_dir, body.file_path)
        with source.file as f:
            if source.size > settings.max_upload_bytes:
                raise PayloadTooLarge(
                    f"the file has {source.size} bytes; "
                    f"MAX_UPLOAD_BYTES is {settings.max_upload_bytes}"
                )
            return await sessions.load_csv(chat, safe_filename(source.name), _read(f), source.size)
    raise InvalidInput(
        'send the CSV as multipart/form-data (field "file") or JSON {"file_path": ...}'
    )


@router.post(
    "/upload/{chat_id}",
    responses=errors(400, 403, 409, 502, 503, 504),
    openapi_extra={"requestBody": _UPLOAD_ANY_BODY},
)
async def upload(
    chat: ChatDep,
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    delimiter: Annotated[Delimiter | None, Query(description=_DELIMITER_TEXT)] = None,
    encoding: Annotated[Encoding | None, Query(description=_ENCODING_TEXT)] = None,
    overwrite: Annotated[bool, Query(description=_OVERWRITE_TEXT)] = False,
) -> UploadResult:
    """Upload any files (multipart field `file`, repeated) or import `{"file_path": ...}` from
    IMPORT_DIR: each is kept in the workspace, and CSV, TSV, Excel, Parquet, Feather, JSON and
    JSON Lines files are also loaded as DataFrames. A result per file."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(
            max_files=MAX_UPLOAD_FILES, max_fields=_MAX_FIELDS + len(_OPTION_FIELDS)
        ) as form:
            uploads: list[UploadFile] = []
            fields: dict[str, str] = {}
            for key, value in form.multi_items():
                if key == "file" and isinstance(value, UploadFile):
                    uploads.append(value)
                elif key in _OPTION_FIELDS and isinstance(value, str):
                    fields[key] = value
                else:
                    raise Unprocessable(
                        f'unexpected form field "{key[:40]}": send the files as the field '
                        '"file" (repeated), and optionally delimiter, encoding, overwrite'
                    )
            if not uploads:
                raise Unprocessable('send the files as the multipart form field "file"')
            options = upload_options(
                fields.get("delimiter", delimiter),
                fields.get("encoding", encoding),
                _flag(fields["overwrite"]) if "overwrite" in fields else overwrite,
            )
            for part in uploads:
                refuse_traversal(part.filename)
            # Starlette spooled the whole body before the route runs: each size is known.
            incoming = [
                IncomingFile(
                    name=part.filename or "",
                    filename=safe_filename(part.filename, "upload"),
                    chunks=_read(part.file),
                    size=part.size,
                )
                for part in uploads
            ]
            return await sessions.upload(chat, incoming, options)
    if content_type.startswith("application/json"):
        try:
            body = ImportAnyRequest.model_validate_json(await request.body())
        except ValidationError as e:
            problem = first_problem(e, ImportAnyRequest)
            raise Unprocessable(f'send {{"file_path": "..."}}: {problem}') from e
        options = upload_options(
            delimiter if body.delimiter is None else body.delimiter,
            encoding if body.encoding is None else body.encoding,
            overwrite if body.overwrite is None else body.overwrite,
        )
        source = await asyncio.to_thread(open_import, settings.import_dir, body.file_path)
        with source.file as f:
            if source.size > settings.max_upload_bytes:
                raise PayloadTooLarge(
                    f"the file has {source.size} bytes; "
                    f"MAX_UPLOAD_BYTES is {settings.max_upload_bytes}"
                )
            name = safe_filename(source.name, "upload")
            incoming = [IncomingFile(source.name, name, _read(f), source.size)]
            return await sessions.upload(chat, incoming, options)
    raise InvalidInput(
        'send the files as multipart/form-data (field "file", repeated) or JSON {"file_path": ...}'
    )


def _flag(value: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise Unprocessable(f"overwrite must be true or false, not {value[:20]!r}")


async def _read(f: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(f.read, _CHUNK):
        yield chunk
