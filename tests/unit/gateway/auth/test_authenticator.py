import pytest

from gateway.auth.authenticator import SignInPolicy, safe_next
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
