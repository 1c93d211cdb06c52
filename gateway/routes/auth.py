"""Sign-in: local mode's login link; GitHub sign-in plugs in here later."""

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.auth import COOKIE_NAME, LOCAL_USER, User
from gateway.deps import SettingsDep, UserDep
from shared.errors import AppError, Unauthorized

router = APIRouter(tags=["auth"])


class GithubNotConfigured(AppError):
    status = 400


@router.get("/login/local")
async def login_local(token: str, request: Request, settings: SettingsDep) -> JSONResponse:
    """Exchange the local-mode token (from the printed login URL) for the session cookie."""
    expected: str = request.app.state.local_token
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("this login link is not valid; use the one printed at start-up")
    response = JSONResponse({COOKIE_NAME: expected, "user": LOCAL_USER.model_dump()})
    response.set_cookie(
        COOKIE_NAME,
        expected,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
    )
    return response


@router.get("/login/github")
async def login_github() -> None:
    """Start GitHub sign-in."""
    raise GithubNotConfigured(
        "GitHub sign-in is not configured on this server (AUTH_MODE=local): open the login URL "
        "printed when the gateway started, or send `Authorization: Bearer <LOCAL_AUTH_TOKEN>`"
    )


@router.get("/me")
async def me(user: UserDep) -> User:
    """The signed-in user."""
    return user
