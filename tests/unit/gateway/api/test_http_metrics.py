"""The HTTP request counter: labels by route template, bounded values, streams untouched."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry, Counter

from gateway.api.http_metrics import HTTPMetrics


@pytest.fixture
def counter() -> Counter:
    return Counter("requests", "test", ["method", "route", "status"], registry=CollectorRegistry())


def count(counter: Counter, method: str, route: str, status: int) -> float:
    return counter.labels(method, route, str(status))._value.get()


def app_with(counter: Counter, seen: list[float]) -> HTTPMetrics:
    app = FastAPI()

    @app.get("/chat/{chat_id}")
    async def chat(chat_id: str) -> dict[str, str]:
        return {"chat_id": chat_id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"one", b"two", b"three"):
                # What the counter says while the body is still going.
                seen.append(count(counter, "GET", "/stream", 200))
                yield part

        return StreamingResponse(chunks())

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    return HTTPMetrics(app, counter)


async def call(app: HTTPMetrics, method: str, path: str) -> list[dict[str, Any]]:
    """The ASGI messages the app sends for one request, each as it was sent."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("test", 80),
        "http_version": "1.1",
    }

    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the client stays connected until the response ends
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_requests_count_by_route_template_and_status(counter: Counter) -> None:
    app = app_with(counter, [])
    await call(app, "GET", "/chat/chat_1")
    await call(app, "GET", "/chat/chat_2")
    await call(app, "POST", "/chat/chat_3")  # 405: the route matched, the method did not
    assert count(counter, "GET", "/chat/{chat_id}", 200) == 2
    assert count(counter, "POST", "/chat/{chat_id}", 405) == 1


async def test_unknown_paths_and_methods_are_one_value_each(counter: Counter) -> None:
    app = app_with(counter, [])
    await call(app, "GET", "/no/such/path")
    await call(app, "BREW", "/chat/x")
    assert count(counter, "GET", "unmatched", 404) == 1
    assert count(counter, "other", "/chat/{chat_id}", 405) == 1


async def test_a_stream_counts_at_its_start_and_passes_untouched(counter: Counter) -> None:
    seen: list[float] = []
    sent = await call(app_with(counter, seen), "GET", "/stream")
    assert seen == [1, 1, 1]
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]
    assert bodies == [b"one", b"two", b"three"]


async def test_a_failure_before_the_response_counts_as_500(counter: Counter) -> None:
    with pytest.raises(RuntimeError):
        await call(app_with(counter, []), "GET", "/broken")
    assert count(counter, "GET", "/broken", 500) == 1
