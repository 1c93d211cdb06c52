"""Single-client round trips through the gateway: warm, cold, and checkpoint/restore of state."""

import time

import docker

from bench.pool import PANDAS_FIRST, first_results
from tests.gateway_process import GatewayProcess


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


def measure_state(
    gateway: GatewayProcess, client: docker.DockerClient, runs: int
) -> dict[str, list[float]]:
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


def measure_latency(
    gateway: GatewayProcess, client: docker.DockerClient, warm: int, cold: int, state: int
) -> dict[str, list[float]]:
    """Every single-client measure, in milliseconds, on one gateway (without a pool: the cold
    rows are what a chat meets when the pool is empty)."""
    samples = {"warm": measure_warm(gateway, warm)}
    samples["cold"] = first_results(gateway, "1+1", cold, pooled=False)
    samples["cold_pandas"] = first_results(gateway, PANDAS_FIRST, cold, pooled=False)
    samples.update(measure_state(gateway, client, state))
    return samples
