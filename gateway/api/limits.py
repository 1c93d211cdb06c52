"""Request body limits, enforced while the body streams in, before any of it is parsed.

FastAPI reads a whole body before validation, so a size check in a route comes too late for a
multi-gigabyte upload; this ASGI middleware answers 413 as soon as the limit is crossed.
"""

import json
from typing import NamedTuple

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import ErrorCode

# Room for a body's envelope: JSON quoting, multipart headers.
ENVELOPE_BYTES = 64 * 1024


class Limit(NamedTuple):
    """A body may have `content_bytes` (the setting's value, named in the 413) plus `slack` for
    its envelope and the small fields beside its content."""

    content_bytes: int
    setting: str
    slack: int = ENVELOPE_BYTES

    @property
    def total(self) -> int:
        return self.content_bytes + self.slack


class _TooLarge(HTTPException):
    """An HTTPException so that FastAPI, which wraps other errors raised while it reads a body
    into a 400, lets it through to be answered as the 413 it is."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(413, _message(limit))


class BodyLimit:
    def __init__(self, app: ASGIApp, default_limit: Limit, limits: dict[str, Limit]) -> None:
        self.app = app
        self.default_limit = default_limit
        # Path prefix -> limit; the longest matching prefix wins.
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    def _limit(self, path: str) -> Limit:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.total:
            await _reject(send, limit)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.total:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await _reject(send, limit)


def _message(limit: Limit) -> str:
    return f"the request is larger than {limit.setting} allows ({limit.content_bytes} bytes)"


async def _reject(send: Send, limit: Limit) -> None:
    body = json.dumps({"detail": _message(limit), "code": ErrorCode.PAYLOAD_TOO_LARGE})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
