"""The body of every error answer: `detail` for a person, `code` for a program (README: Errors)."""

from collections.abc import Mapping
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from shared.errors import AppError, ErrorCode

STORE_DOWN = "the chat store (Redis) is unavailable; try again in a moment"
BUG = "internal error; see the log"


class ErrorBody(BaseModel):
    """An error: what went wrong, in words, and the machine-readable reason."""

    detail: str
    code: ErrorCode


class ValidationIssue(BaseModel):
    """One problem FastAPI found in the request: where (`loc`) and what (`msg`)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A request that does not match the API (422): FastAPI's list of issues as `detail`."""

    detail: list[ValidationIssue]
    code: Literal[ErrorCode.INVALID_REQUEST]


def describe(exc: Exception) -> tuple[int, ErrorCode, str]:
    """The status, code and detail an exception is answered with, in a response or as a
    stream's `error` event: typed errors as they say, Redis failing as 503, anything else 500."""
    if isinstance(exc, AppError):
        return exc.status, exc.code, exc.detail
    if isinstance(exc, RedisError):
        return 503, ErrorCode.STORE_UNAVAILABLE, STORE_DOWN
    return 500, ErrorCode.INTERNAL_ERROR, BUG


def error_response(
    status: int, code: ErrorCode, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)
