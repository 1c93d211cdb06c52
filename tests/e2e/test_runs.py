"""A run belongs to the gateway, not to the page: a reload attaches to the run going on (its
steps so far, then the rest live), and a stream that drops picks up after the last event it got."""

from playwright.sync_api import Page, Route, expect

from tests.e2e.screen import new_chat, sign_in
from tests.fake_llm import FakeLLM, say, tool
from tests.gateway_process import GatewayProcess

# Long enough to reload the page between the two prints, even on two busy cores.
TWO_PRINTS = "import time\nprint('first', flush=True)\ntime.sleep(4)\nprint('second', flush=True)"


def test_a_reload_mid_run_shows_the_run_so_far_then_follows_it_to_its_end(
    page: Page, web_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    llm.script(tool(TWO_PRINTS), say("It printed **twice**."))
    sign_in(page, web_gateway)
    new_chat(page)
    page.fill("#prompt", "print twice, slowly")
    page.press("#prompt", "Enter")
    stdout = page.locator(".step .output-stream.stdout")
    expect(stdout).to_have_text("first\n")

    page.reload()
    # The running run is drawn once, from its events (not also from the history), as running.
    expect(page.locator(".turn-user .bubble")).to_have_text(["print twice, slowly"])
    expect(stdout).to_have_text("first\n")
    expect(page.locator(".step .status")).to_have_text("running")
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator("#send-button")).to_be_hidden()

    # Then the rest, live, and the page ends as if it had started the run.
    expect(stdout).to_have_text("first\nsecond\n")
    expect(page.locator(".answer strong")).to_have_text("twice")
    expect(page.locator(".step .status")).to_have_text("done")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()
    expect(page.locator(".chat-item.active .chat-date")).not_to_contain_text("working")


def test_a_dropped_stream_picks_up_after_the_last_event_it_got(
    page: Page, web_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    llm.script(
        tool("import time\nprint('one', flush=True)\ntime.sleep(1)\nprint('two', flush=True)"),
        say("Done."),
    )
    sign_in(page, web_gateway)
    new_chat(page)
    seen: dict[str, str] = {}

    def cut_after_first_output(route: Route) -> None:
        # The whole stream (the run's end) is read here, then the page gets it only up to its
        # first `output` event, as if the connection dropped there.
        response = route.fetch()
        blocks = response.text().split("\n\n")
        first = next(i for i, block in enumerate(blocks) if "event: output" in block)
        seen["id"] = blocks[first].split("\n")[0].removeprefix("id: ")
        route.fulfill(response=response, body="\n\n".join(blocks[: first + 1]) + "\n\n")

    page.route(lambda url: "/query/" in url, cut_after_first_output)
    with page.expect_request(lambda r: r.url.endswith("/events")) as resumed:
        page.fill("#prompt", "print one, then two")
        page.press("#prompt", "Enter")
    assert resumed.value.headers["last-event-id"] == seen["id"]

    # Every event once: `one` is not replayed.
    expect(page.locator(".answer")).to_have_text("Done.")
    expect(page.locator(".step .output-stream.stdout")).to_have_text("one\ntwo\n")
    expect(page.locator(".step .status")).to_have_text("done")
    expect(page.locator("#send-button")).to_be_visible()
