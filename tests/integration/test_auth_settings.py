"""AUTH_MODE=github refuses to start without what it needs, and says what that is."""

import subprocess
import sys

import pytest

from tests.gateway_process import ROOT
from tests.services import free_port

GOOD_SECRET = "q7Vx2Lm9Rt4Kp8Zs1Nw6Yb3Hc5Jd0Fg_uEaTiOo"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env={**env, "PORT": str(free_port()), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, ["GITHUB_CLIENT_ID is not set", "GITHUB_CLIENT_SECRET is not set", "SESSION_SECRET"]),
        (
            {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "SESSION_SECRET": "changeme"},
            ["SESSION_SECRET is too short"],
        ),
        (
            {
                "GITHUB_CLIENT_ID": "id",
                "GITHUB_CLIENT_SECRET": "s",
                "SESSION_SECRET": "please-change-this-to-a-long-random-value",
            },
            ["SESSION_SECRET looks like a placeholder"],
        ),
        (
            {"GITHUB_CLIENT_ID": "id", "SESSION_SECRET": GOOD_SECRET},
            ["GITHUB_CLIENT_SECRET is not set"],
        ),
    ],
)
def test_github_mode_refuses_to_start_without_its_settings(
    gateway_env: dict[str, str], settings: dict[str, str], named: list[str]
) -> None:
    env = {
        key: value
        for key, value in gateway_env.items()
        if not key.startswith(("GITHUB_", "SESSION_"))
    }
    result = _start({**env, "AUTH_MODE": "github", **settings})

    assert result.returncode != 0
    assert "AUTH_MODE=github cannot start" in result.stderr
    for name in named:
        assert name in result.stderr


def test_github_mode_with_empty_allow_lists_needs_allow_any_github_user(
    github_gateway_env: dict[str, str],
) -> None:
    env = {
        key: value for key, value in github_gateway_env.items() if key != "ALLOW_ANY_GITHUB_USER"
    }
    result = _start({**env, "ALLOWED_GITHUB_USERS": "", "ALLOWED_GITHUB_ORGS": ""})

    assert result.returncode != 0
    assert "AUTH_MODE=github cannot start" in result.stderr
    assert "ALLOW_ANY_GITHUB_USER=true" in result.stderr
