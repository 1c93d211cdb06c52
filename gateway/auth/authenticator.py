"""Who is calling, and who may sign in.

A caller shows one credential: the `github_session` cookie, or `Authorization: Bearer` with either
a personal API token (`ads_...`) or the cookie's value (which sign-in returns as JSON, for curl).
The cookie names a server-side session, made by GitHub sign-in (AUTH_MODE=github) or, in
AUTH_MODE=local, by the login link, which trades LOCAL_AUTH_TOKEN (random when unset) for a
session of the one user, "local". The local token itself is accepted only as a Bearer token, never
as the cookie: a cookie that a browser keeps must be revocable, and that token is not.
"""

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request
from redis.asyncio import Redis

from gateway.auth.admins import Admins
from gateway.auth.github import GitHub
from gateway.auth.sign_in_sessions import SessionStore
from gateway.auth.tokens import TOKEN_PREFIX, TokenStore
from gateway.auth.users import User, UserStore, github_user_id
from gateway.settings import Settings
from shared.errors import ErrorCode, Forbidden, Unauthorized

log = logging.getLogger(__name__)

COOKIE_NAME = "github_session"
LOCAL_USER_ID = "local"
LOCAL_USER = User(id=LOCAL_USER_ID, login="local", name="Local user")
BLOCKED = "an admin of this server has blocked your account; ask them to unblock it"


class SignInRefused(Forbidden):
    """GitHub said who the user is, and this server will not let them in; `user` says who, for
    the audit log."""

    def __init__(self, user: User, detail: str, code: ErrorCode) -> None:
        super().__init__(detail, code)
        self.user = user


@dataclass(frozen=True)
class Identity:
    user: User
    # How the caller proved who it is: a sign-in session, a personal API token, or local mode's
    # token sent as Bearer. API tokens may not mint tokens, so a leaked one cannot outlive its own
    # revocation.
    via: Literal["session", "token", "local"]


def local_token(settings: Settings) -> str:
    """The token of local mode: the configured one, or a fresh random one for this process."""
    return settings.local_auth_token or secrets.token_urlsafe(32)


def log_sign_in(settings: Settings, token: str) -> None:
    """Tell the operator at start-up how users sign in. A configured LOCAL_AUTH_TOKEN stays out
    of the log (the operator has it; `deploy/print-login.sh` prints the link); one made up for
    this process is logged once, as Jupyter does, since nobody could sign in otherwise."""
    base = settings.base_url
    if settings.effective_auth_mode == "local":
        if settings.local_auth_token:
            log.info(
                "local sign-in: %s/login/local?token=<LOCAL_AUTH_TOKEN>&next=/ "
                "(deploy/print-login.sh prints it with the token)",
                base,
            )
        else:
            log.info(
                "local sign-in (LOCAL_AUTH_TOKEN is unset: a token for this process only): "
                "%s/login/local?token=%s&next=/",
                base,
                token,
            )
        return
    log.info(
        "GitHub sign-in: %s/login/github (OAuth app callback: %s/auth/github/callback)", base, base
    )
    if not settings.public_url:
        log.warning("PUBLIC_URL is unset: GitHub sends browsers back to %s", base)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path on this server, else None, so that sign-in's `next` can never
    send a browser to another site."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.com" and "/\t/evil.com"
    # would both be taken as "//evil.com", a link to another host.
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


class SignInPolicy:
    """ALLOWED_GITHUB_USERS (logins, or numeric ids that survive a rename) and
    ALLOWED_GITHUB_ORGS; both empty means any GitHub user
    (the gateway starts so only with ALLOW_ANY_GITHUB_USER=true)."""

    def __init__(self, settings: Settings) -> None:
        entries = settings.allowed_github_user_entries
        self._ids = {entry for entry in entries if entry.isdigit()}
        self._logins = {entry.lower() for entry in entries if not entry.isdigit()}
        self.orgs = settings.allowed_github_org_list

    def admits(self, user: User) -> bool:
        if not (self._ids or self._logins or self.orgs):
            return True
        if user.id.removeprefix("gh:") in self._ids or user.login.lower() in self._logins:
            return True
        allowed_orgs = {org.lower() for org in self.orgs}
        return any(org.lower() in allowed_orgs for org in user.orgs)

    def refusal(self, user: User) -> str:
        how = "add your login to ALLOWED_GITHUB_USERS"
        if self.orgs:
            how += f" or make you a member of {' or '.join(self.orgs)}"
        return f"the GitHub user '{user.login}' may not use this server; ask its operator to {how}"


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        users: UserStore,
        tokens: TokenStore,
        sessions: SessionStore,
        github: GitHub | None,
        local_token: str,
    ) -> None:
        self._local = settings.effective_auth_mode == "local"
        self.users = users
        self.sessions = sessions
        self._local_token = local_token
        self.tokens = tokens
        self.github = github
        self.policy = SignInPolicy(settings)
        self.admins = Admins(settings)

    @classmethod
    def create(cls, settings: Settings, redis: Redis, local_token: str) -> "Authenticator":
        """Sign-in sessions and API tokens; GitHub mode: GitHub too."""
        github = None
        if settings.effective_auth_mode == "github":
            secret = settings.session_secret or ""
            # read:org only when membership must be checked: no more access than needed.
            scope = "read:org" if settings.allowed_github_org_list else None
            github = GitHub(settings, redis, scope)
        else:
            # Local mode's cookies are signed with its token, which SESSION_SECRET need not be
            # set beside: every process with the same LOCAL_AUTH_TOKEN accepts them, and a new
            # token ends the sessions made with the old one.
            secret = local_token
        sessions = SessionStore(
            redis, secret, settings.session_idle_timeout_s, settings.session_max_age_s
        )
        return cls(settings, UserStore(redis), TokenStore(redis), sessions, github, local_token)

    async def identify(self, request: Request) -> Identity:
        bearer = _bearer(request)
        cookie = request.cookies.get(COOKIE_NAME) or None
        how = (
            "open the login link printed when the gateway started (deploy/print-login.sh "
            "prints it again) or send `Authorization: Bearer <LOCAL_AUTH_TOKEN>`"
            if self._local
            else "sign in at /login/github in a browser"
        )
        # A Bearer header wins over the cookie.
        if bearer:
            identity = await self._from_bearer(bearer)
        elif cookie:
            identity = await self._from_cookie(cookie)
        else:
            raise Unauthorized(
                "not signed in: send the github_session cookie or an Authorization: Bearer token "
                f"({how})"
            )
        if identity is None:
            raise Unauthorized(
                "the session or token is not valid (expired, revoked or signed out); "
                f"sign in again: {how}",
                ErrorCode.SESSION_EXPIRED,
            )
        # Checked on every request, not only at sign-in: taking someone off the allow-list
        # (and restarting) ends their existing sessions and tokens too.
        if not self._local and not self._admitted(identity.user):
            raise Forbidden(self.policy.refusal(identity.user), ErrorCode.USER_NOT_ALLOWED)
        if identity.user.blocked:
            raise Forbidden(BLOCKED, ErrorCode.USER_BLOCKED)
        return identity

    def _admitted(self, user: User) -> bool:
        # An admin needs no separate place on the allow-lists.
        return self.policy.admits(user) or self.admins.includes(user)

    async def _from_bearer(self, given: str) -> Identity | None:
        if self._local and self._is_local_token(given):
            return Identity(LOCAL_USER, "local")
        return await self._from_cookie(given)

    async def _from_cookie(self, given: str) -> Identity | None:
        """What the cookie's value (or the same value sent as Bearer) names: an API token or a
        sign-in session. The local token is not among them, so a browser never holds it."""
        if given.startswith(TOKEN_PREFIX):
            user = await self.user(await self.tokens.resolve(given))
            return Identity(user, "token") if user else None
        user = await self.user(await self.sessions.resolve(given))
        return Identity(user, "session") if user else None

    def _is_local_token(self, given: str) -> bool:
        """Whether `given` is local mode's token; compared in constant time."""
        return hmac.compare_digest(given.encode(), self._local_token.encode())

    async def user(self, user_id: str | None) -> User | None:
        """The user of this id in this sign-in mode, or None."""
        # Each mode has its own users: a token made by the local user stops working once the
        # server runs with GitHub sign-in, and the other way round.
        if user_id is None:
            return None
        if self._local:
            return LOCAL_USER if user_id == LOCAL_USER_ID else None
        return await self.users.get(user_id)

    async def sign_in(self, request: Request) -> tuple[User, str]:
        """Finish a GitHub sign-in: the user, and the cookie value of their new session."""
        github = self.github
        if github is None:
            raise RuntimeError("GitHub sign-in needs AUTH_MODE=github")
        token = await github.access_token(request)
        profile = await github.user(token)
        member_of = [org for org in self.policy.orgs if await github.is_member(token, org)]
        user = User(
            id=github_user_id(profile.id),
            login=profile.login,
            name=profile.name,
            avatar_url=profile.avatar_url,
            orgs=member_of,
        )
        if not self._admitted(user):
            raise SignInRefused(user, self.policy.refusal(user), ErrorCode.USER_NOT_ALLOWED)
        known = await self.users.get(user.id)
        if known is not None and known.blocked:
            raise SignInRefused(user, BLOCKED, ErrorCode.USER_BLOCKED)
        await self.users.save(user)
        return user, await self._new_session(request, user.id)

    async def sign_in_local(self, request: Request, token: str) -> tuple[User, str]:
        """Trade local mode's token (from the login link) for a new session: the local user,
        and the session's cookie value. A wrong token changes nothing, not even the session
        this browser already has."""
        if not self._local:
            raise RuntimeError("local sign-in needs AUTH_MODE=local")
        if not self._is_local_token(token):
            raise Unauthorized(
                "this login link's token is not this server's LOCAL_AUTH_TOKEN (a mistyped "
                "link, or one from an earlier start); run `make up` again or "
                "`deploy/print-login.sh` for the current link",
                ErrorCode.INVALID_LOGIN_LINK,
            )
        return LOCAL_USER, await self._new_session(request, LOCAL_USER_ID)

    async def _new_session(self, request: Request, user_id: str) -> str:
        # A new session id at each sign-in; a session this browser had before is ended, so an
        # id planted in it beforehand (session fixation) is worth nothing.
        previous = request.cookies.get(COOKIE_NAME)
        if previous:
            await self.sessions.revoke(previous)
        return await self.sessions.create(user_id)

    async def sign_out(self, request: Request) -> None:
        """End the caller's sessions (the cookie's, and one sent as Bearer); API tokens and local
        mode's token stay valid (API tokens are revoked one by one)."""
        for given in {_bearer(request), request.cookies.get(COOKIE_NAME)}:
            if given and not given.startswith(TOKEN_PREFIX):
                await self.sessions.revoke(given)
