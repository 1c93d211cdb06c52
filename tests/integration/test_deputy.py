"""The gateway is nobody's deputy: what a sandbox plants at its socket's name never steers the
gateway elsewhere, a restart leaves nothing of the old session running, and a delete wins over
a query racing it. Each test is an attack from the red team's report (issue 9), as user code."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest
import redis

from gateway.sandbox.executor_http import KEEPALIVE_EXPIRY_S
from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in

# httpx keeps an idle connection for 5 s; an attack takes effect on the next new connection.

_MOVE_REAL_SOCKET = """
import os, socket, threading
run = "/run/executor"
os.rename(run + "/executor.sock", run + "/real.sock")
"""

# What each attacker chat puts at its socket's name; {victim} is the victim's socket on the host.
PLANTS = {
    "link to another user's socket": "os.symlink({victim!r}, run + '/executor.sock')",
    "link to the Docker socket": "os.symlink('/var/run/docker.sock', run + '/executor.sock')",
    "FIFO": "os.mkfifo(run + '/executor.sock')",
    "regular file": "open(run + '/executor.sock', 'w').write('HTTP/1.1 200 OK')",
    # A listener of its own that claims to be the victim's executor.
    "impostor": """
server = socket.socket(socket.AF_UNIX)
server.bind(run + "/executor.sock")
server.listen()
def serve():
    body = (b'{{"status":"ok","chat_id":"{victim_chat}","kernel_pid":1,"busy":false,'
            b'"execution_count":0}}')
    while True:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\\r\\nX-Executor-Chat: {victim_chat}\\r\\n"
            b"Content-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body
        )
        conn.close()
threading.Thread(target=serve, daemon=True).start()
""",
}


@pytest.fixture(scope="module", params=["runc", "runsc"])
def deputy_gateway(
    request: pytest.FixtureRequest, github_gateway_env: dict[str, str], tmp_path_factory
) -> Iterator[GatewayProcess]:
    """A GitHub-mode gateway whose sandboxes run under each runtime in turn."""
    env = {**github_gateway_env, "SANDBOX_RUNTIME": request.param}
    with GatewayProcess(env, tmp_path_factory.mktemp(f"deputy-{request.param}")) as process:
        yield process


def test_nothing_planted_at_the_socket_name_steers_the_gateway(
    deputy_gateway: GatewayProcess, github: FakeGitHub, data_dir: Path
) -> None:
    gateway = deputy_gateway
    under_gvisor = gateway.client.get("/health").json()["sandbox_runtime"] == "runsc"
    alice, _ = sign_in(gateway.base_url, github, "alice")
    bob, _ = sign_in(gateway.base_url, github, "bob")
    victim = bob.post("/create_chat").json()["chat_id"]
    assert bob.post(f"/query/{victim}", json={"code": "secret = 'bob'"}).json()["status"] == "ok"
    victim_socket = str(data_dir / "chats" / victim / "run" / "executor.sock")

    attackers = {}
    for kind, plant in PLANTS.items():
        chat_id = alice.post("/create_chat").json()["chat_id"]
        assert alice.post(f"/query/{chat_id}", json={"code": "secret = 'alice'"}).status_code == 200
        code = _MOVE_REAL_SOCKET + plant.format(victim=victim_socket, victim_chat=victim)
        reply = alice.post(f"/query/{chat_id}", json={"code": code}).json()
        if under_gvisor:
            # gVisor serves the socket from outside the sandbox: user code can neither move nor
            # remove it, so the attack stops at its first step.
            assert reply["status"] == "error", (kind, reply)
            assert reply["error"]["ename"] == "PermissionError", (kind, reply)
        else:
            assert reply["status"] == "ok", (kind, reply)
        attackers[kind] = chat_id
    time.sleep(KEEPALIVE_EXPIRY_S + 1)  # the gateway's kept-alive connections expire

    for kind, chat_id in attackers.items():
        reply = alice.post(f"/query/{chat_id}", json={"code": "secret"})
        assert reply.status_code == 200, (kind, reply.text)
        # Answered by alice's own kernel: under runc started anew (the attack killed with it)
        # and restored; under gVisor the one that never stopped.
        assert reply.json()["result"] == "alice", (kind, reply.json())
        expected = "kept" if under_gvisor else "restored"
        assert reply.json()["kernel"]["state"] == expected, kind
        assert alice.get(f"/variable/{chat_id}/secret").json()["value"] == "alice", kind

    # Bob's chat saw none of it: one message, his variable, his socket.
    assert len(bob.get(f"/chat/{victim}/messages").json()) == 1
    assert bob.get(f"/variable/{victim}/secret").json()["value"] == "bob"
    assert bob.post(f"/query/{victim}", json={"code": "secret"}).json()["result"] == "bob"
    for chat_id in attackers.values():
        alice.delete(f"/chat/{chat_id}")
    bob.delete(f"/chat/{victim}")


# (processes running "sleep 1000", kernels other than the one running this cell); a fork of
# the kernel looks like a kernel.
_OTHER_PROCESSES = """
import os
def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    except OSError:
        return ""
cmds = [cmdline(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
(sum("sleep 1000" in c for c in cmds), sum("sandbox_runner.kernel" in c for c in cmds))
"""


def test_restart_leaves_no_process_of_the_old_session(
    gateway: GatewayProcess, chat_id: str
) -> None:
    survivors = """
import subprocess, os, time
subprocess.Popen(["sleep", "1000"], start_new_session=True)
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.1)
    os._exit(0)
os.waitpid(child, 0)
"""
    assert gateway.run(chat_id, survivors)["status"] == "ok"
    assert gateway.run(chat_id, _OTHER_PROCESSES)["result"] == "(1, 1)"

    assert gateway.client.post(f"/restart/{chat_id}").status_code == 200

    assert gateway.run(chat_id, _OTHER_PROCESSES)["result"] == "(0, 0)"


def test_delete_wins_over_queries_racing_it(
    gateway: GatewayProcess, docker_client: docker.DockerClient, data_dir: Path, redis_url: str
) -> None:
    def query_until_gone(chat_id: str) -> set[int]:
        """Queries one after another, as fast as they are answered, until the chat is gone."""
        seen = set()
        with httpx.Client(base_url=gateway.base_url, headers=gateway.client.headers) as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = client.post(f"/query/{chat_id}", json={"code": "1"}).status_code
                seen.add(status)
                if status == 404:
                    break
        return seen

    store = redis.Redis.from_url(redis_url, decode_responses=True)
    for _ in range(3):
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        gateway.run(chat_id, "x = 1")  # its sandbox is up
        with ThreadPoolExecutor(2) as pool:
            racing = pool.submit(query_until_gone, chat_id)
            deleted = pool.submit(gateway.client.delete, f"/chat/{chat_id}")
        assert deleted.result().status_code == 200
        assert racing.result() <= {200, 404, 409}

        containers = docker_client.containers.list(all=True, filters={"name": f"ads-{chat_id}"})
        assert containers == [], f"the sandbox of {chat_id} outlived the chat"
        assert not (data_dir / "chats" / chat_id).exists()
        assert chat_id not in [c["chat_id"] for c in gateway.client.get("/chats").json()]
        assert gateway.client.get(f"/chat/{chat_id}/messages").status_code == 404
        # Only the delete's own marker is left of it in Redis, and it expires.
        leftovers = list(store.scan_iter(f"*{chat_id}*"))
        assert leftovers == [f"ads:chat:{chat_id}:deleted"]
        assert 0 < store.ttl(leftovers[0]) <= 3600
    store.close()
