"""Every request gets an id, sent back as `X-Request-ID` and on each of its log lines, and one
access line when it ends (README: Logs).

The id is the request's own `X-Request-ID` when a proxy in front set a sane one (so one id
follows the request through both logs), else a new one. A pure ASGI middleware, outermost of
the app's own, so the header is on every answer, streamed ones and errors included, and the
access line times the whole request, to the end of a streamed body.
"""

import logging
import os
import re
import time
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs
from gateway.api.access_log import redact
from gateway.api.errors import describe, error_response

HEADER = "x-request-id"
# What a proxy's id may look like; anything else (too long, spaces, quotes, newlines) is
# replaced, so a client cannot put what it likes in the log or in our answer's headers.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access = logging.getLogger("gateway.access")


def request_id(given: bytes | None) -> str:
    """The id of a request that came with `X-Request-ID: given` (None: without one)."""
    if given is not None:
        text = given.decode("latin-1")
        if _SANE_ID.fullmatch(text):
            return text
    return os.urandom(8).hex()


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
                break
        context = logs.RequestContext(request_id(given), scope["method"], scope)
        logs.start(context)
        # What the access line says of a request whose app raised before answering.
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
                MutableHeaders(scope=message)[HEADER] = context.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # A bug: Starlette's outer error handler would answer it without our header, so the
            # same answer main's handler gives (describe) is sent here, unless a response had
            # begun. The exception goes on, and the server logs its traceback, with this id.
            if not answered:
                await error_response(*describe(exc))(scope, receive, send_with_id)
            raise
        finally:
            _log_access(scope, status, started)


def _log_access(scope: Scope, status: int, started: float) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    # As uvicorn's access log had it: the path quoted (no control characters reach the log) and
    # the query string with its secrets redacted (the login link's token, OAuth's code).
    path = quote(scope.get("root_path", "") + scope["path"])
    query = scope.get("query_string", b"")
    if query:
        path = redact(f"{path}?{query.decode('latin-1')}")
    access.info(
        '"%s %s" %d %.1fms',
        scope["method"],
        path,
        status,
        duration_ms,
        extra={
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
        },
    )
