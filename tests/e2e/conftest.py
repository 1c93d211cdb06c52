"""The web front end in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser), against real gateway processes with the fake LLM and the fake GitHub.

Every page is watched: a JavaScript error, a Content-Security-Policy violation or a request that
leaves the machine fails the test that caused it. Screenshots of the main screens are saved under
test-output/screenshots/.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.screen import LAPTOP, MAX_UPLOAD_BYTES
from tests.fake_llm import FakeLLM
from tests.gateway_process import GatewayProcess

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake


@pytest.fixture(scope="package")
def web_gateway(
    gateway_env: dict[str, str], llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway in local mode with the fake LLM, as `make up` would run it for one person."""
    env = {
        **gateway_env,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "fake-model",
        "LLM_MAX_STEPS": "4",
        "LLM_TIMEOUT_S": "10",
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("web-gateway")) as process:
        yield process


@pytest.fixture(autouse=True)
def no_chats(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts, and leaves, the local user with no chats (sandboxes removed too). The
    local-mode gateways share Redis, so they share that user."""
    name = next((n for n in ("web_gateway", "gateway") if n in request.fixturenames), None)
    if name is None:
        yield
        return
    gateway: GatewayProcess = request.getfixturevalue(name)
    gateway.client.delete("/chats/all").raise_for_status()
    yield
    gateway.client.delete("/chats/all")


class PageWatch:
    """What went wrong in a page that no assertion looks at: script errors, CSP violations and
    requests to anywhere but this machine."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._request)
        context.on("page", self._page)

    def _page(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        # Answers such as 401, 404 or 409 are logged by Chromium as "Failed to load resource";
        # the tests look at how the page shows them.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.hostname != "127.0.0.1":
            self.problems.append(f"request off this machine: {request.url}")


# What the page shows after a sandbox starts (a chat's first run or upload) can take several
# seconds under gVisor on two busy cores; assertions wait as long as actions do.
expect.set_options(timeout=20_000)


@pytest.fixture
def open_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Makes browser contexts (laptop-sized unless told), each watched and closed after."""
    watch = PageWatch()
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**{"viewport": LAPTOP, "accept_downloads": True, **options})
        context.set_default_timeout(20_000)
        watch.attach(context)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


@pytest.fixture
def page(open_context: Callable[..., BrowserContext]) -> Page:
    return open_context().new_page()
