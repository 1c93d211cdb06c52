"""Who may sign in: ALLOWED_GITHUB_USERS (logins or numeric ids) and ALLOWED_GITHUB_ORGS; the
others get 403 with a message and no session."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import browser, sign_in

# alice by login, carol (1003) by numeric id, members of acme (bob); not mallory.
RESTRICTED = {"ALLOWED_GITHUB_USERS": "Alice, 1003", "ALLOWED_GITHUB_ORGS": "acme"}


@pytest.fixture(scope="module")
def restricted_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {**github_gateway_env, **RESTRICTED}
    with GatewayProcess(env, tmp_path_factory.mktemp("restricted-gateway")) as process:
        yield process


@pytest.mark.parametrize(("login", "orgs"), [("alice", []), ("carol", []), ("bob", ["acme"])])
def test_listed_users_and_org_members_sign_in(
    restricted_gateway: GatewayProcess, github: FakeGitHub, login: str, orgs: list[str]
) -> None:
    client, body = sign_in(restricted_gateway.base_url, github, login)

    assert body["user"]["login"] == login
    assert client.get("/me").json()["orgs"] == orgs
    # Membership is checked through the API, which needs the read:org scope.
    assert github.authorize_requests[-1]["scope"] == "read:org"


def test_others_get_403_and_no_session(
    restricted_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    github.approve_as("mallory")
    client = browser(restricted_gateway.base_url)

    response = client.get("/login/github")

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert response.json()["code"] == "user_not_allowed"
    assert "'mallory' may not use this server" in detail
    assert "acme" in detail
    assert "github_session" not in client.cookies
    assert client.get("/me").status_code == 401


def test_a_user_allowed_by_id_stays_allowed_after_a_rename(
    restricted_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    github.rename("carol", "carol-danvers")
    _, body = sign_in(restricted_gateway.base_url, github, "carol-danvers")
    assert body["user"]["id"] == "gh:1003"


def test_a_user_allowed_by_login_is_not_after_a_rename(
    restricted_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    """A login can be given up and taken by someone else; only an id names one person."""
    github.rename("alice", "alice-liddell")
    github.approve_as("alice-liddell")
    response = browser(restricted_gateway.base_url).get("/login/github")
    assert response.status_code == 403


def test_leaving_the_allow_list_ends_existing_sessions(
    github_gateway_env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    env = {**github_gateway_env, **RESTRICTED}
    with GatewayProcess(env, tmp_path) as gateway:
        alice, _ = sign_in(gateway.base_url, github, "alice")
        bob, _ = sign_in(gateway.base_url, github, "bob")
        token = alice.post("/tokens", json={"name": "script"}).json()["token"]

        gateway.env["ALLOWED_GITHUB_USERS"] = "1003"
        gateway.env["ALLOWED_GITHUB_ORGS"] = "other-org"
        gateway.restart()

        for response in (
            alice.get("/chats"),
            bob.get("/chats"),
            alice.get("/chats", headers={"Authorization": f"Bearer {token}"}),
        ):
            assert response.status_code == 403
            assert "may not use this server" in response.json()["detail"]
