"""The sandbox container is locked down as DESIGN.md says, and code inside cannot reach out."""

import docker

from tests.gateway_process import GatewayProcess


def test_container_is_hardened(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    assert gateway.run(chat_id, "1 + 1")["result"] == "2"
    attrs = docker_client.containers.get(f"ads-{chat_id}").attrs
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] and host["PidsLimit"] > 0
    assert host["NanoCpus"] > 0
    assert host["Init"] is True
    assert {u["Name"] for u in host["Ulimits"]} >= {"nofile", "fsize"}
    user = attrs["Config"]["User"]
    assert user and not user.startswith("0") and user.split(":")[0] != "root"
    assert "LOCAL_AUTH_TOKEN" not in " ".join(attrs["Config"]["Env"])
    assert gateway.run(chat_id, "import os\nos.getuid()")["result"] != "0"


def test_code_cannot_open_a_socket_to_anything(gateway: GatewayProcess, chat_id: str) -> None:
    # Targets are this machine only: the Docker bridge's host side and the gateway's own port.
    port = gateway.base_url.rsplit(":", 1)[1]
    code = f"""
import socket
results = []
for host in ("172.17.0.1", "127.0.0.1"):
    try:
        socket.create_connection((host, {port}), timeout=2).close()
        results.append(host + " connected")
    except OSError as e:
        results.append(host + " refused: " + type(e).__name__)
try:
    socket.getaddrinfo("github.com", 443)
    results.append("dns resolved")
except OSError:
    results.append("dns failed")
results
"""
    result = gateway.run(chat_id, code)["result"]
    assert "connected" not in result
    assert "dns failed" in result


def test_root_filesystem_is_read_only(gateway: GatewayProcess, chat_id: str) -> None:
    reply = gateway.run(chat_id, "open('/etc/evil', 'w')")
    assert reply["status"] == "error"
    assert reply["error"]["ename"] in {"OSError", "PermissionError"}
