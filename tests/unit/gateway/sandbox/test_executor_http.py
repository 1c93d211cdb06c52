"""The executor's HTTP client against a real unix-socket server that answers with exact bytes:
what a well-behaved executor sends is read whole, connections are reused, and what a hostile one
sends (a header flood, something that is not HTTP, a close mid-answer) ends in a typed failure."""

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.sandbox.executor_http import (
    MAX_HEADER_BYTES,
    ConnectFailed,
    ConnectionLost,
    ExecutorHTTP,
    Timeout,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Test: yes\r\n\r\nok"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
)

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


class Server:
    """Counts connections; answers each request with `answer`."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.path = path
        self.answer = answer
        self.connections = 0
        self.close_after_answer = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(self.answer)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    path = tmp_path / "executor.sock"
    fake = Server(path, OK)
    listening = await asyncio.start_unix_server(fake.handle, str(path))
    yield fake
    listening.close()


def client(server: Server, keepalive_s: float = 5.0) -> ExecutorHTTP:
    async def connect(timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, str(server.path))
        return sock

    return ExecutorHTTP(connect, {"Authorization": "Bearer s"}, keepalive_s)


async def body_of(http: ExecutorHTTP, method: str = "GET", body: bytes = b"") -> bytes:
    async with http.request(method, "/health", body, timeout=5) as response:
        assert response.status == 200
        return b"".join([chunk async for chunk in response.chunks()])


async def test_answers_are_read_whole_on_one_kept_alive_connection(server: Server) -> None:
    http = client(server)
    for _ in range(3):
        assert await body_of(http) == b"ok"
        assert await body_of(http, "POST", b'{"code": "1"}') == b"ok"
    assert server.connections == 1
    await http.aclose()


async def test_a_chunked_answer_is_put_back_together(server: Server) -> None:
    server.answer = CHUNKED
    http = client(server)
    assert await body_of(http) == b"hello world"
    await http.aclose()


async def test_a_connection_the_executor_closed_is_not_used_again(server: Server) -> None:
    server.close_after_answer = True
    http = client(server)
    assert await body_of(http) == b"ok"
    await asyncio.sleep(0.05)  # the close arrives
    assert await body_of(http) == b"ok"
    assert server.connections == 2
    await http.aclose()


async def test_a_connection_idle_past_its_keepalive_is_made_anew(server: Server) -> None:
    """A new connection checks the socket again; an old one may outlive what user code did to
    the socket's name."""
    http = client(server, keepalive_s=0.2)
    assert await body_of(http) == b"ok"
    assert await body_of(http) == b"ok"
    assert server.connections == 1
    await asyncio.sleep(0.3)
    assert await body_of(http) == b"ok"
    assert server.connections == 2
    await http.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-Flood: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Flood: a\r\n" * (MAX_HEADER_BYTES // 10),
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    ],
    ids=["one-long-header", "many-headers", "not-http", "closed-mid-body"],
)
async def test_what_is_not_a_proper_answer_ends_the_exchange(server: Server, answer: bytes) -> None:
    server.answer = answer
    server.close_after_answer = True
    http = client(server)
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(body_of(http), 10)
    await http.aclose()


async def test_silence_is_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    listening = await asyncio.start_unix_server(never_answer, str(path))
    http = client(Server(path, b""))
    with pytest.raises(Timeout):
        async with http.request("GET", "/health", timeout=0.3):
            pass
    listening.close()
    await http.aclose()


async def test_no_listener_is_a_failure_to_connect(tmp_path: Path) -> None:
    http = client(Server(tmp_path / "nobody.sock", b""))
    with pytest.raises(ConnectFailed):
        async with http.request("GET", "/health", timeout=1):
            pass
