"""The admin page from the browser: users, sandboxes and the audit log, each action confirmed
first; and nobody but an admin gets anything from it."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from gateway.audit import AuditAction
from tests.e2e.screen import screenshot, sign_in
from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess


def confirm(page: Page, says: str) -> None:
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text(says)
    dialog.locator("footer button").last.click()
    expect(dialog).to_have_count(0)


def test_admin_restarts_and_stops_a_sandbox_and_reads_the_audit_log(
    page: Page, web_gateway: GatewayProcess
) -> None:
    chat_id = web_gateway.client.post("/create_chat").json()["chat_id"]
    web_gateway.run(chat_id, "kept = 41 + 1")
    sign_in(page, web_gateway)
    # In local mode the one user is the admin.
    page.click("#admin-link")
    expect(page).to_have_url(f"{web_gateway.base_url}/admin")
    served = page.request.get(f"{web_gateway.base_url}/admin")
    assert "script-src 'self';" in served.headers["content-security-policy"]

    user = page.locator('#users-body tr[data-user-id="local"]')
    expect(user).to_contain_text("Local user")
    expect(user.locator(".badge")).to_have_text("admin")
    expect(user.get_by_role("button", name="Block")).to_be_disabled()

    sandbox = page.locator(f'#sandboxes-body tr[data-chat-id="{chat_id}"]')
    expect(sandbox.locator(".state")).to_have_text("running")
    expect(sandbox.locator('[data-column="memory"]')).to_have_text(
        re.compile(r"^\d+ (of \d+ )?MiB$")
    )
    expect(sandbox).to_contain_text("local")
    screenshot(page, "admin")

    # Each action asks first; cancelled, nothing happens.
    sandbox.get_by_role("button", name="Restart").click()
    page.locator("dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator("#notice")).to_be_hidden()

    sandbox.get_by_role("button", name="Restart").click()
    confirm(page, chat_id)
    expect(page.locator("#notice")).to_have_text(f"Restarted the sandbox of chat {chat_id}.")
    expect(sandbox.locator(".state")).to_have_text("running")
    variables = web_gateway.client.get(f"/variables/{chat_id}").json()
    assert "kept" in [v["name"] for v in variables]

    sandbox.get_by_role("button", name="Stop").click()
    confirm(page, "Stop this sandbox?")
    expect(sandbox.locator(".state")).to_have_text("exited")
    expect(sandbox.get_by_role("button", name="Stop")).to_be_disabled()

    restarted = page.locator(
        '#audit-body tr[data-action="admin_sandbox_restarted"]', has_text=chat_id
    )
    expect(restarted).to_have_count(1)
    expect(restarted.locator(".outcome")).to_have_text("success")

    # The filter offers every action there is, and narrows the table (and the download) to one.
    options = page.locator("#audit-action option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", *(action.value for action in AuditAction)]
    page.select_option("#audit-action", "admin_sandbox_stopped")
    expect(page.locator("#audit-body tr", has_text=chat_id)).to_have_count(1)
    expect(page.locator("#audit-body tr:not([data-action='admin_sandbox_stopped'])")).to_have_count(
        0
    )
    with page.expect_download() as download:
        page.click("#download-audit")
    lines = Path(download.value.path()).read_text().splitlines()
    stopped = [json.loads(line) for line in lines]
    assert {entry["action"] for entry in stopped} == {"admin_sandbox_stopped"}
    assert chat_id in [entry["target"] for entry in stopped]

    # Past a page of entries, "Older entries" brings the rest.
    for _ in range(55):
        wrong = httpx.get(f"{web_gateway.base_url}/login/local", params={"token": "wrong"})
        assert wrong.status_code == 401
    page.select_option("#audit-action", "sign_in_failed")
    failed = page.locator('#audit-body tr[data-action="sign_in_failed"]')
    expect(failed).to_have_count(50)
    page.click("#audit-older")
    expect(page.locator("#audit-older")).to_be_hidden()
    assert failed.count() >= 55
    assert page.locator("#audit-body tr:not([data-action='sign_in_failed'])").count() == 0

    # A user's chats, and deleting one of them.
    user.get_by_role("button", name="Chats").click()
    expect(page.locator("#chats-heading")).to_have_text("Chats of local")
    chat = page.locator(f'#chats-body tr[data-chat-id="{chat_id}"]')
    expect(chat).to_contain_text("exited")
    chat.get_by_role("button", name="Delete").click()
    confirm(page, "cannot be undone")
    expect(chat).to_have_count(0)
    expect(sandbox).to_have_count(0)
    assert web_gateway.client.get("/chats").json() == []

    # Signing the admin out everywhere signs this page out too.
    user.get_by_role("button", name="Sign out everywhere").click()
    confirm(page, "Sign local out everywhere?")
    expect(page.locator("#denied")).to_contain_text("Your session ended")


@pytest.fixture(scope="module")
def admin_github_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway with GitHub sign-in whose one admin is alice."""
    env = {**github_gateway_env, "ADMIN_GITHUB_USERS": "alice"}
    with GatewayProcess(env, tmp_path_factory.mktemp("admin-gateway")) as process:
        yield process


def test_only_admins_see_the_admin_page_and_they_block_others(
    open_context: Callable[..., BrowserContext],
    admin_github_gateway: GatewayProcess,
    github: FakeGitHub,
) -> None:
    base = admin_github_gateway.base_url
    bob = open_context().new_page()
    github.approve_as("bob")
    bob.goto(f"{base}/")
    bob.click("#github-link")
    expect(bob.locator("#user")).to_contain_text("Bob Builder")
    expect(bob.locator("#admin-link")).to_be_hidden()
    assert bob.request.get(f"{base}/admin/users").status == 404
    bob.goto(f"{base}/admin")
    expect(bob.locator("#denied")).to_contain_text("for the admins of this server")
    expect(bob.locator("#admin")).to_be_hidden()

    alice = open_context().new_page()
    github.approve_as("alice")
    alice.goto(f"{base}/login/github?next=/admin")
    bob_row = alice.locator('#users-body tr[data-user-id="gh:1002"]')
    expect(bob_row).to_contain_text("Bob Builder")
    bob_row.get_by_role("button", name="Block").click()
    confirm(alice, "Block bob?")
    expect(bob_row.locator(".badge")).to_have_text("blocked")
    assert bob.request.get(f"{base}/me").status == 403
    expect(alice.locator('#audit-body tr[data-action="admin_user_blocked"]')).to_contain_text(
        "gh:1002"
    )

    bob_row.get_by_role("button", name="Unblock").click()
    confirm(alice, "Unblock bob?")
    expect(bob_row.locator(".badge")).to_have_count(0)
    assert bob.request.get(f"{base}/me").status == 200
