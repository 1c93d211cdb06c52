"""HTTP/1.1 to one executor over its unix socket: just what the executor protocol uses.

Requests are written whole (the executor wants a Content-Length); responses are parsed by
httptools (the C parser uvicorn uses), with Content-Length or chunked bodies, streamed to the
caller as they arrive, each read within the request's read timeout. Connections are kept alive
and reused, one request at a time each; one that is readable while idle was closed by the
executor (or spoke out of turn) and is dropped.

What answers is hostile (user code may have planted it; see executor_socket.py): headers are cut
at MAX_HEADER_BYTES, a response that does not parse ends its connection, nothing is decompressed,
and body budgets are the caller's (it reads chunk by chunk). httpx did all this with several
layers between, which cost a quarter of the gateway's CPU for a trivial cell.
"""

import asyncio
import select
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import httptools

# More than any executor's headers; a response whose headers pass it is refused.
MAX_HEADER_BYTES = 64 * 1024
_READ_SIZE = 256 * 1024
# Idle connections kept per executor: a cell's stream plus the odd request beside it.
_MAX_IDLE = 4
# An idle connection older than this is closed rather than used: the next request connects
# anew, which checks the socket again (executor_socket.py), so whatever user code did to the
# socket's name is found out within this time, not only when the executor closes a connection.
KEEPALIVE_EXPIRY_S = 5.0

Connect = Callable[[float | None], Awaitable[socket.socket]]


class HTTPFailure(Exception):
    """The exchange failed; the subclass says at which point."""


class ConnectFailed(HTTPFailure):
    """No connection was made: nothing was sent."""


class Timeout(HTTPFailure):
    """The executor took longer than the timeout to take the request or to send the next part of
    its answer."""


class ConnectionLost(HTTPFailure):
    """The connection broke, or what came back is not HTTP, after the request was (or was being)
    sent."""


class Response:
    """A response whose headers have arrived; its body is read with `chunks`."""

    def __init__(self, conn: "_Connection", path: str, read_timeout: float | None) -> None:
        self._conn = conn
        self.path = path
        self._read_timeout = read_timeout
        self.status = conn.status
        self.headers = conn.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked encoding undone, nothing decompressed)."""
        conn = self._conn
        while True:
            while conn.body:
                yield conn.body.pop(0)
            if conn.complete:
                return
            await conn.receive(self._read_timeout)


class _Connection:
    """One connection and the parser of the response now arriving on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._loop = asyncio.get_running_loop()
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.status = 0
        self.headers_done = False
        self.keep_alive = False
        self.complete = False
        self._header_bytes = 0

    # httptools' callbacks.
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise ConnectionLost(f"the executor's headers passed {MAX_HEADER_BYTES} bytes")
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        # Asked now: llhttp forgets it once the message is complete.
        self.keep_alive = self._parser.should_keep_alive()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    async def send(self, data: bytes, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._loop.sock_sendall(self.sock, data)
        except TimeoutError as e:
            raise Timeout(f"the request could not be sent within {timeout} s") from e
        except OSError as e:
            raise ConnectionLost(f"sending failed: {e}") from e

    async def receive(self, timeout: float | None) -> None:
        """Read what arrives next and parse it."""
        try:
            async with asyncio.timeout(timeout):
                data = await self._loop.sock_recv(self.sock, _READ_SIZE)
        except TimeoutError as e:
            raise Timeout(f"nothing came within {timeout} s") from e
        except OSError as e:
            raise ConnectionLost(f"reading failed: {e}") from e
        if not data:
            raise ConnectionLost("the executor closed the connection mid-answer")
        if not self.headers_done and self._header_bytes + len(data) > 4 * MAX_HEADER_BYTES:
            raise ConnectionLost(f"no end of headers within {4 * MAX_HEADER_BYTES} bytes")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            raise ConnectionLost(f"the executor's answer is not HTTP/1.1: {e}") from e

    def reusable(self) -> bool:
        """Whether the next request may go on this connection: the answer was read to its end,
        it asked to keep the connection, and nothing more arrived."""
        return self.complete and self.keep_alive and not self.body

    def ready_for_next(self) -> None:
        self._reset()
        self.idle_since = time.monotonic()

    def idle_and_open(self, keepalive_s: float) -> bool:
        """Whether the idle connection may carry the next request: open, quiet, and idle for
        no longer than `keepalive_s`."""
        if self.sock.fileno() < 0 or time.monotonic() - self.idle_since > keepalive_s:
            return False
        poll = select.poll()  # not select(): descriptors past 1024 are common here
        poll.register(self.sock, select.POLLIN)
        return not poll.poll(0)

    def close(self) -> None:
        self.sock.close()


class ExecutorHTTP:
    """Requests to one executor, on connections `connect` makes (and checks)."""

    def __init__(
        self, connect: Connect, headers: Mapping[str, str], keepalive_s: float = KEEPALIVE_EXPIRY_S
    ) -> None:
        self._connect = connect
        self._keepalive_s = keepalive_s
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._idle: list[_Connection] = []
        self._closed = False

    @asynccontextmanager
    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        timeout: float | None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[Response]:
        """Send the request and yield the response once its headers arrived. `timeout` bounds
        connecting, sending and each read, `read_timeout` (when given) the reads of the answer.
        Raises ConnectFailed (nothing sent), Timeout or ConnectionLost."""
        conn = await self._take(timeout)
        head = f"{method} {target} HTTP/1.1\r\nHost: executor\r\n{self._headers}"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        if body or method in ("POST", "PUT"):
            head += f"Content-Length: {len(body)}\r\n"
        reading = timeout if read_timeout is None else read_timeout
        done = False
        try:
            await conn.send(head.encode("latin-1") + b"\r\n" + body, timeout)
            while not conn.headers_done:
                await conn.receive(reading)
            yield Response(conn, target.partition("?")[0], reading)
            done = True
        finally:
            if done and conn.reusable() and not self._closed and len(self._idle) < _MAX_IDLE:
                conn.ready_for_next()
                self._idle.append(conn)
            else:
                conn.close()

    async def _take(self, timeout: float | None) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_and_open(self._keepalive_s):
                return conn
            conn.close()
        try:
            return _Connection(await self._connect(timeout))
        except HTTPFailure:
            raise
        except TimeoutError as e:
            raise ConnectFailed(f"no connection within {timeout} s") from e
        except OSError as e:
            raise ConnectFailed(str(e) or type(e).__name__) from e

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
