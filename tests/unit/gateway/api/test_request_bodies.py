"""Every request body of the API refuses a field it does not know, and the 422 names it with the
fields the body does take: a misspelt or unsupported option is never silently ignored."""

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from gateway.api.errors import explain, first_problem
from gateway.api.routes.chats import NewChat
from gateway.api.routes.query import QueryRequest
from gateway.api.routes.state import ImportAnyRequest, ImportRequest
from gateway.main import create_app
from gateway.settings import Settings

# Bodies that routes read themselves (multipart or JSON), so FastAPI does not know their model.
SELF_READ = [ImportRequest, ImportAnyRequest]


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for inner in getattr(annotation, "__args__", ()) for m in _models(inner)]


def body_models() -> list[type[BaseModel]]:
    app = create_app(Settings(auth_mode="local"))
    found: list[type[BaseModel]] = list(SELF_READ)
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, APIRoute) and route.body_field is not None:
            found += _models(route.body_field.field_info.annotation)
    return found


def test_the_api_has_the_bodies_this_checks() -> None:
    names = {model.__name__ for model in body_models()}
    assert {"QueryRequest", "NewChat", "TokenRequest", "Move", "InstallRequest"} <= names


@pytest.mark.parametrize("model", body_models(), ids=lambda m: m.__name__)
def test_every_request_body_forbids_unknown_fields(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"


def test_an_unknown_field_is_named_with_the_fields_there_are() -> None:
    issues = [
        {"type": "extra_forbidden", "loc": ("body", "language"), "msg": "Extra", "input": "js"},
        {"type": "missing", "loc": ("body", "code"), "msg": "Field required", "input": {}},
    ]
    unknown, other = explain(issues, QueryRequest)
    assert unknown["msg"] == (
        'unknown field "language": this API does not support it '
        "(the fields are: query, code, env, timeout_s)"
    )
    assert unknown["loc"] == ("body", "language")
    assert other == issues[1]


def test_an_optional_body_is_explained_by_its_model() -> None:
    [issue] = explain(
        [{"type": "extra_forbidden", "loc": ("body", "junk"), "msg": "", "input": 1}],
        NewChat | None,
    )
    assert issue["msg"].endswith("(the fields are: image, env)")


def test_without_a_model_the_field_is_still_named() -> None:
    [issue] = explain([{"type": "extra_forbidden", "loc": ("body", 'a"b'), "msg": "", "input": 1}])
    assert issue["msg"] == 'unknown field "a\\"b": this API does not support it'


def test_a_body_read_by_its_route_says_the_same() -> None:
    with pytest.raises(ValidationError) as caught:
        ImportAnyRequest.model_validate_json('{"file_path": "a.csv", "sheet": "x"}')
    assert first_problem(caught.value, ImportAnyRequest) == (
        'unknown field "sheet": this API does not support it '
        "(the fields are: file_path, delimiter, encoding, overwrite)"
    )
