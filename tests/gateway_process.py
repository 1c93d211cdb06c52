"""A real gateway for tests: `python -m gateway` on a free port, restartable and killable."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import httpx

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent


START_TIMEOUT_S = 90


class GatewayProcess:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env, "PORT": str(free_port())}
        self.env.setdefault("PYTHONPATH", str(ROOT))
        self.token = env["LOCAL_AUTH_TOKEN"]
        self.base_url = f"http://127.0.0.1:{self.env['PORT']}"
        self.log_path = log_dir / "gateway.log"
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(60.0),
        )

    def start(self) -> None:
        log = self.log_path.open("ab")
        # A session of its own: with GATEWAY_WORKERS > 1 the workers are children of the
        # supervisor, and a SIGKILL must take them with it, as a container's end would.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        # Generous: on this 2-core VM, with three test workers starting gateways and sandboxes at
        # once, a worker process has taken over 25 s to import the app (seen in CI-like runs).
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start; log:\n{self.log()}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the gateway: SIGTERM lets its supervisor stop the workers gracefully; SIGKILL
        kills every process of it at once."""
        if self.proc and self.proc.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run(self, chat_id: str, code: str) -> dict[str, Any]:
        """POST {"code"} to the chat and return the reply, asserting the HTTP call succeeded."""
        response = self.client.post(f"/query/{chat_id}", json={"code": code})
        assert response.status_code == 200, response.text
        return response.json()

    def run_when_free(self, chat_id: str, code: str, within_s: float) -> dict[str, Any]:
        """Run code as soon as the chat takes it, retrying while it answers 409 (busy); fails
        if it is still busy after `within_s`."""
        deadline = time.monotonic() + within_s
        while (
            response := self.client.post(f"/query/{chat_id}", json={"code": code})
        ).status_code == 409:
            assert time.monotonic() < deadline, f"the chat was still busy after {within_s} s"
            time.sleep(0.1)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_file(self, chat_id: str, name: str, within_s: float) -> None:
        """Wait until the chat's workspace lists `name`: the sign a running cell gives that it
        got as far as writing it (files are listed while a cell runs)."""
        deadline = time.monotonic() + within_s
        while name not in [f["path"] for f in self.client.get(f"/files/{chat_id}").json()]:
            assert time.monotonic() < deadline, f"{name} did not appear within {within_s} s"
            time.sleep(0.05)

    def wait_until_running(self, chat_id: str, within_s: float) -> None:
        """Wait until the chat's newest history record is a run in progress."""
        deadline = time.monotonic() + within_s
        while not (
            (history := self.client.get(f"/chat/{chat_id}/messages").json())
            and history[-1]["status"] == "running"
        ):
            assert time.monotonic() < deadline, f"no run started within {within_s} s"
            time.sleep(0.05)

    def wait_for_output(self, chat_id: str, run_id: str, text: str, within_s: float = 30) -> None:
        """Follow the run's events until its stdout so far is `text`, then let go of them."""
        printed = ""
        with self.client.stream(
            "GET", f"/chat/{chat_id}/runs/{run_id}/events", timeout=within_s
        ) as response:
            for event, data in sse_events(response):
                if event == "output" and data["type"] == "stdout":
                    printed += data["text"]
                if printed == text:
                    return
                assert event not in ("done", "error"), f"the run ended without printing {text!r}"
        raise AssertionError(f"the run's stream ended without printing {text!r}")

    @contextmanager
    def new_chat(self, body: dict[str, Any] | None = None) -> Iterator[str]:
        """A fresh chat (made with `body`, else with no body at all), deleted (with its sandbox
        and files) afterwards."""
        response = self.client.post("/create_chat", json=body)
        assert response.status_code == 201, response.text
        chat_id = response.json()["chat_id"]
        try:
            yield chat_id
        finally:
            self.client.delete(f"/chat/{chat_id}")

    def __enter__(self) -> "GatewayProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.client.close()


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a Server-Sent Events response, as they arrive."""
    for _, event, data in sse_entries(response):
        yield event, data


def sse_entries(response: httpx.Response) -> Iterator[tuple[str | None, str, dict[str, Any]]]:
    """The (id, event, data) of each event of a Server-Sent Events response, as they arrive."""
    event_id, event = None, None
    for line in response.iter_lines():
        if line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event:
            yield event_id, event, json.loads(line.removeprefix("data: "))
            event_id, event = None, None


def remove_deployment(client: docker.DockerClient, data_dir: Path) -> None:
    """Remove everything a test's gateways made under `data_dir`: its sandboxes (found by their
    DATA_DIR label), the noexec mount of chats/ they leave (gateway/sandbox/data_mount.py), and
    the folder."""
    for container in client.containers.list(
        all=True, filters={"label": f"ai-data-scientist.data-dir={data_dir}"}
    ):
        container.remove(force=True)
    subprocess.run(["umount", "--lazy", str(data_dir / "chats")], capture_output=True, check=False)
    shutil.rmtree(data_dir, ignore_errors=True)
