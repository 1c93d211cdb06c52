"""The chat list from the browser: switching, deleting one chat, deleting all, and the layout on
a phone."""

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.screen import PHONE, screenshot, sign_in
from tests.gateway_process import GatewayProcess


def make_chats(gateway: GatewayProcess, questions: list[str]) -> list[str]:
    """Chats made through the API, each with one code run that names it; oldest first."""
    chat_ids = []
    for question in questions:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        gateway.run(chat_id, f"# {question}\nanswer = {len(question)}")
        chat_ids.append(chat_id)
    return chat_ids


def test_delete_one_chat_then_all_of_them(page: Page, web_gateway: GatewayProcess) -> None:
    first, second, third = make_chats(web_gateway, ["first", "second", "third"])
    sign_in(page, web_gateway)
    items = page.locator(".chat-item")
    expect(items).to_have_count(3)
    # Newest first, each named after its first message, fetched in the background.
    expect(items.locator(".chat-name")).to_have_text(["# third", "# second", "# first"])
    expect(page.locator(f'.chat-item[data-chat-id="{third}"]')).to_have_class("chat-item active")

    page.locator(f'.chat-item[data-chat-id="{first}"] .chat-link').click()
    expect(page.locator("#chat-title")).to_have_text("# first")
    expect(page.locator(".bubble-code")).to_contain_text("answer = 5")

    page.locator(f'.chat-item[data-chat-id="{second}"] .chat-delete').click()
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("Delete this chat?")
    screenshot(page, "delete-confirm")
    dialog.locator("button.danger").click()
    expect(items).to_have_count(2)
    assert second not in [c["chat_id"] for c in web_gateway.client.get("/chats").json()]
    expect(page.locator("#chat-title")).to_have_text("# first")

    page.click("#delete-all")
    expect(dialog).to_contain_text("Delete all 2 chats?")
    dialog.locator("button", has_text="Cancel").click()
    expect(items).to_have_count(2)
    page.click("#delete-all")
    dialog.locator("button.danger").click()
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator("#chat-list-empty")).to_be_visible()
    expect(items).to_have_count(0)
    assert web_gateway.client.get("/chats").json() == []


def test_phone_width_shows_the_chat_with_its_panels_below(
    open_context: Callable[..., BrowserContext], web_gateway: GatewayProcess
) -> None:
    (chat_id,) = make_chats(web_gateway, ["sine"])
    web_gateway.run(chat_id, "import numpy as np\nx = np.linspace(0, 6.28, 50)")
    page = open_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(page, web_gateway)

    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chat = page.locator("#chat-view").bounding_box()
    panels = page.locator("#panels").bounding_box()
    assert chat is not None and panels is not None
    assert panels["y"] >= chat["y"] + chat["height"] - 1  # below the chat, not beside it
    assert panels["width"] >= PHONE["width"] - 1
    screenshot(page, "phone-chat")

    page.click("#panels-button")
    expect(page.locator('.var-item[data-name="x"]')).to_be_in_viewport()
    screenshot(page, "phone-panels")

    page.click("#menu-button")
    expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)  # slid in all the way
    expect(page.locator(".chat-item")).to_have_count(1)
    screenshot(page, "phone-chats")
    page.locator(".chat-item .chat-link").click()
    expect(page.locator("#sidebar")).not_to_be_in_viewport()

    page.click(".mode label:has-text('Run code')")
    page.fill("#prompt", "print(len(x))")
    page.locator("#send-button").tap()
    expect(page.locator(".turn-assistant").last.locator(".output-stream")).to_have_text("50\n")
