"""GitHub sign-in through the real OAuth flow against the fake GitHub: the callback and its
checks, `next`, sessions (a new one per sign-in, sign-out), renamed logins, cookie flags."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.services import free_port
from tests.sign_in import browser, sign_in, with_cookie


def _go_to_github_and_back(
    base_url: str, github: FakeGitHub, login: str
) -> tuple[httpx.Client, str]:
    """A browser that started sign-in and was sent back by GitHub: the client (holding the
    sign-in's state cookie) and the callback URL, not visited yet."""
    github.approve_as(login)
    client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(60.0))
    to_github = client.get("/login/github")
    assert to_github.status_code == 302, to_github.text
    back = client.get(to_github.headers["location"])
    assert back.status_code == 302, back.text
    return client, back.headers["location"]


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def _session_cookie_header(response: httpx.Response) -> str | None:
    return next(
        (h for h in response.headers.get_list("set-cookie") if h.startswith("github_session=")),
        None,
    )


def _assert_no_session(response: httpx.Response, client: httpx.Client) -> None:
    assert _session_cookie_header(response) is None
    assert client.get("/me").status_code == 401


def test_sign_in_sets_the_cookie_and_returns_it_with_the_user(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, body = sign_in(github_gateway.base_url, github, "alice")

    assert body["user"] == {
        "id": "gh:1001",
        "login": "alice",
        "name": "Alice Liddell",
        "avatar_url": "https://avatars.example/u/1001",
        "orgs": [],
        "blocked": False,
    }
    assert client.cookies["github_session"] == body["github_session"]
    assert client.get("/me").json()["login"] == "alice"
    # The brief's way of using it: a literal Cookie header; and as a Bearer token.
    with with_cookie(github_gateway.base_url, body["github_session"]) as curl:
        assert curl.get("/me").json()["id"] == "gh:1001"
    bearer = {"Authorization": f"Bearer {body['github_session']}"}
    assert httpx.get(f"{github_gateway.base_url}/me", headers=bearer).json()["login"] == "alice"


def test_sign_in_uses_an_unguessable_state_and_pkce(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    sign_in(github_gateway.base_url, github, "alice")

    authorize = github.authorize_requests[-1]
    assert authorize["redirect_uri"] == f"{github_gateway.base_url}/auth/github/callback"
    assert len(authorize["state"]) >= 20
    assert authorize["code_challenge_method"] == "S256"
    assert "scope" not in authorize  # no org check configured: no extra access asked for
    # The fake GitHub checked this verifier against the challenge before issuing a token.
    assert len(github.token_requests[-1]["code_verifier"]) >= 43
    assert "code_verifier" not in authorize


def test_session_cookie_is_http_only_and_same_site_lax(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")
    response = client.get(callback)
    assert response.status_code == 200, response.text

    header = _session_cookie_header(response)
    assert header is not None
    flags = {flag.strip().lower() for flag in header.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never be sent back
    # The sign-in's own state cookie is gone once the sign-in is done.
    assert "ads_oauth_state" not in client.cookies


def test_bad_state_is_400_and_the_real_callback_still_works(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")

    response = client.get(_with_query(callback, state=secrets.token_urlsafe(30)))

    assert response.status_code == 400
    assert "state does not match" in response.json()["detail"]
    assert response.json()["code"] == "sign_in_failed"
    _assert_no_session(response, client)
    assert client.get(callback).status_code == 200


def test_missing_state_is_400(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")

    response = client.get(_with_query(callback, state=None))

    assert response.status_code == 400
    assert "no `state`" in response.json()["detail"]
    _assert_no_session(response, client)


def test_missing_code_is_400(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")

    response = client.get(_with_query(callback, code=None))

    assert response.status_code == 400
    assert "no `code`" in response.json()["detail"]
    _assert_no_session(response, client)


def test_replayed_callback_is_400(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")
    state_cookie = client.cookies["ads_oauth_state"]
    assert client.get(callback).status_code == 200

    again = client.get(callback)
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]
    assert _session_cookie_header(again) is None
    # Even with the state cookie from before the first callback (say, copied off the machine):
    # the state was used up on the server.
    replayer = httpx.Client(base_url=github_gateway.base_url, timeout=httpx.Timeout(60.0))
    replayer.cookies.set("ads_oauth_state", state_cookie)
    response = replayer.get(callback)
    assert response.status_code == 400
    _assert_no_session(response, replayer)


def test_callback_in_another_browser_is_400(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    """Login CSRF: a callback URL made for one browser signs nobody in in another."""
    _, callback = _go_to_github_and_back(github_gateway.base_url, github, "mallory")
    victim = httpx.Client(base_url=github_gateway.base_url, timeout=httpx.Timeout(60.0))

    response = victim.get(callback)

    assert response.status_code == 400
    assert "started in this browser" in response.json()["detail"]
    _assert_no_session(response, victim)


def test_code_github_refuses_is_400(github_gateway: GatewayProcess, github: FakeGitHub) -> None:
    client, callback = _go_to_github_and_back(github_gateway.base_url, github, "alice")

    response = client.get(_with_query(callback, code="0123456789abcdef0123"))

    assert response.status_code == 400
    assert "bad_verification_code" in response.json()["detail"]
    _assert_no_session(response, client)


def test_user_denying_access_on_github_is_400(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    github.deny = True
    client = browser(github_gateway.base_url)

    response = client.get("/login/github")

    assert response.status_code == 400
    assert response.url.path == "/auth/github/callback"
    assert "access_denied" in response.json()["detail"]
    _assert_no_session(response, client)


def test_local_next_redirects_there_signed_in(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    github.approve_as("alice")
    client = browser(github_gateway.base_url)

    response = client.get("/login/github", params={"next": "/chats?from=login"})

    assert response.status_code == 200
    assert response.url.path == "/chats"
    assert isinstance(response.json(), list)
    assert client.get("/me").json()["login"] == "alice"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/steal",
        "https://evil.example/steal",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_off_site_next_is_ignored(
    github_gateway: GatewayProcess, github: FakeGitHub, target: str
) -> None:
    github.approve_as("alice")
    client = browser(github_gateway.base_url)

    response = client.get("/login/github", params={"next": target})

    assert response.status_code == 200, response.text
    assert "github_session" in response.json()
    hosts = {urlsplit(r.headers["location"]).hostname for r in response.history}
    assert hosts == {"127.0.0.1"}


def test_each_sign_in_makes_a_new_session(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, first = sign_in(github_gateway.base_url, github, "alice")
    _, elsewhere = sign_in(github_gateway.base_url, github, "alice")

    second = client.get("/login/github").json()

    values = {first["github_session"], second["github_session"], elsewhere["github_session"]}
    assert len(values) == 3
    # Signing in again in the same browser ends that browser's old session ...
    with with_cookie(github_gateway.base_url, first["github_session"]) as old:
        assert old.get("/me").status_code == 401
    # ... and leaves the user's session in another browser alone.
    with with_cookie(github_gateway.base_url, elsewhere["github_session"]) as other:
        assert other.get("/me").status_code == 200


def test_logout_ends_the_session_on_the_server(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, body = sign_in(github_gateway.base_url, github, "alice")

    response = client.post("/logout")

    assert response.status_code == 200
    assert "github_session" not in client.cookies
    with with_cookie(github_gateway.base_url, body["github_session"]) as old:
        reused = old.get("/chats")
    assert reused.status_code == 401
    assert "sign in again" in reused.json()["detail"]


def test_logout_with_next_redirects_there(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, _ = sign_in(github_gateway.base_url, github, "alice")

    response = client.post("/logout", params={"next": "/health"}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/health"
    assert client.get("/me").status_code == 401


def test_altered_or_missing_cookie_is_401(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    _, body = sign_in(github_gateway.base_url, github, "alice")
    value = body["github_session"]
    altered = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]

    with with_cookie(github_gateway.base_url, altered) as client:
        assert client.get("/me").status_code == 401
    anonymous = httpx.get(f"{github_gateway.base_url}/chats")
    assert anonymous.status_code == 401
    assert "/login/github" in anonymous.json()["detail"]


def test_renamed_login_keeps_its_chats_and_the_old_login_gets_none(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, _ = sign_in(github_gateway.base_url, github, "alice")
    chat_id = client.post("/create_chat").json()["chat_id"]

    github.rename("alice", "alice-liddell")
    renamed, body = sign_in(github_gateway.base_url, github, "alice-liddell")
    # Someone else takes the freed login "alice" on GitHub.
    github.rename("carol", "alice")
    newcomer, other = sign_in(github_gateway.base_url, github, "alice")

    assert body["user"]["id"] == "gh:1001"
    assert renamed.get("/me").json()["login"] == "alice-liddell"
    assert chat_id in [c["chat_id"] for c in renamed.get("/chats").json()]
    assert other["user"]["id"] == "gh:1003"
    assert chat_id not in [c["chat_id"] for c in newcomer.get("/chats").json()]
    assert newcomer.get(f"/chat/{chat_id}/messages").status_code == 404
    renamed.delete(f"/chat/{chat_id}")


def test_local_sign_in_is_off_in_github_mode(github_gateway: GatewayProcess) -> None:
    token = github_gateway.env["LOCAL_AUTH_TOKEN"]
    response = httpx.get(f"{github_gateway.base_url}/login/local", params={"token": token})
    assert response.status_code == 400
    assert "/login/github" in response.json()["detail"]
    assert response.json()["code"] == "sign_in_mode_off"
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{github_gateway.base_url}/chats", headers=bearer).status_code == 401


def test_github_sign_in_in_local_mode_says_how_to_sign_in(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.base_url}/login/github")
    assert response.status_code == 400
    assert "LOCAL_AUTH_TOKEN" in response.json()["detail"]
    assert response.json()["code"] == "sign_in_mode_off"


@pytest.fixture(scope="module")
def https_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway whose PUBLIC_URL is https (a TLS proxy in front, as in production)."""
    env = {**github_gateway_env, "PUBLIC_URL": "https://ads.example"}
    with GatewayProcess(env, tmp_path_factory.mktemp("https-gateway")) as process:
        yield process


def test_cookies_are_secure_behind_https(https_gateway: GatewayProcess, github: FakeGitHub) -> None:
    github.approve_as("alice")
    client = httpx.Client(base_url=https_gateway.base_url, timeout=httpx.Timeout(60.0))
    to_github = client.get("/login/github")
    state_cookie = to_github.headers["set-cookie"]
    assert "secure" in state_cookie.lower()
    back = httpx.get(to_github.headers["location"])
    callback = back.headers["location"]
    assert callback.startswith("https://ads.example/auth/github/callback?")

    # Play the TLS proxy: the callback reaches the gateway over plain http, with the cookie the
    # browser would send over https.
    response = httpx.get(
        f"{https_gateway.base_url}{callback.removeprefix('https://ads.example')}",
        headers={"Cookie": state_cookie.split(";")[0]},
    )

    assert response.status_code == 200, response.text
    header = _session_cookie_header(response)
    assert header is not None
    assert "secure" in {flag.strip().lower() for flag in header.split(";")}


def test_gateway_logs_the_callback_url_to_register(https_gateway: GatewayProcess) -> None:
    assert "https://ads.example/auth/github/callback" in https_gateway.log()


def test_unreachable_github_api_is_502_and_no_session(
    github_gateway_env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    env = {**github_gateway_env, "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}/api/v3"}
    with GatewayProcess(env, tmp_path) as gateway:
        github.approve_as("alice")
        client = browser(gateway.base_url)

        response = client.get("/login/github")

        assert response.status_code == 502
        assert "could not be reached" in response.json()["detail"]
        assert response.json()["code"] == "github_unavailable"
        _assert_no_session(response, client)
