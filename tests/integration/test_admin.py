"""The admin API (README: Operating) on a GitHub-mode gateway: carol is the admin
(ADMIN_GITHUB_USERS, and on no allow-list), alice and bob are users. Every admin route is a 404
to anyone else; the actions stop, restart (state kept), delete a chat, revoke sessions and tokens,
block and unblock; the command line calls the same service."""

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in

ROOT = Path(__file__).resolve().parents[2]
# Every admin route, with a chat or user id of someone else's where it takes one.
ROUTES = [
    ("GET", "/admin/users"),
    ("GET", "/admin/users/gh:1001/chats"),
    ("GET", "/admin/sandboxes"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/audit.jsonl"),
    ("POST", "/admin/sandboxes/{chat}/stop"),
    ("POST", "/admin/sandboxes/{chat}/restart"),
    ("DELETE", "/admin/chats/{chat}"),
    ("POST", "/admin/users/gh:1001/revoke"),
    ("POST", "/admin/users/gh:1001/block"),
    ("POST", "/admin/users/gh:1001/unblock"),
]


@pytest.fixture(scope="module")
def admin_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        **github_gateway_env,
        "ALLOW_ANY_GITHUB_USER": "false",
        "ALLOWED_GITHUB_USERS": "alice,bob",
        "ADMIN_GITHUB_USERS": "carol",
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("admin")) as process:
        yield process


def user(gateway: GatewayProcess, github: FakeGitHub, login: str) -> httpx.Client:
    client, _ = sign_in(gateway.base_url, github, login)
    return client


@pytest.fixture
def alice_chat(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> Iterator[tuple[httpx.Client, str]]:
    alice = user(admin_gateway, github, "alice")
    chat_id = alice.post("/create_chat").json()["chat_id"]
    yield alice, chat_id
    alice.delete(f"/chat/{chat_id}")
    alice.close()


def run(client: httpx.Client, chat_id: str, code: str) -> dict[str, Any]:
    response = client.post(f"/query/{chat_id}", json={"code": code})
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_every_admin_route_is_a_404_to_anyone_but_an_admin(
    admin_gateway: GatewayProcess, github: FakeGitHub, alice_chat: tuple[httpx.Client, str]
) -> None:
    alice, chat_id = alice_chat
    bob = user(admin_gateway, github, "bob")
    anonymous = httpx.Client(base_url=admin_gateway.base_url)
    unknown = anonymous.get("/admin/no-such-thing")
    assert unknown.status_code == 404
    for method, path in ROUTES:
        url = path.format(chat=chat_id)
        for client in (bob, alice, anonymous):
            answer = client.request(method, url)
            assert answer.status_code == 404, (method, url, answer.text)
            assert answer.json() == unknown.json()
    # Nothing happened to alice: her chat and sign-in are as they were.
    assert alice.get(f"/chat/{chat_id}").status_code == 200
    assert alice.get("/me").json() == {**alice.get("/me").json(), "admin": False}
    carol = user(admin_gateway, github, "carol")
    assert carol.get("/me").json()["admin"] is True
    for path in ("/admin/users", "/admin/sandboxes", "/admin/audit", "/admin/audit.jsonl"):
        assert carol.get(path).status_code == 200, path


def test_admin_views_show_users_and_sandboxes_with_their_use(
    admin_gateway: GatewayProcess,
    github: FakeGitHub,
    alice_chat: tuple[httpx.Client, str],
) -> None:
    alice, chat_id = alice_chat
    run(alice, chat_id, "import numpy as np\nbig = np.ones(20_000_000)")
    carol = user(admin_gateway, github, "carol")

    users = {row["login"]: row for row in carol.get("/admin/users").json()}
    assert users["alice"]["chats"] >= 1 and users["alice"]["running_sandboxes"] >= 1
    assert users["alice"]["last_seen"] is not None and not users["alice"]["blocked"]
    assert users["alice"]["disk_bytes"] > 0 and users["carol"]["admin"]

    rows = {row["chat_id"]: row for row in carol.get("/admin/sandboxes").json()}
    row = rows[chat_id]
    assert row["user_id"] == "gh:1001" and row["state"] == "running" and row["kind"] == "chat"
    # The 160 MB array shows in the memory figure, whatever the runtime.
    assert row["memory_bytes"] > 150_000_000, row
    assert row["memory_limit_bytes"] is not None and row["cpu_percent"] is not None
    assert row["runtime"] in ("runsc", "runc") and row["image"]
    assert row["started_at"] and row["idle_for_s"] is not None

    chats = carol.get("/admin/users/gh:1001/chats").json()
    assert {chat["chat_id"]: chat["sandbox"] for chat in chats}[chat_id] == "running"


def test_a_sandbox_removed_while_listed_leaves_the_listing_whole(
    admin_gateway: GatewayProcess,
    github: FakeGitHub,
    alice_chat: tuple[httpx.Client, str],
    docker_client: docker.DockerClient,
) -> None:
    """Docker takes about a second to sample a container's stats and answers 200 with an empty
    body for one removed meanwhile (a package install ending, a chat deleted): the listing was
    a 500 then."""
    alice, chat_id = alice_chat
    run(alice, chat_id, "1 + 1")
    carol = user(admin_gateway, github, "carol")
    with ThreadPoolExecutor(1) as thread:
        listing = thread.submit(carol.get, "/admin/sandboxes")
        time.sleep(0.3)
        docker_client.containers.get(f"ads-{chat_id}").remove(force=True)
        response = listing.result()
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_restart_and_stop_keep_the_users_state(
    admin_gateway: GatewayProcess,
    github: FakeGitHub,
    alice_chat: tuple[httpx.Client, str],
    docker_client: docker.DockerClient,
) -> None:
    alice, chat_id = alice_chat
    run(alice, chat_id, "x = 41\nopen('notes.txt', 'w').write('kept')")
    carol = user(admin_gateway, github, "carol")
    container = docker_client.containers.get(f"ads-{chat_id}")
    started = container.attrs["State"]["StartedAt"]

    assert carol.post(f"/admin/sandboxes/{chat_id}/restart").status_code == 200
    container.reload()
    assert container.attrs["State"]["StartedAt"] != started
    assert run(alice, chat_id, "x + 1")["result"] == "42"

    assert carol.post(f"/admin/sandboxes/{chat_id}/stop").status_code == 200
    container.reload()
    assert container.status == "exited"
    assert run(alice, chat_id, "x + 1, open('notes.txt').read()")["result"] == "(42, 'kept')"

    actions = [e["action"] for e in carol.get("/admin/audit").json()["entries"]]
    assert "admin_sandbox_restarted" in actions and "admin_sandbox_stopped" in actions
    assert carol.post("/admin/sandboxes/chat_20990101_000000_none/stop").status_code == 404


def test_an_admin_deletes_a_users_chat(
    admin_gateway: GatewayProcess, github: FakeGitHub, docker_client: docker.DockerClient
) -> None:
    alice = user(admin_gateway, github, "alice")
    chat_id = alice.post("/create_chat").json()["chat_id"]
    run(alice, chat_id, "1")
    carol = user(admin_gateway, github, "carol")
    assert carol.delete(f"/admin/chats/{chat_id}").json() == {"deleted": chat_id}
    assert alice.get(f"/chat/{chat_id}").status_code == 404
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"ads-{chat_id}")
    entry = carol.get("/admin/audit", params={"action": "admin_chat_deleted"}).json()["entries"][0]
    assert entry["target"] == chat_id and entry["actor_login"] == "carol"


def test_admins_never_see_a_users_env(admin_gateway: GatewayProcess, github: FakeGitHub) -> None:
    alice = user(admin_gateway, github, "alice")
    made = alice.post("/create_chat", json={"env": {"API_KEY": "alice-secret-1"}})
    assert made.status_code == 201, made.text
    chat_id = made.json()["chat_id"]
    try:
        assert alice.get(f"/chat/{chat_id}").json()["env"] == {"API_KEY": "alice-secret-1"}
        carol = user(admin_gateway, github, "carol")
        for answer in (
            carol.get("/admin/users/gh:1001/chats"),
            carol.post(f"/admin/sandboxes/{chat_id}/stop"),
            carol.get("/admin/audit"),
        ):
            assert answer.status_code == 200, answer.text
            assert "alice-secret-1" not in answer.text and "API_KEY" not in answer.text
    finally:
        alice.delete(f"/chat/{chat_id}")


def test_revoke_ends_a_users_sessions_and_tokens(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    alice = user(admin_gateway, github, "alice")
    other_browser = user(admin_gateway, github, "alice")
    token = alice.post("/tokens", json={"name": "laptop"}).json()["token"]
    with_token = httpx.Client(
        base_url=admin_gateway.base_url, headers={"Authorization": f"Bearer {token}"}
    )
    assert with_token.get("/me").status_code == 200
    carol = user(admin_gateway, github, "carol")

    revoked = carol.post("/admin/users/gh:1001/revoke").json()
    assert revoked["sessions"] >= 2 and revoked["tokens"] == 1
    for client in (alice, other_browser, with_token):
        assert client.get("/me").status_code == 401
    # Carol's own session is untouched, and alice may sign in again.
    assert carol.get("/me").status_code == 200
    assert user(admin_gateway, github, "alice").get("/me").status_code == 200


def test_a_blocked_user_is_refused_until_unblocked(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    bob = user(admin_gateway, github, "bob")
    carol = user(admin_gateway, github, "carol")
    assert carol.post("/admin/users/gh:1002/block").json()["blocked"] is True

    refused = bob.get("/chats")
    assert refused.status_code == 403 and refused.json()["code"] == "user_blocked"
    assert "blocked" in refused.json()["detail"]
    github.approve_as("bob")
    again = httpx.Client(base_url=admin_gateway.base_url, follow_redirects=True)
    assert again.get("/login/github").status_code == 403
    assert {row["login"]: row for row in carol.get("/admin/users").json()}["bob"]["blocked"]

    assert carol.post("/admin/users/gh:1002/unblock").json()["blocked"] is False
    assert bob.get("/chats").status_code == 200
    # An admin cannot be blocked (nor locked out by mistake).
    cannot = carol.post("/admin/users/gh:1003/block")
    assert cannot.status_code == 400 and "ADMIN_GITHUB_USERS" in cannot.json()["detail"]
    assert carol.post("/admin/users/gh:999999/block").status_code == 404


def test_the_command_line_calls_the_same_service(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    user(admin_gateway, github, "alice").close()

    def admin_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.admin", *args],
            cwd=ROOT,
            env=admin_gateway.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    users = admin_cli("users")
    assert users.returncode == 0, users.stderr
    assert any(line.split("\t")[1] == "alice" for line in users.stdout.splitlines())
    blocked = admin_cli("block", "gh:1001")
    assert blocked.returncode == 0, blocked.stderr
    carol = user(admin_gateway, github, "carol")
    assert {row["login"]: row for row in carol.get("/admin/users").json()}["alice"]["blocked"]
    assert admin_cli("unblock", "gh:1001").returncode == 0
    unknown = admin_cli("stop-sandbox", "chat_20990101_000000_none")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
