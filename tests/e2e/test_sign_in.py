"""Signing in and out from the browser: local mode's login link or token, and GitHub."""

from playwright.sync_api import Page, expect

from tests.e2e.screen import screenshot, sign_in
from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import with_cookie


def test_local_mode_explains_how_to_sign_in_and_takes_the_link(
    page: Page, web_gateway: GatewayProcess
) -> None:
    page.goto(f"{web_gateway.base_url}/")
    expect(page.locator("#signin-local")).to_be_visible()
    expect(page.locator("#signin-local")).to_contain_text("sign-in link printed when the gateway")
    expect(page.locator("#signin-github")).to_be_hidden()
    screenshot(page, "sign-in-local")

    page.fill("#token-input", "not-the-token")
    page.press("#token-input", "Enter")
    expect(page.locator("#signin-error")).to_contain_text("not valid")

    # The whole printed link pasted in works as well as the bare token.
    page.fill("#token-input", f"{web_gateway.base_url}/login/local?token={web_gateway.token}")
    page.press("#token-input", "Enter")
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator("#user")).to_contain_text("Local user")
    expect(page.locator("#chat-list-empty")).to_be_visible()
    screenshot(page, "welcome")

    page.click("#signout")
    expect(page.locator("#signin-notice")).to_contain_text("signed out")

    # The login link printed at start-up signs the browser in and lands on the app, with a
    # session cookie that is not the token, and no token in the address bar.
    sign_in(page, web_gateway)
    assert page.url == f"{web_gateway.base_url}/"
    expect(page.locator("#welcome")).to_be_visible()
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "github_session"]
    assert cookie["value"] != web_gateway.token
    assert cookie["httpOnly"]

    # Signing out ends that session on the server, not only in the page.
    page.click("#signout")
    expect(page.locator("#signin-notice")).to_contain_text("signed out")
    page.reload()
    expect(page.locator("#signin-local")).to_be_visible()
    with with_cookie(web_gateway.base_url, cookie["value"]) as old:
        assert old.get("/me").status_code == 401
    # Nor does the token sign in as the cookie.
    page.context.add_cookies(
        [{"name": "github_session", "value": web_gateway.token, "url": web_gateway.base_url}]
    )
    page.reload()
    expect(page.locator("#signin-local")).to_be_visible()


def test_github_sign_in_through_the_button(
    page: Page, github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    github.approve_as("alice")
    page.goto(f"{github_gateway.base_url}/")
    button = page.locator("#github-link")
    expect(button).to_be_visible()
    expect(page.locator("#signin-local")).to_be_hidden()
    screenshot(page, "sign-in-github")

    button.click()
    expect(page.locator("#user")).to_contain_text("Alice Liddell")
    assert page.url.startswith(f"{github_gateway.base_url}/")
    assert len(github.authorize_requests) == 1

    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()
    page.click("#delete-chat-button")
    page.click("dialog button.danger")
    expect(page.locator("#welcome")).to_be_visible()

    page.click("#signout")
    expect(page.locator("#github-link")).to_be_visible()
    # The session ended on the server, not only in the page.
    page.reload()
    expect(page.locator("#github-link")).to_be_visible()
