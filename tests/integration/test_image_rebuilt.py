"""`make images` while chats have sandboxes: after the gateway restarts, every chat runs on the
new build, its variables restored. A stopped sandbox is made anew at its next start; a running
one that is idle is stopped when the gateway starts (it once went on serving from the old build,
whose kernel a new gateway no longer understood: `result` was null)."""

import secrets
import time
from collections.abc import Iterator

import docker
import pytest

from tests.docker_images import build_marked
from tests.gateway_process import GatewayProcess


@pytest.fixture
def tag(docker_client: docker.DockerClient) -> Iterator[str]:
    tag = f"ads-test-rebuilt:{secrets.token_hex(4)}"
    build_marked(docker_client, tag, "first build")
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def gateway(
    gateway_env: dict[str, str], tag: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    with GatewayProcess(
        {**gateway_env, "SANDBOX_IMAGE": tag}, tmp_path_factory.mktemp("rebuilt")
    ) as process:
        yield process


def status(client: docker.DockerClient, chat_id: str) -> str:
    return str(client.containers.get(f"ads-{chat_id}").status)


def test_chats_run_on_the_new_build_after_a_rebuild(
    gateway: GatewayProcess, tag: str, docker_client: docker.DockerClient
) -> None:
    with gateway.new_chat() as running, gateway.new_chat() as stopped:
        assert gateway.run(running, "x = 41\nopen('/marker').read().strip()")["result"] == (
            "first build"
        )
        assert gateway.run(stopped, "y = 1")["status"] == "ok"
        assert gateway.client.post(f"/admin/sandboxes/{stopped}/stop").status_code == 200

        build_marked(docker_client, tag, "second build")
        gateway.restart()

        deadline = time.monotonic() + 30
        while status(docker_client, running) == "running":
            assert time.monotonic() < deadline, "the idle sandbox of the old build still runs"
            time.sleep(0.2)
        for chat_id, code, value in [
            (running, "(open('/marker').read().strip(), x + 1)", "('second build', 42)"),
            (stopped, "(open('/marker').read().strip(), y + 1)", "('second build', 2)"),
        ]:
            reply = gateway.run(chat_id, code)
            assert reply["status"] == "ok", reply
            assert reply["result"] == value
            assert reply["kernel"]["state"] == "restored"
