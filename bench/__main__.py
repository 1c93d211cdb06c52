"""Measure round trips through a real gateway, Redis and sandbox, and print a table.

  warm: POST /query {"code": "1+1"} to a chat whose sandbox is running (p50, p99 over N runs)
  cold: POST /create_chat, then the first {"code": "1+1"} (container created and started)
  state: checkpoint times of a 1M-row frame, and restore after `docker kill`

each under every runtime the engine has (runsc beside runc), in the same run, side by side:
absolute times drift on shared machines, the ratio between runtimes much less.

Run with `make bench` (or `python -m bench --warm 1000 --cold 20`).
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import docker

from tests.gateway_process import GatewayProcess, remove_deployment
from tests.services import redis_server


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def measure_warm(gateway: GatewayProcess, runs: int) -> list[float]:
    chat_id = gateway.client.post("/create_chat").json()["chat_id"]
    for _ in range(20):
        gateway.run(chat_id, "1+1")
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        reply = gateway.run(chat_id, "1+1")
        samples.append((time.perf_counter() - started) * 1000)
        assert reply["result"] == "2", reply
    gateway.client.delete(f"/chat/{chat_id}")
    return samples


def measure_cold(gateway: GatewayProcess, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        reply = gateway.run(chat_id, "1+1")
        samples.append((time.perf_counter() - started) * 1000)
        assert reply["result"] == "2", reply
        gateway.client.delete(f"/chat/{chat_id}")
    return samples


MIXED_FRAME = """
import numpy as np, pandas as pd
n = 1_000_000
df = pd.DataFrame({
    "i": np.arange(n),
    "f": np.random.rand(n),
    "s": pd.Series(np.arange(n) % 5000).map("item-{}".format),
    "b": np.arange(n) % 3 == 0,
    "t": pd.date_range("2020-01-01", periods=n, freq="min"),
    "c": pd.Categorical(np.array(["red", "green", "blue"])[np.arange(n) % 3]),
})
"""


def measure_state(gateway: GatewayProcess, client: docker.DockerClient, runs: int) -> dict:
    """Checkpoint of a 1M-row x 6-column mixed frame; checkpoint work of cells that leave it
    untouched (one only reads it, one saves a new small variable: a write and an fsync); and
    docker kill -> `len(df)` answered (container start + restore)."""
    chat_id = gateway.client.post("/create_chat").json()["chat_id"]
    gateway.run(chat_id, MIXED_FRAME)
    write, untouched, beside, restore = [], [], [], []
    for _ in range(runs):
        write.append(gateway.run(chat_id, "df['i'] += 1")["checkpoint_ms"])
        untouched.append(gateway.run(chat_id, "len(df), df.shape")["checkpoint_ms"])
        beside.append(gateway.run(chat_id, "x = 1")["checkpoint_ms"])
        client.containers.get(f"ads-{chat_id}").kill()
        started = time.perf_counter()
        reply = gateway.run(chat_id, "len(df)")
        restore.append((time.perf_counter() - started) * 1000)
        assert reply["result"] == "1000000" and reply["kernel"]["state"] == "restored", reply
    gateway.client.delete(f"/chat/{chat_id}")
    return {"write": write, "untouched": untouched, "beside": beside, "restore": restore}


ROWS = [
    ("warm round trip, {code: 1+1}", "warm", "runsc p50≤2x runc"),
    ("cold: create_chat + first result", "cold", "p50≤1500"),
    ("checkpoint, 1Mx6 mixed frame changed", "write", "≤100"),
    ("checkpoint work, cell only reading the frame", "untouched", "≤1"),
    ("checkpoint work, `x = 1` beside the frame", "beside", "(fsync)"),
    ("docker kill -> len(df) answered (restore)", "restore", "≤2500"),
]


def measure(env: dict[str, str], runtime: str, client: docker.DockerClient, args) -> dict:
    """Every measure, with the sandboxes under one runtime."""
    log_dir = Path(env["DATA_DIR"]) / f"gateway-{runtime}"
    log_dir.mkdir()
    with GatewayProcess({**env, "SANDBOX_RUNTIME": runtime}, log_dir) as gateway:
        found = gateway.client.get("/health").json()["sandbox_runtime"]
        assert found == runtime, f"asked for {runtime}, the gateway runs {found}"
        samples = {"warm": measure_warm(gateway, args.warm)}
        samples["cold"] = measure_cold(gateway, args.cold)
        samples.update(measure_state(gateway, client, args.state))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=1000, help="warm round trips")
    parser.add_argument("--cold", type=int, default=20, help="cold create-and-run round trips")
    parser.add_argument("--state", type=int, default=5, help="checkpoint and restore rounds")
    parser.add_argument(
        "--runtimes",
        default="runsc,runc",
        help="the runtimes to compare, side by side (those the engine lacks are left out)",
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="ads-bench-", dir="/tmp"))
    client = docker.from_env()
    registered = set(client.info().get("Runtimes") or {})
    runtimes = [r for r in args.runtimes.split(",") if r in registered]
    results: dict[str, dict] = {}
    try:
        with redis_server() as redis:
            env = {
                "DATA_DIR": str(data_dir),
                "REDIS_URL": redis.url,
                "AUTH_MODE": "local",
                "LOCAL_AUTH_TOKEN": "bench-" + os.urandom(8).hex(),
                "SANDBOX_IMAGE": os.environ.get(
                    "SANDBOX_IMAGE", "ai-data-scientist/sandbox:latest"
                ),
            }
            for runtime in runtimes:
                results[runtime] = measure(env, runtime, client, args)
    finally:
        remove_deployment(client, data_dir)

    print(
        f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Docker {client.version()['Version']}; "
        f"runtimes measured in this one run: {', '.join(runtimes)}"
    )
    header = f"{'measure':<44} {'n':>5}"
    for runtime in runtimes:
        header += f" {runtime + ' p50':>10} {runtime + ' p99':>10}"
    print(header + f" {'goal':>18}")
    for name, key, goal in ROWS:
        line = f"{name:<44} {len(results[runtimes[0]][key]):>5}"
        for runtime in runtimes:
            samples = results[runtime][key]
            line += f" {statistics.median(samples):>10.2f} {percentile(samples, 99):>10.2f}"
        print(line + f" {goal:>18}")


if __name__ == "__main__":
    main()
