"""Several gateway processes on one Redis and one Docker engine: any of them serves any chat, and
none trips over another. Two replicas (separate processes on their own ports, as separate
containers would be), and one gateway running GATEWAY_WORKERS=2 on one port."""

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest

from tests.gateway_process import GatewayProcess, remove_deployment, sse_events

# A cell that shows it is running (a file the test can see) and then keeps running.
_STARTED_THEN_SLEEP = "import time\nopen('{name}', 'w').close()\ntime.sleep({seconds})"


@pytest.fixture(scope="module")
def replicas(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[list[GatewayProcess]]:
    """Two single-process gateways side by side. A short heartbeat, so that a survivor looks
    for the queries of a dead process every second; sandboxes idle for 4 s are stopped."""
    env = {
        **gateway_env,
        "GATEWAY_WORKERS": "1",
        "GATEWAY_HEARTBEAT_TTL_S": "3",
        "SANDBOX_IDLE_TIMEOUT_S": "4",
    }
    processes = [
        GatewayProcess(env, Path(tmp_path_factory.mktemp(f"replica-{name}"))) for name in "ab"
    ]
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()
        process.client.close()


def containers_of(client: docker.DockerClient, chat_id: str) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"name": f"ads-{chat_id}"})]


def test_first_requests_to_a_chat_from_two_processes_start_one_sandbox(
    replicas: list[GatewayProcess], docker_client: docker.DockerClient
) -> None:
    a, b = replicas
    for _ in range(3):
        chat_id = a.client.post("/create_chat").json()["chat_id"]
        with ThreadPoolExecutor(2) as pool:
            query = pool.submit(a.client.post, f"/query/{chat_id}", json={"code": "x = 41"})
            listing = pool.submit(b.client.get, f"/variables/{chat_id}")
            assert query.result().status_code == 200, query.result().text
            assert listing.result().status_code == 200, listing.result().text
        [container] = containers_of(docker_client, chat_id)
        # Both go on using that one sandbox. The executor releases a cell's claim just after
        # its last event is on the wire, so a query sent the moment the other's reply arrived
        # may still meet a 409, as any client may: it is sent again until the chat is free.
        assert b.run_when_free(chat_id, "x + 1", within_s=10)["result"] == "42"
        assert a.run_when_free(chat_id, "x + 1", within_s=10)["result"] == "42"
        assert containers_of(docker_client, chat_id) == [container]
        a.client.delete(f"/chat/{chat_id}")


def test_a_query_on_one_process_is_seen_locked_and_stopped_from_another(
    replicas: list[GatewayProcess],
) -> None:
    a, b = replicas
    with a.new_chat() as chat_id:
        a.run(chat_id, "before = 'kept'")
        with ThreadPoolExecutor(1) as pool:
            long = _STARTED_THEN_SLEEP.format(name="started", seconds=25)
            running = pool.submit(a.client.post, f"/query/{chat_id}", json={"code": long})
            a.wait_for_file(chat_id, "started", within_s=30)

            assert b.client.get(f"/chat/{chat_id}/messages").json()[-1]["status"] == "running"
            busy = b.client.post(f"/query/{chat_id}", json={"code": "1"})
            assert (busy.status_code, busy.json()["code"]) == (409, "chat_busy")

            started = time.monotonic()
            stop = b.client.post(f"/chat/{chat_id}/stop")
            assert stop.json() == {"stopped": True}
            assert time.monotonic() - started < 10
            stopped = running.result(timeout=10)
        assert (stopped.status_code, stopped.json()["code"]) == (409, "run_stopped")
        last = b.client.get(f"/chat/{chat_id}/messages").json()[-1]
        assert (last["status"], last["error"]) == (
            "interrupted",
            "stopped on request; the running code was interrupted",
        )
        # Free at once, from either process, with the kernel's state kept.
        assert b.run(chat_id, "before")["result"] == "kept"
        assert b.client.post(f"/chat/{chat_id}/stop").json() == {"stopped": False}


def test_a_killed_process_query_ends_once_and_the_others_run_on(
    replicas: list[GatewayProcess],
) -> None:
    a, b = replicas
    with a.new_chat() as on_a, b.new_chat() as on_b:
        a.run(on_a, "before = 'kept'")
        b.run(on_b, "1")
        with ThreadPoolExecutor(2) as pool:
            doomed = pool.submit(
                a.client.post,
                f"/query/{on_a}",
                json={"code": _STARTED_THEN_SLEEP.format(name="a", seconds=60)},
            )

            def stream_on_b() -> list[str]:
                # Long enough to outlast the kill, the recovery and a restart of `a` on a slow
                # machine (each can take seconds there).
                code = _STARTED_THEN_SLEEP.format(name="b", seconds=20) + "\nprint('b done')"
                with b.client.stream(
                    "POST", f"/query/{on_b}?stream=true", json={"code": code}
                ) as response:
                    return [event for event, _ in sse_events(response)]

            surviving = pool.submit(stream_on_b)
            a.wait_for_file(on_a, "a", within_s=30)
            b.wait_for_file(on_b, "b", within_s=30)

            a.stop(signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                doomed.result(timeout=30)
            # The survivor ends the dead process's query (its process is gone at once: its
            # lock file is free) and interrupts its cell.
            deadline = time.monotonic() + 10
            while b.client.get(f"/chat/{on_a}/messages").json()[-1]["status"] == "running":
                assert time.monotonic() < deadline, "the dead process's query was never ended"
                time.sleep(0.2)
            # A restarted process leaves the survivor's query alone.
            a.start()
            assert b.client.get(f"/chat/{on_b}/messages").json()[-1]["status"] == "running"
            events = surviving.result(timeout=60)

        assert events[-1] == "done"
        assert b.client.get(f"/chat/{on_b}/messages").json()[-1]["status"] == "done"
        history = a.client.get(f"/chat/{on_a}/messages").json()
        assert [m["status"] for m in history] == ["done", "interrupted"]
        assert "gateway stopped" in history[-1]["error"]
        assert a.run(on_a, "before")["result"] == "kept"


def test_a_sandbox_in_use_through_one_process_is_not_reaped_by_another(
    replicas: list[GatewayProcess], docker_client: docker.DockerClient
) -> None:
    a, b = replicas
    with a.new_chat() as chat_id:
        a.run(chat_id, "n = 0")
        container = docker_client.containers.get(f"ads-{chat_id}")
        started_at = container.attrs["State"]["StartedAt"]
        # Used only through b for twice the idle timeout: a must not take it for idle.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            reply = b.run(chat_id, "n += 1; n")
            assert reply["kernel"]["state"] != "restored", "the sandbox was stopped while used"
            time.sleep(0.5)
        container.reload()
        assert (container.status, container.attrs["State"]["StartedAt"]) == (
            "running",
            started_at,
        )
        # Left alone, it is stopped once idle (by whichever process), its state kept.
        deadline = time.monotonic() + 15
        while container.status == "running":
            assert time.monotonic() < deadline, "the idle sandbox was never stopped"
            time.sleep(0.5)
            container.reload()
        assert int(b.run(chat_id, "n")["result"]) >= 10


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_gateway_workers_share_one_port_and_a_dead_worker_is_replaced(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    with GatewayProcess({**gateway_env, "GATEWAY_WORKERS": "2"}, tmp_path) as gateway:
        assert gateway.client.get("/health").json()["workers"] == 2
        assert gateway.proc is not None
        workers = [p for p in child_pids(gateway.proc.pid) if _is_worker(p)]
        assert len(workers) == 2
        with gateway.new_chat() as chat_id:
            gateway.run(chat_id, "x = 1")
            os.kill(workers[0], signal.SIGKILL)
            # Requests go on being answered (by the survivor, then by the replacement too).
            deadline = time.monotonic() + 20
            while len([p for p in child_pids(gateway.proc.pid) if _is_worker(p)]) < 2:
                assert time.monotonic() < deadline, "the dead worker was not replaced"
                time.sleep(0.2)
            for _ in range(10):
                fresh = httpx.post(
                    f"{gateway.base_url}/query/{chat_id}",
                    json={"code": "x + 1"},
                    headers={"Authorization": f"Bearer {gateway.token}"},
                    timeout=60,
                )
                assert fresh.json()["result"] == "2", fresh.text


def _is_worker(pid: int) -> bool:
    # uvicorn's workers are multiprocessing children; its supervisor also keeps a resource
    # tracker child, which is not a worker.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline


def test_workers_starting_together_mount_the_chats_folder_once(
    gateway_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """Each worker makes sure DATA_DIR/chats is mounted noexec at start; two at once must not
    stack two mounts (the second would outlive an unmount of the first)."""
    data_dir = Path(tempfile.mkdtemp(prefix="ads-mount-", dir="/tmp"))
    env = {**gateway_env, "DATA_DIR": str(data_dir), "GATEWAY_WORKERS": "2"}
    try:
        with GatewayProcess(env, tmp_path) as gateway:
            assert gateway.client.get("/health").json()["sandbox_folders_noexec"] is True
            mounts = [
                line
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split(" ")[4] == str(data_dir / "chats")
            ]
            assert len(mounts) == 1, mounts
    finally:
        remove_deployment(docker_client, data_dir)
