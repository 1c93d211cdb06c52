"""The gateway's log lines (README: Logs): one JSON object per line for log collectors, or a
short text line for a terminal (LOG_FORMAT), each carrying what is known of the request it
belongs to: its id, the user, the chat, the route.

That context lives in one mutable `RequestContext` per request, put in a contextvar by the
request-id middleware (gateway.api.request_ids) before anything else runs. Dependencies fill in
the user and chat with `bind` as they learn them. They may run in another task or thread (FastAPI
copies the context into those), and a copied contextvar would hold a copy of a plain value: so
the variable holds the object, which every copy shares, and `bind` changes the object.
"""

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope


@dataclass(slots=True)
class RequestContext:
    request_id: str
    method: str
    # The ASGI scope, read for the route once routing has matched one (FastAPI puts it there).
    scope: Scope
    user_id: str | None = None
    chat_id: str | None = None

    @property
    def route(self) -> str | None:
        """The matched route's template (`/chat/{chat_id}`), which, unlike the path, groups
        requests and holds no ids or secrets; None before routing or for an unknown path."""
        route = self.scope.get("route")
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def start(context: RequestContext) -> None:
    """Make `context` the current request's, for this task and every task or thread it starts.
    Never reset: uvicorn runs each request in a task of its own, which ends with it, and the
    server's own lines about a request that crashed (logged after the app returned) keep it."""
    _current.set(context)


def current() -> RequestContext | None:
    """The current request's context; None outside a request (start-up, background loops)."""
    return _current.get()


def bind(*, user_id: str | None = None, chat_id: str | None = None) -> None:
    """Record who the request is for, once known, on every line logged for it from now on
    (its access line too). Outside a request it does nothing."""
    context = _current.get()
    if context is None:
        return
    if user_id is not None:
        context.user_id = user_id
    if chat_id is not None:
        context.chat_id = chat_id


# Passed as `extra` by the access line (gateway.api.request_ids), printed when present.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


def _context_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    context = _current.get()
    if context is not None:
        fields["request_id"] = context.request_id
        if context.user_id is not None:
            fields["user_id"] = context.user_id
        if context.chat_id is not None:
            fields["chat_id"] = context.chat_id
        route = context.route
        if route is not None:
            fields["route"] = route
    for name in ACCESS_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            fields[name] = value
    return fields


def _iso_time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601, UTC), level, logger, message, the request's
    context when there is one, and a traceback as the string `exception`. Whatever a message
    holds (a hostile path, a newline) stays inside one JSON string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: time, level, logger, message, then the request's id, user
    and chat in brackets; a traceback follows on its own lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_time(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        context = _current.get()
        if context is None:
            return text
        tags = [f"req={context.request_id}"]
        if context.user_id is not None:
            tags.append(f"user={context.user_id}")
        if context.chat_id is not None:
            tags.append(f"chat={context.chat_id}")
        return f"{text} [{' '.join(tags)}]"


def config(log_format: str) -> dict[str, Any]:
    """The logging configuration (logging.config.dictConfig) uvicorn applies in every process:
    the gateway's lines and uvicorn's own in LOG_FORMAT. uvicorn's access log is off; the
    request-id middleware writes a line per request instead, with its route and context."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            # uvicorn configures these with handlers of their own unless told otherwise: their
            # lines go to the root handler instead, in the same format.
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }
