"""Per-user quotas (README: Operating, "Quotas"): each refusal is a 429 naming the limit and what
to do, counted in the audit log; USER_MAX_RUNNING_SANDBOXES stops the user's least recently used
sandbox, its state kept, rather than refusing."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.fake_llm import FakeLLM, say, tool
from tests.gateway_process import GatewayProcess
from tests.services import redis_server


def _running(client: docker.DockerClient, name: str) -> bool:
    try:
        return client.containers.get(name).status == "running"
    except docker.errors.NotFound:
        return False


def refused(response: Any, limit: str) -> str:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert limit in body["detail"]
    detail: str = body["detail"]
    return detail


def audited_refusals(gateway: GatewayProcess, quota: str) -> list[dict[str, Any]]:
    """The audit log's quota refusals of this kind (the local user is the admin)."""
    response = gateway.client.get("/admin/audit", params={"action": "quota_refused"})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return [entry for entry in entries if entry["details"].get("quota") == quota]


@pytest.fixture(scope="module")
def own_redis() -> Iterator[str]:
    """A Redis of this module's own: the quotas count the local user's chats, and the other
    tests of this worker make chats for the same user in the session's Redis."""
    with redis_server() as server:
        yield server.url


@pytest.fixture(scope="module")
def chats_gateway(
    gateway_env: dict[str, str], own_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        **gateway_env,
        "REDIS_URL": own_redis,
        "USER_MAX_CHATS": "2",
        "USER_MAX_RUNNING_SANDBOXES": "1",
        "USER_DISK_LIMIT": "3m",
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("quotas")) as process:
        yield process


def test_a_user_past_max_chats_is_told_to_delete_some(chats_gateway: GatewayProcess) -> None:
    with chats_gateway.new_chat(), chats_gateway.new_chat():
        detail = refused(chats_gateway.client.post("/create_chat"), "USER_MAX_CHATS")
        assert "you have 2 chats" in detail and "delete chats" in detail
        assert len(chats_gateway.client.get("/chats").json()) == 2
        assert audited_refusals(chats_gateway, "chats")
    # Deleting one makes room again.
    with chats_gateway.new_chat():
        pass


def test_starting_a_second_sandbox_stops_the_least_recently_used_one_keeping_its_state(
    chats_gateway: GatewayProcess, docker_client: docker.DockerClient
) -> None:
    with chats_gateway.new_chat() as first, chats_gateway.new_chat() as second:
        chats_gateway.run(first, "x = 41\nopen('kept.txt', 'w').write('still here')")
        assert docker_client.containers.get(f"ads-{first}").status == "running"

        assert chats_gateway.run(second, "1 + 1")["result"] == "2"
        assert docker_client.containers.get(f"ads-{first}").status == "exited"

        # The first chat's next query brings its variables and files back, and stops the second.
        reply = chats_gateway.run(first, "x + 1, open('kept.txt').read()")
        assert reply["result"] == "(42, 'still here')"
        assert docker_client.containers.get(f"ads-{second}").status == "exited"


def test_when_every_sandbox_of_the_user_is_busy_a_new_one_is_refused(
    chats_gateway: GatewayProcess, docker_client: docker.DockerClient
) -> None:
    with chats_gateway.new_chat() as busy, chats_gateway.new_chat() as other:
        # The run belongs to the gateway: it goes on after its stream is closed.
        with chats_gateway.client.stream(
            "POST", f"/query/{busy}?stream=true", json={"code": "import time; time.sleep(30)"}
        ) as run:
            assert run.status_code == 200
        chats_gateway.wait_until_running(busy, within_s=30)
        # The run is journaled before its sandbox starts; the quota counts running sandboxes.
        deadline = time.monotonic() + 60
        while not _running(docker_client, f"ads-{busy}"):
            assert time.monotonic() < deadline, "the busy chat's sandbox never started"
            time.sleep(0.2)
        detail = refused(
            chats_gateway.client.post(f"/query/{other}", json={"code": "1"}),
            "USER_MAX_RUNNING_SANDBOXES",
        )
        assert "a query is running in each" in detail
        # Refused before it started: nothing was journaled in the other chat.
        assert chats_gateway.client.get(f"/chat/{other}/messages").json() == []
        assert audited_refusals(chats_gateway, "running_sandboxes")
        assert chats_gateway.client.post(f"/chat/{busy}/stop").status_code == 200


def test_past_the_user_disk_limit_runs_warn_and_uploads_are_refused(
    chats_gateway: GatewayProcess,
) -> None:
    with chats_gateway.new_chat() as first, chats_gateway.new_chat() as second:
        ok = chats_gateway.run(first, "open('a.bin', 'wb').write(b'1' * 2_000_000)")
        assert not ok["disk"]["over_limit"]
        reply = chats_gateway.run(second, "open('b.bin', 'wb').write(b'2' * 2_000_000)")
        assert reply["disk"]["over_limit"]
        assert "USER_DISK_LIMIT" in reply["disk"]["warning"]

        upload = chats_gateway.client.post(
            f"/upload/{first}", files={"file": ("more.csv", b"a,b\n1,2\n", "text/csv")}
        )
        detail = refused(upload, "USER_DISK_LIMIT")
        assert "all your chats together use" in detail
        assert audited_refusals(chats_gateway, "disk")

        # Freeing space in either chat lets uploads in again.
        chats_gateway.run(second, "import os; os.remove('b.bin')")
        upload = chats_gateway.client.post(
            f"/upload/{first}", files={"file": ("more.csv", b"a,b\n1,2\n", "text/csv")}
        )
        assert upload.status_code == 200, upload.text


def test_llm_tokens_per_day_stop_questions_not_code(
    gateway_env: dict[str, str], own_redis: str, tmp_path: Path
) -> None:
    with FakeLLM().running() as llm:
        env = {
            **gateway_env,
            "REDIS_URL": own_redis,
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "test-key",
            "LLM_MODEL": "fake-model",
            # The fake reports 120 tokens a call: the first question's two calls pass it.
            "USER_LLM_TOKENS_PER_DAY": "200",
        }
        with GatewayProcess(env, tmp_path) as gateway, gateway.new_chat() as chat:
            llm.script(tool("1 + 1"), say("Two."))
            first = gateway.client.post(f"/query/{chat}", json={"query": "one plus one?"})
            assert first.status_code == 200, first.text
            assert first.json()["usage"]["total_tokens"] == 240

            detail = refused(
                gateway.client.post(f"/query/{chat}", json={"query": "and two?"}),
                "USER_LLM_TOKENS_PER_DAY",
            )
            assert "used 240 LLM tokens today" in detail
            assert llm.remaining() == 0  # the model was not asked
            # Code still runs.
            assert gateway.run(chat, "2 + 2")["result"] == "4"
            users = gateway.client.get("/admin/users").json()
            assert users[0]["llm_tokens_today"] == 240 and users[0]["llm_tokens_total"] == 240
