"""The gateway reads a bounded amount from an executor, whatever the executor sends: an executor
that user code replaced gets its stream cut at the cell's budget and its answers refused past
their cap, without the gateway buffering them.

The executor here is a fake that floods, a real HTTP server on the chat's socket.
"""

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from gateway.sandbox.executor import ExecutorClient, OutputLimitExceeded
from gateway.sandbox.executor_socket import SandboxSocket
from shared.errors import BadGateway
from shared.protocol import (
    CELL_OUTPUT_BUDGET_BYTES,
    CHAT_HEADER,
    GATEWAY_OUTPUT_SLACK_BYTES,
    MAX_REPLY_BYTES,
    SOCKET_NAME,
    ExecuteRequest,
)

CHAT_ID = "chat_20260101_000000_test"
STDOUT_LINE = json.dumps({"type": "stdout", "text": "x" * 8000}).encode() + b"\n"
# Far more than any cap: a fake that sent it all would prove the gateway read on.
FLOOD_BYTES = 16 * CELL_OUTPUT_BUDGET_BYTES


class FloodingExecutor(socketserver.ThreadingUnixStreamServer):
    """Answers every request with `status` and `body` repeated far past any cap; `sent` counts
    the bytes it got out before the gateway closed the connection."""

    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.body = STDOUT_LINE
        self.status = 200
        self.sent = 0
        super().__init__(str(data_dir / "chats" / CHAT_ID / "run" / SOCKET_NAME), _Flood)

    def client(self) -> ExecutorClient:
        backend = SandboxSocket(self.data_dir, CHAT_ID, os.getuid(), os.getuid())
        return ExecutorClient(backend, CHAT_ID, "secret")


class _Flood(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FloodingExecutor

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._flood()

    def do_GET(self) -> None:
        self._flood()

    def _flood(self) -> None:
        self.send_response(self.server.status)
        self.send_header(CHAT_HEADER, CHAT_ID)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        data = self.server.body * ((1 << 20) // len(self.server.body))
        frame = b"%x\r\n%s\r\n" % (len(data), data)
        try:
            for _ in range(FLOOD_BYTES // len(data)):
                self.wfile.write(frame)
                self.server.sent += len(data)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flooding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloodingExecutor]:
    # Short: a unix socket's path must stay under 108 bytes. Real: it is opened link-free.
    data_dir = Path(os.path.realpath(tmp_path_factory.mktemp("b", numbered=True)))
    (data_dir / "chats" / CHAT_ID / "run").mkdir(parents=True)
    server = FloodingExecutor(data_dir)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


async def test_a_cell_stream_past_the_budget_is_cut(flooding: FloodingExecutor) -> None:
    client = flooding.client()
    events = 0
    with pytest.raises(OutputLimitExceeded):
        async for _ in client.execute(ExecuteRequest(code="flood()"), read_timeout_s=30):
            events += 1
    await client.aclose()
    budget = CELL_OUTPUT_BUDGET_BYTES + GATEWAY_OUTPUT_SLACK_BYTES
    assert events * len(STDOUT_LINE) <= budget
    # What the fake could write before it saw the connection close: the budget, the last
    # megabyte frame, and what the socket buffers hold.
    assert flooding.sent < budget + 8 * 1024 * 1024


async def test_one_endless_line_is_cut_at_the_budget(flooding: FloodingExecutor) -> None:
    flooding.body = b"x" * 4096
    client = flooding.client()
    with pytest.raises(OutputLimitExceeded):
        async for _ in client.execute(ExecuteRequest(code="flood()"), read_timeout_s=30):
            pass
    await client.aclose()
    assert flooding.sent < CELL_OUTPUT_BUDGET_BYTES + 16 * 1024 * 1024


async def test_a_variable_answer_past_its_cap_is_refused(
    flooding: FloodingExecutor,
) -> None:
    flooding.body = b" " * 4096
    client = flooding.client()
    with pytest.raises(BadGateway, match=f"passed {MAX_REPLY_BYTES} bytes"):
        await client.variables()
    with pytest.raises(BadGateway):
        await client.variable("df", offset=0, limit=100)
    await client.aclose()
    assert flooding.sent < 2 * MAX_REPLY_BYTES + 16 * 1024 * 1024


async def test_an_error_answer_is_read_only_to_its_cap(flooding: FloodingExecutor) -> None:
    flooding.body = b"e" * 4096
    flooding.status = 409
    client = flooding.client()
    with pytest.raises(BadGateway):
        await client.reset()
    with pytest.raises(BadGateway):
        async for _ in client.execute(ExecuteRequest(code="1"), read_timeout_s=30):
            pass
    await client.aclose()
