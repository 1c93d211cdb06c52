"""A new chat's first result from the warm pool (SANDBOX_POOL_SIZE), on a gateway of its own:
each sample waits until the pool is full again, as a pool that keeps up with new chats would
be, then times create_chat + the first result. The refill itself is read from the gateway's log."""

import re
import time

from tests.gateway_process import GatewayProcess

POOL_SIZE = 2
# A chat's first use of the data stack: the imports a pooled kernel has made already.
PANDAS_FIRST = "import pandas as pd\npd.DataFrame({'a': [1]})"
_REFILLED = re.compile(r"pooled sandbox pool-\w+ ready in ([0-9.]+) s")


def wait_until_full(gateway: GatewayProcess, within_s: float = 300) -> None:
    deadline = time.monotonic() + within_s
    while (pool := gateway.client.get("/health").json()["pool"])["ready"] < pool["size"]:
        if pool["error"] or time.monotonic() > deadline:
            raise RuntimeError(f"the pool did not fill: {pool}")
        time.sleep(0.05)


def first_results(gateway: GatewayProcess, code: str, runs: int, pooled: bool) -> list[float]:
    """create_chat + the first result of `code`, in ms; with `pooled`, from a full pool."""
    samples = []
    for _ in range(runs):
        if pooled:
            wait_until_full(gateway)
        started = time.perf_counter()
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        reply = gateway.run(chat_id, code)
        samples.append((time.perf_counter() - started) * 1000)
        assert reply["status"] == "ok", reply
        gateway.client.delete(f"/chat/{chat_id}")
    return samples


def measure_pool(gateway: GatewayProcess, runs: int) -> dict[str, list[float]]:
    samples = {
        "pool": first_results(gateway, "1+1", runs, pooled=True),
        "pool_pandas": first_results(gateway, PANDAS_FIRST, runs, pooled=True),
    }
    samples["refill"] = [float(s) * 1000 for s in _REFILLED.findall(gateway.log())]
    return samples
