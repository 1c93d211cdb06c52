"""Cross-site requests cannot change anything with the cookie; Bearer and curl (no Origin) can;
`/logout` is POST only; the login link's token never reaches the access log."""

from collections.abc import Iterator

import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in, with_cookie

CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    # Another port of the same host is the same site, which SameSite=Lax lets through.
    {"Sec-Fetch-Site": "same-site"},
]


@pytest.fixture
def cookie(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    """A local-mode client holding the cookie the login link sets, sending no Origin."""
    client = httpx.Client(base_url=gateway.base_url, timeout=httpx.Timeout(60.0))
    response = client.get("/login/local", params={"token": gateway.token})
    assert response.status_code == 200, response.text
    assert client.cookies.get("github_session")
    yield client
    client.close()


def _chat_ids(gateway: GatewayProcess) -> set[str]:
    return {chat["chat_id"] for chat in gateway.client.get("/chats").json()}


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "cross_site_request"


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_cookie_requests_are_refused_and_change_nothing(
    gateway: GatewayProcess, cookie: httpx.Client, chat_id: str, headers: dict[str, str]
) -> None:
    assert gateway.run(chat_id, "x = 41")["status"] == "ok"
    before = _chat_ids(gateway)

    _refused(cookie.post(f"/restart/{chat_id}", headers=headers))
    _refused(cookie.post("/create_chat", headers=headers))
    _refused(
        cookie.post(
            f"/upload_csv/{chat_id}",
            headers=headers,
            files={"file": ("forged.csv", b"a\n1\n", "text/csv")},
        )
    )
    _refused(cookie.delete(f"/chat/{chat_id}", headers=headers))
    _refused(cookie.post("/logout", headers=headers))

    assert _chat_ids(gateway) == before
    names = {v["name"] for v in gateway.client.get(f"/variables/{chat_id}").json()}
    assert "x" in names
    paths = [f["path"] for f in gateway.client.get(f"/files/{chat_id}").json()]
    assert "forged.csv" not in paths
    # The cookie still works: the forged logout did not end anything.
    assert cookie.get("/me").status_code == 200


def _same_origin_requests(
    gateway: GatewayProcess, client: httpx.Client, headers: dict[str, str]
) -> None:
    """Create, upload to, restart and delete a chat with `client`, each succeeding."""
    created = client.post("/create_chat", headers=headers)
    assert created.status_code == 201, created.text
    chat_id = created.json()["chat_id"]
    uploaded = client.post(
        f"/upload_csv/{chat_id}",
        headers=headers,
        files={"file": ("mine.csv", b"a\n1\n", "text/csv")},
    )
    assert uploaded.status_code == 200, uploaded.text
    restarted = client.post(f"/restart/{chat_id}", headers=headers)
    assert restarted.status_code == 200, restarted.text
    deleted = client.delete(f"/chat/{chat_id}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert chat_id not in _chat_ids(gateway)


def test_cookie_requests_from_our_own_origin_pass(
    gateway: GatewayProcess, cookie: httpx.Client
) -> None:
    headers = {"Origin": gateway.base_url, "Sec-Fetch-Site": "same-origin"}
    _same_origin_requests(gateway, cookie, headers)


def test_own_origin_by_host_without_sec_fetch_site_passes(
    gateway: GatewayProcess, cookie: httpx.Client
) -> None:
    _same_origin_requests(gateway, cookie, {"Origin": gateway.base_url})


def test_cookie_requests_without_origin_pass_as_in_the_brief(gateway: GatewayProcess) -> None:
    # The brief's curl form: a literal Cookie header and no Origin or Sec-Fetch-Site, with the
    # session the login link answers with.
    signed_in = httpx.get(f"{gateway.base_url}/login/local", params={"token": gateway.token})
    with with_cookie(gateway.base_url, signed_in.json()["github_session"]) as curl:
        _same_origin_requests(gateway, curl, {})


def test_bearer_requests_with_a_foreign_origin_pass(gateway: GatewayProcess) -> None:
    headers = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    _same_origin_requests(gateway, gateway.client, headers)


def test_get_logout_is_gone(gateway: GatewayProcess, cookie: httpx.Client) -> None:
    response = cookie.get("/logout")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    assert cookie.get("/me").status_code == 200


def test_github_session_cookie_is_checked_too(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    client, _ = sign_in(github_gateway.base_url, github, "alice")

    _refused(client.post("/create_chat", headers={"Origin": "http://evil.example"}))
    _refused(client.post("/logout", headers={"Sec-Fetch-Site": "same-site"}))
    assert client.get("/me").status_code == 200

    created = client.post("/create_chat", headers={"Origin": github_gateway.base_url})
    assert created.status_code == 201, created.text
    chat_id = created.json()["chat_id"]
    assert client.delete(f"/chat/{chat_id}").status_code == 200
    assert client.post("/logout", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get("/me").status_code == 401


def test_login_token_is_not_in_the_access_log(gateway: GatewayProcess) -> None:
    start = len(gateway.log())
    response = httpx.get(
        f"{gateway.base_url}/login/local",
        params={"token": gateway.token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    wrong = httpx.get(f"{gateway.base_url}/login/local", params={"token": "not-the-token-xyz"})
    assert wrong.status_code == 401

    logged = gateway.log()[start:]
    assert "/login/local?token=***" in logged
    assert "not-the-token-xyz" not in logged
    # Nor anywhere in the gateway's output since it started: LOCAL_AUTH_TOKEN is configured.
    assert gateway.token not in gateway.log()
    assert "/login/local?token=<LOCAL_AUTH_TOKEN>" in gateway.log()
