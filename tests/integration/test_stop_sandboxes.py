"""`make down` stops the chats' sandboxes after the gateway (deploy/stop-sandboxes.sh): those of
its own DATA_DIR only, with their files and variables kept for the next query."""

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.gateway_process import GatewayProcess, remove_deployment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_data_dir(docker_client: docker.DockerClient) -> Iterator[Path]:
    """A DATA_DIR of its own: another deployment beside the session's."""
    path = Path(tempfile.mkdtemp(prefix="ads-down-", dir="/tmp"))
    yield path
    remove_deployment(docker_client, path)


def test_only_this_deployments_sandboxes_stop_and_come_back_with_their_state(
    gateway_env: dict[str, str],
    own_data_dir: Path,
    tmp_path: Path,
    gateway: GatewayProcess,
    chat_id: str,
    docker_client: docker.DockerClient,
) -> None:
    gateway.run(chat_id, "1")  # the session's deployment has a running sandbox too
    env = {**gateway_env, "DATA_DIR": str(own_data_dir)}
    with GatewayProcess(env, tmp_path) as mine, mine.new_chat() as my_chat:
        assert mine.run(my_chat, "x = 41")["status"] == "ok"
        env_file = tmp_path / ".env"
        env_file.write_text(f"LOCAL_AUTH_TOKEN=t\nDATA_DIR={own_data_dir}\n")
        stopped = subprocess.run(
            [ROOT / "deploy" / "stop-sandboxes.sh", "--env-file", env_file],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "stopping 1 sandbox(es)" in stopped.stderr
        assert docker_client.containers.get(f"ads-{my_chat}").status == "exited"
        assert docker_client.containers.get(f"ads-{chat_id}").status == "running"
        reply = mine.run(my_chat, "x + 1")
        assert reply["result"] == "42" and reply["kernel"]["state"] == "restored", reply
