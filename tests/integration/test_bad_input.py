"""Bad input gets a clear 4xx and changes nothing."""

import httpx
import pytest

from tests.gateway_process import GatewayProcess


@pytest.mark.parametrize(
    "chat_id",
    [
        "chat_20200101_000000_zzzz",
        "nonsense",
        "chat_2020",
        "CHAT_20200101_000000",
        "chat_20200101_000000_a%20b",
    ],
)
def test_unknown_or_malformed_chat_is_404(gateway: GatewayProcess, chat_id: str) -> None:
    for method, path in [
        ("POST", f"/query/{chat_id}"),
        ("GET", f"/files/{chat_id}"),
        ("GET", f"/file/{chat_id}/x.txt"),
        ("DELETE", f"/chat/{chat_id}"),
    ]:
        response = gateway.client.request(method, path, json={"code": "1"})
        assert response.status_code == 404, (method, path, response.text)
        assert "not found" in response.json()["detail"]
        assert response.json()["code"] == "chat_not_found"


def test_code_over_one_mebibyte_is_413(gateway: GatewayProcess, chat_id: str) -> None:
    code = "#" * (1024 * 1024 + 1)
    response = gateway.client.post(f"/query/{chat_id}", json={"code": code})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert response.json()["code"] == "payload_too_large"
    assert gateway.client.get(f"/chat/{chat_id}/messages").json() == []


def test_huge_body_is_refused_before_it_is_read(gateway: GatewayProcess, chat_id: str) -> None:
    response = gateway.client.post(
        f"/query/{chat_id}",
        content=b"x" * (8 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_missing_or_empty_body_is_422(gateway: GatewayProcess, chat_id: str) -> None:
    assert gateway.client.post(f"/query/{chat_id}").status_code == 422
    response = gateway.client.post(f"/query/{chat_id}", json={})
    assert response.status_code == 422
    assert "exactly one" in response.text
    assert response.json()["code"] == "invalid_request"
    assert gateway.client.post(f"/query/{chat_id}", json={"code": 5}).status_code == 422


def test_natural_language_query_without_llm_names_the_settings(
    gateway: GatewayProcess, chat_id: str
) -> None:
    response = gateway.client.post(f"/query/{chat_id}", json={"query": "plot a sine wave"})
    assert response.status_code == 503
    assert "LLM_MODEL" in response.json()["detail"]
    assert response.json()["code"] == "llm_not_configured"


def test_requests_without_credentials_are_401(gateway: GatewayProcess) -> None:
    anonymous = httpx.get(f"{gateway.base_url}/chats")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_signed_in"
    wrong = httpx.get(f"{gateway.base_url}/chats", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "session_expired"
    # Local mode's token is a Bearer token, never the cookie (the login link trades it for one).
    cookie = httpx.get(f"{gateway.base_url}/chats", cookies={"github_session": gateway.token})
    assert cookie.status_code == 401
    assert cookie.json()["code"] == "session_expired"


def test_login_link_sets_the_cookie(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        wrong = browser.get("/login/local", params={"token": "wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "invalid_login_link"
        response = browser.get("/login/local", params={"token": gateway.token})
        assert response.status_code == 200
        assert response.json()["github_session"] == browser.cookies["github_session"]
        assert browser.cookies["github_session"] != gateway.token
        assert browser.get("/me").json()["id"] == "local"


def test_missing_variables_and_files_are_told_apart(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "x = 1")
    variable = gateway.client.get(f"/variable/{chat_id}/nope")
    file = gateway.client.get(f"/file/{chat_id}/nope.txt")
    assert (variable.status_code, variable.json()["code"]) == (404, "variable_not_found")
    assert (file.status_code, file.json()["code"]) == (404, "file_not_found")


def test_unknown_paths_and_methods_answer_json_with_a_code(gateway: GatewayProcess) -> None:
    missing = gateway.client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found", "code": "not_found"}
    wrong = gateway.client.put("/tokens")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "GET, POST"
