"""Chats across a gateway restart, and deletion of everything a chat had."""

from pathlib import Path

import docker

from tests.gateway_process import GatewayProcess


def test_gateway_restart_keeps_chats_and_reuses_container(
    gateway_env: dict[str, str], tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    with GatewayProcess(gateway_env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        gateway.run(chat_id, "remembered = [1, 2, 3]")
        before = docker_client.containers.get(f"ads-{chat_id}").id

        gateway.restart()

        assert chat_id in [c["chat_id"] for c in gateway.client.get("/chats").json()]
        assert gateway.run(chat_id, "sum(remembered)")["result"] == "6"
        twins = docker_client.containers.list(all=True, filters={"name": f"ads-{chat_id}"})
        assert [c.id for c in twins] == [before]
        gateway.client.delete(f"/chat/{chat_id}")


def test_delete_chat_removes_container_and_files(
    gateway: GatewayProcess, docker_client: docker.DockerClient, data_dir: Path
) -> None:
    chat_id = gateway.client.post("/create_chat").json()["chat_id"]
    gateway.run(chat_id, "open('a.txt', 'w').write('x')")
    assert (data_dir / "chats" / chat_id / "workspace" / "a.txt").exists()

    assert gateway.client.delete(f"/chat/{chat_id}").status_code == 200

    assert docker_client.containers.list(all=True, filters={"name": f"ads-{chat_id}"}) == []
    assert not (data_dir / "chats" / chat_id).exists()
    assert gateway.client.get(f"/files/{chat_id}").status_code == 404
    assert chat_id not in [c["chat_id"] for c in gateway.client.get("/chats").json()]


def test_delete_all_chats(gateway_env: dict[str, str], tmp_path: Path) -> None:
    with GatewayProcess(gateway_env, tmp_path) as gateway:
        ids = [gateway.client.post("/create_chat").json()["chat_id"] for _ in range(2)]
        gateway.run(ids[0], "1")
        response = gateway.client.delete("/chats/all")
        assert response.status_code == 200
        assert set(ids) <= set(response.json()["deleted"])
        assert gateway.client.get("/chats").json() == []


def test_chats_list_newest_first(gateway: GatewayProcess) -> None:
    first = gateway.client.post("/create_chat").json()["chat_id"]
    second = gateway.client.post("/create_chat").json()["chat_id"]
    listed = [c["chat_id"] for c in gateway.client.get("/chats").json()]
    assert listed.index(second) < listed.index(first)
    for chat_id in (first, second):
        gateway.client.delete(f"/chat/{chat_id}")


def test_workspace_files_named_like_modules_do_not_break_the_sandbox(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    shadow = "raise SystemExit('shadowed')\n"
    code = "\n".join(
        f"open('{name}.py', 'w').write({shadow!r})" for name in ("json", "shared", "sandbox_runner")
    )
    assert gateway.run(chat_id, code)["status"] == "ok"
    docker_client.containers.get(f"ads-{chat_id}").stop(timeout=1)

    reply = gateway.run(chat_id, "import json\njson.dumps([1])")
    assert reply["status"] == "ok", reply
    assert reply["result"] == "[1]"
