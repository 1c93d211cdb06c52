"""The front end's files: everything the page loads is one of ours, present, and local."""

import re

from gateway.api.routes.web import STATIC_DIR, WEB_DIR

# Namespaces are names, not addresses: nothing is fetched from them.
_NAMESPACES = {"http://www.w3.org/2000/svg"}
_URL = re.compile(r"""https?://[^\s"'`)]+""")


def test_every_asset_the_page_names_exists() -> None:
    html = (WEB_DIR / "index.html").read_text()
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert (STATIC_DIR / path.removeprefix("/static/")).is_file(), path


def test_every_module_import_resolves() -> None:
    for module in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from "\./([\w.-]+)"', module.read_text()):
            assert (STATIC_DIR / target).is_file(), f"{module.name} imports {target}"


def test_nothing_is_loaded_from_another_site() -> None:
    # Our own files; static/vendor/ holds plotly.js as published, whose addresses (map tiles,
    # topojson) the page's CSP stops it from reaching (default-src 'self').
    for path in [WEB_DIR / "index.html", *(p for p in STATIC_DIR.iterdir() if p.is_file())]:
        urls = set(_URL.findall(path.read_text())) - _NAMESPACES
        assert not urls, f"{path.name} names {urls}"
    assert "<script>" not in (WEB_DIR / "index.html").read_text()  # inline script is refused
