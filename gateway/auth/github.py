"""GitHub, and the only code that talks to it: OAuth sign-in through authlib's Starlette client, and
the API calls sign-in needs (the user's profile, org membership).

Every URL comes from GITHUB_URL and GITHUB_API_URL, so GitHub Enterprise and the tests' fake
GitHub work the same way as github.com.
"""

import logging
from typing import Any
from urllib.parse import quote

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.starlette_client import OAuth
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from gateway import keys
from gateway.settings import Settings
from shared.errors import BadGateway, ErrorCode, InvalidInput

# authlib's httpx integration runs on httpx2 when it is installed and on httpx otherwise; its
# network errors are that module's, so they are caught from the same module it picked.
try:
    import httpx2 as _http
except ImportError:  # pragma: no cover - depends on what else is installed
    import httpx as _http  # type: ignore[no-redef]

log = logging.getLogger(__name__)

# How long a started sign-in may take to come back. GitHub's codes live 10 minutes too.
SIGN_IN_WINDOW_S = 600
_TIMEOUT_S = 10.0
_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubUser(BaseModel):
    id: int
    login: str
    name: str | None = None
    avatar_url: str | None = None


class _StateStore:
    """authlib's cache interface over Redis: the state data of sign-ins in progress (PKCE
    verifier, redirect URI) stays on the server, and the browser's signed cookie holds only a
    marker that binds the sign-in to that browser."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, name: str) -> str | None:
        # GETDEL, not GET: authlib reads the state once per callback, so taking it in the same
        # step makes two racing callbacks with one state unable to both use it.
        return keys.text_or_none(await self._redis.getdel(keys.oauth_state(name)))

    async def set(self, name: str, value: str, expires_in: int) -> None:
        await self._redis.set(keys.oauth_state(name), value, ex=min(expires_in, SIGN_IN_WINDOW_S))

    async def delete(self, name: str) -> None:
        await self._redis.delete(keys.oauth_state(name))


class GitHub:
    def __init__(self, settings: Settings, redis: Redis, scope: str | None) -> None:
        base = settings.github_url.rstrip("/")
        self._api = settings.github_api_url.rstrip("/")
        oauth = OAuth(cache=_StateStore(redis))
        self._app = oauth.register(
            "github",
            client_id=settings.github_client_id,
            client_secret=settings.github_client_secret,
            authorize_url=f"{base}/login/oauth/authorize",
            access_token_url=f"{base}/login/oauth/access_token",
            client_kwargs={
                "scope": scope,
                # PKCE: a code caught on its way back (logs, referrers) is useless without the
                # verifier, which never leaves the server.
                "code_challenge_method": "S256",
                # GitHub documents the client secret as a form field of the token request.
                "token_endpoint_auth_method": "client_secret_post",
                "timeout": _TIMEOUT_S,
            },
        )

    async def authorize_redirect(self, request: Request, redirect_uri: str) -> Response:
        """The redirect to GitHub's authorize page, with a fresh state and PKCE challenge."""
        # A starlette RedirectResponse; authlib's stubs leave it untyped.
        response: Response = await self._app.authorize_redirect(request, redirect_uri)
        return response

    async def access_token(self, request: Request) -> dict[str, Any]:
        """Check the callback's state against the sign-in this browser started and trade its
        code for an access token."""
        try:
            # The token endpoint's JSON (authlib's OAuth2Token, a dict); untyped in the stubs.
            token: dict[str, Any] = await self._app.authorize_access_token(request)
            return token
        except MismatchingStateError as e:
            raise InvalidInput(
                "the sign-in state does not match a sign-in started in this browser: it is "
                "wrong, expired or already used; open /login/github again in the browser you "
                "sign in with",
                ErrorCode.SIGN_IN_FAILED,
            ) from e
        except OAuthError as e:
            raise InvalidInput(
                f"GitHub did not accept the sign-in code ({e.error}: {e.description}); "
                "open /login/github again",
                ErrorCode.SIGN_IN_FAILED,
            ) from e
        except _http.HTTPError as e:
            raise BadGateway(
                f"GitHub could not be reached to finish the sign-in: {e}",
                ErrorCode.GITHUB_UNAVAILABLE,
            ) from e

    async def user(self, token: dict[str, Any]) -> GitHubUser:
        response = await self._get("/user", token)
        if response.status_code != 200:
            raise BadGateway(
                f"GitHub answered {response.status_code} for the signed-in user",
                ErrorCode.GITHUB_UNAVAILABLE,
            )
        try:
            return GitHubUser.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise BadGateway(
                "GitHub's answer for the signed-in user was not a user",
                ErrorCode.GITHUB_UNAVAILABLE,
            ) from e

    async def is_member(self, token: dict[str, Any], org: str) -> bool:
        """Whether the user is an active member of the org (needs the read:org scope)."""
        response = await self._get(f"/user/memberships/orgs/{quote(org, safe='')}", token)
        if response.status_code in (403, 404):
            # 404: not a member. 403: e.g. the org restricts OAuth apps and has not approved
            # this one; the operator needs GitHub's message to tell.
            if response.status_code == 403:
                log.warning("GitHub refused the membership check of %s: %s", org, response.text)
            return False
        if response.status_code != 200:
            raise BadGateway(
                f"GitHub answered {response.status_code} for a membership of {org}",
                ErrorCode.GITHUB_UNAVAILABLE,
            )
        try:
            membership = response.json()
        except ValueError as e:
            raise BadGateway(
                "GitHub's answer for an org membership was not JSON", ErrorCode.GITHUB_UNAVAILABLE
            ) from e
        return isinstance(membership, dict) and membership.get("state") == "active"

    async def _get(self, path: str, token: dict[str, Any]) -> Any:
        try:
            return await self._app.get(f"{self._api}{path}", token=token, headers=_API_HEADERS)
        except _http.HTTPError as e:
            raise BadGateway(
                f"GitHub's API could not be reached: {e}", ErrorCode.GITHUB_UNAVAILABLE
            ) from e
