"""The peer our warm round trip is held against: a warm ipykernel on the host, no sandbox.

Each sample is what a client that wants the result waits for, as nbclient does: execute_request
sent, iopub read until the cell's execute_result has come and the kernel has gone back to idle
(its end-of-cell signal), and the shell channel's execute_reply (the cell's status) taken. The
kernel sends that reply before the idle, so taking it adds next to nothing; leaving it would
pile replies up over thousands of runs.
"""

import time
from pathlib import Path
from queue import Empty

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

WARM_UP = 20
TIMEOUT_S = 30.0


def _run(client: BlockingKernelClient, code: str) -> str:
    """Execute `code`; return its execute_result's text/plain once the kernel is idle again."""
    msg_id = client.execute(code, store_history=False)
    result = None
    idle = False
    while not idle:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_result":
            result = msg["content"]["data"]["text/plain"]
        elif kind == "error":
            raise RuntimeError(f"the kernel failed running {code!r}: {msg['content']['evalue']}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    client.get_shell_msg(timeout=TIMEOUT_S)
    if result is None:
        raise RuntimeError(f"the kernel went idle without a result for {code!r}")
    return result


def measure_jupyter(runs: int, log_path: Path) -> list[float]:
    """Milliseconds per `1+1` on a warm local kernel, `runs` samples after a warm-up.

    The kernel's output goes to `log_path` (its start-up chatter would break up the table; a
    failure quotes it). The kernel is shut down (request, then SIGKILL if it lingers) whatever
    happens."""
    manager = KernelManager(kernel_name="python3")
    with log_path.open("ab") as log:
        manager.start_kernel(stdout=log, stderr=log)
    try:
        client = manager.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=TIMEOUT_S)
            for _ in range(WARM_UP):
                _run(client, "1+1")
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                result = _run(client, "1+1")
                samples.append((time.perf_counter() - started) * 1000)
                assert result == "2", result
            return samples
        except (RuntimeError, TimeoutError, Empty) as e:
            raise RuntimeError(f"{e}; the kernel's log:\n{log_path.read_text()}") from e
        finally:
            client.stop_channels()
    finally:
        manager.shutdown_kernel(now=False)
