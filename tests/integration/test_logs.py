"""The gateway's log through a real process: one JSON object per line with the request's id,
user, chat, route, status and duration; X-Request-ID on every answer, taken from the request
when sane; LOG_FORMAT=text for a terminal."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def text_gateway(
    gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {**gateway_env, "LOG_FORMAT": "text"}
    with GatewayProcess(env, tmp_path_factory.mktemp("text-log-gateway")) as process:
        yield process


def _access_line(gateway: GatewayProcess, request_id: str) -> dict[str, Any]:
    """The access line of the request, once written (it is, just after the answer)."""
    deadline = time.monotonic() + 10
    while True:
        for line in gateway.log().splitlines():
            if request_id in line and '"gateway.access"' in line:
                entry: dict[str, Any] = json.loads(line)
                if entry["request_id"] == request_id:
                    return entry
        assert time.monotonic() < deadline, f"no access line for {request_id}"
        time.sleep(0.05)


def test_every_line_is_a_json_object(gateway: GatewayProcess) -> None:
    gateway.client.get("/me")
    lines = gateway.log().splitlines()

    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
    started = [json.loads(line) for line in lines if "Application startup complete" in line]
    assert started and started[0]["logger"] == "uvicorn.error"


def test_a_request_is_one_access_line_with_its_context(
    gateway: GatewayProcess, chat_id: str
) -> None:
    response = gateway.client.get(f"/files/{chat_id}", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "proxy-7f3a.1"

    line = _access_line(gateway, "proxy-7f3a.1")
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")
    assert (line["user_id"], line["chat_id"]) == ("local", chat_id)
    assert (line["method"], line["route"], line["status"]) == ("GET", "/files/{chat_id}", 200)
    assert line["path"] == f"/files/{chat_id}"
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0


@pytest.mark.parametrize("hostile", ['x" , "level": "ERROR', "a" * 200, "id with spaces"])
def test_a_hostile_request_id_is_replaced(gateway: GatewayProcess, hostile: str) -> None:
    # Made unique, so the log's other lines (the session's gateway serves other tests, whose
    # paths may hold a run of "a"s) cannot contain it.
    hostile = f"{uuid.uuid4().hex}{hostile}"
    response = gateway.client.get("/me", headers={"X-Request-ID": hostile})

    made = response.headers["x-request-id"]
    assert made != hostile
    line = _access_line(gateway, made)
    assert line["status"] == 200 and line["user_id"] == "local"
    assert hostile not in gateway.log()


def test_errors_and_streams_carry_a_request_id(gateway: GatewayProcess, chat_id: str) -> None:
    missing = httpx.get(f"{gateway.base_url}/no/such/page")
    anonymous = httpx.get(f"{gateway.base_url}/chats")
    with gateway.client.stream(
        "POST", f"/query/{chat_id}", json={"code": "print(1)"}, params={"stream": "true"}
    ) as streamed:
        streamed.read()
    exported = gateway.client.get("/admin/audit.jsonl")

    assert (missing.status_code, anonymous.status_code, streamed.status_code) == (404, 401, 200)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    for response in (missing, anonymous, streamed, exported):
        line = _access_line(gateway, response.headers["x-request-id"])
        assert line["status"] == response.status_code
    assert "route" not in _access_line(gateway, missing.headers["x-request-id"])
    stream_line = _access_line(gateway, streamed.headers["x-request-id"])
    assert stream_line["route"] == "/query/{chat_id}"
    assert stream_line["chat_id"] == chat_id


def test_text_format_is_for_people(text_gateway: GatewayProcess) -> None:
    response = text_gateway.client.get("/me")
    request_id = response.headers["x-request-id"]

    deadline = time.monotonic() + 10
    while f"req={request_id}" not in text_gateway.log():
        assert time.monotonic() < deadline, text_gateway.log()
        time.sleep(0.05)
    [line] = [line for line in text_gateway.log().splitlines() if f"req={request_id}" in line]
    assert ' INFO gateway.access: "GET /me" 200 ' in line
    assert line.endswith(f"[req={request_id} user=local]")
    assert not text_gateway.log().lstrip().startswith("{")
