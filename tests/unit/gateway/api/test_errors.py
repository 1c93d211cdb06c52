"""Every error leaves the gateway as JSON with a `detail` and a machine-readable `code`, also the
ones FastAPI and Starlette make themselves and the ones no route expected."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.main import create_app
from gateway.settings import Settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    # No lifespan: these answers come before any route needs Redis or Docker.
    app = create_app(Settings(auth_mode="local", max_code_bytes=1024))
    app.state.settings = Settings(auth_mode="local")
    yield TestClient(app, raise_server_exceptions=False)


def test_an_unknown_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


def test_a_wrong_method_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/tokens")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed", "code": "method_not_allowed"}
    # GET and POST /tokens are two routes; both are allowed.
    assert response.headers["allow"] == "GET, POST"


def test_a_body_over_the_limit_is_a_413_with_its_code(client: TestClient) -> None:
    # Past MAX_CODE_BYTES and the room left for a run's env (shared.env.MAX_TOTAL_BYTES).
    response = client.post("/query/chat_20260101_000000_abcd", content=b"x" * 1_000_000)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert "MAX_CODE_BYTES" in response.json()["detail"]


def test_a_request_that_does_not_match_the_api_is_a_422_with_its_issues(
    client: TestClient,
) -> None:
    # The route's dependencies run before its parameters are checked; a stand-in authenticator
    # and audit log (never called) let the missing `token` be the only problem.
    client.app.state.auth = object()  # type: ignore[attr-defined]
    client.app.state.audit = object()  # type: ignore[attr-defined]
    response = client.get("/login/local")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert [issue["loc"] for issue in body["detail"]] == [["query", "token"]]


def test_a_bug_is_a_json_500_that_tells_nothing_inside(client: TestClient) -> None:
    # Without its lifespan the app has no authenticator: the route fails unexpectedly.
    response = client.get("/chats", headers={"Authorization": "Bearer x"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; see the log", "code": "internal_error"}
