"""A fake OpenAI-compatible chat-completions server: a real HTTP server on loopback speaking the
real wire format (JSON and Server-Sent Events, tool calls included), answering from a script.

Each test scripts the model's turns, in order:
    llm.script(tool("print(1)"), say("The answer is 1."))
and reads what the gateway sent in `llm.requests`. Turns may also be errors (`status(429)`) or
slow (`say("late", delay=3)`). A request with no scripted turn left gets a 500, so an unexpected
extra call fails the test visibly.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import free_port


def say(content: str, delay: float = 0.0) -> dict[str, Any]:
    return {"content": content, "delay": delay}


def tool(code: str | None = None, arguments: str | None = None, name: str = "run_python") -> dict:
    """A turn that calls a tool; `arguments` overrides the JSON (to send malformed ones)."""
    raw = arguments if arguments is not None else json.dumps({"code": code})
    return {"tool_calls": [{"name": name, "arguments": raw}]}


def status(code: int, message: str = "fake failure") -> dict[str, Any]:
    return {"status": code, "message": message}


class FakeLLM:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests: list[dict[str, Any]] = []
        self._turns: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True

    def script(self, *turns: dict[str, Any]) -> None:
        with self._lock:
            self._turns = list(turns)
            self.requests.clear()

    def remaining(self) -> int:
        with self._lock:
            return len(self._turns)

    def _next(self, request: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            self.requests.append(request)
            return self._turns.pop(0) if self._turns else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                turn = fake._next(body)
                if turn is None:
                    return self._json(
                        500, {"error": {"message": "fake LLM: no scripted turn left"}}
                    )
                time.sleep(turn.get("delay", 0))
                if "status" in turn:
                    error = {"error": {"message": turn["message"], "type": "fake", "code": None}}
                    return self._json(turn["status"], error, {"retry-after-ms": "20"})
                if body.get("stream"):
                    try:
                        return self._stream(body, turn)
                    except (BrokenPipeError, ConnectionResetError):
                        return None  # the gateway gave up on this answer: nothing to do
                return self._json(200, _completion(body, turn))

            def _json(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict, turn: dict) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for chunk in _chunks(body, turn):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler

    @contextmanager
    def running(self) -> Iterator["FakeLLM"]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


def _calls(turn: dict) -> list[dict]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for i, c in enumerate(turn.get("tool_calls", []))
    ]


def _completion(body: dict, turn: dict) -> dict:
    calls = _calls(turn)
    message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": USAGE,
    }


def _chunks(body: dict, turn: dict) -> Iterator[dict]:
    """The turn cut in small pieces, as real servers send it: text a few characters at a time,
    tool-call arguments split across chunks."""

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    text = turn.get("content") or ""
    for start in range(0, len(text), 7):
        yield chunk({"content": text[start : start + 7]})
    calls = _calls(turn)
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        head = {"index": index, "id": call["id"], "type": "function"}
        yield chunk(
            {
                "tool_calls": [
                    {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
                ]
            }
        )
        for start in range(0, len(arguments), 11):
            piece = {"index": index, "function": {"arguments": arguments[start : start + 11]}}
            yield chunk({"tool_calls": [piece]})
    yield chunk({}, "tool_calls" if calls else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**chunk({}), "choices": [], "usage": USAGE}
