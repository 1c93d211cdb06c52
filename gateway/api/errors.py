"""The body of every error answer: `detail` for a person, `code` for a program (README: Errors)."""

import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
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


def explain(issues: Sequence[Any], body: Any = None) -> list[dict[str, Any]]:
    """FastAPI's validation issues as they are, but a field that the body does not take is
    named with the fields it does take: Pydantic says only "Extra inputs are not permitted".
    `body`: the type of the route's body (a model, or a union holding one)."""
    explained = []
    for issue in issues:
        loc = tuple(issue.get("loc", ()))
        if issue.get("type") == "extra_forbidden" and len(loc) >= 2 and loc[0] == "body":
            issue = {**issue, "msg": unknown_field(str(loc[-1]), _model_at(body, loc[1:-1]))}
        explained.append(issue)
    return explained


def first_problem(error: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of a body that a route validated as `model` itself, in words."""
    issue = error.errors(include_url=False)[0]
    return str(explain([{**issue, "loc": ("body", *issue["loc"])}], model)[0]["msg"])


def unknown_field(name: str, model: type[BaseModel] | None) -> str:
    """What to say of a field `name` that a body (of `model`, when known) does not take."""
    message = f"unknown field {_quoted(name)}: this API does not support it"
    if model is None:
        return message
    fields = [field.alias or key for key, field in model.model_fields.items()]
    return f"{message} (the fields are: {', '.join(fields)})"


def _quoted(name: str) -> str:
    return json.dumps(name if len(name) <= 60 else name[:60] + "...", ensure_ascii=False)


def _model_at(annotation: Any, path: Sequence[Any]) -> type[BaseModel] | None:
    """The model of the object at `path` (field names, list indexes) inside a value of type
    `annotation`, or None when that is not a model."""
    if path and isinstance(path[0], int):
        return _model_at(annotation, path[1:])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not path:
            return annotation
        field = annotation.model_fields.get(str(path[0]))
        return None if field is None else _model_at(field.annotation, path[1:])
    for inner in typing.get_args(annotation):
        if (found := _model_at(inner, path)) is not None:
            return found
    return None
