"""What the e2e tests share: screen sizes, signing in as a person would, screenshots."""

from pathlib import Path

from playwright.sync_api import Locator, Page, Request, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.gateway_process import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The e2e gateway's MAX_UPLOAD_BYTES: small, so a file past it is quick to send.
MAX_UPLOAD_BYTES = 200_000


# Content-Security-Policy violations, kept in the page as they happen (an init script runs before
# the page's own and is not subject to its policy).
RECORD_CSP_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.violations.push(`${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`));
"""


def record_csp_violations(page: Page) -> None:
    """From the next load on, `csp_violations(page)` lists what the page's policy refused."""
    page.add_init_script(RECORD_CSP_VIOLATIONS)


def csp_violations(page: Page) -> list[str]:
    violations: list[str] = page.evaluate("window.violations")
    return violations


def sign_in(page: Page, gateway: GatewayProcess) -> None:
    """Open the login link printed at start-up (`make up` prints it with `&next=/`)."""
    pending: dict[Request, str] = {}
    page.on("request", lambda request: pending.setdefault(request, request.url))
    page.on("requestfinished", lambda request: pending.pop(request, None))
    page.on("requestfailed", lambda request: pending.pop(request, None))
    page.goto(f"{gateway.base_url}/login/local?token={gateway.token}&next=/")
    # A first load fetches every module of the page from a gateway that may have just started
    # beside two other test workers' sandboxes: once, it took over the 20 s of other waits.
    try:
        page.locator("#app").wait_for(timeout=60_000)
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"the app did not show after signing in: {_screen(page, pending)}"
        ) from None


def _screen(page: Page, pending: dict[Request, str]) -> str:
    """What the page shows instead of the app, and what it is still waiting for."""
    shown = [
        f"#{screen}: {page.locator(f'#{screen}').inner_text()!r}"
        for screen in ("boot", "signin")
        if page.locator(f"#{screen}").is_visible()
    ]
    body = page.locator("body").inner_text()[:300] if not shown else ""
    return (
        f"url {page.url}; showing {'; '.join(shown) or f'neither screen, body {body!r}'}; "
        f"requests not answered: {sorted(pending.values()) or 'none'}"
    )


def new_chat(page: Page) -> None:
    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()


def chat_id(page: Page) -> str:
    """The open chat's id, from the URL's hash."""
    return page.url.rsplit("/", 1)[-1]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def hover_plotly(page: Page, plot: Locator, target: Locator, text: str) -> None:
    """Points at `target` in a plotly figure until its hover label shows `text`. plotly.js may
    still be laying the figure out (it redraws once it knows its box's size) when the marks are
    first there; a pointer that came too early is moved off and back."""
    label = plot.locator(".hoverlayer")
    for _ in range(10):
        box = target.bounding_box()
        assert box
        page.mouse.move(0, 0)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        try:
            expect(label).to_contain_text(text, timeout=1_000)
            return
        except AssertionError:
            continue
    expect(label).to_contain_text(text)
