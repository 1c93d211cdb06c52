"""Before the gateway stops an idle sandbox it retires its executor: from then on work is refused
untouched (503), so a query that arrives during the stop is sent again to the sandbox started
anew instead of being cut off with the container. A sandbox in use is not retired."""

import threading

from tests.unit.sandbox_runner.conftest import Executor


def test_a_retired_executor_refuses_work_untouched(executor: Executor) -> None:
    assert executor.value("x = 1\nx") == "1"
    assert executor.client.post("/retire").json() == {"retired": True}

    marker = executor.workspace / "ran.txt"
    with executor.client.stream(
        "POST", "/execute", json={"code": f"open({str(marker)!r}, 'w')"}
    ) as response:
        assert response.status_code == 503
        assert "being stopped" in response.read().decode()
    assert not marker.exists()
    # What does not touch the kernel still answers: the gateway can still look.
    assert executor.health()["busy"] is False
    assert executor.client.get("/variables").status_code == 200


def test_a_sandbox_in_use_is_not_retired(executor: Executor) -> None:
    done = threading.Event()

    def long_cell() -> None:
        executor.run("import time\ntime.sleep(1.5)")
        done.set()

    runner = threading.Thread(target=long_cell)
    runner.start()
    executor.wait_until_busy()
    response = executor.client.post("/retire")
    assert response.status_code == 409
    runner.join(10)
    assert done.is_set()
    # Not retired: the next cell runs.
    assert executor.value("6 * 7") == "42"
