"""Personal API tokens: created once and shown once, used as Bearer anywhere a session works,
listed without secrets, revoked or expired into 401."""

import hashlib

import httpx
import redis

from gateway import keys
from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in


def _bearer(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(60.0)
    )


def test_token_works_as_bearer_and_is_shown_only_once(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")

    created = alice.post("/tokens", json={"name": "nightly report"})

    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("ads_")
    listing = alice.get("/tokens")
    (listed,) = [t for t in listing.json() if t["id"] == created.json()["id"]]
    assert listed == {k: v for k, v in created.json().items() if k != "token"}
    assert listed["name"] == "nightly report"
    assert listed["expires_at"] is None
    assert token not in listing.text
    with _bearer(github_gateway.base_url, token) as script:
        assert script.get("/me").json()["id"] == "gh:1001"
        chat_id = script.post("/create_chat").json()["chat_id"]
        assert chat_id in [c["chat_id"] for c in alice.get("/chats").json()]
        assert script.delete(f"/chat/{chat_id}").status_code == 200


def test_revoked_token_is_401(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    created = alice.post("/tokens", json={"name": "ci"}).json()

    assert alice.delete(f"/tokens/{created['id']}").json() == {"deleted": created["id"]}

    with _bearer(github_gateway.base_url, created["token"]) as script:
        response = script.get("/chats")
    assert response.status_code == 401
    assert created["id"] not in [t["id"] for t in alice.get("/tokens").json()]
    assert alice.delete(f"/tokens/{created['id']}").status_code == 404


def test_another_users_token_cannot_be_seen_or_revoked(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    created = alice.post("/tokens", json={"name": "mine"}).json()
    bob, _ = sign_in(github_gateway.base_url, github, "bob")

    assert created["id"] not in [t["id"] for t in bob.get("/tokens").json()]
    response = bob.delete(f"/tokens/{created['id']}")
    assert response.status_code == 404
    assert response.json() == bob.delete("/tokens/0123456789abcdef").json() | {
        "detail": f"token '{created['id']}' not found"
    }
    with _bearer(github_gateway.base_url, created["token"]) as script:
        assert script.get("/me").json()["login"] == "alice"


def test_a_token_cannot_make_tokens(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    token = alice.post("/tokens", json={"name": "script"}).json()["token"]

    with _bearer(github_gateway.base_url, token) as script:
        response = script.post("/tokens", json={"name": "escape hatch"})

    assert response.status_code == 403
    assert "sign in" in response.json()["detail"]
    assert response.json()["code"] == "token_not_allowed"


def test_token_with_an_expiry_ends_then(
    github_gateway: GatewayProcess, github: FakeGitHub, redis_url: str
) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    created = alice.post("/tokens", json={"name": "a day", "expires_in_days": 1}).json()
    key = keys.api_token(hashlib.sha256(created["token"].encode()).hexdigest())
    store = redis.Redis.from_url(redis_url)
    assert 86390 < store.ttl(key) <= 86400
    assert created["expires_at"] > created["created_at"]

    # A day passes: Redis lets the key go at its TTL.
    store.pexpire(key, 1)

    with _bearer(github_gateway.base_url, created["token"]) as script:
        assert script.get("/me").status_code == 401
    assert created["id"] not in [t["id"] for t in alice.get("/tokens").json()]


def test_bad_token_requests_are_422(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    assert alice.post("/tokens", json={}).status_code == 422
    assert alice.post("/tokens", json={"name": ""}).status_code == 422
    assert alice.post("/tokens", json={"name": "x", "expires_in_days": 0}).status_code == 422


def test_tokens_work_in_local_mode(gateway: GatewayProcess) -> None:
    created = gateway.client.post("/tokens", json={"name": "local script"})
    assert created.status_code == 201, created.text

    with _bearer(gateway.base_url, created.json()["token"]) as script:
        assert script.get("/me").json()["id"] == "local"
    assert gateway.client.delete(f"/tokens/{created.json()['id']}").status_code == 200
