"""The warm pool (SANDBOX_POOL_SIZE): a new chat's first query claims a started sandbox whose
kernel has the data stack imported, and everything that holds for a chat's sandbox holds for a
claimed one. Two gateway processes share one pool on one DATA_DIR, as replicas would."""

import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from gateway.sandbox.containers import LABEL_DATA_DIR, LABEL_POOL
from tests.conftest import ROOT
from tests.gateway_process import GatewayProcess, remove_deployment

POOL_SIZE = 2
# What a chat's first cell sees in a kernel the pool warmed up.
_WARM = "import sys\nsorted(m for m in ('pandas', 'numpy', 'matplotlib') if m in sys.modules)"
_WARMED = "['matplotlib', 'numpy', 'pandas']"


@pytest.fixture(scope="module")
def pool_dir(docker_client: docker.DockerClient) -> Iterator[Path]:
    """A DATA_DIR of this module's own: its pool is filled once, for these tests only."""
    path = Path(tempfile.mkdtemp(prefix="ads-pool-", dir="/tmp"))
    yield path
    remove_deployment(docker_client, path)


@pytest.fixture(scope="module")
def pool_env(gateway_env: dict[str, str], pool_dir: Path) -> dict[str, str]:
    return {
        **gateway_env,
        "DATA_DIR": str(pool_dir),
        "SANDBOX_POOL_SIZE": str(POOL_SIZE),
        "GATEWAY_WORKERS": "1",
    }


@pytest.fixture(scope="module")
def pooled(pool_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    with GatewayProcess(pool_env, tmp_path_factory.mktemp("pool-a")) as process:
        yield process


@pytest.fixture(scope="module")
def second(
    pool_env: dict[str, str], pooled: GatewayProcess, tmp_path_factory
) -> Iterator[GatewayProcess]:
    """Another gateway process on the same pool; the chats it serves are idle after 4 s."""
    env = {**pool_env, "SANDBOX_IDLE_TIMEOUT_S": "4"}
    with GatewayProcess(env, tmp_path_factory.mktemp("pool-b")) as process:
        yield process


def wait_until_full(gateway: GatewayProcess, within_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while (pool := gateway.client.get("/health").json()["pool"])["ready"] < POOL_SIZE:
        assert time.monotonic() < deadline, f"the pool did not fill within {within_s} s: {pool}"
        time.sleep(0.2)
    return pool


def waiting(client: docker.DockerClient, pool_dir: Path) -> dict[str, Container]:
    """The pooled sandboxes nobody claimed yet: pool id -> container."""
    return {
        c.labels[LABEL_POOL]: c
        for c in client.containers.list(
            all=True,
            filters={"label": [f"{LABEL_DATA_DIR}={pool_dir}", LABEL_POOL]},
            # The pool removes the dead ones meanwhile.
            ignore_removed=True,
        )
        if c.name == f"ads-{c.labels[LABEL_POOL]}"
    }


def sandbox_of(client: docker.DockerClient, chat_id: str) -> Container:
    return client.containers.get(f"ads-{chat_id}")


def new_chat(gateway: GatewayProcess) -> str:
    response = gateway.client.post("/create_chat")
    assert response.status_code == 201, response.text
    return response.json()["chat_id"]


def claim(gateway: GatewayProcess, docker_client: docker.DockerClient) -> tuple[str, str]:
    """A new chat whose first query claims a warm sandbox: (chat id, pool id)."""
    wait_until_full(gateway)
    chat_id = new_chat(gateway)
    assert gateway.run(chat_id, _WARM)["result"] == _WARMED
    pool_id = sandbox_of(docker_client, chat_id).labels.get(LABEL_POOL)
    assert pool_id, "the chat's sandbox did not come from the pool"
    return chat_id, pool_id


def mount_sources(container: Container) -> dict[str, str]:
    return {m["Destination"]: m["Source"] for m in container.attrs["Mounts"]}


def test_a_new_chats_first_query_claims_a_warm_sandbox(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    assert wait_until_full(pooled) == {"size": POOL_SIZE, "ready": POOL_SIZE, "error": None}
    before = waiting(docker_client, pool_dir)
    assert len(before) == POOL_SIZE and all(c.status == "running" for c in before.values())

    chat_id = new_chat(pooled)
    reply = pooled.run(chat_id, "open('made-here.txt', 'w').write('hi')\n" + _WARM)
    assert (reply["status"], reply["result"]) == ("ok", _WARMED)
    container = sandbox_of(docker_client, chat_id)
    pool_id = container.labels[LABEL_POOL]
    assert pool_id in before
    assert container.id == before[pool_id].id

    # The pool's folders are the chat's now, under the chat's name, and the running mounts
    # followed them.
    chat_folder = pool_dir / "chats" / chat_id
    assert (chat_folder / "workspace" / "made-here.txt").read_text() == "hi"
    assert not (pool_dir / "chats" / pool_id).exists()
    assert [f["path"] for f in pooled.client.get(f"/files/{chat_id}").json()] == ["made-here.txt"]
    assert pooled.run(chat_id, "open('made-here.txt').read()")["result"] == "hi"

    # The pool fills up again, with sandboxes other than the one claimed.
    wait_until_full(pooled)
    assert pool_id not in waiting(docker_client, pool_dir)
    pooled.client.delete(f"/chat/{chat_id}")


def test_a_claimed_sandbox_is_hardened_and_limited_as_a_cold_one(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    chat_id, pool_id = claim(pooled, docker_client)
    claimed = sandbox_of(docker_client, chat_id)
    pooled.run(chat_id, "kept = 'across the move'")

    # An operator restart makes a claimed sandbox anew as an ordinary one (see pool.py), with
    # the chat's state: a cold sandbox of the same chat to compare with.
    command = [sys.executable, "-m", "gateway.admin", "restart-sandbox", chat_id]
    done = subprocess.run(command, cwd=ROOT, env=pooled.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert pooled.run(chat_id, "kept")["result"] == "across the move"
    cold = sandbox_of(docker_client, chat_id)
    assert cold.id != claimed.id and LABEL_POOL not in cold.labels

    same = (
        "NetworkMode",
        "ReadonlyRootfs",
        "CapDrop",
        "CapAdd",
        "SecurityOpt",
        "Memory",
        "MemorySwap",
        "NanoCpus",
        "PidsLimit",
        "Init",
        "Ulimits",
        "Runtime",
        "Tmpfs",
        "Privileged",
        "Devices",
    )
    for key in same:
        assert claimed.attrs["HostConfig"][key] == cold.attrs["HostConfig"][key], key
    assert claimed.attrs["Config"]["User"] == cold.attrs["Config"]["User"]
    # The same folders mounted the same way, the claimed one by the pool's (old) paths.
    renamed = {
        source.replace(f"/{pool_id}", f"/{chat_id}")
        for source in mount_sources(claimed).values()
        if source.startswith(str(pool_dir))
    }
    assert renamed == {s for s in mount_sources(cold).values() if s.startswith(str(pool_dir))}
    assert mount_sources(claimed).keys() == mount_sources(cold).keys()
    pooled.client.delete(f"/chat/{chat_id}")


def test_concurrent_claims_from_two_processes_never_share_a_sandbox(
    pooled: GatewayProcess,
    second: GatewayProcess,
    docker_client: docker.DockerClient,
    pool_dir: Path,
) -> None:
    # A chat that used a sandbox, then went: nothing of it reaches the chats after it.
    earlier, earlier_pool_id = claim(pooled, docker_client)
    pooled.run(earlier, "secret = 'earlier chat'\nopen('secret.txt', 'w').write('x')")
    pooled.client.delete(f"/chat/{earlier}")

    wait_until_full(pooled)
    gateways = [pooled, second] * 3
    chats = [new_chat(gateway) for gateway in gateways]
    first_cell = (
        "mine = {chat!r}\nimport os\n"
        "sorted(os.listdir('.')), sorted(globals().keys() & {{'secret', 'mine'}})"
    )
    with ThreadPoolExecutor(len(chats)) as threads:
        replies = list(
            threads.map(
                lambda pair: pair[0].run(pair[1], first_cell.format(chat=pair[1])),
                zip(gateways, chats, strict=True),
            )
        )
    assert [r["result"] for r in replies] == ["([], ['mine'])"] * len(chats)

    containers = [sandbox_of(docker_client, chat) for chat in chats]
    assert len({c.id for c in containers}) == len(chats)
    claimed = [c.labels[LABEL_POOL] for c in containers if LABEL_POOL in c.labels]
    assert claimed, "no chat got a sandbox from the pool"
    assert len(set(claimed)) == len(claimed)
    assert earlier_pool_id not in claimed
    for gateway, chat in zip(gateways, chats, strict=True):
        other = second if gateway is pooled else pooled
        assert other.run(chat, "mine")["result"] == chat
        assert [v["name"] for v in other.client.get(f"/variables/{chat}").json()] == ["mine"]
        gateway.client.delete(f"/chat/{chat}")


def test_a_killed_claimed_sandbox_comes_back_with_its_state(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    chat_id, _ = claim(pooled, docker_client)
    pooled.run(chat_id, "x = 42\nopen('kept.txt', 'w').write('x')")
    killed = sandbox_of(docker_client, chat_id)
    killed.kill()

    assert pooled.run(chat_id, "x")["result"] == "42"
    again = sandbox_of(docker_client, chat_id)
    assert again.id != killed.id and LABEL_POOL not in again.labels
    # Made anew, it mounts the chat's folders (its files and state, its packages) by their names.
    ours = [s for s in mount_sources(again).values() if s.startswith(str(pool_dir))]
    assert ours and all(Path(s).relative_to(pool_dir).parts[1] == chat_id for s in ours), ours
    assert [f["path"] for f in pooled.client.get(f"/files/{chat_id}").json()] == ["kept.txt"]
    pooled.client.delete(f"/chat/{chat_id}")


def test_an_idle_claimed_sandbox_stops_and_its_next_query_restores_it(
    second: GatewayProcess, docker_client: docker.DockerClient
) -> None:
    chat_id, _ = claim(second, docker_client)
    second.run(chat_id, "remembered = 7")
    container = sandbox_of(docker_client, chat_id)
    deadline = time.monotonic() + 30
    while container.status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        container.reload()
    assert container.status == "exited"

    assert second.run(chat_id, "remembered * 6")["result"] == "42"
    assert LABEL_POOL not in sandbox_of(docker_client, chat_id).labels
    second.client.delete(f"/chat/{chat_id}")


def test_reset_clears_a_claimed_sandbox_in_place(
    pooled: GatewayProcess, docker_client: docker.DockerClient
) -> None:
    chat_id, pool_id = claim(pooled, docker_client)
    pooled.run(chat_id, "gone = 1\nopen('gone.txt', 'w').write('x')")
    assert pooled.client.post(f"/restart/{chat_id}").status_code == 200
    assert pooled.run(chat_id, "'gone' in globals()")["result"] == "False"
    assert pooled.client.get(f"/files/{chat_id}").json() == []
    assert sandbox_of(docker_client, chat_id).labels[LABEL_POOL] == pool_id
    pooled.client.delete(f"/chat/{chat_id}")


def test_deleting_a_chat_removes_its_claimed_sandbox_and_folders(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    chat_id, pool_id = claim(pooled, docker_client)
    assert pooled.client.delete(f"/chat/{chat_id}").status_code == 200
    assert docker_client.containers.list(all=True, filters={"name": f"ads-{chat_id}"}) == []
    assert not (pool_dir / "chats" / chat_id).exists()
    assert not (pool_dir / "chats" / pool_id).exists()


def test_a_restarted_gateway_adopts_claimed_sandboxes_and_keeps_the_pool(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    chat_id, _ = claim(pooled, docker_client)
    pooled.run(chat_id, "y = 'adopted'")
    container = sandbox_of(docker_client, chat_id)
    wait_until_full(pooled)
    left_waiting = set(waiting(docker_client, pool_dir))

    pooled.restart(signal.SIGKILL)
    assert pooled.run(chat_id, "y")["result"] == "adopted"
    assert sandbox_of(docker_client, chat_id).id == container.id
    # The sandboxes that waited still wait, and are claimed as before.
    assert wait_until_full(pooled)["ready"] == POOL_SIZE
    assert set(waiting(docker_client, pool_dir)) == left_waiting

    listed = subprocess.run(
        [sys.executable, "-m", "gateway.admin", "list"],
        cwd=ROOT,
        env=pooled.env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    lines = set(listed.stdout.splitlines())
    assert f"{chat_id}\trunning" in lines
    assert {f"{pool_id}\tpooled, running" for pool_id in left_waiting} <= lines
    pooled.client.delete(f"/chat/{chat_id}")


def test_when_the_pool_fails_a_chat_starts_cold_and_the_pool_heals(
    pooled: GatewayProcess, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    wait_until_full(pooled)
    for container in waiting(docker_client, pool_dir).values():
        container.kill()

    chat_id = new_chat(pooled)
    reply = pooled.run(chat_id, "1 + 1")
    assert (reply["status"], reply["result"]) == ("ok", "2")
    assert LABEL_POOL not in sandbox_of(docker_client, chat_id).labels
    assert "not claimed" in pooled.log()

    # The dead ones are removed and replaced by live ones.
    deadline = time.monotonic() + 120
    while not (
        (now := waiting(docker_client, pool_dir))
        and len(now) == POOL_SIZE
        and all(c.status == "running" for c in now.values())
        and pooled.client.get("/health").json()["pool"]["ready"] == POOL_SIZE
    ):
        assert time.monotonic() < deadline, "the pool did not heal"
        time.sleep(1)
    pooled.client.delete(f"/chat/{chat_id}")


def test_a_pool_that_cannot_be_filled_says_why_and_chats_still_answer(
    gateway_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="ads-pool-", dir="/tmp"))
    env = {
        **gateway_env,
        "DATA_DIR": str(data_dir),
        "SANDBOX_POOL_SIZE": "1",
        "SANDBOX_IMAGE": "ai-data-scientist/no-such-image:latest",
    }
    try:
        with GatewayProcess(env, tmp_path) as gateway:
            deadline = time.monotonic() + 30
            while not (pool := gateway.client.get("/health").json()["pool"])["error"]:
                assert time.monotonic() < deadline, "no pool error reported"
                time.sleep(0.2)
            assert pool["ready"] == 0
            assert "no-such-image" in pool["error"] and "make images" in pool["error"]
            assert "could not be filled" in gateway.log() and "trying again" in gateway.log()
            # The chat's own start says what is wrong, as without a pool.
            chat_id = new_chat(gateway)
            response = gateway.client.post(f"/query/{chat_id}", json={"code": "1"})
            assert response.status_code == 503
            assert "make images" in response.json()["detail"]
    finally:
        remove_deployment(docker_client, data_dir)


def test_the_health_of_a_gateway_without_a_pool_says_so(gateway: GatewayProcess) -> None:
    assert httpx.get(f"{gateway.base_url}/health").json()["pool"] == {
        "size": 0,
        "ready": 0,
        "error": None,
    }
