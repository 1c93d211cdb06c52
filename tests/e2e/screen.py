"""What the e2e tests share: screen sizes, signing in as a person would, screenshots."""

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.gateway_process import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The e2e gateway's MAX_UPLOAD_BYTES: small, so a file past it is quick to send.
MAX_UPLOAD_BYTES = 200_000


def sign_in(page: Page, gateway: GatewayProcess) -> None:
    """Open the login link printed at start-up (`make up` prints it with `&next=/`)."""
    page.goto(f"{gateway.base_url}/login/local?token={gateway.token}&next=/")
    page.locator("#app").wait_for()


def new_chat(page: Page) -> None:
    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()


def chat_id(page: Page) -> str:
    """The open chat's id, from the URL's hash."""
    return page.url.rsplit("/", 1)[-1]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
