"""The executor answers only the gateway of its own chat: every request must carry the sandbox's
secret, and every answer names the chat, so a request routed to the wrong sandbox is refused."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox_runner.config import MIN_SECRET_CHARS
from shared.protocol import CHAT_HEADER
from tests.unit.sandbox_runner.conftest import CHAT_ID, ROOT, Executor


def _client(executor: Executor, authorization: str | None) -> httpx.Client:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(executor.socket_path)),
        base_url="http://executor",
        headers=headers,
    )


def test_a_request_without_the_secret_runs_nothing(executor: Executor) -> None:
    marker = executor.workspace / "ran.txt"
    for authorization in (None, "Bearer wrong-secret", f"Bearer {executor.secret}x", "Basic x"):
        with _client(executor, authorization) as client:
            response = client.post("/execute", json={"code": f"open({str(marker)!r}, 'w')"})
            assert response.status_code == 401
            assert response.json() == {"detail": "this executor serves another chat"}
            assert client.get("/variables").status_code == 401
            assert client.get("/health").status_code == 401
    assert not marker.exists()
    assert executor.health()["execution_count"] == 0


def test_every_answer_names_the_chat(executor: Executor) -> None:
    assert executor.client.get("/health").headers[CHAT_HEADER] == CHAT_ID
    assert executor.client.get("/nowhere").headers[CHAT_HEADER] == CHAT_ID
    with _client(executor, None) as stranger:
        assert stranger.get("/health").headers[CHAT_HEADER] == CHAT_ID
    with executor.client.stream("POST", "/execute", json={"code": "1"}) as response:
        assert response.headers[CHAT_HEADER] == CHAT_ID
    assert executor.health()["chat_id"] == CHAT_ID


def test_user_code_does_not_inherit_the_secret(executor: Executor) -> None:
    assert executor.value("import os\nsorted(k for k in os.environ if 'SECRET' in k)") == "[]"


def test_the_executor_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXECUTOR_SOCKET": str(tmp_path / "s.sock")}
    env["EXECUTOR_SECRET"] = "x" * (MIN_SECRET_CHARS - 1)
    done = subprocess.run(
        [sys.executable, "-P", "-m", "sandbox_runner"], env=env, capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert b"EXECUTOR_SECRET" in done.stderr
    assert not (tmp_path / "s.sock").exists()


def test_whatever_user_code_left_at_the_socket_name_is_replaced_at_start(
    executor: Executor,
) -> None:
    executor.stop()
    executor.socket_path.mkdir()
    (executor.socket_path / "junk").write_text("x")
    executor.restart()
    assert executor.health()["chat_id"] == CHAT_ID
    executor.stop()
    executor.socket_path.symlink_to(executor.workspace)
    executor.restart()
    assert executor.health()["chat_id"] == CHAT_ID
