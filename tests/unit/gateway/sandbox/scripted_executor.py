"""A scripted fake executor: a real HTTP server on a chat's socket that answers, drops the
connection, or goes silent, as a test tells it."""

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from gateway.sandbox.executor import ExecutorClient
from gateway.sandbox.executor_socket import SandboxSocket
from shared.protocol import CHAT_HEADER, SOCKET_NAME

CHAT_ID = "chat_20260101_000000_errs"
STDOUT = json.dumps({"type": "stdout", "text": "started\n"}).encode() + b"\n"


class ScriptedExecutor(socketserver.ThreadingUnixStreamServer):
    """Answers every request as `behaviour` says: "answer" (`status`, `body`), "drop" (closes
    without answering), "hang" (answers nothing until the test ends), "stream_then_drop" and
    "stream_then_hang" (a 200 and `event` first). `requests` counts what it was sent."""

    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.behaviour = "answer"
        self.status = 200
        self.body = b"{}"
        self.event = STDOUT
        self.requests: list[str] = []
        self.released = threading.Event()
        super().__init__(str(data_dir / "chats" / CHAT_ID / "run" / SOCKET_NAME), _Scripted)

    def client(self) -> ExecutorClient:
        backend = SandboxSocket(self.data_dir, CHAT_ID, os.getuid(), os.getuid())
        return ExecutorClient(backend, CHAT_ID, "secret")


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedExecutor

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._behave()

    def do_GET(self) -> None:
        self._behave()

    def _behave(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        behaviour = self.server.behaviour
        if behaviour == "drop":
            self.close_connection = True
            return
        if behaviour == "hang":
            self.server.released.wait()
            self.close_connection = True
            return
        self.send_response(self.server.status)
        self.send_header(CHAT_HEADER, CHAT_ID)
        if behaviour == "answer":
            self.send_header("Content-Length", str(len(self.server.body)))
            self.end_headers()
            self.wfile.write(self.server.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event = self.server.event
        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.flush()
        if behaviour == "stream_then_hang":
            self.server.released.wait()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass
