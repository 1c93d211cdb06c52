"""The executor's HTTP/1.1 server on a unix socket (stdlib only: the image has no ASGI server).

One thread per connection; connections are kept alive because the gateway holds one open per chat
and a short cell should cost a few milliseconds end to end.
"""

import contextlib
import hmac
import json
import keyword
import logging
import os
import shutil
import socket
import socketserver
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError

from sandbox_runner import pipe
from sandbox_runner.supervisor import Stopping, Supervisor
from shared.errors import AppError, Conflict, InvalidPath, NotFound
from shared.ids import is_chat_id, workspace_parts
from shared.protocol import (
    CHAT_HEADER,
    POOL_ID_PREFIX,
    ClaimRequest,
    EndEvent,
    ErrorEvent,
    ExecuteRequest,
    InterruptResult,
    LoadCsvRequest,
    LoadCsvResult,
    LoadRequest,
    LoadResult,
    ResetResult,
    VariableValue,
)

SOCKET_MODE = 0o660
MAX_BODY_BYTES = 16 * 1024 * 1024
# A client that stops reading a stream for this long is treated as gone; the cell runs on.
SEND_TIMEOUT_S = 30.0
MAX_PAGE = 1000
VARIABLE_PREFIX = "/variables/"
READ_BUSY = "a cell is running; variables can be read when it finishes"
LOAD_BUSY = "a cell is running; load the file when it finishes"

log = logging.getLogger(__name__)


class ExecutorServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, socket_path: str, supervisor: Supervisor, secret: str) -> None:
        self.supervisor = supervisor
        self._claim_lock = threading.Lock()
        self.socket_path = socket_path
        self._authorization = f"Bearer {secret}".encode()
        _remove_stale_socket(socket_path)
        os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
        super().__init__(socket_path, ExecutorHandler)
        try:
            os.chmod(socket_path, SOCKET_MODE)
        except PermissionError:
            # gVisor (--host-uds=create) makes the socket on the host and refuses to chmod it;
            # the folder holding it is the chat's uid's alone (0750), which is what guards it.
            log.info("the socket's mode cannot be changed here; its folder guards it")

    @property
    def chat_id(self) -> str:
        return self.supervisor.chat_id

    def claim(self, chat_id: str) -> None:
        """Serve `chat_id` from now on: once, and only a pooled executor that serves no chat
        yet. Conflict otherwise, so a sandbox is never handed from one chat to another."""
        if not is_chat_id(chat_id):
            raise _Unprocessable(f"'{chat_id}' is not a chat id")
        with self._claim_lock:
            if not self.supervisor.chat_id.startswith(POOL_ID_PREFIX):
                raise Conflict("this sandbox already serves a chat")
            self.supervisor.chat_id = chat_id
        log.info("claimed for %s", chat_id)

    def authorized(self, header: str | None) -> bool:
        """Whether a request carries this sandbox's secret; compared in constant time."""
        given = (header or "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self._authorization)

    def server_close(self) -> None:
        super().server_close()
        # A socket file left behind would look like a live executor to whoever waits for it.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)


class ExecutorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExecutorServer

    def do_GET(self) -> None:
        routes = {"/health": self._health, "/variables": self._variables}
        other = {"/execute", "/interrupt", "/reset", "/load_csv", "/load", "/claim", "/retire"}
        self._dispatch(routes, other=other)

    def do_POST(self) -> None:
        routes = {
            "/execute": self._execute,
            "/interrupt": self._interrupt,
            "/reset": self._reset,
            "/load_csv": self._load_csv,
            "/load": self._load,
            "/claim": self._claim,
            "/retire": self._retire,
        }
        self._dispatch(routes, other={"/health", "/variables"})

    def _dispatch(self, routes: Mapping[str, Callable[[bytes], None]], other: set[str]) -> None:
        if not self.server.authorized(self.headers.get("Authorization")):
            # A request not meant for this chat (or from no gateway at all): refused before its
            # body is read, and the connection is not reused.
            self._send_json(401, {"detail": "this executor serves another chat"}, close=True)
            return
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        route = routes.get(path)
        if path.startswith(VARIABLE_PREFIX):
            route = self._variable if self.command == "GET" else None
            other = {path}
        try:
            if route is None:
                status = 405 if path in other else 404
                self._send_json(status, {"detail": f"{self.command} {path} is not served here"})
                return
            route(body)
        except Stopping as e:
            # Told apart from other 503s: the gateway may send this request again elsewhere.
            self._send_json(e.status, {"detail": e.detail, "retired": True})
        except AppError as e:
            self._send_json(e.status, {"detail": e.detail})
        except ValidationError as e:
            if any(error["type"] == "json_invalid" for error in e.errors()):
                self._send_json(400, {"detail": "the request body is not valid JSON"})
            else:
                self._send_json(422, {"detail": json.loads(e.json(include_url=False))})

    def _health(self, body: bytes) -> None:
        self._send_json(200, self.server.supervisor.health().model_dump())

    def _variables(self, body: bytes) -> None:
        """The variable list as of the last finished cell; answers while a cell runs."""
        self._send_json(200, self.server.supervisor.variables().model_dump())

    def _variable(self, body: bytes) -> None:
        """One variable's value, a page of it, or (format=csv) a whole frame as CSV."""
        url = urlsplit(self.path)
        name = unquote(url.path[len(VARIABLE_PREFIX) :])
        query = parse_qs(url.query)
        offset = _int_param(query, "offset", 0, minimum=0)
        limit = min(_int_param(query, "limit", 100, minimum=1), MAX_PAGE)
        format = query.get("format", ["json"])[-1]
        if format not in ("json", "csv"):
            raise _Unprocessable("format must be json or csv")
        if not name.isidentifier():
            raise NotFound(f"variable '{name}' not found")
        supervisor = self.server.supervisor
        with supervisor.claim(busy=READ_BUSY):
            if format == "csv":
                self._stream_csv(supervisor.request(lambda at: pipe.csv_request(name, at)))
                return
            reply = _last(
                supervisor.request(lambda at: pipe.variable_request(name, offset, limit, at))
            )
            result = VariableValue.model_validate(_result(reply))
            self._send_json(200, result.model_dump())

    def _stream_csv(self, messages: Iterator[pipe.AnswerMessage]) -> None:
        stream: _ChunkedStream | None = None
        try:
            for message in messages:  # drained to the reply even when the client has gone
                if message["type"] == "stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv; charset=utf-8")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    stream = _ChunkedStream(self.connection)
                elif message["type"] == "chunk":
                    if stream is not None:
                        stream.send(message["text"].encode("utf-8", "replace"))
                elif stream is None:
                    _result(message)
                elif message["status"] == 200:
                    stream.finish()
                else:
                    log.warning("CSV stream failed: %s", message.get("detail"))
                    self.close_connection = True  # no final chunk: the client sees it cut short
        except AppError:
            if stream is None:
                raise
            self.close_connection = True
        finally:
            if stream is not None:
                stream.close()
                self.close_connection |= stream.gone

    def _claim(self, body: bytes) -> None:
        """A pooled sandbox becomes a chat's (see ExecutorServer.claim)."""
        self.server.claim(ClaimRequest.model_validate_json(body).chat_id)
        self._send_json(200, {"chat_id": self.server.chat_id})

    def _reset(self, body: bytes) -> None:
        """Kill the kernel, delete all variables and workspace files, start a fresh kernel."""
        self.server.supervisor.reset()
        self._send_json(200, ResetResult().model_dump())

    def _load_csv(self, body: bytes) -> None:
        """Load a workspace CSV file into a DataFrame variable and checkpoint it."""
        request = LoadCsvRequest.model_validate_json(body)
        name = request.variable
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise _Unprocessable(
                f"'{name}' cannot be a variable name: use letters, digits and underscores, not "
                "starting with a digit or an underscore, and not a Python keyword"
            )
        supervisor = self.server.supervisor
        file = _workspace_file(supervisor.workspace, request.path)
        with supervisor.claim(busy=LOAD_BUSY):
            reply = _last(
                supervisor.request(lambda at: pipe.load_csv_request(file, request.path, name, at))
            )
        self._send_json(200, LoadCsvResult.model_validate(_result(reply)).model_dump())

    def _load(self, body: bytes) -> None:
        """Load a workspace data file as DataFrame variables (one per sheet of a workbook),
        checkpointed. A file that does not load is answered with why (200, no variable bound):
        the gateway keeps it as a file. So is one whose loading ran out of time or stopped the
        kernel, which the supervisor has interrupted or restarted with the last checkpoint."""
        request = LoadRequest.model_validate_json(body)
        supervisor = self.server.supervisor
        file = _workspace_file(supervisor.workspace, request.path)

        def command(at: float) -> pipe.LoadCommand:
            return pipe.load_request(
                file,
                request.path,
                request.variable,
                request.format,
                request.delimiter,
                request.encoding,
                request.overwrite,
                request.keep,
                at,
            )

        with supervisor.claim(busy=LOAD_BUSY):
            try:
                result = LoadResult.model_validate(_result(_last(supervisor.request(command))))
            except AppError as e:
                if e.status < 500:
                    raise
                result = LoadResult(error=f"loading it did not finish: {e.detail}"[:2000])
        self._send_json(200, result.model_dump())

    def _retire(self, body: bytes) -> None:
        self.server.supervisor.retire()
        self._send_json(200, {"retired": True})

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
            self._send_json(411, {"detail": "send the body with a Content-Length"}, close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            status = 413 if length > 0 else 400
            detail = f"the body must be 0 to {MAX_BODY_BYTES} bytes"
            self._send_json(status, {"detail": detail}, close=True)
            return None
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, content: Any, close: bool = False) -> None:
        """Answer with JSON; `close` ends the connection after it, and says so, so that the client
        does not send its next request on a connection whose unread body is left behind."""
        data = json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")  # sets close_connection too
        self.end_headers()
        self.wfile.write(data)

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self.send_header(CHAT_HEADER, self.server.chat_id)

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

    def finish(self) -> None:
        """The last, empty chunk: the body is complete."""
        if not self.gone:
            try:
                self._connection.sendall(b"0\r\n\r\n")
            except OSError:
                self.gone = True

    def close(self) -> None:
        self._connection.settimeout(None)


class _Unprocessable(AppError):
    status = 422


def _int_param(query: dict[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        raise _Unprocessable(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise _Unprocessable(f"{name} must be at least {minimum}, got {value}")
    return value


def _last(messages: Iterator[pipe.AnswerMessage]) -> pipe.ReplyMessage:
    """The reply that ends a request's answer, the iterator drained."""
    last: pipe.ReplyMessage | None = None
    for message in messages:
        if message["type"] == "reply":
            last = message
    if last is None:  # the supervisor raises when the kernel does not answer
        raise AppError("the kernel gave no answer")
    return last


def _result(reply: pipe.ReplyMessage) -> dict[str, Any]:
    """The result of a kernel reply, or the AppError its status and detail stand for."""
    status = reply["status"]
    if status == 200 and "result" in reply:
        return reply["result"]
    error = AppError(reply.get("detail") or "the kernel gave no answer")
    error.status = status if 400 <= status < 600 else 500
    raise error


def _workspace_file(root: str, path: str) -> str:
    """The absolute path of a regular file in the workspace, reached without any symlink."""
    current = root
    for part in workspace_parts(path):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            raise NotFound(f"'{path}' does not exist in the workspace") from None
        if stat.S_ISLNK(mode):
            raise InvalidPath(f"'{path}' goes through a symbolic link, which is not allowed")
    if not stat.S_ISREG(mode):
        raise InvalidPath(f"'{path}' is not a regular file")
    return current


def _remove_stale_socket(path: str) -> None:
    """Clear the socket's name. Whatever holds it (a socket left by the last run, or anything user
    code planted there: a link, a FIFO, a folder) is this sandbox's own, and the gateway would
    refuse to talk through it anyway."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except PermissionError:
        # gVisor refuses to stat a socket it made on the host for an earlier run; it is one.
        os.unlink(path)
        return
    if not stat.S_ISSOCK(mode):
        log.warning("replacing a %s found at the socket's path", stat.filemode(mode))
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
