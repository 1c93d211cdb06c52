"""The audit log through real gateway processes: an entry for each kind of action, with who,
what, when and from where; it outlives the chats it names; admins read it a page at a time or
export it as JSON Lines; anyone else gets 404.

The session's gateways share one Redis, so each test marks its requests with a User-Agent of
its own and looks only at the entries that carry it.
"""

import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import browser

# alice may sign in, bob administers (an admin needs no place on the allow-list), carol may not.
ADMIN_ENV = {
    "ALLOW_ANY_GITHUB_USER": "false",
    "ALLOWED_GITHUB_USERS": "alice",
    "ADMIN_GITHUB_USERS": "bob",
}


@pytest.fixture(scope="module")
def admin_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {**github_gateway_env, **ADMIN_ENV}
    with GatewayProcess(env, tmp_path_factory.mktemp("audit-gateway")) as process:
        yield process


def _agent() -> str:
    return f"audit-test/{secrets.token_hex(6)}"


def _github_browser(base_url: str, github: FakeGitHub, login: str, agent: str) -> httpx.Client:
    """A browser with `agent` as its User-Agent that went through GitHub sign-in as `login`
    (whatever the gateway answered)."""
    github.approve_as(login)
    client = browser(base_url)
    client.headers["User-Agent"] = agent
    client.get("/login/github")
    return client


def _marked(admin: httpx.Client, agent: str, **params: str) -> list[dict[str, Any]]:
    """The newest entries the requests made with `agent` left, newest first."""
    response = admin.get("/admin/audit", params={"limit": "500", **params})
    assert response.status_code == 200, response.text
    return [entry for entry in response.json()["entries"] if entry["user_agent"] == agent]


def _order(entry_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in entry_id.split("-"))


def _recent(entry: dict[str, Any]) -> bool:
    return abs(datetime.fromisoformat(entry["time"]).timestamp() - time.time()) < 120


def test_local_sign_ins_and_failures_are_recorded(gateway: GatewayProcess) -> None:
    agent = _agent()
    headers = {"User-Agent": agent}
    url = f"{gateway.base_url}/login/local"
    assert httpx.get(url, params={"token": gateway.token}, headers=headers).status_code == 200
    wrong = httpx.get(url, params={"token": "wrong-token-abc"}, headers=headers)
    assert wrong.status_code == 401

    failed, signed_in = _marked(gateway.client, agent)

    assert signed_in["action"] == "sign_in" and signed_in["outcome"] == "success"
    assert (signed_in["actor_id"], signed_in["actor_login"]) == ("local", "local")
    assert signed_in["ip"] == "127.0.0.1"
    assert signed_in["details"] == {"method": "local"}
    assert signed_in["request_id"]
    assert _recent(signed_in)
    assert failed["action"] == "sign_in_failed" and failed["outcome"] == "failure"
    assert failed["actor_id"] is None and failed["actor_login"] is None
    assert failed["details"]["code"] == "invalid_login_link"
    assert failed["request_id"] == wrong.headers["x-request-id"]
    assert "wrong-token-abc" not in json.dumps(failed)
    assert gateway.token not in json.dumps(signed_in)


def test_the_address_is_the_forwarded_one_from_a_trusted_proxy(gateway: GatewayProcess) -> None:
    # The gateway runs with uvicorn's proxy headers on, and loopback is the trusted proxy.
    agent = _agent()
    headers = {"User-Agent": agent, "X-Forwarded-For": "198.51.100.9"}
    httpx.get(f"{gateway.base_url}/login/local", params={"token": "nope"}, headers=headers)

    [failed] = _marked(gateway.client, agent)
    assert failed["ip"] == "198.51.100.9"


def test_sign_out_is_recorded(gateway: GatewayProcess) -> None:
    agent = _agent()
    with httpx.Client(base_url=gateway.base_url, headers={"User-Agent": agent}) as client:
        client.get("/login/local", params={"token": gateway.token})
        out = client.post("/logout", headers={"Origin": gateway.base_url})
        assert out.status_code == 200
        # A sign-out without a session ends nothing and leaves no entry.
        assert client.post("/logout", headers={"Origin": gateway.base_url}).status_code == 200

    signed_out, _ = _marked(gateway.client, agent)
    assert signed_out["action"] == "sign_out"
    assert signed_out["actor_id"] == "local"


def test_token_creation_and_revocation_are_recorded(gateway: GatewayProcess) -> None:
    agent = _agent()
    headers = {"User-Agent": agent}
    created = gateway.client.post(
        "/tokens", json={"name": "nightly\u202ejob", "expires_in_days": 3}, headers=headers
    )
    assert created.status_code == 201, created.text
    token_id = created.json()["id"]
    assert gateway.client.delete(f"/tokens/{token_id}", headers=headers).status_code == 200
    # Revoking a token that is not there changes nothing and is not recorded.
    assert gateway.client.delete(f"/tokens/{token_id}", headers=headers).status_code == 404

    revoked, made = _marked(gateway.client, agent)
    assert (made["action"], made["target"], made["actor_id"]) == (
        "token_created",
        token_id,
        "local",
    )
    assert made["details"]["name"] == "nightly\u202ejob"
    assert made["details"]["expires_at"]
    assert created.json()["token"] not in json.dumps(made)
    assert (revoked["action"], revoked["target"]) == ("token_revoked", token_id)


def test_restart_and_deletion_outlive_the_chat(gateway: GatewayProcess) -> None:
    agent = _agent()
    headers = {"User-Agent": agent}
    chat_id = gateway.client.post("/create_chat").json()["chat_id"]
    restarted = gateway.client.post(f"/restart/{chat_id}", headers=headers)
    assert restarted.status_code == 200, restarted.text
    assert gateway.client.delete(f"/chat/{chat_id}", headers=headers).status_code == 200
    assert gateway.client.get(f"/chat/{chat_id}").status_code == 404

    deleted, restart = _marked(gateway.client, agent, user=chat_id)
    assert (restart["action"], restart["target"]) == ("sandbox_restarted", chat_id)
    assert (deleted["action"], deleted["target"]) == ("chat_deleted", chat_id)
    assert deleted["actor_id"] == "local"


def test_github_sign_ins_refusals_and_failures_are_recorded(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    base = admin_gateway.base_url
    agent = _agent()
    _github_browser(base, github, "alice", agent)
    _github_browser(base, github, "carol", agent)
    github.approve_as("alice")
    github.deny = True
    denied = browser(base)
    denied.headers["User-Agent"] = agent
    assert denied.get("/login/github").status_code == 400
    admin = _github_browser(base, github, "bob", agent)

    bob, failed, carol, alice = _marked(admin, agent)
    assert (alice["action"], alice["actor_id"], alice["actor_login"]) == (
        "sign_in",
        "gh:1001",
        "alice",
    )
    assert alice["details"] == {"method": "github"}
    assert (carol["action"], carol["outcome"]) == ("sign_in_failed", "refused")
    assert (carol["actor_id"], carol["actor_login"]) == ("gh:1003", "carol")
    assert carol["details"]["code"] == "user_not_allowed"
    assert (failed["action"], failed["outcome"], failed["actor_id"]) == (
        "sign_in_failed",
        "failure",
        None,
    )
    assert "access_denied" in failed["details"]["reason"]
    assert (bob["action"], bob["actor_login"]) == ("sign_in", "bob")
    assert all(entry["ip"] == "127.0.0.1" and _recent(entry) for entry in (alice, carol, bob))


def test_deleting_all_chats_leaves_an_entry_per_chat(
    admin_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    agent = _agent()
    alice = _github_browser(admin_gateway.base_url, github, "alice", agent)
    origin = {"Origin": admin_gateway.base_url}
    made = {alice.post("/create_chat", headers=origin).json()["chat_id"] for _ in range(2)}
    assert alice.delete("/chats/all", headers=origin).status_code == 200
    admin = _github_browser(admin_gateway.base_url, github, "bob", agent)

    entries = _marked(admin, agent, action="chat_deleted")
    assert {entry["target"] for entry in entries} == made
    assert all(entry["actor_id"] == "gh:1001" for entry in entries)
    assert all(entry["details"] == {"all": True} for entry in entries)


def test_others_than_admins_get_404(admin_gateway: GatewayProcess, github: FakeGitHub) -> None:
    alice = _github_browser(admin_gateway.base_url, github, "alice", _agent())
    assert alice.get("/me").status_code == 200
    anonymous = httpx.Client(base_url=admin_gateway.base_url)
    for client in (alice, anonymous):
        for path in ("/admin/audit", "/admin/audit?limit=0", "/admin/audit.jsonl"):
            response = client.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["code"] == "not_found"


def test_pages_filters_and_bad_parameters(gateway: GatewayProcess) -> None:
    agent = _agent()
    for _ in range(3):
        httpx.get(
            f"{gateway.base_url}/login/local", params={"token": "x"}, headers={"User-Agent": agent}
        )

    first = gateway.client.get("/admin/audit", params={"limit": 2, "action": "sign_in_failed"})
    assert first.status_code == 200
    page = first.json()
    assert [e["action"] for e in page["entries"]] == ["sign_in_failed"] * 2
    assert _order(page["entries"][0]["id"]) > _order(page["entries"][1]["id"])
    older = gateway.client.get(
        "/admin/audit", params={"limit": 2, "before": page["next_before"]}
    ).json()
    assert _order(older["entries"][0]["id"]) < _order(page["entries"][1]["id"])
    assert gateway.client.get("/admin/audit", params={"user": "local"}).json()["entries"]

    for params in ({"limit": 0}, {"limit": 501}, {"action": "sign_in_maybe"}):
        bad = gateway.client.get("/admin/audit", params=params)
        assert bad.status_code == 422, params
    cursor = gateway.client.get("/admin/audit", params={"before": "yesterday"})
    assert cursor.status_code == 400
    assert "not an audit entry id" in cursor.json()["detail"]


def test_export_is_json_lines_of_the_whole_log(gateway: GatewayProcess) -> None:
    agent = _agent()
    httpx.get(
        f"{gateway.base_url}/login/local", params={"token": "x"}, headers={"User-Agent": agent}
    )

    with gateway.client.stream("GET", "/admin/audit.jsonl", headers={"User-Agent": agent}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["content-disposition"] == 'attachment; filename="audit.jsonl"'
        entries = [json.loads(line) for line in r.iter_lines() if line]

    ids = [entry["id"] for entry in entries]
    assert ids == sorted(ids, key=_order)
    mine = [entry for entry in entries if entry["user_agent"] == agent]
    assert [entry["action"] for entry in mine] == ["sign_in_failed", "admin_audit_exported"]
    assert mine[1]["actor_id"] == "local"
    filtered = gateway.client.get("/admin/audit.jsonl", params={"action": "sign_in_failed"})
    actions = {json.loads(line)["action"] for line in filtered.text.splitlines()}
    assert actions == {"sign_in_failed"}
