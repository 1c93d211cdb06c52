"""Local mode's login link trades LOCAL_AUTH_TOKEN for a revocable session, like GitHub sign-in:
the cookie is never the token, logout ends the session, a wrong token makes none, and the token
stays out of the gateway's log."""

from collections.abc import Iterator

import httpx
import pytest
import redis

from gateway import keys
from tests.gateway_process import GatewayProcess
from tests.sign_in import with_cookie


@pytest.fixture
def sessions(redis_url: str) -> Iterator[redis.Redis]:
    """The gateways' Redis, to count sign-in sessions."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _session_count(store: redis.Redis) -> int:
    return sum(1 for _ in store.scan_iter(match=keys.login("*")))


def _set_cookie_headers(response: httpx.Response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith("github_session=")]


def test_the_link_sets_a_session_cookie_that_is_not_the_token(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        response = browser.get("/login/local", params={"token": gateway.token})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["id"] == "local"
        cookie = browser.cookies["github_session"]
        assert body["github_session"] == cookie
        assert cookie != gateway.token
        assert gateway.token not in cookie
        # The same attributes as GitHub sign-in's cookie.
        (header,) = _set_cookie_headers(response)
        assert "HttpOnly" in header
        assert "SameSite=lax" in header
        assert "Max-Age=2592000" in header
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"

        assert browser.get("/me").json()["id"] == "local"
    # The brief's curl form works with that session, as with GitHub's.
    with with_cookie(gateway.base_url, cookie) as curl:
        assert curl.get("/chats").status_code == 200
    bearer = {"Authorization": f"Bearer {cookie}"}
    assert httpx.get(f"{gateway.base_url}/me", headers=bearer).status_code == 200


def test_the_link_redirects_to_next_without_the_token(gateway: GatewayProcess) -> None:
    response = httpx.get(
        f"{gateway.base_url}/login/local", params={"token": gateway.token, "next": "/"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    (header,) = _set_cookie_headers(response)
    assert gateway.token not in header


def test_logout_ends_the_session_and_the_token_stays_valid(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        cookie = browser.get("/login/local", params={"token": gateway.token}).json()[
            "github_session"
        ]
        assert browser.get("/me").status_code == 200

        assert browser.post("/logout").status_code == 200

        assert "github_session" not in browser.cookies
    with with_cookie(gateway.base_url, cookie) as old:
        reused = old.get("/chats")
    assert reused.status_code == 401
    assert reused.json()["code"] == "session_expired"
    # The token is not a session: logging out a browser leaves it, and a new link works.
    assert gateway.client.get("/me").status_code == 200
    again = httpx.get(f"{gateway.base_url}/login/local", params={"token": gateway.token})
    assert again.status_code == 200


def test_signing_in_again_ends_the_browsers_old_session(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        first = browser.get("/login/local", params={"token": gateway.token}).json()
        second = browser.get("/login/local", params={"token": gateway.token}).json()
        assert first["github_session"] != second["github_session"]
        assert browser.get("/me").status_code == 200
    with with_cookie(gateway.base_url, first["github_session"]) as old:
        assert old.get("/me").status_code == 401


def test_the_raw_token_is_not_a_cookie(gateway: GatewayProcess) -> None:
    with with_cookie(gateway.base_url, gateway.token) as curl:
        response = curl.get("/chats")

    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"
    detail = response.json()["detail"]
    assert "Authorization: Bearer" in detail
    assert "deploy/print-login.sh" in detail
    # As a Bearer token it works.
    assert gateway.client.get("/chats").status_code == 200


def test_a_wrong_token_is_401_and_makes_no_session(
    gateway: GatewayProcess, sessions: redis.Redis
) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        browser.get("/login/local", params={"token": gateway.token})
        before = _session_count(sessions)

        for wrong in ("wrong", gateway.token + "x", gateway.token[:-1], ""):
            response = browser.get("/login/local", params={"token": wrong, "next": "/"})
            assert response.status_code == 401, wrong
            assert response.json()["code"] == "invalid_login_link"
            assert "deploy/print-login.sh" in response.json()["detail"]
            assert "make up" in response.json()["detail"]
            assert _set_cookie_headers(response) == []

        assert _session_count(sessions) == before
        # The session the browser had is left alone.
        assert browser.get("/me").status_code == 200


def test_the_token_is_never_in_the_gateways_log(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url, follow_redirects=True) as browser:
        signed_in = browser.get("/login/local", params={"token": gateway.token, "next": "/me"})
        assert signed_in.json()["id"] == "local"
        browser.post("/logout")
        browser.get("/me")
    with with_cookie(gateway.base_url, gateway.token) as curl:
        curl.get("/me")

    logged = gateway.log()
    assert "/login/local?token=***" in logged
    assert gateway.token not in logged
