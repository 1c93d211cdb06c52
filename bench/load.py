"""Concurrent clients against a real gateway, driven by wrk, with the gateway's CPU per query.

wrk (Debian's package, `make deps` installs it) is the load generator: a C program in its own
process with an event loop per thread, so it stays far lighter than the gateway it drives and
the numbers are the gateway's, not the client's; its own CPU is reported beside them to show it.
bench/chat_rotation.lua gives each connection chats of its own (see there why) and prints the
counts and percentiles as JSON.
"""

import json
import resource
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.process_cpu import host_cpu_s, tree_cpu_s
from tests.gateway_process import GatewayProcess

SCRIPT = Path(__file__).with_name("chat_rotation.lua")
# Sandboxes started at once while the chats are set up: enough to overlap their start-up waits,
# few enough not to time out a start on a two-core machine.
SETUP_CONCURRENCY = 4


@dataclass
class LoadRun:
    """One wrk run: `clients` connections for `duration_s` against a gateway of `workers`."""

    clients: int
    workers: str
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    # The first bad answer's status and the start of its body, "" when there was none.
    error_sample: str
    gateway_cpu_s: float
    wrk_cpu_s: float
    # The share of all the machine's cores busy during the run, 0 to 1.
    host_busy: float

    @property
    def per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def gateway_cpu_ms_per_query(self) -> float:
        return self.gateway_cpu_s * 1000 / self.requests if self.requests else float("nan")


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `make deps` installs it (apt-get install wrk)")
    return wrk


def open_chats(gateway: GatewayProcess, count: int) -> list[str]:
    """`count` new chats, each with its sandbox started by a first `1+1`."""

    def open_one(_: int) -> str:
        response = gateway.client.post("/create_chat")
        assert response.status_code == 201, response.text
        chat_id: str = response.json()["chat_id"]
        assert gateway.run(chat_id, "1+1")["result"] == "2"
        return chat_id

    with ThreadPoolExecutor(max_workers=SETUP_CONCURRENCY) as pool:
        return list(pool.map(open_one, range(count)))


def run_in_each(gateway: GatewayProcess, chat_ids: list[str], code: str) -> None:
    """Run `code` in every chat (a few at a time), asserting each run succeeded."""

    def run(chat_id: str) -> None:
        reply = gateway.run(chat_id, code)
        assert reply["status"] == "ok" and reply["error"] is None, reply

    with ThreadPoolExecutor(max_workers=SETUP_CONCURRENCY) as pool:
        list(pool.map(run, chat_ids))


def run_wrk(
    gateway: GatewayProcess, chat_ids: list[str], clients: int, duration_s: float
) -> tuple[dict[str, Any], float]:
    """One wrk run of `clients` connections (one thread each, see chat_rotation.lua) over the
    chats; its JSON summary and the CPU seconds wrk itself used. wrk is killed if it overstays."""
    if not 1 <= clients <= len(chat_ids):
        raise ValueError(f"{clients} clients need 1 to {len(chat_ids)} chats of their own")
    command = [
        require_wrk(),
        f"--threads={clients}",
        f"--connections={clients}",
        f"--duration={duration_s:g}s",
        "--timeout=30s",
        f"--script={SCRIPT}",
        gateway.base_url,
        "--",
        gateway.token,
        str(clients),
        *chat_ids,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # The error sample is cut at a byte count, maybe inside a UTF-8 character.
        encoding="utf-8",
        errors="replace",
    )
    try:
        out, err = proc.communicate(timeout=duration_s + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.splitlines() if line.startswith("BENCH_JSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(lines[-1].removeprefix("BENCH_JSON ")), wrk_cpu


def measure_load(
    gateway: GatewayProcess,
    chat_ids: list[str],
    clients: int,
    duration_s: float,
    workers: str,
) -> LoadRun:
    """wrk against the gateway, with the CPU the gateway's process tree used meanwhile."""
    assert gateway.proc is not None
    cpu_before, host_before = tree_cpu_s(gateway.proc.pid), host_cpu_s()
    summary, wrk_cpu = run_wrk(gateway, chat_ids, clients, duration_s)
    cpu_after, host_after = tree_cpu_s(gateway.proc.pid), host_cpu_s()
    errors = {
        key: summary[key] for key in ("non200", "wrong", "connect", "read", "write", "timeout")
    }
    return LoadRun(
        clients=clients,
        workers=workers,
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=errors,
        error_sample=summary["sample"],
        gateway_cpu_s=cpu_after - cpu_before,
        wrk_cpu_s=wrk_cpu,
        host_busy=(host_after[0] - host_before[0]) / (host_after[1] - host_before[1]),
    )


def warm_up(gateway: GatewayProcess, chat_ids: list[str], duration_s: float = 2.0) -> None:
    """A short unreported run with a connection per chat, so every worker process has served
    requests and opened its connections to the sandboxes before anything is measured."""
    run_wrk(gateway, chat_ids, len(chat_ids), duration_s)
    time.sleep(0.5)
