"""Rich results from a real sandbox, as the page shows them: matplotlib figures drawn as charts
from their data (README, "Results and charts"), tables, SVG and Markdown displays, and plotly
figures drawn by the vendored plotly.js under the page's Content-Security-Policy.

These need the sandbox image whose kernel sends displays with every MIME type and a figure's
chart data (IPython, plotly)."""

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.screen import (
    chat_id,
    csp_violations,
    hover_plotly,
    new_chat,
    record_csp_violations,
    screenshot,
    sign_in,
)
from tests.gateway_process import GatewayProcess

TWO_FIGURES = """import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.bar(["north", "south", "east"], [12, 7, 9], label="rentals")
ax.set_title("Rentals by region")
ax.legend()
plt.show()
fig, ax = plt.subplots()
ax.plot([1, 2, 3, 4], [10, 12, 9, 15], label="visits")
ax.plot([1, 2, 3, 4], [5, 6, 8, 7], label="signups")
ax.set_title("Traffic")
ax.legend()
plt.show()
"""

DISPLAYS = """import json
import pandas as pd
from IPython.display import SVG, Markdown, display
df = pd.DataFrame({"city": ["Paris", "Lyon", "Nice"], "rentals": [120.0, 95.5, None]})
resource = json.loads(df.to_json(orient="table"))
display({"application/vnd.dataresource+json": resource, "text/plain": repr(df)}, raw=True)
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="60" height="30">'
            '<script>window.pwned = 1</script><rect width="60" height="30" fill="teal"/></svg>'))
display(Markdown("## Summary\\n\\n**3** cities, one without rentals"))
df.shape
"""

PLOTLY = """import plotly.express as px
fig = px.bar(x=["a", "b", "c"], y=[1, 3, 2], title="Plotly bars")
fig
"""


def run_code(page: Page, code: str) -> Locator:
    """Runs `code` from the composer in "Run code" mode; its result once it is done."""
    page.click(".mode label:has-text('Run code')")
    page.fill("#prompt", code)
    page.press("#prompt", "Enter")
    result = page.locator(".turn-assistant").last
    expect(result.locator(".step-head .status")).to_have_text("done", timeout=60_000)
    return result


def test_matplotlib_figures_are_drawn_as_charts(page: Page, web_gateway: GatewayProcess) -> None:
    sign_in(page, web_gateway)
    new_chat(page)
    result = run_code(page, TWO_FIGURES)
    charts = result.locator(".output-chart .chart")
    expect(charts).to_have_count(2)

    bars = charts.nth(0)
    expect(bars.locator(".chart-title")).to_have_text("Rentals by region")
    expect(bars.locator(".chart-bar")).to_have_count(3)
    expect(bars.locator(".chart-legend-item")).to_have_text(["rentals"])
    bars.locator(".chart-bar").nth(1).hover()
    expect(bars.locator(".chart-tooltip")).to_contain_text("south: 7")

    lines = charts.nth(1)
    visits = lines.locator('.chart-series[data-series="0"]')
    signups = lines.locator('.chart-series[data-series="1"]')
    expect(visits.locator(".chart-point")).to_have_count(4)
    expect(signups.locator(".chart-point")).to_have_count(4)
    expect(lines.locator(".chart-legend-item")).to_have_text(["visits", "signups"])
    visits.locator(".chart-point").nth(2).hover()
    tooltip = lines.locator(".chart-tooltip")
    expect(tooltip).to_contain_text("visits")
    expect(tooltip).to_contain_text("x: 3")
    expect(tooltip).to_contain_text("y: 9")
    lines.get_by_role("button", name="signups").click()
    expect(signups).to_be_hidden()
    expect(visits).to_be_visible()
    screenshot(page, "result-charts")

    # The picture is a click away; in the history it comes from the figure's file.
    page.reload()
    result = page.locator(".turn-assistant").last
    expect(result.locator(".output-chart .chart")).to_have_count(2)
    first = result.locator(".output-chart").first
    first.get_by_role("button", name="Image").click()
    image = first.locator("figure img")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("src", re.compile(rf"^/file/{chat_id(page)}/plot_\d+\.png$"))


def test_tables_svg_and_markdown_displays(page: Page, web_gateway: GatewayProcess) -> None:
    sign_in(page, web_gateway)
    new_chat(page)
    result = run_code(page, DISPLAYS)
    table = result.locator(".output-table table")
    expect(table.locator("thead th")).to_have_text(["", "citystring", "rentalsnumber"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody td.null")).to_have_text(["—"])

    picture = result.locator("figure img")
    expect(picture).to_have_attribute("src", re.compile(r"^data:image/svg\+xml;base64,"))
    # Decoding a data: URL takes a moment on a loaded machine: wait for it, then its size.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
    )
    assert picture.evaluate("img => img.naturalWidth") == 60
    assert result.locator(".outputs svg").count() == 0
    assert page.evaluate("window.pwned") is None

    markdown = result.locator(".output-markdown")
    expect(markdown.locator("h4")).to_have_text("Summary")
    expect(markdown.locator("strong")).to_have_text("3")
    # The cell's own result, last.
    out = result.locator(".output-result")
    expect(out.locator(".output-prompt")).to_have_text("Out")
    expect(out.locator(".output-value")).to_have_text("(3, 2)")
    screenshot(page, "result-displays")


def test_plotly_figures_draw_under_the_page_policy(page: Page, web_gateway: GatewayProcess) -> None:
    record_csp_violations(page)
    sign_in(page, web_gateway)
    new_chat(page)
    result = run_code(page, PLOTLY)
    plot = result.locator(".js-plotly-plot")
    expect(plot.locator(".bars .point path")).to_have_count(3)
    expect(result.locator(".output-stream.stderr")).to_have_count(0)
    expect(plot.locator(".gtitle")).to_have_text("Plotly bars")
    hover_plotly(page, plot, plot.locator(".bars .point path").nth(1), "x=b")
    screenshot(page, "result-plotly")
    assert csp_violations(page) == []
