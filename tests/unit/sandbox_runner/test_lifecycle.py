"""Cells that do not end well, and the HTTP surface: timeouts, interrupts, crashes, conflicts."""

import concurrent.futures
import os
import time

import httpx
import pytest

from tests.unit.sandbox_runner.conftest import CHAT_ID, Executor


def test_timeout_interrupts_a_busy_loop_and_keeps_the_variables(executor: Executor) -> None:
    executor.run("kept = 'still here'")
    started = time.monotonic()
    cell = executor.run("while True:\n    pass", timeout_s=1)
    assert time.monotonic() - started >= 1  # it ran until its limit
    assert cell.end.status == "timeout"
    assert cell.errors[0].ename == "TimeoutError"
    assert "while True" in "\n".join(cell.errors[0].traceback)
    assert not cell.end.kernel.restarted and cell.end.kernel.state == "kept"
    assert executor.run("kept").displays[0].data["text/plain"] == "'still here'"


def test_cell_that_swallows_interrupts_is_killed_and_the_kernel_restarted(
    executor: Executor,
) -> None:
    executor.run("kept = 1")
    old_pid = executor.health()["kernel_pid"]
    code = """
import time
while True:
    try:
        time.sleep(10)
    except KeyboardInterrupt:
        pass
"""
    cell = executor.run(code, timeout_s=1)
    assert cell.end.status == "timeout"
    assert cell.end.kernel.restarted and cell.end.kernel.state == "restored"
    assert cell.end.kernel.restored == ["kept"]
    assert "timed out after 1 s" in cell.end.kernel.reason
    assert "changes made by the cell that was running are lost" in cell.end.kernel.reason
    assert executor.health()["kernel_pid"] not in (None, old_pid)
    after = executor.run("kept")
    assert after.displays[0].data["text/plain"] == "1"
    assert after.end.execution_count == 1
    assert executor.run("1 + 1").displays[0].data["text/plain"] == "2"


def test_os_exit_is_reported_as_a_crash_and_the_next_cell_works(executor: Executor) -> None:
    cell = executor.run("print('bye')\nimport os\nos._exit(1)")
    assert cell.end.status == "crashed"  # noticed at once: at the time limit it is "timeout"
    assert cell.errors[0].ename == "KernelDied"
    assert "exited with code 1" in cell.errors[0].evalue
    assert cell.end.kernel.restarted and cell.end.kernel.state == "restored"
    assert executor.run("2 * 21").displays[0].data["text/plain"] == "42"


def test_segfault_is_reported_as_a_crash_and_the_next_cell_works(executor: Executor) -> None:
    cell = executor.run("import ctypes\nctypes.string_at(0)")
    assert cell.end.status == "crashed"
    assert "SIGSEGV" in cell.errors[0].evalue and "segmentation fault" in cell.errors[0].evalue
    assert cell.end.kernel.state == "restored"
    assert executor.run("'alive'").displays[0].data["text/plain"] == "'alive'"


def test_sigkill_from_user_code_is_named_as_a_signal_not_memory(executor: Executor) -> None:
    cell = executor.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert cell.end.status == "crashed"
    assert "killed by SIGKILL (signal 9)" in cell.errors[0].evalue
    assert "memory" not in cell.errors[0].evalue
    assert "memory" not in cell.end.kernel.reason


def test_kernel_that_died_while_idle_is_replaced_by_the_next_execute(executor: Executor) -> None:
    executor.run("x = 1")
    executor.kill_kernel()
    cell = executor.run("'works'")
    assert cell.end.status == "ok"
    assert cell.displays[0].data["text/plain"] == "'works'"
    assert cell.end.kernel.restarted and cell.end.kernel.state == "restored"
    assert cell.end.kernel.restored == ["x"]
    assert "while idle" in cell.end.kernel.reason
    assert "cell that was running" not in cell.end.kernel.reason


def test_fork_in_user_code_does_not_disturb_the_kernel(executor: Executor) -> None:
    code = """
import os
pid = os.fork()
if pid == 0:
    print('child')
else:
    os.waitpid(pid, 0)
"""
    assert executor.run(code).end.status == "ok"
    assert executor.run("'parent'").displays[0].data["text/plain"] == "'parent'"


def test_interrupt_stops_a_long_sleep(executor: Executor) -> None:
    other = executor.new_client()
    with executor.stream("import time\ntime.sleep(30)") as lines:
        # Sent as soon as the cell is accepted, maybe before the kernel has even started it.
        assert other.post("/interrupt").json() == {"interrupted": True}
        events = list(lines)
    assert '"status":"interrupted"' in events[-1]
    assert any('"ename":"KeyboardInterrupt"' in e for e in events)
    assert other.post("/interrupt").json() == {"interrupted": False}
    assert executor.run("'next'").end.kernel.state == "kept"
    other.close()


def test_second_execute_while_one_runs_gets_409(executor: Executor) -> None:
    other = executor.new_client()
    with executor.stream("import time\ntime.sleep(30)") as lines:
        assert executor.health()["busy"] is True
        response = other.post("/execute", json={"code": "1"})
        assert response.status_code == 409
        assert "already running" in response.json()["detail"]
        other.post("/interrupt")
        list(lines)
    assert executor.run("1").end.status == "ok"
    other.close()


def test_health_answers_while_a_cell_runs(executor: Executor) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(executor.run, "import time\ntime.sleep(1)")
        executor.wait_until_busy()
        other = executor.new_client()
        health = other.get("/health").json()
        assert health["busy"] is True and health["kernel_pid"] > 0
        assert future.result().end.status == "ok"
        other.close()
    assert executor.health()["busy"] is False


def test_client_that_disconnects_does_not_block_the_next_cell(executor: Executor) -> None:
    client = executor.new_client()
    with executor.stream(
        "import time\nprint(1)\ntime.sleep(0.5)\nprint(2)", client=client
    ) as lines:
        next(lines)
    client.close()
    deadline = time.monotonic() + 5
    while executor.health()["busy"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert executor.run("'after'").end.status == "ok"


def test_bad_requests_get_json_errors(executor: Executor) -> None:
    client = executor.client
    response = client.post(
        "/execute", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in response.json()["detail"]
    response = client.post("/execute", json={"code": "1", "timeout_s": -1})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["timeout_s"]
    assert client.post("/execute", json={}).status_code == 422
    response = client.post("/execute", json={"code": "1", "env": {"1X": "v"}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["env"]
    assert "not an environment variable name" in response.json()["detail"][0]["msg"]
    assert client.get("/nowhere").status_code == 404
    assert "detail" in client.get("/nowhere").json()
    assert client.get("/execute").status_code == 405
    # The same kept-alive connection still works after all of that.
    assert executor.run("1").end.status == "ok"


def test_health_reports_the_kernel(executor: Executor) -> None:
    health = executor.health()
    assert health == {
        "status": "ok",
        "chat_id": CHAT_ID,
        "kernel_pid": health["kernel_pid"],
        "busy": False,
        "execution_count": 0,
        "restored": [],
        "restore_errors": {},
    }
    os.kill(health["kernel_pid"], 0)


def test_socket_is_not_world_accessible(executor: Executor) -> None:
    assert executor.socket_path.stat().st_mode & 0o777 == 0o660


def test_warm_round_trip_is_fast(executor: Executor) -> None:
    executor.run("1 + 1")
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        executor.run("1 + 1")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[25] < 0.02, timings


def test_stopping_the_server_kills_the_kernel_and_removes_the_socket(executor: Executor) -> None:
    pid = executor.health()["kernel_pid"]
    executor.stop()
    assert executor.process.returncode == 0
    assert not executor.socket_path.exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"kernel {pid} outlived the server")


def test_a_stale_socket_file_does_not_stop_a_new_server(executor: Executor) -> None:
    executor.process.kill()  # no clean shutdown: the socket file stays
    executor.process.wait()
    assert executor.socket_path.exists()
    with pytest.raises(httpx.TransportError):
        executor.new_client().get("/health")
    again = Executor(executor.socket_path.parent, {}, make_workspace=False)
    try:
        assert again.run("1").end.status == "ok"
    finally:
        again.stop()


def test_user_code_writing_into_the_kernels_pipes_cannot_break_the_server(
    executor: Executor,
) -> None:
    code = """
import os
for name in os.listdir('/proc/self/fd'):
    try:
        if os.readlink(f'/proc/self/fd/{name}').startswith('pipe:'):
            os.write(int(name), b'not json\\n')
    except OSError:
        pass
import time
time.sleep(0.5)
"""
    cell = executor.run(code)
    assert cell.end.status == "crashed"
    assert "unreadable message" in cell.errors[0].evalue
    assert cell.end.kernel.state == "restored"
    assert executor.run("'fine'").end.status == "ok"


def test_a_kernel_that_cannot_start_is_reported_and_retried(executor: Executor) -> None:
    executor.workspace.rename(executor.workspace.with_name("moved"))
    cell = executor.run("import os\nos._exit(3)")
    assert cell.end.status == "crashed"
    assert "could not be started" in cell.end.kernel.reason
    assert not cell.end.kernel.restarted
    again = executor.run("1")
    assert again.end.status == "crashed" and again.errors[0].ename == "KernelStartFailed"
    assert executor.health()["kernel_pid"] is None
    executor.workspace.with_name("moved").rename(executor.workspace)
    cell = executor.run("'back'")
    assert cell.displays[0].data["text/plain"] == "'back'"
    assert cell.end.kernel.restarted
