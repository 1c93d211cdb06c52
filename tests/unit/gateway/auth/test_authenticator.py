import logging

import pytest

from gateway.auth.authenticator import SignInPolicy, log_sign_in, safe_next
from gateway.auth.users import User
from gateway.settings import Settings


@pytest.mark.parametrize("target", ["/", "/chats", "/chat/x/messages?a=1&b=2#top", "/a:b"])
def test_paths_on_this_server_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "chats",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\x00",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        " /chats",
    ],
)
def test_anything_that_could_leave_the_site_is_dropped(target: str | None) -> None:
    assert safe_next(target) is None


def _user(github_id: int, login: str, orgs: list[str] | None = None) -> User:
    return User(id=f"gh:{github_id}", login=login, orgs=orgs or [])


def test_no_lists_admit_anyone() -> None:
    assert SignInPolicy(Settings()).admits(_user(1, "anyone"))


def test_users_are_listed_by_login_in_any_case_or_by_id() -> None:
    policy = SignInPolicy(Settings(allowed_github_users=" Alice ,1003,"))
    assert policy.admits(_user(1, "alice"))
    assert policy.admits(_user(1003, "renamed-carol"))
    assert not policy.admits(_user(1004, "mallory"))
    # An entry of digits is an id only: the login "1003" is someone else.
    assert not policy.admits(_user(7, "1003"))


def test_org_members_are_admitted_only_for_a_listed_org() -> None:
    policy = SignInPolicy(Settings(allowed_github_orgs="Acme"))
    assert policy.admits(_user(2, "bob", ["acme"]))
    assert not policy.admits(_user(3, "eve", ["other"]))
    assert not policy.admits(_user(4, "nobody"))
    assert "member of Acme" in policy.refusal(_user(4, "nobody"))


def test_a_configured_local_token_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(auth_mode="local", local_auth_token="configured-secret-token")
    with caplog.at_level(logging.INFO):
        log_sign_in(settings, "configured-secret-token")
    assert "configured-secret-token" not in caplog.text
    assert "/login/local?token=<LOCAL_AUTH_TOKEN>&next=/" in caplog.text


def test_a_token_made_up_for_the_process_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    # Nobody could sign in otherwise: it is in no file.
    settings = Settings(auth_mode="local", local_auth_token=None)
    with caplog.at_level(logging.INFO):
        log_sign_in(settings, "made-up-token")
    assert caplog.text.count("/login/local?token=made-up-token&next=/") == 1
