"""The OpenAPI document, exact about errors: every operation lists each error status it can
answer with, and each has the error body (`detail`, `code`).

The statuses every route of a kind shares are derived here, in one place, from what the route
depends on, so a new route is documented like its siblings without repeating them: signed-in
routes answer 401/403 and 503 (the chat store), state-changing ones 403 (a cross-site request),
chat routes 404, routes with parameters or a body 422, routes with a body 400 and 413, and any
route 500. Route-specific statuses (409, 502, ...) are named on the route's decorator with
`errors(...)`.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from gateway.api.csrf import STATE_CHANGING
from gateway.api.deps import get_chat, get_identity
from gateway.api.errors import ErrorBody, ValidationErrorBody

# What each status means here and the codes it may carry (README: Errors lists them all).
DESCRIPTIONS: dict[int, str] = {
    400: "Input that cannot be used (`invalid_input`, `invalid_path`, `sign_in_failed`, "
    "`sign_in_mode_off`), or a body that does not parse (`invalid_request`)",
    401: "Not signed in, or the session or token ended (`not_signed_in`, `session_expired`, "
    "`invalid_login_link`)",
    403: "Not allowed (`user_not_allowed`, `user_blocked`, `import_not_allowed`, "
    "`token_not_allowed`), or a "
    "state change with the cookie from another origin (`cross_site_request`)",
    404: "Not found (`chat_not_found`, also for another user's chat; `file_not_found`, "
    "`variable_not_found`, `token_not_found`)",
    409: "The chat is busy (`chat_busy`), or code in the sandbox got in the way (`conflict`)",
    413: "The body is larger than MAX_CODE_BYTES or MAX_UPLOAD_BYTES allow (`payload_too_large`), "
    "or an upload meets a chat past its SANDBOX_DISK_LIMIT or would take it past "
    "(`disk_quota_exceeded`)",
    422: "The request does not match this API (`invalid_request`); `detail` is FastAPI's list of "
    "issues, or a sentence",
    429: "A per-user quota would be passed (`quota_exceeded`: USER_MAX_CHATS, "
    "USER_MAX_RUNNING_SANDBOXES, USER_DISK_LIMIT, USER_LLM_TOKENS_PER_DAY); `detail` names it",
    500: "A fault of the gateway (`internal_error`); its log has the details",
    502: "A service behind the gateway failed (`llm_error`, `llm_unavailable`, "
    "`github_unavailable`, `sandbox_error`)",
    503: "Something the gateway needs is down (`sandbox_unavailable`, `store_unavailable`, "
    "`llm_unavailable`, `llm_not_configured`)",
    504: "The sandbox did not answer in time (`sandbox_timeout`)",
}

_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_VALIDATION_ERROR = {
    "anyOf": [{"$ref": "#/components/schemas/ValidationErrorBody"}, _ERROR],
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own error statuses, for its decorator's `responses=`; their bodies are added
    when the document is made."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` build the exact document (once; FastAPI caches it on the app)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, ValidationErrorBody):
        _add_component(schemas, model)
    # FastAPI's own 422 bodies are replaced by ours below.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _document_errors(operation, _shared_statuses(route, method, operation))
    return document


def _add_component(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def _shared_statuses(route: RouteContext, method: str, operation: dict[str, Any]) -> set[int]:
    calls = _calls(route.dependant)
    statuses = {500}
    if method.upper() in STATE_CHANGING:
        statuses.add(403)  # from another origin with the cookie (gateway/api/csrf.py)
    if get_identity in calls:
        statuses |= {401, 403, 503}
    if get_chat in calls:
        statuses.add(404)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413}  # a body that does not parse; one over the size limit
    return statuses


def _calls(dependant: Dependant) -> set[Callable[..., Any] | None]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _document_errors(operation: dict[str, Any], shared: set[int]) -> None:
    responses: dict[str, Any] = operation["responses"]
    for status in shared:
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for key, response in responses.items():
        if not key.isdigit() or int(key) < 400:
            continue
        if key == "422":
            response["description"] = DESCRIPTIONS[422]
            response["content"] = {"application/json": {"schema": _VALIDATION_ERROR}}
        else:
            response.setdefault("content", {"application/json": {"schema": _ERROR}})
