import pytest

from gateway.settings import Settings

GOOD = "q7Vx2Lm9Rt4Kp8Zs1Nw6Yb3Hc5Jd0Fg_uEaTiOo"


def _github(**overrides: object) -> Settings:
    values = {
        "github_client_id": "id",
        "github_client_secret": "s",
        "session_secret": GOOD,
        "allowed_github_users": "alice",
    }
    return Settings(auth_mode="github", **{**values, **overrides})


def test_complete_github_settings_have_no_problems() -> None:
    assert _github().github_sign_in_problems() == []


def test_every_missing_setting_is_named() -> None:
    problems = Settings(auth_mode="github").github_sign_in_problems()
    assert [p.split(" is ")[0] for p in problems] == [
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
        "SESSION_SECRET",
        "ALLOWED_GITHUB_USERS and ALLOWED_GITHUB_ORGS are both empty, which would let any GitHub "
        "account in: name who may sign in, or set ALLOW_ANY_GITHUB_USER=true",
    ]


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"allowed_github_users": ""}, True),
        ({"allowed_github_users": " , "}, True),
        ({"allowed_github_users": "", "allowed_github_orgs": "acme"}, False),
        ({"allowed_github_users": "", "allow_any_github_user": True}, False),
    ],
)
def test_empty_allow_lists_need_allow_any_github_user(
    overrides: dict[str, object], refused: bool
) -> None:
    problems = _github(**overrides).github_sign_in_problems()
    assert bool(problems) is refused
    assert all("ALLOW_ANY_GITHUB_USER=true" in p for p in problems)


@pytest.mark.parametrize(
    "secret",
    [
        "changeme",
        "secret",
        "x" * 31,
        "a" * 64,
        "please-change-this-to-a-long-random-value",
        "my-session-secret-0123456789-abcdefghij",
        "REPLACE_WITH_RANDOM_0123456789_abcdefghij",
    ],
)
def test_placeholder_or_short_session_secrets_are_refused(secret: str) -> None:
    (problem,) = _github(session_secret=secret).github_sign_in_problems()
    assert problem.startswith("SESSION_SECRET")
    assert "token_urlsafe" in problem


def test_allow_lists_are_comma_separated() -> None:
    settings = Settings(allowed_github_users="alice, 42 ,,", allowed_github_orgs="acme,")
    assert settings.allowed_github_user_entries == ["alice", "42"]
    assert settings.allowed_github_org_list == ["acme"]


@pytest.mark.parametrize("field", ["session_idle_timeout_s", "session_max_age_s"])
def test_session_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError):
        Settings(**{field: 0})
