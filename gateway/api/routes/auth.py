"""Sign-in and sign-out: GitHub OAuth, local mode's login link, the signed-in user.

Each sign-in mode's routes have a router of their own, so that the OpenAPI document lists only
the ones that work on this server (the others answer 400 saying how to sign in instead).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gateway.api.deps import AuditDep, AuthDep, GitHubDep, SettingsDep, UserDep
from gateway.api.openapi import errors
from gateway.audit import AuditAction, AuditLog, AuditOutcome
from gateway.auth.authenticator import (
    COOKIE_NAME,
    Authenticator,
    Identity,
    SignInRefused,
    safe_next,
)
from gateway.auth.github import GitHub
from gateway.auth.users import User
from gateway.settings import Settings
from shared.errors import AppError, ErrorCode, InvalidInput

router = APIRouter(tags=["auth"])
local_router = APIRouter(tags=["auth"])
github_router = APIRouter(tags=["auth"])

# Where the local path to return to after sign-in waits, in the signed OAuth state cookie.
_NEXT_KEY = "next"


class GithubNotConfigured(AppError):
    status = 400
    code = ErrorCode.SIGN_IN_MODE_OFF


_LOCATION = {"description": "where the browser goes", "schema": {"type": "string"}}


def _redirect(status: int, to: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": f"Redirects to {to}", "headers": {"location": _LOCATION}}}


def _github(github: GitHub | None) -> GitHub:
    if github is None:
        raise GithubNotConfigured(
            "GitHub sign-in is not configured on this server (AUTH_MODE=local): open the login "
            "URL printed when the gateway started, or send `Authorization: Bearer "
            "<LOCAL_AUTH_TOKEN>`"
        )
    return github


def _signed_in(user: User, cookie: str, target: str | None, settings: Settings) -> Response:
    """The answer to a finished sign-in, either mode: the new session's cookie, and a redirect
    to `target` or the cookie's value and the user as JSON (for curl)."""
    response: Response
    if target:
        response = RedirectResponse(target, status_code=303)
    else:
        response = JSONResponse({COOKIE_NAME: cookie, "user": user.model_dump()})
    # The answer holds a session: no cache keeps it, and the URL it answers (which may carry a
    # token or a code) is not passed on as a referrer.
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    # The browser may keep the cookie until the absolute expiry; the server ends it sooner when
    # it sits idle or is signed out.
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(settings.session_max_age_s),
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
    )
    return response


async def _sign_in_failed(audit: AuditLog, request: Request, method: str, e: AppError) -> None:
    refused = e if isinstance(e, SignInRefused) else None
    await audit.record(
        AuditAction.SIGN_IN_FAILED,
        request=request,
        actor=refused.user if refused else None,
        outcome=AuditOutcome.REFUSED if refused else AuditOutcome.FAILURE,
        details={"method": method, "code": e.code, "reason": e.detail},
    )


@router.get("/auth/config")
async def auth_config(settings: SettingsDep) -> dict[str, str]:
    """How to sign in to this server (no sign-in needed): `mode` is "github" or "local"."""
    return {"mode": settings.effective_auth_mode}


@local_router.get("/login/local", responses={**_redirect(303, "`next`"), **errors(400, 401, 503)})
async def login_local(
    token: str,
    request: Request,
    settings: SettingsDep,
    auth: AuthDep,
    audit: AuditDep,
    next: str | None = None,
) -> Response:
    """Trade the local-mode token (from the printed login link) for a new session: set the
    `github_session` cookie and return it with the user as JSON, or, with `next`, a path on
    this server, redirect the browser there (out of the URL that holds the token)."""
    # A GET, because it is a link to click. A page elsewhere can make a browser open it, but
    # only with the token, which is the one user's own key: it signs that user in as themselves.
    if settings.effective_auth_mode != "local":
        raise InvalidInput(
            "local sign-in is off on this server; sign in at /login/github",
            ErrorCode.SIGN_IN_MODE_OFF,
        )
    try:
        user, cookie = await auth.sign_in_local(request, token)
    except AppError as e:
        await _sign_in_failed(audit, request, "local", e)
        raise
    await audit.record(
        AuditAction.SIGN_IN, request=request, actor=user, details={"method": "local"}
    )
    return _signed_in(user, cookie, safe_next(next), settings)


@github_router.get(
    "/login/github",
    status_code=302,
    response_class=RedirectResponse,
    responses={**_redirect(302, "GitHub"), **errors(503)},
)
async def login_github(
    request: Request, settings: SettingsDep, github: GitHubDep, next: str | None = None
) -> Response:
    """Start GitHub sign-in (open it in a browser); `next`, a path on this server, is where the
    browser goes once signed in instead of getting the JSON answer."""
    github = _github(github)
    target = safe_next(next)
    if target:
        request.session[_NEXT_KEY] = target
    else:
        request.session.pop(_NEXT_KEY, None)
    return await github.authorize_redirect(request, f"{settings.base_url}/auth/github/callback")


@github_router.get(
    "/auth/github/callback",
    responses={**_redirect(303, "`next`"), **errors(400, 403, 502, 503)},
)
async def github_callback(
    request: Request,
    settings: SettingsDep,
    auth: AuthDep,
    audit: AuditDep,
    github: GitHubDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """Finish GitHub sign-in: set the `github_session` cookie and return it with the user as
    JSON (or redirect to the `next` given to /login/github)."""
    _github(github)
    target = safe_next(request.session.pop(_NEXT_KEY, None))
    try:
        user, cookie = await _finish_github_sign_in(
            request, auth, code, state, error, error_description
        )
    except AppError as e:
        await _sign_in_failed(audit, request, "github", e)
        raise
    await audit.record(
        AuditAction.SIGN_IN, request=request, actor=user, details={"method": "github"}
    )
    return _signed_in(user, cookie, target, settings)


async def _finish_github_sign_in(
    request: Request,
    auth: Authenticator,
    code: str | None,
    state: str | None,
    error: str | None,
    error_description: str | None,
) -> tuple[User, str]:
    """The callback's checks, each with its own 400, then the exchange with GitHub: the user
    and the cookie value of their new session."""
    again = "open /login/github to try again"
    if error:
        reason = f"{error} ({error_description})" if error_description else error
        raise InvalidInput(
            f"GitHub sign-in did not complete: {reason}; {again}", ErrorCode.SIGN_IN_FAILED
        )
    if not code:
        raise InvalidInput(
            f"the callback has no `code` from GitHub; {again}", ErrorCode.SIGN_IN_FAILED
        )
    if not state:
        raise InvalidInput(
            f"the callback has no `state`, so it cannot be checked; {again}",
            ErrorCode.SIGN_IN_FAILED,
        )
    return await auth.sign_in(request)


@router.post("/logout", responses={**_redirect(303, "`next`"), **errors(503)})
async def logout(
    request: Request,
    auth: AuthDep,
    audit: AuditDep,
    settings: SettingsDep,
    next: str | None = None,
) -> Response:
    """Sign out: end the session on the server (the old cookie then gets 401) and clear the
    cookie; with `next`, a path on this server, redirect there."""
    # Who is signing out, for the audit log; only the end of a real session is recorded, not
    # every request to this path.
    try:
        identity: Identity | None = await auth.identify(request)
    except AppError:
        identity = None
    await auth.sign_out(request)
    if identity is not None and identity.via == "session":
        await audit.record(AuditAction.SIGN_OUT, request=request, actor=identity.user)
    target = safe_next(next)
    response: Response
    if target:
        response = RedirectResponse(target, status_code=303)
    else:
        response = JSONResponse({"signed_out": True})
    response.delete_cookie(
        COOKIE_NAME,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
    )
    return response


class Me(User):
    # Whether the admin API and page (/admin) are open to this user.
    admin: bool


@router.get("/me")
async def me(user: UserDep, auth: AuthDep) -> Me:
    """The signed-in user, and whether they are an admin."""
    return Me(**user.model_dump(), admin=auth.admins.includes(user))
