"""How the page draws a cell's displays, in Chromium without a sandbox: the real outputs.js,
chart.js and plotly-figure.js, served from gateway/web/static under the gateway's own
Content-Security-Policy, given displays in the kernel's format (README, "Results and charts").

No server runs: Playwright answers the page's requests from the files. A CSP violation or a
script error fails the test (the conftest's PageWatch, and the violations recorded here)."""

import base64
import itertools
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from gateway.api.routes.web import CONTENT_SECURITY_POLICY, STATIC_DIR
from tests.e2e.screen import csp_violations, hover_plotly, record_csp_violations

ORIGIN = "http://127.0.0.1:9"
PLOTLY_JS = STATIC_DIR / "vendor" / "plotly.min.js"
CHAT = "chat_test"
HARNESS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>displays</title>
<link rel="stylesheet" href="/static/base.css"><link rel="stylesheet" href="/static/output.css">
<link rel="stylesheet" href="/static/chart.css"></head>
<body><div class="step"><div id="out" class="outputs"></div></div></body></html>"""


def png(width: int = 4, height: int = 3) -> bytes:
    """A small grey PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG_B64 = base64.b64encode(png()).decode()


def serve(route: Route, *, plotly: bool = True) -> None:
    path = urlsplit(route.request.url).path
    if path == "/":
        headers = {"content-type": "text/html", "content-security-policy": CONTENT_SECURITY_POLICY}
        route.fulfill(body=HARNESS, headers=headers)
        return
    if path.startswith(f"/file/{CHAT}/"):
        route.fulfill(body=png(), headers={"content-type": "image/png"})
        return
    file = (STATIC_DIR / path.removeprefix("/static/")).resolve()
    missing = not plotly and file == PLOTLY_JS
    if (
        path.startswith("/static/")
        and file.is_relative_to(STATIC_DIR)
        and file.is_file()
        and not missing
    ):
        route.fulfill(path=str(file))
    else:
        route.fulfill(status=404, body="")


def open_harness(page: Page, *, plotly: bool = True) -> Page:
    page.route(f"{ORIGIN}/**", lambda route: serve(route, plotly=plotly))
    record_csp_violations(page)
    page.goto(f"{ORIGIN}/")
    return page


@pytest.fixture
def harness(page: Page) -> Iterator[Page]:
    yield open_harness(page)
    assert csp_violations(page) == []


def show(page: Page, display: dict[str, Any]) -> Locator:
    """Draws one display as a step does and returns its box."""
    page.evaluate(
        """async (display) => {
          const { displayOutput } = await import("/static/outputs.js");
          const box = document.createElement("div");
          box.className = "case";
          const node = displayOutput(display, "chat_test");
          if (node) box.append(node);
          document.getElementById("out").append(box);
        }""",
        display,
    )
    return page.locator(".case").last


def figure(chart: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """A matplotlib figure's display, as the kernel sends it."""
    return {
        "type": "display",
        "data": {"image/png": PNG_B64, "text/plain": "<Figure size 640x480 with 1 Axes>"},
        "metadata": {},
        "is_result": False,
        "filename": "plot_1.png",
        "chart": chart,
        **fields,
    }


def common(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "title": None,
        "x_label": None,
        "y_label": None,
        "x_scale": "linear",
        "y_scale": "linear",
        "x_ticks": [],
        "x_tick_labels": [],
        "y_ticks": [],
        "y_tick_labels": [],
        "truncated": False,
        **fields,
    }


LINES = common(
    "line",
    title="Sales and costs",
    x_label="month",
    y_label="k€",
    x_ticks=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    x_tick_labels=["0", "1", "2", "3", "4", "5"],
    y_ticks=[0.0, 5.0, 10.0, 15.0],
    y_tick_labels=["0", "5", "10", "15"],
    elements=[
        {"label": "sales", "points": [[0, 3], [1, 5], [2, 7.25], [3, 6], [4, 9]]},
        {"label": "costs", "points": [[0, 2], [1, None], [2, 4], [3, 4.5], [4, 12]]},
    ],
)


def test_line_chart_shows_points_tooltips_and_toggles_series(harness: Page) -> None:
    box = show(harness, figure(LINES))
    chart = box.locator(".chart")
    expect(chart.locator(".chart-title")).to_have_text("Sales and costs")
    sales = chart.locator('.chart-series[data-series="0"]')
    costs = chart.locator('.chart-series[data-series="1"]')
    expect(sales.locator(".chart-point")).to_have_count(5)
    expect(costs.locator(".chart-point")).to_have_count(4)  # the null is a gap
    expect(chart.locator(".chart-legend-item")).to_have_text(["sales", "costs"])
    # The figure's ticks (those in its view), then the axis titles.
    expect(chart.locator(".chart-axes text")).to_have_text(
        ["0", "5", "10", "15", "0", "1", "2", "3", "4", "5", "month", "k€"]
    )

    sales.locator(".chart-point").nth(2).hover()
    tooltip = chart.locator(".chart-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("sales")
    expect(tooltip).to_contain_text("x: 2")
    expect(tooltip).to_contain_text("y: 7.25")

    costs_point = costs.locator(".chart-point").last
    costs_box = costs_point.bounding_box()
    assert costs_box
    chart.get_by_role("button", name="costs").click()
    expect(chart.get_by_role("button", name="costs")).to_have_attribute("aria-pressed", "false")
    expect(costs).to_be_hidden()
    expect(sales).to_be_visible()
    # Where a hidden series' point was, the pointer finds nothing of it.
    harness.mouse.move(
        costs_box["x"] + costs_box["width"] / 2, costs_box["y"] + costs_box["height"] / 2
    )
    expect(tooltip).not_to_contain_text("costs")
    chart.get_by_role("button", name="costs").click()
    expect(costs).to_be_visible()

    # The picture is one click away, and the chart comes back.
    views = box.locator(".output-views")
    expect(views.get_by_role("button", name="Chart")).to_have_attribute("aria-pressed", "true")
    views.get_by_role("button", name="Image").click()
    expect(box.locator("figure img")).to_be_visible()
    expect(chart).to_be_hidden()
    views.get_by_role("button", name="Chart").click()
    expect(chart).to_be_visible()


def test_bar_charts_group_series_and_lie_either_way(harness: Page) -> None:
    grouped = common(
        "bar",
        orientation="vertical",
        x_scale="categorical",
        x_ticks=["2022", "2023", "2024"],
        x_tick_labels=["2022", "2023", "2024"],
        y_ticks=[0.0, 10.0, 20.0],
        y_tick_labels=["0", "10", "20"],
        elements=[
            {"label": "2022", "group": "north", "value": 8},
            {"label": "2023", "group": "north", "value": 12},
            {"label": "2024", "group": "north", "value": 15},
            {"label": "2022", "group": "south", "value": 5},
            {"label": "2023", "group": "south", "value": 9},
            {"label": "2024", "group": "south", "value": 19},
        ],
    )
    chart = show(harness, figure(grouped)).locator(".chart")
    expect(chart.locator(".chart-bar")).to_have_count(6)
    expect(chart.locator('.chart-series[data-series="1"] .chart-bar')).to_have_count(3)
    expect(chart.locator(".chart-legend-item")).to_have_text(["north", "south"])
    expect(chart.locator(".chart-axes text")).to_contain_text(["2022", "2023", "2024"])
    chart.locator(".chart-bar").nth(5).hover()
    expect(chart.locator(".chart-tooltip")).to_contain_text("south")
    expect(chart.locator(".chart-tooltip")).to_contain_text("2024: 19")
    heights = [
        b["height"] for b in (bar.bounding_box() for bar in chart.locator(".chart-bar").all()) if b
    ]
    assert heights[5] > heights[2] > heights[0] > 0

    horizontal = common(
        "bar",
        orientation="horizontal",
        elements=[
            {"label": name, "group": "Books Sold", "value": value}
            for name, value in [
                ("Author A", 100),
                ("Author B", 200),
                ("Author C", 300),
                ("Author D", 400),
            ]
        ],
    )
    chart = show(harness, figure(horizontal)).locator(".chart")
    bars = [bar.bounding_box() for bar in chart.locator(".chart-bar").all()]
    assert len(bars) == 4
    widths = [b["width"] for b in bars if b]
    assert widths == sorted(widths) and widths[0] > 0
    # matplotlib's barh: the first category at the bottom.
    tops = [b["y"] for b in bars if b]
    assert tops == sorted(tops, reverse=True)
    expect(chart.locator(".chart-legend-item")).to_have_text(["Books Sold"])


def test_scales_dates_categories_and_log(harness: Page) -> None:
    dates = common(
        "line",
        x_scale="datetime",
        x_ticks=[
            "2024-01-01T00:00:00+00:00",
            "2024-01-03T00:00:00+00:00",
            "2024-01-05T00:00:00+00:00",
        ],
        x_tick_labels=["01-01", "01-03", "01-05"],
        elements=[
            {
                "label": "visits",
                "points": [
                    [f"2024-01-0{d}T00:00:00", v]
                    for d, v in [(1, 4), (2, 6), (3, 5), (4, 8), (5, 7)]
                ],
            }
        ],
    )
    chart = show(harness, figure(dates)).locator(".chart")
    expect(chart.locator(".chart-axes text")).to_contain_text(["01-01", "01-03", "01-05"])
    chart.locator(".chart-point").nth(2).hover()
    expect(chart.locator(".chart-tooltip")).to_contain_text("x: 2024-01-03")
    xs = [b["x"] for b in (p.bounding_box() for p in chart.locator(".chart-point").all()) if b]
    steps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(steps) - min(steps) < 1 and min(steps) > 0  # a day apart each

    categories = common(
        "scatter",
        x_scale="categorical",
        x_ticks=["red", "green", "blue"],
        x_tick_labels=["red", "green", "blue"],
        elements=[
            {"label": "votes", "points": [["red", 3], ["green", 5], ["blue", 2], ["red", 4]]}
        ],
    )
    chart = show(harness, figure(categories)).locator(".chart")
    expect(chart.locator(".chart-point")).to_have_count(4)
    expect(chart.locator(".chart-axes text")).to_contain_text(["red", "green", "blue"])

    log = common(
        "scatter",
        y_scale="log",
        y_ticks=[1.0, 10.0, 100.0, 1000.0],
        y_tick_labels=["10^0", "10^1", "10^2", "10^3"],
        elements=[{"label": "growth", "points": [[1, 1], [2, 10], [3, 100], [4, 1000]]}],
    )
    chart = show(harness, figure(log)).locator(".chart")
    expect(chart.locator(".chart-axes text")).to_contain_text(["10⁰", "10¹", "10²", "10³"])
    ys = [b["y"] for b in (p.bounding_box() for p in chart.locator(".chart-point").all()) if b]
    gaps = [a - b for a, b in itertools.pairwise(ys)]
    assert max(gaps) - min(gaps) < 1 and min(gaps) > 0  # evenly spaced: powers of ten


def test_pie_box_composite_and_unknown(harness: Page) -> None:
    pie = {
        "type": "pie",
        "title": "Share",
        "truncated": False,
        "elements": [
            {"label": "a", "angle": 180.0, "radius": 1.0},
            {"label": "b", "angle": 90.0, "radius": 1.0},
            {"label": "c", "angle": 90.0, "radius": 1.0},
        ],
    }
    chart = show(harness, figure(pie)).locator(".chart")
    expect(chart.locator(".chart-slice")).to_have_count(3)
    expect(chart.locator(".chart-legend-item")).to_have_text(["a", "b", "c"])
    chart.locator(".chart-slice").first.hover()
    expect(chart.locator(".chart-tooltip")).to_contain_text("50 %")

    box = common(
        "box_and_whisker",
        orientation="vertical",
        elements=[
            {
                "label": "A",
                "min": 1,
                "first_quartile": 2,
                "median": 3,
                "third_quartile": 4,
                "max": 5,
                "outliers": [9],
            },
            {
                "label": "B",
                "min": 2,
                "first_quartile": 3,
                "median": 3.5,
                "third_quartile": 5,
                "max": 6,
                "outliers": [],
            },
        ],
    )
    chart = show(harness, figure(box)).locator(".chart")
    expect(chart.locator(".chart-box")).to_have_count(2)
    expect(chart.locator(".chart-outlier")).to_have_count(1)
    chart.locator(".chart-box").first.hover()
    expect(chart.locator(".chart-tooltip")).to_contain_text("median: 3")
    lying = show(
        harness, figure({**box, "orientation": "horizontal", "elements": box["elements"][:1]})
    ).locator(".chart")
    body = lying.locator(".chart-box-body").bounding_box()
    assert body and body["width"] > body["height"]
    expect(lying.locator(".chart-axes text")).to_contain_text(["A"])

    unknown: dict[str, Any] = {"type": "unknown", "title": None, "elements": [], "truncated": False}
    composite = {
        "type": "composite",
        "title": "Two views",
        "truncated": True,
        "elements": [LINES, box, unknown],
    }
    drawn = show(harness, figure(composite))
    expect(drawn.locator(".chart-composite .chart")).to_have_count(2)
    expect(drawn.locator(".chart-missing")).to_have_count(1)
    expect(drawn.locator(".chart-note")).to_contain_text("Only part of the data")

    # Nothing to draw: the picture alone, no switch.
    alone = show(harness, figure(unknown))
    expect(alone.locator("figure img")).to_be_visible()
    expect(alone.locator(".chart, .output-views")).to_have_count(0)


def test_rich_displays_pick_the_richest_safe_type(harness: Page) -> None:
    resource = {
        "schema": {
            "fields": [
                {"name": "index", "type": "integer"},
                {"name": "city", "type": "string"},
                {"name": "rentals", "type": "number"},
            ],
            "primaryKey": ["index"],
        },
        "data": [
            {"index": 0, "city": "<b>Paris</b>", "rentals": 120.5},
            {"index": 1, "city": "Lyon", "rentals": None},
        ],
        "total_rows": 10,
        "truncated": True,
    }
    html = "<table><tr><td>html loses</td></tr></table>"
    table = show(
        harness,
        {
            "type": "display",
            "data": {
                "application/vnd.dataresource+json": resource,
                "text/html": html,
                "text/plain": "df",
            },
            "is_result": True,
        },
    )
    expect(table.locator(".output-prompt")).to_have_text("Out")
    expect(table.locator("thead th")).to_have_text(["", "citystring", "rentalsnumber"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody td").first).to_have_text("<b>Paris</b>")  # text, never markup
    assert table.locator("tbody b").count() == 0
    expect(table.locator("tbody td.null")).to_have_text("—")
    expect(table.locator(".table-note")).to_have_text("2 of 10 rows")

    pandas = (
        "<table><thead><tr><th></th><th>a</th></tr></thead>"
        "<tbody><tr><th>0</th><td>1</td></tr></tbody></table>"
    )
    frame = show(
        harness, {"type": "display", "data": {"text/html": pandas, "text/plain": "   a\n0  1"}}
    )
    expect(frame.locator(".output-table thead th")).to_have_text(["", "a"])

    not_a_table = show(
        harness,
        {"type": "display", "data": {"text/html": "<div>widget</div>", "text/plain": "Widget()"}},
    )
    expect(not_a_table.locator(".output-value")).to_have_text("Widget()")

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" onload="window.pwned=1">'
        '<script>window.pwned=1</script><rect width="40" height="20" fill="teal"/></svg>'
    )
    picture = show(
        harness, {"type": "display", "data": {"image/svg+xml": svg, "text/plain": "<svg>"}}
    )
    img = picture.locator("figure img")
    expect(img).to_have_attribute("src", re.compile(r"^data:image/svg\+xml;base64,"))
    # Decoding a data: URL takes a moment on a loaded machine: wait for it, then its size.
    decoded = "img => img.complete && img.naturalWidth > 0"
    harness.wait_for_function(decoded, arg=img.element_handle())
    assert img.evaluate("img => img.naturalWidth") == 40
    assert picture.locator("svg").count() == 0
    assert harness.evaluate("window.pwned") is None

    jpeg_sized = show(
        harness,
        {
            "type": "display",
            "data": {"image/png": PNG_B64},
            "metadata": {"image/png": {"width": 300}},
        },
    )
    expect(jpeg_sized.locator("img")).to_have_attribute("width", "300")

    markdown = show(
        harness,
        {
            "type": "display",
            "data": {
                "text/markdown": "# Report\n\n**bold** and <script>x</script>",
                "text/plain": "md",
            },
        },
    )
    expect(markdown.locator(".output-markdown h3")).to_have_text("Report")
    expect(markdown.locator(".output-markdown strong")).to_have_text("bold")
    assert markdown.locator("script").count() == 0

    latex = show(
        harness, {"type": "display", "data": {"text/latex": "$\\frac{a}{b}$", "text/plain": "a/b"}}
    )
    expect(latex.locator(".output-latex .code-head")).to_contain_text("LaTeX")
    expect(latex.locator(".output-latex pre")).to_have_text("$\\frac{a}{b}$")

    json = show(
        harness,
        {
            "type": "display",
            "data": {
                "application/json": {
                    "model": "ols",
                    "scores": [0.9, 0.8],
                    "meta": {"deep": {"deeper": 1}},
                },
                "text/plain": "{...}",
            },
        },
    )
    expect(json.locator(".output-json .json-key").first).to_have_text('"model": ')
    expect(json.locator(".output-json")).to_contain_text('"ols"')
    expect(json.locator("details")).to_have_count(4)
    expect(json.locator("details[open]")).to_have_count(3)  # the first two levels

    plain = show(harness, {"type": "display", "data": {"text/plain": "42"}, "is_result": True})
    expect(plain.locator(".output-value")).to_have_text("42")

    # In the history a saved figure's base64 copy is dropped: the picture comes from its file.
    history = show(
        harness,
        {
            "type": "display",
            "data": {"text/plain": "<Figure>"},
            "filename": "plot_1.png",
            "chart": None,
        },
    )
    expect(history.locator("figure img")).to_have_attribute("src", f"/file/{CHAT}/plot_1.png")
    expect(history.locator("figure img")).to_be_visible()


def plotly_display(figure: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "type": "display",
        "data": {"application/vnd.plotly.v1+json": figure, "text/plain": "Figure()", **data},
        "metadata": {},
        "is_result": True,
    }


BARS = {
    "data": [
        {
            "type": "bar",
            "x": ["a", "b", "c"],
            "y": [1, 3, 2],
            "name": "sales",
            "hovertemplate": "x=%{x}<br>y=%{y}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "x": ["a", "c"],
            "y": [2, 3],
            "name": "score",
            "marker": {"color": [1, 3], "showscale": True},
        },
    ],
    "layout": {
        "title": {"text": "<b>Sales</b> by <i>shop</i>"},
        "template": {"layout": {"plot_bgcolor": "#E5ECF6"}},
    },
}


def test_plotly_draws_under_the_page_policy(harness: Page) -> None:
    if not PLOTLY_JS.exists():
        pytest.fail(f"{PLOTLY_JS} is missing: `make deps` vendors it (deploy/plotly-js.sh)")
    box = show(harness, plotly_display(BARS))
    plot = box.locator(".js-plotly-plot")
    expect(plot.locator(".bars .point path")).to_have_count(3)
    expect(plot.locator(".gtitle")).to_contain_text("Sales by shop")
    expect(plot.locator(".colorbar")).to_have_count(1)
    size = plot.bounding_box()
    assert size and size["height"] == 450  # plotly's default height, not a collapsed box
    hover_plotly(harness, plot, plot.locator(".bars .point path").nth(1), "x=b")
    # plotly's rules went into our stylesheet, not an inline <style>.
    assert harness.evaluate("document.querySelectorAll('style').length") == 0
    assert (
        harness.evaluate("document.getElementById('plotly.js-style-global').sheet.cssRules.length")
        > 10
    )

    # plotly express's WebGL scatter is drawn as its SVG twin.
    gl = show(
        harness,
        plotly_display(
            {
                "data": [{"type": "scattergl", "mode": "markers", "x": [1, 2, 3], "y": [3, 1, 2]}],
                "layout": {},
            }
        ),
    )
    expect(gl.locator(".js-plotly-plot .scatterlayer .point")).to_have_count(3)


def test_plotly_falls_back_to_the_picture_or_says_why(harness: Page) -> None:
    three_d = {"data": [{"type": "scatter3d", "x": [1], "y": [2], "z": [3]}], "layout": {}}
    with_png = show(harness, plotly_display(three_d, **{"image/png": PNG_B64}))
    expect(with_png.locator("figure img")).to_be_visible()
    expect(with_png.locator(".output-note")).to_contain_text(
        'Interactive plotly figure not shown: its "scatter3d" trace'
    )
    without = show(harness, plotly_display(three_d))
    expect(without.locator(".output-note")).to_contain_text("Interactive plotly figure not shown")
    assert without.locator("img, .js-plotly-plot").count() == 0


def test_plotly_missing_says_so(page: Page) -> None:
    harness = open_harness(page, plotly=False)
    box = show(harness, plotly_display(BARS))
    expect(box.locator(".output-note")).to_have_text(
        "Interactive plotly figure not shown: plotly.js is not installed on this server "
        "(deploy/plotly-js.sh installs it)."
    )
    assert harness.evaluate("document.querySelectorAll('script[src*=plotly]').length") == 0
    assert csp_violations(harness) == []
