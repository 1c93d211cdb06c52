"""Kernel side: what a matplotlib figure drew, as chart data beside its PNG, so that a client can
draw the chart itself (as E2B's code interpreter extracts charts). shared.charts validates it.

`describe(figure)` gives plain JSON values only and never raises: a figure it cannot read is
"unknown". The Axes that count are the visible ones with data (lines, collections, patches or
images; colorbars are part of their image, not charts of their own):
- none: "unknown", titled with the figure's suptitle;
- one: that Axes' chart (sandbox_runner.chart_kinds), titled with its own title, else the
  suptitle;
- several: a "composite" of one chart per Axes (at most MAX_SUBCHARTS), titled with the suptitle;
  "unknown" when none of them is a chart it knows. A twinx Axes is a sub-chart of its own.

Points are budgeted over the whole figure, sub-charts included: MAX_POINTS in all (line and
scatter points, box outliers). Each point list gets a fair share (short ones whole, the long ones
the rest split evenly), and a list cut to n points keeps n evenly spaced ones, first and last
included, so a long line keeps its shape. Any cut marks its chart `truncated`, and a composite is
`truncated` when any of its charts is.
"""

import warnings
from typing import Any

from sandbox_runner.chart_axes import Cuts, JsonDict, Series
from sandbox_runner.chart_kinds import describe_axes, unknown
from shared.chart_limits import MAX_POINTS, MAX_SUBCHARTS


def describe(figure: Any) -> JsonDict:
    try:
        # What matplotlib or pandas warn about while it is read is not the user's business.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _describe(figure)
    except Exception:  # user code can build any figure; an odd one is unknown, not an error
        return unknown(None, Cuts())


def _describe(figure: Any) -> JsonDict:
    cuts = Cuts()
    suptitle = cuts.optional_text(_suptitle(figure))
    axes = [ax for ax in figure.get_axes() if _has_data(ax)]
    if len(axes) > MAX_SUBCHARTS:
        cuts.truncated = True
    charts: list[JsonDict] = []
    series: list[Series] = []
    for ax in axes[:MAX_SUBCHARTS]:
        chart, points = _describe_axes(ax)
        charts.append(chart)
        series += points
    if len(charts) == 1 and charts[0]["title"] is None and suptitle is not None:
        charts[0]["title"] = suptitle
        charts[0]["truncated"] |= cuts.truncated
    if all(chart["type"] == "unknown" for chart in charts):
        return charts[0] if len(charts) == 1 else unknown(suptitle, cuts)
    _spend_points(series)
    if len(charts) == 1:
        return charts[0]
    return {
        "type": "composite",
        "title": suptitle,
        "elements": charts,
        "truncated": cuts.truncated or any(chart["truncated"] for chart in charts),
    }


def _describe_axes(ax: Any) -> tuple[JsonDict, list[Series]]:
    try:
        return describe_axes(ax)
    except Exception:  # one Axes that cannot be read leaves the figure's other charts
        return unknown(None, Cuts()), []


def _suptitle(figure: Any) -> str:
    get_suptitle = getattr(figure, "get_suptitle", None)
    return str(get_suptitle()) if get_suptitle else ""


def _has_data(ax: Any) -> bool:
    return bool(ax.get_visible() and ax.has_data() and getattr(ax, "_colorbar", None) is None)


def _spend_points(series: list[Series]) -> None:
    """Fill every point list in, cut to its share of MAX_POINTS (see the module's docstring)."""
    import numpy as np

    shares = fair_shares([len(points.coords) for points in series], MAX_POINTS)
    for points, share in zip(series, shares, strict=True):
        coords = points.coords
        if len(coords) > share:
            coords = coords[np.linspace(0, len(coords) - 1, share).round().astype(int)]
            points.chart["truncated"] = True
        points.element[points.key] = points.convert(coords)


def fair_shares(sizes: list[int], budget: int) -> list[int]:
    """How much of `budget` each size gets: all of it when the smaller ones leave enough, else an
    even split of what they leave."""
    shares = [0] * len(sizes)
    left = budget
    by_size = sorted(range(len(sizes)), key=sizes.__getitem__)
    for done, i in enumerate(by_size):
        shares[i] = min(sizes[i], left // (len(sizes) - done))
        left -= shares[i]
    return shares
