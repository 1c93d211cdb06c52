"""Every route that takes a chat id finds the chat through `get_chat`, the one lookup that answers
404 alike for a missing chat and for another user's: a new route cannot skip the check. Only
the admin API's routes reach any user's chat, through `get_admin`."""

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.api.deps import get_admin, get_chat
from gateway.main import create_app
from gateway.settings import Settings


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_every_chat_route_resolves_the_chat_through_get_chat() -> None:
    app = create_app(Settings(auth_mode="local"))
    routes = [context.route for context in iter_route_contexts(app.routes)]
    chat_routes = [r for r in routes if isinstance(r, APIRoute) and "{chat_id}" in r.path]

    assert len(chat_routes) >= 9
    for route in chat_routes:
        # The admin API reaches any user's chat, and only admins reach it at all.
        check = get_admin if route.path.startswith("/admin/") else get_chat
        assert check in _calls(route.dependant), route.path
