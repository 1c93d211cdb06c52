"""Kernel side of chart data: one Axes as one chart (line, scatter, bar, box_and_whisker, pie or
unknown). See sandbox_runner.charts for the whole figure and the budget on points.
"""

from collections.abc import Callable
from typing import Any

from sandbox_runner.chart_axes import (
    AxisValues,
    Cuts,
    JsonDict,
    Series,
    chart_2d,
    in_data_coords,
    number,
    numbers,
    title,
)
from sandbox_runner.chart_boxes import Box, find_boxes
from shared.chart_limits import MAX_ELEMENTS


def describe_axes(ax: Any) -> tuple[JsonDict, list[Series]]:
    """One Axes as a chart, and its point lists, which are filled in once the figure's budget is
    shared out.

    Only plain (rectilinear) Axes without images are charts: polar, 3D, geographic Axes and
    imshow heatmaps are "unknown". An Axes holding several kinds is the first kind it has of
    bar > box_and_whisker > pie > scatter > line, and only that kind's artists are described:
    a line over bars is left out of the bar chart, a regression line out of the scatter chart.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer
    from matplotlib.lines import Line2D
    from matplotlib.patches import Wedge

    cuts = Cuts()
    if ax.name != "rectilinear" or ax.images:
        return unknown(title(ax, cuts), cuts), []
    series: list[Series] = []
    if bars := [c for c in ax.containers if isinstance(c, BarContainer) and len(c.patches)]:
        chart = _bar_chart(ax, cuts, bars)
    elif (found := find_boxes(ax))[1]:
        chart = _box_chart(ax, cuts, *found, series)
    elif wedges := [patch for patch in ax.patches if isinstance(patch, Wedge)]:
        chart = _pie_chart(ax, cuts, wedges)
    elif scatters := _with_points(ax, ax.collections, PathCollection, _offsets):
        chart = _series_chart("scatter", ax, cuts, scatters, {}, series)
    else:
        labels, caps = _errorbars(ax)
        lines = [line for line in ax.lines if line not in caps]
        if not (lines_with_points := _with_points(ax, lines, Line2D, _line_points)):
            return unknown(title(ax, cuts), cuts), []
        chart = _series_chart("line", ax, cuts, lines_with_points, labels, series)
    chart["truncated"] = cuts.truncated
    return chart, series


def unknown(chart_title: str | None, cuts: Cuts) -> JsonDict:
    return {"type": "unknown", "title": chart_title, "elements": [], "truncated": cuts.truncated}


def _axes_values(ax: Any, cuts: Cuts) -> tuple[AxisValues, AxisValues]:
    return AxisValues(ax.xaxis, cuts), AxisValues(ax.yaxis, cuts)


def _first(items: list[Any], cuts: Cuts) -> list[Any]:
    if len(items) > MAX_ELEMENTS:
        cuts.truncated = True
    return items[:MAX_ELEMENTS]


def _with_points(
    ax: Any, artists: Any, kind: type, points: Callable[[Any, Any], Any]
) -> list[tuple[Any, Any]]:
    """The artists of that kind that have points, each with its (n, 2) data coordinates."""
    found = []
    for artist in artists:
        if isinstance(artist, kind) and len(coords := points(ax, artist)):
            found.append((artist, coords))
    return found


def _line_points(ax: Any, line: Any) -> Any:
    return in_data_coords(ax, line.get_xydata(), line.get_transform())


def _offsets(ax: Any, collection: Any) -> Any:
    import numpy as np

    xy: Any = np.ma.filled(np.ma.asarray(collection.get_offsets(), dtype=float), np.nan)
    return in_data_coords(ax, xy, collection.get_offset_transform())


def _errorbars(ax: Any) -> tuple[dict[Any, str], set[Any]]:
    """An errorbar's data line has its container's label (the line's own is "_nolegend_"), and
    its cap markers are no lines of their own."""
    from matplotlib.container import ErrorbarContainer

    labels: dict[Any, str] = {}
    caps: set[Any] = set()
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            data_line, caplines, _ = container.lines
            if data_line is not None:
                labels[data_line] = container.get_label() or ""
            caps.update(caplines)
    return labels, caps


def _series_chart(
    kind: str,
    ax: Any,
    cuts: Cuts,
    artists: list[tuple[Any, Any]],
    labels: dict[Any, str],
    series: list[Series],
) -> JsonDict:
    """A line chart (Line2Ds) or a scatter chart (PathCollections): one element per artist,
    labelled with its own label unless `labels` has one for it."""
    x, y = _axes_values(ax, cuts)
    chart = chart_2d(kind, ax, cuts, x, y)
    for artist, coords in _first(artists, cuts):
        label = cuts.label(labels.get(artist, artist.get_label()))
        element: JsonDict = {"label": label, "points": []}
        chart["elements"].append(element)
        series.append(Series(chart, element, "points", coords, _points(x, y)))
    return chart


def _points(x: AxisValues, y: AxisValues) -> Callable[[Any], list[Any]]:
    def convert(coords: Any) -> list[Any]:
        return [
            list(point)
            for point in zip(x.values(coords[:, 0]), y.values(coords[:, 1]), strict=True)
        ]

    return convert


def _bar_chart(ax: Any, cuts: Cuts, containers: list[Any]) -> JsonDict:
    """Bars of the first container's orientation (containers of the other are left out)."""
    x, y = _axes_values(ax, cuts)
    chart = chart_2d("bar", ax, cuts, x, y)
    orientation = getattr(containers[0], "orientation", None) or "vertical"
    vertical = orientation == "vertical"
    chart["orientation"] = orientation
    categories = x if vertical else y
    bars = [
        (_group(container, cuts), rect)
        for container in containers
        if (getattr(container, "orientation", None) or "vertical") == orientation
        for rect in container.patches
    ]
    for group, rect in _first(bars, cuts):
        if vertical:
            centre, extent, value = rect.get_x(), rect.get_width(), rect.get_height()
        else:
            centre, extent, value = rect.get_y(), rect.get_height(), rect.get_width()
        centre += extent / 2
        label = categories.category(centre, abs(extent))
        chart["elements"].append({"label": label, "group": group, "value": number(value)})
    return chart


def _group(container: Any, cuts: Cuts) -> str:
    """A bar series' name: its container's label, or for ax.hist its first bar's label."""
    label = container.get_label()
    if (not label or label.startswith("_")) and container.patches:
        label = container.patches[0].get_label()
    return cuts.label(label)


def _box_chart(
    ax: Any, cuts: Cuts, orientation: str, boxes: list[Box], series: list[Series]
) -> JsonDict:
    x, y = _axes_values(ax, cuts)
    chart = chart_2d("box_and_whisker", ax, cuts, x, y)
    chart["orientation"] = orientation
    positions = x if orientation == "vertical" else y
    for box in _first(boxes, cuts):
        median = None if box.median is None else number(box.median)
        element: JsonDict = {
            "label": positions.category(box.position, box.width),
            "min": number(box.low),
            "first_quartile": number(box.first_quartile),
            "median": median,
            "third_quartile": number(box.third_quartile),
            "max": number(box.high),
            "outliers": [],
        }
        chart["elements"].append(element)
        series.append(Series(chart, element, "outliers", box.outliers, numbers))
    return chart


def _pie_chart(ax: Any, cuts: Cuts, wedges: list[Any]) -> JsonDict:
    elements = [
        {
            "label": cuts.label(wedge.get_label()),
            "angle": number(wedge.theta2 - wedge.theta1),
            "radius": number(wedge.r),
        }
        for wedge in _first(wedges, cuts)
    ]
    return {"type": "pie", "title": title(ax, cuts), "elements": elements, "truncated": False}
