"""Sign-in sessions end after SESSION_IDLE_TIMEOUT_S without use, and SESSION_MAX_AGE_S after
sign-in however much they are used: GitHub's, and those local mode's login link makes."""

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in

IDLE_S = 1.5
MAX_AGE_S = 4.0


@pytest.fixture(scope="module")
def short_sessions_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        **github_gateway_env,
        "SESSION_IDLE_TIMEOUT_S": str(IDLE_S),
        "SESSION_MAX_AGE_S": str(MAX_AGE_S),
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("short-sessions")) as process:
        yield process


@pytest.fixture(scope="module")
def short_local_sessions_gateway(
    gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        **gateway_env,
        "SESSION_IDLE_TIMEOUT_S": str(IDLE_S),
        "SESSION_MAX_AGE_S": str(MAX_AGE_S),
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("short-local-sessions")) as process:
        yield process


def test_idle_session_ends(short_sessions_gateway: GatewayProcess, github: FakeGitHub) -> None:
    client, _ = sign_in(short_sessions_gateway.base_url, github, "alice")
    assert client.get("/me").status_code == 200

    time.sleep(IDLE_S + 0.5)

    response = client.get("/me")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_used_session_lives_until_its_max_age(
    short_sessions_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, _ = sign_in(short_sessions_gateway.base_url, github, "alice")
    signed_in = time.monotonic()

    # Used more often than the idle timeout, it outlives that timeout ...
    while time.monotonic() - signed_in < MAX_AGE_S - 1.0:
        assert client.get("/me").status_code == 200
        time.sleep(IDLE_S / 3)
    # ... but not its max age.
    while time.monotonic() - signed_in < MAX_AGE_S + 0.3:
        time.sleep(IDLE_S / 3)
        last = client.get("/me")
    assert last.status_code == 401


def test_local_sessions_end_like_githubs(short_local_sessions_gateway: GatewayProcess) -> None:
    gateway = short_local_sessions_gateway
    with httpx.Client(base_url=gateway.base_url) as browser:
        assert browser.get("/login/local", params={"token": gateway.token}).status_code == 200
        signed_in = time.monotonic()
        while time.monotonic() - signed_in < MAX_AGE_S - 1.0:
            assert browser.get("/me").status_code == 200
            time.sleep(IDLE_S / 3)
        while time.monotonic() - signed_in < MAX_AGE_S + 0.3:
            time.sleep(IDLE_S / 3)
            last = browser.get("/me")
        assert last.status_code == 401

        assert browser.get("/login/local", params={"token": gateway.token}).status_code == 200
        time.sleep(IDLE_S + 0.5)
        idle = browser.get("/me")
        assert idle.status_code == 401
        assert "expired" in idle.json()["detail"]
    # The token is not a session: it does not expire.
    assert gateway.client.get("/me").status_code == 200
