"""The executor's HTTP/1.1 server on a unix socket (stdlib only: the image has no ASGI server).

One thread per connection; connections are kept alive because the gateway holds one open per chat
and a short cell should cost a few milliseconds end to end.
"""

import contextlib
import json
import logging
import os
import socket
import socketserver
import stat
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from sandbox_runner.supervisor import Supervisor
from shared.errors import AppError
from shared.protocol import EndEvent, ErrorEvent, ExecuteRequest, InterruptResult

SOCKET_MODE = 0o660
MAX_BODY_BYTES = 16 * 1024 * 1024
# A client that stops reading a stream for this long is treated as gone; the cell runs on.
SEND_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)


class ExecutorServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, socket_path: str, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        _remove_stale_socket(socket_path)
        os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
        super().__init__(socket_path, ExecutorHandler)
        os.chmod(socket_path, SOCKET_MODE)

    def server_close(self) -> None:
        super().server_close()
        # A socket file left behind would look like a live executor to whoever waits for it.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.server_address)


class ExecutorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExecutorServer

    def do_GET(self) -> None:
        self._dispatch({"/health": self._health}, other={"/execute", "/interrupt"})

    def do_POST(self) -> None:
        routes = {"/execute": self._execute, "/interrupt": self._interrupt}
        self._dispatch(routes, other={"/health"})

    def _dispatch(self, routes: dict[str, Callable[[bytes], None]], other: set[str]) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        route = routes.get(path)
        try:
            if route is None:
                status = 405 if path in other else 404
                self._send_json(status, {"detail": f"{self.command} {path} is not served here"})
                return
            route(body)
        except AppError as e:
            self._send_json(e.status, {"detail": e.detail})
        except ValidationError as e:
            if any(error["type"] == "json_invalid" for error in e.errors()):
                self._send_json(400, {"detail": "the request body is not valid JSON"})
            else:
                self._send_json(422, {"detail": json.loads(e.json(include_url=False))})

    def _health(self, body: bytes) -> None:
        self._send_json(200, self.server.supervisor.health().model_dump())

    def _interrupt(self, body: bytes) -> None:
        interrupted = self.server.supervisor.interrupt()
        self._send_json(200, InterruptResult(interrupted=interrupted).model_dump())

    def _execute(self, body: bytes) -> None:
        request = ExecuteRequest.model_validate_json(body)
        supervisor = self.server.supervisor
        with supervisor.claim():
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            stream = _ChunkedStream(self.connection)
            ended = False
            try:
                for event in supervisor.execute(request):
                    ended = isinstance(event, EndEvent)
                    stream.send(event.model_dump_json().encode() + b"\n", last=ended)
            except Exception:
                log.exception("executor error while running a cell")
                supervisor.abandon("the executor failed while running the previous cell")
                if not ended:
                    error = ErrorEvent(ename="ExecutorError", evalue="the executor failed")
                    end = EndEvent(status="error", execution_count=0, duration_ms=0)
                    stream.send(error.model_dump_json().encode() + b"\n")
                    stream.send(end.model_dump_json().encode() + b"\n", last=True)
            finally:
                stream.close()
            if stream.gone:
                self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request body; None after answering a request whose body cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send_json(411, {"detail": "send the body with a Content-Length"})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            status = 413 if length > 0 else 400
            self._send_json(status, {"detail": f"the body must be 0 to {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, content: Any) -> None:
        data = json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "unix-socket"  # the peer of an AF_UNIX connection has no host and port

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class _ChunkedStream:
    """Writes a chunked response body; once the client is gone it only counts as sent."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._connection.settimeout(SEND_TIMEOUT_S)
        self.gone = False

    def send(self, data: bytes, last: bool = False) -> None:
        if self.gone:
            return
        frame = b"%x\r\n%s\r\n" % (len(data), data)
        if last:
            frame += b"0\r\n\r\n"
        try:
            self._connection.sendall(frame)
        except OSError as e:
            log.info("client went away during a cell (%s); the cell runs to its end", e)
            self.gone = True

    def close(self) -> None:
        self._connection.settimeout(None)


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise RuntimeError(f"{path} exists and is not a socket; refusing to replace it")
    os.unlink(path)
