"""Asking and running code from the browser: streamed steps and answers, figures, tables, errors,
the stop button, and the errors a busy chat, a missing LLM or a failing one give."""

import threading

from playwright.sync_api import Locator, Page, expect

from tests.e2e.screen import chat_id, new_chat, screenshot, sign_in
from tests.fake_llm import FakeLLM, say, status, tool
from tests.gateway_process import GatewayProcess

SINE = """import numpy as np
import matplotlib.pyplot as plt
x = np.linspace(0, 2 * np.pi, 200)
y = np.sin(x)
print(f"{len(x)} points from 0 to 2π")
plt.plot(x, y)
plt.title("Sine wave")
"""
ANSWER = """Here is a **sine wave** over one period, saved as `plot_1.png`.

- `x`: 200 evenly spaced points from 0 to 2π
- `y`: `np.sin(x)`, between -1 and 1
"""


def show_picture(step: Locator) -> None:
    """A figure the kernel sent with its data is drawn as a chart first, its picture behind the
    "Image" button; one sent as a picture alone shows the picture."""
    expect(step.locator("figure img")).to_have_count(1)
    if step.locator(".output-views").count():
        step.get_by_role("button", name="Image").click()


def test_sine_wave_question_streams_code_output_figure_and_answer(
    page: Page, web_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    llm.script(tool(SINE), say(ANSWER))
    sign_in(page, web_gateway)
    new_chat(page)
    screenshot(page, "chat-empty")

    page.fill("#prompt", "create a simple plot showing a sine wave")
    page.press("#prompt", "Enter")

    step = page.locator(".step").first
    expect(step.locator(".step-label")).to_have_text("Step 1")
    expect(step.locator(".tok-keyword").first).to_have_text("import")  # highlighted
    expect(step.locator(".output-stream.stdout")).to_have_text("200 points from 0 to 2π\n")
    show_picture(step)
    expect(step.locator("figure img")).to_be_visible()
    figure = step.locator("figure img").element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=figure)
    answer = page.locator(".answer")
    expect(answer.locator("strong")).to_have_text("sine wave")
    expect(answer.locator("li")).to_have_count(2)
    expect(page.locator("#send-button")).to_be_visible()
    expect(step.locator(".status")).to_have_text("done")

    # The panels refresh after the query.
    expect(page.locator('.var-item[data-name="x"]')).to_contain_text("ndarray")
    expect(page.locator('.file-item[data-path="plot_1.png"]')).to_be_visible()
    expect(page.locator("#chat-title")).to_have_text("create a simple plot showing a sine wave")
    screenshot(page, "chat-answer")

    # The figure previews large from the files panel.
    page.click('.file-item[data-path="plot_1.png"] .thumb')
    expect(page.locator("dialog .preview-image")).to_be_visible()
    screenshot(page, "file-preview")
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)

    # Opened again, the chat shows its history: question, step, figure (now from the file).
    page.reload()
    expect(page.locator(".turn-user .bubble")).to_have_text(
        "create a simple plot showing a sine wave"
    )
    expect(page.locator(".step .output-stream.stdout")).to_have_text("200 points from 0 to 2π\n")
    history_figure = page.locator(".step figure img")
    expect(history_figure).to_have_attribute("src", f"/file/{chat_id(page)}/plot_1.png")
    expect(page.locator(".answer strong")).to_have_text("sine wave")


def test_run_code_shows_output_errors_and_tables_safely(
    page: Page, web_gateway: GatewayProcess
) -> None:
    sign_in(page, web_gateway)
    new_chat(page)
    page.click(".mode label:has-text('Run code')")
    prompt = page.locator("#prompt")
    prompt.click()
    # Shift+Enter is a new line; Enter sends.
    page.keyboard.type("for i in range(2):")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("    print('row', i)")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("1 / 0")
    expect(prompt).to_have_value("for i in range(2):\n    print('row', i)\n1 / 0")
    page.keyboard.press("Enter")

    result = page.locator(".turn-assistant").last
    expect(result.locator(".output-stream.stdout")).to_have_text("row 0\nrow 1\n")
    expect(result.locator(".error-name")).to_have_text("ZeroDivisionError: division by zero")
    expect(result.locator(".traceback")).to_contain_text("Traceback (most recent call last)")
    expect(result.locator(".status")).to_have_text("error")
    expect(prompt).to_have_value("")

    # A DataFrame is a table; HTML a value makes up is shown as text, never run.
    code = (
        "import pandas as pd\n"
        "class Sneaky:\n"
        "    def _repr_html_(self):\n"
        "        return ('<table><tr><td><img src=x onerror=\"window.pwned=1\">cell</td></tr>'\n"
        "                '</table><script>window.pwned=1</script>')\n"
        "df = pd.DataFrame({'city': ['Paris', 'Lyon'], 'rentals': [120, 95]})\n"
        "display_me = Sneaky()\n"
        "df"
    )
    prompt.fill(code)
    page.keyboard.press("Enter")
    table = page.locator(".turn-assistant").last.locator(".output-table table")
    # From the frame's Table Schema (with each column's type) or, without one, from its HTML.
    expect(table.locator("thead th")).to_contain_text(["", "city", "rentals"])
    expect(table.locator("tbody tr")).to_have_count(2)

    prompt.fill("display_me")
    page.keyboard.press("Enter")
    sneaky = page.locator(".turn-assistant").last.locator(".output-table")
    expect(sneaky.locator("td")).to_have_text("cell")
    assert sneaky.locator("img, script").count() == 0
    assert page.evaluate("window.pwned") is None
    screenshot(page, "run-code")


def test_stop_button_interrupts_the_running_code(
    page: Page, web_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    llm.script(tool("import time\nprint('started', flush=True)\ntime.sleep(60)"), say("unused"))
    sign_in(page, web_gateway)
    new_chat(page)
    page.fill("#prompt", "wait for a minute")
    page.press("#prompt", "Enter")
    expect(page.locator(".step .output-stream.stdout")).to_have_text("started\n")
    # Stop asks the gateway (closing the stream would not stop the run).
    stop = f"/chat/{chat_id(page)}/stop"
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(stop)):
        page.click("#stop-button")

    # The stream ends with run_stopped: shown as stopped, not as an error.
    expect(page.locator(".turn-status")).to_contain_text("Stopped")
    expect(page.locator(".step .status")).to_have_text("stopped")
    expect(page.locator(".error-card")).to_have_count(0)
    expect(page.locator("#send-button")).to_be_visible()
    # That event comes once the run's end is journaled.
    history = web_gateway.client.get(f"/chat/{chat_id(page)}/messages").json()
    assert history[0]["status"] == "interrupted"
    # The sandbox was interrupted, not left running its minute: the chat takes code at once.
    page.click(".mode label:has-text('Run code')")
    page.fill("#prompt", "print('still here')")
    page.press("#prompt", "Enter")
    reply = page.locator(".turn-assistant").last
    expect(reply.locator(".output-stream.stdout")).to_have_text("still here\n")


def test_stop_button_interrupts_code_run_directly(page: Page, web_gateway: GatewayProcess) -> None:
    sign_in(page, web_gateway)
    new_chat(page)
    page.click(".mode label:has-text('Run code')")
    page.fill("#prompt", "import time\ntime.sleep(60)")
    page.press("#prompt", "Enter")
    expect(page.locator("#stop-button")).to_be_visible()
    page.wait_for_timeout(500)  # the cell is running in the sandbox now
    page.click("#stop-button")
    expect(page.locator(".turn-assistant").last).to_contain_text("Stopped")
    expect(page.locator("#send-button")).to_be_visible()
    page.fill("#prompt", "print('right away')")
    page.press("#prompt", "Enter")
    reply = page.locator(".turn-assistant").last
    expect(reply.locator(".output-stream.stdout")).to_have_text("right away\n", timeout=10_000)


def test_a_busy_chat_says_so_where_the_question_was_asked(
    page: Page, web_gateway: GatewayProcess
) -> None:
    sign_in(page, web_gateway)
    new_chat(page)
    chat = chat_id(page)
    busy = threading.Thread(target=web_gateway.run, args=(chat, "import time\ntime.sleep(4)"))
    busy.start()
    try:
        page.wait_for_timeout(1000)  # the run above holds the chat now
        page.fill("#prompt", "how many rows?")
        page.press("#prompt", "Enter")
        card = page.locator(".turn-assistant .error-card")
        expect(card).to_contain_text("This chat is busy")
        expect(card).to_contain_text("another query is running in this chat")
    finally:
        busy.join()


def test_a_gateway_without_llm_explains_and_offers_run_code(
    page: Page, gateway: GatewayProcess
) -> None:
    sign_in(page, gateway)
    new_chat(page)
    page.fill("#prompt", "create a simple plot showing a sine wave")
    page.press("#prompt", "Enter")
    card = page.locator(".turn-assistant .error-card")
    expect(card).to_contain_text("no LLM is configured: set LLM_MODEL")
    screenshot(page, "error-no-llm")
    card.locator("button").click()
    expect(page.locator('input[name="mode"][value="code"]')).to_be_checked()
    page.fill("#prompt", "6 * 7")
    page.press("#prompt", "Enter")
    expect(page.locator(".turn-assistant").last.locator(".output-value")).to_have_text("42")
    page.click("#delete-chat-button")
    page.click("dialog button.danger")
    expect(page.locator("#welcome")).to_be_visible()


def test_a_failing_llm_is_named_as_the_culprit_not_the_sandbox(
    page: Page, web_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    llm.script(status(401, "invalid api key"))
    sign_in(page, web_gateway)
    new_chat(page)
    page.fill("#prompt", "how many rows?")
    page.press("#prompt", "Enter")
    card = page.locator(".turn-assistant .error-card")
    expect(card.locator("strong")).to_have_text("The LLM refused the request")
    expect(card).to_contain_text("OPENAI_API_KEY")
    card.locator("button").click()
    expect(page.locator('input[name="mode"][value="code"]')).to_be_checked()
