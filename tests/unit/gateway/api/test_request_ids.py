"""Request ids and log lines in-process: the id taken or made, on every answer, on every line
logged for the request, in both formats; the access line with its route and secrets redacted."""

import contextvars
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from gateway import logs
from gateway.api.request_ids import RequestIds


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/chat/{chat_id}")
    async def chat(chat_id: str) -> dict[str, str]:
        logs.bind(user_id="gh:1001", chat_id=chat_id)
        logging.getLogger("gateway.test").info("inside %s", chat_id)
        return {"chat_id": chat_id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a\n"
            yield b"b\n"

        return StreamingResponse(chunks(), media_type="application/x-ndjson")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    app.add_middleware(RequestIds)
    return app


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """The JSON lines logged while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(output: io.StringIO) -> list[dict[str, Any]]:
    """The gateway's lines (httpx, the test's client, logs too)."""
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if line["logger"].startswith("gateway")]


def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_sane_id_is_kept_and_on_every_line(output: io.StringIO) -> None:
    async with _client() as client:
        response = await client.get("/chat/chat_1", headers={"X-Request-ID": "lb-42:a.b_c"})
    assert response.headers["x-request-id"] == "lb-42:a.b_c"

    inside, access = _lines(output)
    assert inside["message"] == "inside chat_1"
    assert inside["logger"] == "gateway.test"
    assert inside["level"] == "INFO"
    assert inside["time"].endswith("+00:00")
    assert (inside["request_id"], inside["user_id"], inside["chat_id"]) == (
        "lb-42:a.b_c",
        "gh:1001",
        "chat_1",
    )
    assert inside["route"] == "/chat/{chat_id}"
    assert access["logger"] == "gateway.access"
    assert access["request_id"] == "lb-42:a.b_c"
    assert access["user_id"] == "gh:1001" and access["chat_id"] == "chat_1"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/chat/chat_1", 200)
    assert access["route"] == "/chat/{chat_id}"
    assert isinstance(access["duration_ms"], float)


@pytest.mark.parametrize("hostile", ["x" * 129, "a b", 'a"b', "a\tb", "ü", "a,b", "", "<script>"])
async def test_a_hostile_id_is_replaced(output: io.StringIO, hostile: str) -> None:
    async with _client() as client:
        response = await client.get("/chat/c", headers=[(b"x-request-id", hostile.encode())])
    made = response.headers["x-request-id"]
    assert made != hostile and len(made) == 16
    assert {line["request_id"] for line in _lines(output)} == {made}


async def test_ids_differ_and_every_answer_has_one(output: io.StringIO) -> None:
    async with _client() as client:
        missing = await client.get("/no/such/path")
        streamed = await client.get("/stream")
        bug = await client.get("/bug")
        again = await client.get("/stream")
    assert missing.status_code == 404 and bug.status_code == 500
    assert streamed.text == "a\nb\n"
    ids = [r.headers["x-request-id"] for r in (missing, streamed, bug, again)]
    assert len(set(ids)) == 4
    statuses = {
        line["request_id"]: line.get("status") for line in _lines(output) if "status" in line
    }
    assert statuses == dict(zip(ids, [404, 200, 500, 200], strict=True))
    [unknown] = [line for line in _lines(output) if line.get("status") == 404]
    assert "route" not in unknown


async def test_secrets_in_the_query_are_redacted(output: io.StringIO) -> None:
    async with _client() as client:
        await client.get("/chat/c", params={"token": "s3cret", "next": "/"})
        await client.get("/chat/c%0Aforged%20line")
    assert not any("s3cret" in json.dumps(line) for line in _lines(output))
    access = [line for line in _lines(output) if line["logger"] == "gateway.access"]
    assert access[0]["path"] == "/chat/c?token=***&next=%2F"
    assert access[1]["path"] == "/chat/c%0Aforged%20line"
    assert len(access) == 2 and len(_lines(output)) == 4


def test_text_lines_are_brief_and_carry_the_context() -> None:
    record = logging.LogRecord("gateway.x", logging.WARNING, __file__, 1, "it %s", ("broke",), None)

    def in_a_request() -> str:
        logs.start(logs.RequestContext("r1", "GET", {"type": "http"}))
        logs.bind(user_id="local", chat_id="chat_9")
        return logs.TextFormatter().format(record)

    # In a context of its own, as a request's task has: nothing is left set for other tests.
    line = contextvars.copy_context().run(in_a_request)
    assert line.endswith("WARNING gateway.x: it broke [req=r1 user=local chat=chat_9]")
    assert line[:4].isdigit() and "T" in line.split()[0]


def test_exceptions_are_one_string_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "gateway.x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_the_config_chooses_the_format() -> None:
    assert logs.config("json")["formatters"]["gateway"]["()"] == "gateway.logs.JsonFormatter"
    assert logs.config("text")["formatters"]["gateway"]["()"] == "gateway.logs.TextFormatter"
