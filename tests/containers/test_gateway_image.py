"""The gateway and redis images `make up` ships, wired as docker-compose.yml wires them, in local
sign-in mode: the healthcheck, the brief's flow, and a restart of the gateway's container."""

import os
import secrets
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.containers.stack import Deployment, deploy, stack_network
from tests.sign_in import with_cookie

RENTALS = b"month,rentals\n2024-01,120\n2024-02,98\n2024-03,143\n"


@pytest.fixture(scope="module")
def stack(
    shipped_images: docker.DockerClient,
    stack_settings: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    settings = {
        **stack_settings,
        "AUTH_MODE": "local",
        "LOCAL_AUTH_TOKEN": "tc-token-" + secrets.token_hex(8),
    }
    with (
        stack_network() as network,
        deploy(shipped_images, network, settings, tmp_path_factory.mktemp("local")) as stack,
    ):
        yield stack


@pytest.fixture
def curl(stack: Deployment) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def expected_runtime(client: docker.DockerClient) -> str:
    wanted = os.environ.get("SANDBOX_RUNTIME", "auto")
    if wanted != "auto":
        return wanted
    return "runsc" if "runsc" in client.info()["Runtimes"] else "runc"


def run(client: httpx.Client, chat_id: str, code: str) -> dict[str, object]:
    reply = client.post(f"/query/{chat_id}", json={"code": code})
    assert reply.status_code == 200, reply.text
    body: dict[str, object] = reply.json()
    assert body["status"] == "ok", body
    return body


def test_the_healthcheck_passes_and_health_sees_redis_docker_and_the_data_mount(
    stack: Deployment, curl: httpx.Client, shipped_images: docker.DockerClient
) -> None:
    stack.gateway.get_wrapped_container().reload()
    assert stack.gateway.get_wrapped_container().attrs["State"]["Health"]["Status"] == "healthy"
    health = curl.get("/health").json()
    assert (health["status"], health["redis"], health["docker"]) == ("ok", "ok", "ok"), health
    assert health["sandbox_runtime"] == expected_runtime(shipped_images)
    # DATA_DIR's chats/, mounted noexec on the host as `make up` does, seen through the bind mount.
    assert health["sandbox_folders_noexec"] is True


def test_the_brief_flow_with_a_cookie_from_the_local_login_link(
    stack: Deployment, shipped_images: docker.DockerClient
) -> None:
    login = httpx.get(f"{stack.base_url}/login/local", params={"token": stack.token})
    assert login.status_code == 200, login.text
    with with_cookie(stack.base_url, login.json()["github_session"]) as curl:
        created = curl.post("/create_chat")
        assert created.status_code == 201, created.text
        chat_id = created.json()["chat_id"]
        assert chat_id in [c["chat_id"] for c in curl.get("/chats").json()]

        run(curl, chat_id, "import numpy as np\nx = np.linspace(0, 6.28, 100)")
        plotted = run(
            curl, chat_id, "import matplotlib.pyplot as plt\nplt.plot(x, np.sin(x))\nlen(x)"
        )
        assert plotted["result"] == "100"
        assert [f["path"] for f in curl.get(f"/files/{chat_id}").json()] == ["plot_1.png"]
        # DATA_DIR means the same folder to the gateway's container and to the Docker engine.
        assert (stack.data_dir / "chats" / chat_id / "workspace" / "plot_1.png").is_file()
        download = curl.get(f"/file/{chat_id}/plot_1.png")
        assert download.headers["content-type"] == "image/png"
        assert download.content.startswith(b"\x89PNG")
        assert [v["name"] for v in curl.get(f"/variables/{chat_id}").json()] == ["x"]
        assert curl.get(f"/variable/{chat_id}/x").json()["kind"] == "json"

        uploaded = curl.post(
            f"/upload_csv/{chat_id}", files={"file": ("rentals.csv", RENTALS, "text/csv")}
        )
        assert uploaded.status_code == 200, uploaded.text
        assert run(curl, chat_id, "int(rentals['rentals'].sum())")["result"] == "361"
        # By path, as in the brief: IMPORT_DIR is mounted read-only at the same path.
        (stack.import_dir / "tdi_rentals_dataset.csv").write_bytes(RENTALS)
        imported = curl.post(
            f"/upload_csv/{chat_id}",
            json={"file_path": str(stack.import_dir / "tdi_rentals_dataset.csv")},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["variable"] == "tdi_rentals_dataset"

        assert curl.post(f"/restart/{chat_id}").status_code == 200
        assert curl.get(f"/variables/{chat_id}").json() == []
        assert curl.get(f"/files/{chat_id}").json() == []

        assert curl.delete(f"/chat/{chat_id}").status_code == 200
        assert curl.get(f"/files/{chat_id}").status_code == 404
    assert shipped_images.containers.list(all=True, filters={"name": f"ads-{chat_id}"}) == []
    assert not (stack.data_dir / "chats" / chat_id).exists()


def test_a_restart_of_the_gateway_container_keeps_the_chat_and_its_sandbox(
    stack: Deployment, curl: httpx.Client, shipped_images: docker.DockerClient
) -> None:
    chat_id = curl.post("/create_chat").json()["chat_id"]
    run(curl, chat_id, "remembered = [1, 2, 3]\nopen('kept.txt', 'w').write('kept')")
    sandbox = shipped_images.containers.get(f"ads-{chat_id}").id

    stack.restart_gateway()

    assert chat_id in [c["chat_id"] for c in curl.get("/chats").json()]
    assert run(curl, chat_id, "sum(remembered)")["result"] == "6"
    assert curl.get(f"/file/{chat_id}/kept.txt").text == "kept"
    twins = shipped_images.containers.list(all=True, filters={"name": f"ads-{chat_id}"})
    assert [c.id for c in twins] == [sandbox]
    assert curl.delete(f"/chat/{chat_id}").status_code == 200
