"""The OpenAPI document tells a client every error body and media type, and the README documents
every error code (tests/integration/test_openapi.py checks the document against a live gateway)."""

import re
from pathlib import Path
from typing import Any

import pytest

from gateway.main import create_app
from gateway.settings import Settings
from shared.errors import ErrorCode

README = Path(__file__).resolve().parents[4] / "README.md"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(auth_mode="local")).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_error_response_has_the_error_body(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        assert "500" in operation["responses"], name
        for status, response in operation["responses"].items():
            if int(status) < 400 or name == "GET /health":
                continue
            schema = response["content"]["application/json"]["schema"]
            refs = [schema.get("$ref")] + [s["$ref"] for s in schema.get("anyOf", [])]
            assert "#/components/schemas/ErrorBody" in refs, (name, status)


def test_signed_in_and_chat_routes_list_their_shared_errors(document: dict[str, Any]) -> None:
    responses = document["paths"]["/variables/{chat_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422", "500", "503"} <= set(responses)


def test_streams_uploads_and_downloads_have_their_media_types(document: dict[str, Any]) -> None:
    paths = document["paths"]
    query = paths["/query/{chat_id}"]["post"]["responses"]["200"]["content"]
    assert set(query) == {"application/json", "text/event-stream"}
    upload = paths["/upload_csv/{chat_id}"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/json"}
    assert upload["multipart/form-data"]["schema"]["required"] == ["file"]
    upload_any = paths["/upload/{chat_id}"]["post"]
    body = upload_any["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["type"] == "array"
    assert {p["name"] for p in upload_any["parameters"]} >= {"delimiter", "encoding", "overwrite"}
    assert {"400", "403", "409", "413", "422"} <= set(upload_any["responses"])
    assert set(paths["/variable/{chat_id}/{name}"]["get"]["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
    }
    assert set(paths["/file/{chat_id}/{path}"]["get"]["responses"]["200"]["content"]) == {"*/*"}


def test_only_the_sign_in_of_this_mode_is_documented() -> None:
    local = create_app(Settings(auth_mode="local")).openapi()["paths"]
    assert "/login/local" in local
    assert "/login/github" not in local


def test_every_error_code_is_in_the_readme_table() -> None:
    readme = README.read_text()
    table = readme[readme.index("## Errors") :]
    documented = set(
        re.findall(r"^\| `\d{3}`(?:, `\d{3}`)* \| `([a-z_]+)` \|", table, re.MULTILINE)
    )
    assert documented == {code.value for code in ErrorCode}
