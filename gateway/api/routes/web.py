"""The web front end: the page at `/`, the admin page at `/admin`, and their assets under
`/static/`, all served from this package (no CDN, no build step)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
STATIC_DIR = WEB_DIR / "static"

# Only our own files run and style the page; pictures may also be data: and blob: URLs (figures
# arrive base64-encoded, SVG displays are shown as data: pictures). HTML from a sandbox is never
# inserted as HTML: the page rebuilds only its tables, from text (static/sanitize.js), and this
# policy would refuse anything else anyway. plotly.js, served from static/vendor/, runs under the
# same policy, no eval and no inline style (static/plotly-figure.js says how).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    # Always revalidated, so a new version of the gateway is picked up at the next load.
    "cache-control": "no-cache",
}

router = APIRouter(tags=["web"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The front end's page: sign-in and the chats."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/admin", include_in_schema=False)
async def admin_page() -> FileResponse:
    """The admin page. Served to anyone, like `/`: it holds no data; what it shows comes from
    the admin API, which answers 404 to anyone but an admin."""
    return FileResponse(WEB_DIR / "admin.html", media_type="text/html", headers=_PAGE_HEADERS)


class _Assets(StaticFiles):
    """Static files revalidated on every load (ETag makes that a cheap 304), never sniffed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "no-cache"
        response.headers["x-content-type-options"] = "nosniff"
        return response


def static_files() -> StaticFiles:
    return _Assets(directory=STATIC_DIR)
