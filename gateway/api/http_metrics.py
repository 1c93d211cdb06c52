"""Counting HTTP requests by method, route and status (`ads_http_requests_total`).

A plain ASGI middleware: it looks at the response's start as it passes and nothing else, so a
streamed body flows through untouched, and a request costs a dictionary lookup and an increment.
The route is the template the router matched (`/chat/{chat_id}`), never the path itself, whose
values are unbounded; a request no route took (an unknown path, or one refused before routing:
cross-site, too large) counts as `unmatched`. Counted when the response starts, so a stream
that lasts minutes counts at once.
"""

from prometheus_client import Counter
from prometheus_client.metrics import Counter as CounterChild
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import HTTP_REQUESTS

UNMATCHED = "unmatched"
# Any other method (the client chooses it) counts as one value, so labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HTTPMetrics:
    def __init__(self, app: ASGIApp, counter: Counter = HTTP_REQUESTS) -> None:
        self.app = app
        self._counter = counter
        # Each label set's child, found once: labels() takes a lock and builds a key each time.
        self._children: dict[tuple[str, str, int], CounterChild] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._count(scope, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not started:
                self._count(scope, 500)  # what the server answers in its place
            raise

    def _count(self, scope: Scope, status: int) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        key = (method, template, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._counter.labels(method, template, str(status))
        child.inc()
