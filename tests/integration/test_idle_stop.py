"""A query that reaches a sandbox while it is being stopped as idle is answered, not cut off: the
reaper retires the executor first (it then refuses work untouched), holds the chat's start lease
through the stop, and the query's gateway starts the sandbox again and runs it there. The test
plays the reaper's part by hand, in its order, so the race is met every time."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import redis

from gateway import keys
from tests.gateway_process import GatewayProcess


def test_a_query_during_an_idle_stop_runs_on_the_sandbox_started_again(
    gateway: GatewayProcess,
    chat_id: str,
    docker_client: docker.DockerClient,
    data_dir: Path,
    redis_url: str,
) -> None:
    assert gateway.run(chat_id, "x = 41")["status"] == "ok"  # the gateway knows it runs
    container = docker_client.containers.get(f"ads-{chat_id}")
    env = container.attrs["Config"]["Env"]
    secret = next(e.split("=", 1)[1] for e in env if e.startswith("EXECUTOR_SECRET="))
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    lease = keys.sandbox_start(chat_id)
    assert store.set(lease, "the test, as the reaper", nx=True, px=30_000)
    try:
        socket = data_dir / "chats" / chat_id / "run" / "executor.sock"
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)),
            base_url="http://executor",
            headers={"Authorization": f"Bearer {secret}"},
        ) as executor:
            assert executor.post("/retire").json() == {"retired": True}
        with ThreadPoolExecutor(1) as pool:
            query = pool.submit(gateway.run, chat_id, "x + 1")
            time.sleep(1.0)  # the query meets the retired executor, then waits for the lease
            assert not query.done()
            container.stop(timeout=2)
            store.delete(lease)
            reply = query.result(timeout=60)
    finally:
        store.delete(lease)
        store.close()
    assert (reply["status"], reply["result"]) == ("ok", "42")
    assert reply["kernel"]["state"] == "restored"
