"""Who is calling: the `github_session` cookie or an `Authorization: Bearer` token.

AUTH_MODE=local has one user whose token is LOCAL_AUTH_TOKEN (random when unset). GitHub sign-in
plugs into `authenticate` later: the cookie will then name a server-side session in Redis.
"""

import hmac
import secrets

from fastapi import Request
from pydantic import BaseModel

from gateway.settings import Settings
from shared.errors import Unauthorized

COOKIE_NAME = "github_session"
LOCAL_USER_ID = "local"


class User(BaseModel):
    id: str
    login: str
    name: str | None = None


LOCAL_USER = User(id=LOCAL_USER_ID, login="local", name="Local user")


def local_token(settings: Settings) -> str:
    """The token of local mode: the configured one, or a fresh random one for this process."""
    return settings.local_auth_token or secrets.token_urlsafe(32)


def credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE_NAME) or None


def authenticate(request: Request, token: str) -> User:
    given = credential(request)
    if given is None:
        raise Unauthorized(
            "not signed in: send the github_session cookie or an Authorization: Bearer token "
            "(the login URL is printed when the gateway starts)"
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("the session or token is not valid; sign in again")
    return LOCAL_USER
