"""Cross-site request forgery: a state change authenticated by cookie must come from our origin.

Browsers send the `github_session` cookie with requests another site's page starts, and
`SameSite=Lax` does not stop a form on another port of the same host (the same site). So every
POST, PUT, PATCH or DELETE without a Bearer credential is refused (403 `cross_site_request`)
when the browser says it came from elsewhere: `Sec-Fetch-Site` other than `same-origin` or
`none`, or an `Origin` other than ours (PUBLIC_URL's origin, or the one the request's own Host
names). Requests with neither header (curl, scripts) pass; no browser sends a cross-origin POST
without one of them. Bearer requests pass: a page cannot make a browser add that header to
another origin's request. README: Sign-in.
"""

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.errors import error_response
from shared.errors import ErrorCode

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OWN_SITE = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

REFUSED = (
    "a cross-site request may not change anything with the sign-in cookie: send it from this "
    "server's own pages, or authenticate with `Authorization: Bearer`"
)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased and without the scheme's default port;
    None when it has no scheme or host (an Origin of "null", say)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _has_bearer(headers: Headers) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


class SameOriginStateChanges:
    """ASGI middleware refusing cross-site state changes that would ride on the cookie."""

    def __init__(self, app: ASGIApp, public_url: str | None) -> None:
        self.app = app
        self.public_origin = origin_of(public_url) if public_url else None

    def _cross_site(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        if _has_bearer(headers):
            return False
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() not in _OWN_SITE:
            return True
        origin = headers.get("origin")
        if origin is None:
            return False
        own = {self.public_origin}
        if host := headers.get("host"):
            own.add(origin_of(f"{scope.get('scheme', 'http')}://{host}"))
        claimed = origin_of(origin)
        return claimed is None or claimed not in own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"].upper() in STATE_CHANGING
            and self._cross_site(scope)
        ):
            response = error_response(403, ErrorCode.CROSS_SITE_REQUEST, REFUSED)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
