"""Signing in to a gateway in AUTH_MODE=github the way a browser does, against the fake GitHub."""

from typing import Any

import httpx

from tests.fake_github import FakeGitHub


def browser(base_url: str) -> httpx.Client:
    """A client that follows redirects and keeps cookies, like a browser."""
    return httpx.Client(base_url=base_url, follow_redirects=True, timeout=httpx.Timeout(60.0))


def sign_in(base_url: str, github: FakeGitHub, login: str) -> tuple[httpx.Client, dict[str, Any]]:
    """A browser signed in as `login`, and the callback's JSON (`github_session`, `user`)."""
    github.approve_as(login)
    client = browser(base_url)
    response = client.get("/login/github")
    assert response.status_code == 200, response.text
    return client, response.json()


def with_cookie(base_url: str, value: str) -> httpx.Client:
    """A client sending the session as the brief's curl lines do: a literal Cookie header."""
    return httpx.Client(
        base_url=base_url,
        headers={"Cookie": f"github_session={value}"},
        timeout=httpx.Timeout(60.0),
    )
