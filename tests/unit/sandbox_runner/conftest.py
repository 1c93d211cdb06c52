"""A real executor (`python -m sandbox_runner`) on this host, reached over its unix socket."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.protocol import EVENT_ADAPTER, DisplayEvent, EndEvent, ErrorEvent, Event, StreamEvent

ROOT = Path(__file__).resolve().parents[3]
CHAT_ID = "chat_20260101_000000_test"


@dataclass
class Cell:
    """The events of one /execute, checked against the protocol: exactly one EndEvent, last."""

    events: list[Event]

    def __post_init__(self) -> None:
        ends = [e for e in self.events if isinstance(e, EndEvent)]
        assert len(ends) == 1 and self.events[-1] is ends[0], self.events

    @property
    def end(self) -> EndEvent:
        end = self.events[-1]
        assert isinstance(end, EndEvent)
        return end

    @property
    def stdout(self) -> str:
        return "".join(
            e.text for e in self.events if isinstance(e, StreamEvent) and e.type == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            e.text for e in self.events if isinstance(e, StreamEvent) and e.type == "stderr"
        )

    @property
    def displays(self) -> list[DisplayEvent]:
        return [e for e in self.events if isinstance(e, DisplayEvent)]

    @property
    def errors(self) -> list[ErrorEvent]:
        return [e for e in self.events if isinstance(e, ErrorEvent)]


class Executor:
    def __init__(self, base: Path, extra_env: dict[str, str], make_workspace: bool = True) -> None:
        self.socket_path = base / "ex.sock"
        self.workspace = base / "ws"
        self.state = base / "state"
        if make_workspace:
            self.workspace.mkdir()
        self.log_path = base / "executor.log"
        self.secret = secrets.token_urlsafe(32)
        self._env = {
            **os.environ,
            "EXECUTOR_SOCKET": str(self.socket_path),
            "EXECUTOR_WORKSPACE": str(self.workspace),
            "EXECUTOR_STATE": str(self.state),
            "EXECUTOR_CHAT_ID": CHAT_ID,
            "EXECUTOR_SECRET": self.secret,
            "PYTHONPATH": str(ROOT),
            **extra_env,
        }
        self._launch()

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "sandbox_runner"],
                env=self._env,
                stdout=log,
                stderr=log,
            )
        self.client = self.new_client()
        self._wait_until_up()

    def new_client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        return httpx.Client(
            transport=transport,
            base_url="http://executor",
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=30.0,
        )

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/health").status_code == 200:
                    return
            time.sleep(0.02)
        raise RuntimeError(f"the executor did not start; log:\n{self.log()}")

    def run(
        self, code: str, timeout_s: float | None = None, env: dict[str, str] | None = None
    ) -> Cell:
        with self.stream(code, timeout_s, env=env) as lines:
            return Cell([EVENT_ADAPTER.validate_json(line) for line in lines])

    @contextlib.contextmanager
    def stream(
        self,
        code: str,
        timeout_s: float | None = None,
        client: httpx.Client | None = None,
        env: dict[str, str] | None = None,
    ) -> Iterator[Iterator[str]]:
        body: dict[str, Any] = {"code": code}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        if env is not None:
            body["env"] = env
        with (client or self.client).stream("POST", "/execute", json=body) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"] == "application/x-ndjson"
            yield (line for line in response.iter_lines() if line)

    def value(self, code: str) -> str:
        """The text/plain of the value displayed by one cell that must succeed."""
        cell = self.run(code)
        assert cell.end.status == "ok", cell.events
        return cell.displays[-1].data["text/plain"]

    def wait_until_busy(self, within_s: float = 10) -> None:
        """Wait until a cell (or variable request) holds the kernel."""
        with self.new_client() as client:
            deadline = time.monotonic() + within_s
            while not client.get("/health").json()["busy"]:
                assert time.monotonic() < deadline, f"nothing ran within {within_s} s"
                time.sleep(0.01)

    def kill_kernel(self) -> None:
        """SIGKILL the kernel while idle, as the OOM killer would, and wait until it is gone."""
        pid = self.health()["kernel_pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.health()["kernel_pid"] == pid and time.monotonic() < deadline:
            time.sleep(0.01)

    def restart(self) -> None:
        """Stop the executor and start it again on the same folders, like a container restart."""
        self.stop()
        self._launch()

    def health(self) -> dict[str, Any]:
        response = self.client.get("/health")
        assert response.status_code == 200
        return json.loads(response.content)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(extra_env: dict[str, str]) -> Iterator[Executor]:
    # Short: a unix socket path must stay under 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="ads-"))
    executor = Executor(base, extra_env)
    try:
        yield executor
    finally:
        executor.stop()
        print(executor.log())  # pytest shows it only when the test failed
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def executor() -> Iterator[Executor]:
    yield from _start({})


@pytest.fixture
def small_output_executor() -> Iterator[Executor]:
    yield from _start({"EXECUTOR_OUTPUT_LIMIT": "1000"})


POOL_ID = "pool-0123456789ab"


@pytest.fixture
def pooled_executor() -> Iterator[Executor]:
    """An executor as the warm pool starts one: serving a pool id, its kernel warmed up."""
    yield from _start({"EXECUTOR_CHAT_ID": POOL_ID, "EXECUTOR_WARM_IMPORTS": "1"})
