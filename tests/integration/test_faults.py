"""Faults a sandbox meets: runaway code, a kernel that kills itself. The chat keeps working."""

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest

from tests.gateway_process import GatewayProcess
from tests.services import redis_server


@pytest.fixture(scope="module")
def quick_gateway(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    """A gateway with a 3 s execution timeout, so runaway code is stopped quickly."""
    env = {**gateway_env, "SANDBOX_EXEC_TIMEOUT_S": "3"}
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("quick"))) as process:
        yield process


@pytest.fixture
def quick_chat(quick_gateway: GatewayProcess) -> Iterator[str]:
    with quick_gateway.new_chat() as chat_id:
        yield chat_id


def test_infinite_loop_stops_at_timeout_and_chat_works(
    quick_gateway: GatewayProcess, quick_chat: str
) -> None:
    quick_gateway.run(quick_chat, "kept = 'yes'")
    reply = quick_gateway.run(quick_chat, "while True: pass")
    assert reply["status"] == "timeout"
    # An interruptible loop is stopped by SIGINT: the kernel and its variables survive.
    assert reply["kernel"]["state"] == "kept"
    assert quick_gateway.run(quick_chat, "kept")["result"] == "yes"


def test_code_that_ignores_interrupts_is_killed(
    quick_gateway: GatewayProcess, quick_chat: str
) -> None:
    quick_gateway.run(quick_chat, "kept = 'yes'")
    stubborn = """
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
"""
    reply = quick_gateway.run(quick_chat, stubborn)
    assert reply["status"] == "timeout"
    assert reply["kernel"]["restarted"] is True
    assert reply["kernel"]["state"] == "restored"
    assert quick_gateway.run(quick_chat, "kept")["result"] == "yes"


_SIGKILL_ITSELF = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import os\nos._exit(1)", "the Python kernel exited with code 1"),
        ("import ctypes\nctypes.string_at(0)", "killed by SIGSEGV (segmentation fault)"),
        (_SIGKILL_ITSELF, "killed by SIGKILL (signal 9)"),
    ],
    ids=["os-exit", "segfault", "sigkill"],
)
def test_kernel_that_dies_gets_an_error_reply_and_chat_works(
    gateway: GatewayProcess, chat_id: str, code: str, reason: str
) -> None:
    gateway.run(chat_id, "answer = 42")
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "crashed"
    assert reason in reply["error"]["evalue"]
    # A signal is named as one: nothing says memory unless the memory cgroup does.
    assert "memory" not in reply["error"]["evalue"]
    assert reply["kernel"]["restarted"] is True
    assert reply["kernel"]["state"] == "restored"
    assert gateway.run(chat_id, "answer")["result"] == "42"


@pytest.fixture(scope="module", params=["runsc", "runc"])
def tight_gateway(
    request: pytest.FixtureRequest, gateway_env: dict[str, str], tmp_path_factory
) -> Iterator[GatewayProcess]:
    """Small limits to hit quickly: 256 MiB of memory, 64 processes, 20 MiB per file, sandboxes
    idle for 2 s stopped; under gVisor and runc in turn, since each meets these limits its own
    way (gVisor's OOM stops the whole sandbox, runc's only the kernel)."""
    env = {
        **gateway_env,
        "SANDBOX_RUNTIME": request.param,
        "SANDBOX_EXEC_TIMEOUT_S": "10",
        "SANDBOX_MEMORY_LIMIT": "256m",
        "SANDBOX_PIDS_LIMIT": "64",
        "SANDBOX_FILE_SIZE_LIMIT": str(20 * 1024 * 1024),
        "SANDBOX_IDLE_TIMEOUT_S": "2",
    }
    with GatewayProcess(env, Path(tmp_path_factory.mktemp(f"tight-{request.param}"))) as process:
        yield process


@pytest.fixture
def tight_chat(tight_gateway: GatewayProcess) -> Iterator[str]:
    with tight_gateway.new_chat() as chat_id:
        yield chat_id


def test_memory_bomb_is_killed_and_state_restored(
    tight_gateway: GatewayProcess, tight_chat: str
) -> None:
    tight_gateway.run(tight_chat, "before = 'safe'")
    reply = tight_gateway.run(tight_chat, "hog = [bytearray(16 * 1024 * 1024) for _ in range(64)]")
    assert reply["status"] == "crashed"
    # Said by the executor from its memory cgroup (runc: only the kernel dies) or by the
    # gateway from Docker's record (gVisor: the whole sandbox dies).
    assert "out of memory" in reply["error"]["evalue"]
    assert "256" in reply["error"]["evalue"]  # the limit
    assert reply["kernel"]["state"] == "restored"
    assert tight_gateway.run(tight_chat, "before")["result"] == "safe"
    # The OOM kill counted once is not blamed for a later SIGKILL the code sends itself.
    killed = tight_gateway.run(tight_chat, _SIGKILL_ITSELF)
    assert killed["status"] == "crashed"
    assert "killed by SIGKILL (signal 9)" in killed["error"]["evalue"]
    assert "memory" not in killed["error"]["evalue"]
    assert tight_gateway.run(tight_chat, "before")["result"] == "safe"


def test_fork_bomb_is_contained_and_other_chats_answer(
    tight_gateway: GatewayProcess, tight_chat: str
) -> None:
    other = tight_gateway.client.post("/create_chat").json()["chat_id"]
    tight_gateway.run(other, "1")
    bomb = "import os\nwhile True:\n    os.fork()"
    reply = tight_gateway.run(tight_chat, bomb)
    assert reply["status"] in {"error", "timeout", "crashed"}
    # Idle for 2 s during the bomb, the other chat's sandbox may be being stopped just as this
    # query reaches it: the query then runs on it started again (test_idle_stop).
    fine = tight_gateway.run(other, "'other chat fine'")
    assert fine["result"] == "other chat fine", fine
    assert tight_gateway.run(tight_chat, "'bombed chat fine'")["result"] == "bombed chat fine"
    tight_gateway.client.delete(f"/chat/{other}")


def test_file_size_limit_stops_a_disk_filler(
    tight_gateway: GatewayProcess, tight_chat: str
) -> None:
    filler = "with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 1048576)"
    reply = tight_gateway.run(tight_chat, filler)
    assert reply["status"] == "error"
    assert "too large" in reply["error"]["evalue"].lower()
    assert (
        tight_gateway.run(tight_chat, "import os\nos.path.getsize('fill.bin') <= 20 * 1048576")[
            "result"
        ]
        == "True"
    )


def test_idle_sandbox_is_stopped_and_restarts_with_its_state(
    tight_gateway: GatewayProcess, tight_chat: str, docker_client: docker.DockerClient
) -> None:
    tight_gateway.run(tight_chat, "remembered = 7")
    container = docker_client.containers.get(f"ads-{tight_chat}")
    deadline = time.monotonic() + 20
    while container.status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        container.reload()
    assert container.status == "exited"
    assert tight_gateway.run(tight_chat, "remembered * 6")["result"] == "42"


# A cell that shows it is running (a file the test can see) and then keeps running.
_STARTED_THEN_SLEEP = "import time\nopen('started', 'w').close()\ntime.sleep({seconds})"


def test_container_killed_during_a_query(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    gateway.run(chat_id, "before = 'kept'")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(gateway.run, chat_id, _STARTED_THEN_SLEEP.format(seconds=30))
        gateway.wait_for_file(chat_id, "started", within_s=30)
        docker_client.containers.get(f"ads-{chat_id}").kill()
        reply = running.result(timeout=30)
    assert reply["status"] == "crashed"
    assert reply["error"]["ename"] == "SandboxLost"
    assert gateway.run(chat_id, "before")["result"] == "kept"


def test_gateway_killed_during_a_query(
    gateway_env: dict[str, str], tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    with GatewayProcess(gateway_env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        gateway.run(chat_id, "before = 'kept'")
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(
                gateway.client.post,
                f"/query/{chat_id}",
                json={"code": _STARTED_THEN_SLEEP.format(seconds=60)},
            )
            gateway.wait_for_file(chat_id, "started", within_s=30)
            gateway.stop(signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                running.result(timeout=30)
        gateway.start()

        # Answered, not "busy": the cut-off cell was interrupted rather than left to run.
        assert gateway.run(chat_id, "before")["result"] == "kept"
        history = gateway.client.get(f"/chat/{chat_id}/messages").json()
        assert [m["status"] for m in history] == ["done", "interrupted", "done"]
        twins = docker_client.containers.list(all=True, filters={"name": f"ads-{chat_id}"})
        assert len(twins) == 1
        gateway.client.delete(f"/chat/{chat_id}")


def test_redis_restart_loses_no_chat_or_message(
    tmp_path: Path, gateway_env: dict[str, str]
) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with redis_server(workdir=redis_dir) as redis:
        env = {**gateway_env, "REDIS_URL": redis.url}
        with GatewayProcess(env, tmp_path) as gateway:
            chat_id = gateway.client.post("/create_chat").json()["chat_id"]
            gateway.run(chat_id, "x = 'before restart'")

            redis.restart()

            assert chat_id in [c["chat_id"] for c in gateway.client.get("/chats").json()]
            history = gateway.client.get(f"/chat/{chat_id}/messages").json()
            assert [m["code"] for m in history] == ["x = 'before restart'"]
            assert gateway.run(chat_id, "x")["result"] == "before restart"
            gateway.client.delete(f"/chat/{chat_id}")
