"""Chart data read from real matplotlib figures, compared with what each figure was drawn from.

Every chart here also goes through `chart_of`: it must be strict JSON (no NaN), validate with
shared.charts' adapter, and come back from the model unchanged (no field dropped or defaulted).
"""

import datetime
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from matplotlib.ticker import FixedLocator

from sandbox_runner.charts import describe
from shared.charts import (
    CHART_ADAPTER,
    MAX_ELEMENTS,
    MAX_POINTS,
    MAX_SUBCHARTS,
    MAX_TEXT,
    MAX_TICKS,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def chart_of(figure: Any) -> dict[str, Any]:
    chart = describe(figure)
    json.dumps(chart, allow_nan=False)
    assert CHART_ADAPTER.dump_python(CHART_ADAPTER.validate_python(chart)) == chart
    return chart


def drawn_ticks(axis: Any) -> tuple[list[float], list[str]]:
    """The major ticks matplotlib draws inside the view, and their labels' text."""
    axis.figure.canvas.draw()
    low, high = sorted(axis.get_view_interval())
    pairs = [
        (float(loc), label.get_text())
        for loc, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=True)
        if low <= loc <= high
    ]
    return [loc for loc, _ in pairs], [text for _, text in pairs]


# Lines and scatters.


def test_a_line_chart_has_each_lines_points_labels_titles_scales_and_ticks() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2, 3], [10.5, -2.0, 7.25, 3.0], label="revenue")
    ax.plot([1, 2], [0.5, 0.25])
    ax.set_title("Sales")
    ax.set_xlabel("quarter")
    ax.set_ylabel("EUR")
    ax.set_xticks([0, 1, 2, 3], ["Q1", "Q2", "Q3", "Q4"])
    y_ticks, y_labels = drawn_ticks(ax.yaxis)

    chart = chart_of(fig)

    assert chart["type"] == "line"
    assert (chart["title"], chart["x_label"], chart["y_label"]) == ("Sales", "quarter", "EUR")
    assert (chart["x_scale"], chart["y_scale"]) == ("linear", "linear")
    assert chart["elements"] == [
        {"label": "revenue", "points": [[0.0, 10.5], [1.0, -2.0], [2.0, 7.25], [3.0, 3.0]]},
        {"label": "", "points": [[1.0, 0.5], [2.0, 0.25]]},
    ]
    assert chart["x_ticks"] == [0.0, 1.0, 2.0, 3.0]
    assert chart["x_tick_labels"] == ["Q1", "Q2", "Q3", "Q4"]
    assert chart["y_ticks"] == pytest.approx(y_ticks) and len(y_ticks) > 2
    assert chart["y_tick_labels"] == y_labels
    assert chart["truncated"] is False


def test_reference_lines_span_the_view_and_errorbars_keep_their_label() -> None:
    fig, ax = plt.subplots()
    ax.errorbar([1, 2, 3], [4, 5, 6], yerr=[0.5, 0.5, 0.5], capsize=3, label="measured")
    ax.axhline(5.5, label="_mean")
    left, right = ax.get_xlim()

    elements = chart_of(fig)["elements"]

    # The caps' markers are not lines of their own.
    assert elements == [
        {"label": "measured", "points": [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]},
        {"label": "", "points": [[pytest.approx(left), 5.5], [pytest.approx(right), 5.5]]},
    ]


def test_missing_and_infinite_values_are_null() -> None:
    fig, ax = plt.subplots()
    ax.plot([1.0, 2.0, 3.0], [1.0, np.nan, np.inf])
    assert chart_of(fig)["elements"][0]["points"] == [[1.0, 1.0], [2.0, None], [3.0, None]]


def test_a_scatter_on_a_log_axis() -> None:
    fig, ax = plt.subplots()
    ax.scatter([1, 2, 3, 4], [1, 10, 100, 1000], label="growth")
    ax.scatter([2.5], [50])
    ax.plot([1, 4], [1, 1000])  # a fitted line: the scatter's, not a series of its own
    ax.set_yscale("log")

    chart = chart_of(fig)

    assert chart["type"] == "scatter"
    assert chart["y_scale"] == "log" and chart["x_scale"] == "linear"
    assert chart["elements"] == [
        {"label": "growth", "points": [[1.0, 1.0], [2.0, 10.0], [3.0, 100.0], [4.0, 1000.0]]},
        {"label": "", "points": [[2.5, 50.0]]},
    ]
    assert chart["y_ticks"] == [1.0, 10.0, 100.0, 1000.0]
    assert chart["y_tick_labels"] == ["10^0", "10^1", "10^2", "10^3"]


def test_categorical_x_values_are_the_categories() -> None:
    fig, ax = plt.subplots()
    ax.plot(["mon", "tue", "wed"], [3, 1, 2])

    chart = chart_of(fig)

    assert chart["x_scale"] == "categorical"
    assert chart["elements"][0]["points"] == [["mon", 3.0], ["tue", 1.0], ["wed", 2.0]]
    assert chart["x_ticks"] == ["mon", "tue", "wed"]
    assert chart["x_tick_labels"] == ["mon", "tue", "wed"]


# Dates.


def test_dates_are_iso_strings_on_a_datetime_axis() -> None:
    index = pd.date_range("2024-03-01", periods=4, freq="6h")
    fig, ax = plt.subplots()
    ax.plot(index, [1, 2, 3, 4])
    python_dates: Any = [datetime.datetime(2024, 3, 1, 3, 30)]
    ax.plot(python_dates, [9])
    ticks, _ = drawn_ticks(ax.xaxis)

    chart = chart_of(fig)

    assert chart["x_scale"] == "datetime"
    assert chart["elements"][0]["points"] == [
        [ts.isoformat(), float(y)] for ts, y in zip(index, [1, 2, 3, 4], strict=True)
    ]
    assert chart["elements"][1]["points"] == [["2024-03-01T03:30:00", 9.0]]
    num2date: Callable[[float], datetime.datetime] = mdates.num2date
    assert chart["x_ticks"] == [num2date(tick).replace(tzinfo=None).isoformat() for tick in ticks]


def test_time_zone_aware_dates_keep_their_offset() -> None:
    index = pd.date_range("2024-07-01", periods=3, freq="D", tz="Europe/Paris")
    fig, ax = plt.subplots()
    ax.plot(index, [1, 2, 3])

    points = chart_of(fig)["elements"][0]["points"]

    assert [x for x, _ in points] == [ts.isoformat() for ts in index]
    assert points[0][0] == "2024-07-01T00:00:00+02:00"


@pytest.mark.parametrize("freq", ["D", "h", "MS"])
def test_pandas_time_series_plots_give_dates_too(freq: str) -> None:
    # Series.plot on a regular index puts pandas periods, not matplotlib dates, on the axis.
    series = pd.Series([5.0, 7.0, 6.0], index=pd.date_range("2024-01-01", periods=3, freq=freq))
    ax = series.plot(title="daily")

    chart = chart_of(ax.figure)

    assert chart["x_scale"] == "datetime" and chart["title"] == "daily"
    assert chart["elements"][0]["points"] == [[ts.isoformat(), y] for ts, y in series.items()]
    assert all(isinstance(tick, str) for tick in chart["x_ticks"]) and chart["x_ticks"]


# Bars.


def test_bars_have_a_category_a_group_and_a_value() -> None:
    fig, ax = plt.subplots()
    ax.bar(["apples", "pears", "plums"], [3, 5, -1], label="2024")
    ax.set_ylabel("tonnes")

    chart = chart_of(fig)

    assert chart["type"] == "bar" and chart["orientation"] == "vertical"
    assert chart["x_scale"] == "categorical" and chart["y_label"] == "tonnes"
    assert chart["elements"] == [
        {"label": "apples", "group": "2024", "value": 3.0},
        {"label": "pears", "group": "2024", "value": 5.0},
        {"label": "plums", "group": "2024", "value": -1.0},
    ]
    assert chart["x_ticks"] == ["apples", "pears", "plums"]


def test_horizontal_bars_take_their_categories_from_y() -> None:
    fig, ax = plt.subplots()
    ax.barh(["north", "south"], [12.5, 7.5])

    chart = chart_of(fig)

    assert chart["orientation"] == "horizontal"
    assert (chart["x_scale"], chart["y_scale"]) == ("linear", "categorical")
    assert chart["elements"] == [
        {"label": "north", "group": "", "value": 12.5},
        {"label": "south", "group": "", "value": 7.5},
    ]


def test_grouped_bars_are_named_by_the_tick_under_them() -> None:
    fig, ax = plt.subplots()
    x = np.arange(3)
    ax.bar(x - 0.2, [1, 2, 3], 0.4, label="men")
    ax.bar(x + 0.2, [3, 2, 1], 0.4, label="women")
    ax.set_xticks(x, ["young", "middle", "old"])
    ax.plot(x, [2, 2, 2], label="average")  # a line over bars: the bar chart leaves it out

    elements = chart_of(fig)["elements"]

    assert elements == [
        {"label": label, "group": group, "value": float(value)}
        for group, values in [("men", [1, 2, 3]), ("women", [3, 2, 1])]
        for label, value in zip(["young", "middle", "old"], values, strict=True)
    ]


def test_pandas_bar_plots_are_named_by_index_and_column() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 0.5]}, index=["x", "y"])
    chart = chart_of(frame.plot.bar(stacked=True).figure)

    assert chart["elements"] == [
        {"label": label, "group": column, "value": frame.loc[label, column]}
        for column in frame.columns
        for label in frame.index
    ]
    assert chart["x_tick_labels"] == ["x", "y"]


def test_a_histogram_is_bars_of_counts_at_bin_centres() -> None:
    data = [0.5, 1.5, 1.7, 2.2, 2.9, 3.1, 3.5, 3.9]
    fig, ax = plt.subplots()
    ax.hist(data, bins=[0, 1, 2, 3, 4], label="sizes")
    counts, _ = np.histogram(data, bins=[0, 1, 2, 3, 4])

    elements = chart_of(fig)["elements"]

    assert [e["value"] for e in elements] == counts.tolist()
    assert [e["label"] for e in elements] == ["0.5", "1.5", "2.5", "3.5"]
    assert {e["group"] for e in elements} == {"sizes"}


def test_bars_on_dates_are_named_by_their_date() -> None:
    fig, ax = plt.subplots()
    ax.bar(pd.date_range("2024-05-01", periods=2), [1, 2])

    chart = chart_of(fig)

    assert chart["x_scale"] == "datetime"
    labels = [e["label"] for e in chart["elements"]]
    assert labels == ["2024-05-01T00:00:00", "2024-05-02T00:00:00"]


# Boxes and pies.

BOX_DATA = [
    [1.0, 2.0, 3.0, 4.0, 5.0, 30.0],
    [2.0, 2.5, 3.0, 3.5, 4.0],
    [-1.0, 0.0, 8.0, 9.0],
    # The low whisker has no length: its cap lies on the box's edge, beside the median line.
    [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"patch_artist": True},
        {"notch": True},
        {"notch": True, "patch_artist": True, "orientation": "horizontal"},
        {"showmeans": True, "meanline": True},
        {"showmeans": True, "showcaps": False},
        {"orientation": "horizontal"},
    ],
)
def test_box_plots_have_the_statistics_matplotlib_drew(options: dict[str, Any]) -> None:
    fig, ax = plt.subplots()
    ax.boxplot(BOX_DATA, tick_labels=["a", "b", "c", "d"], **options)
    ax.set_title("spread")

    chart = chart_of(fig)

    assert chart["type"] == "box_and_whisker" and chart["title"] == "spread"
    horizontal = options.get("orientation") == "horizontal"
    assert chart["orientation"] == ("horizontal" if horizontal else "vertical")
    assert chart["elements"] == [
        {
            "label": label,
            "min": stats["whislo"],
            "first_quartile": stats["q1"],
            "median": stats["med"],
            "third_quartile": stats["q3"],
            "max": stats["whishi"],
            "outliers": list(stats["fliers"]),
        }
        for label, stats in zip("abcd", cbook.boxplot_stats(BOX_DATA), strict=True)
    ]
    assert chart["elements"][0]["outliers"] == [30.0]


def test_a_pie_has_each_wedges_angle_label_and_radius() -> None:
    sizes = [10, 30, 60]
    fig, ax = plt.subplots()
    ax.pie(sizes, labels=["cats", "dogs", "fish"], radius=1.5)
    fig.suptitle("pets")

    chart = chart_of(fig)

    assert chart["type"] == "pie" and chart["title"] == "pets"
    assert [e["label"] for e in chart["elements"]] == ["cats", "dogs", "fish"]
    assert [e["angle"] for e in chart["elements"]] == pytest.approx([36.0, 108.0, 216.0])
    assert {e["radius"] for e in chart["elements"]} == {1.5}
    assert set(chart) == {"type", "title", "elements", "truncated"}


# Figures with several Axes.


def test_several_axes_make_a_composite_of_one_chart_each() -> None:
    fig, (left, middle, right) = plt.subplots(1, 3)
    left.plot([1, 2], [3, 4])
    left.set_title("trend")
    right.bar(["a"], [1])
    middle.set_title("nothing drawn here")
    fig.suptitle("Overview")

    chart = chart_of(fig)

    assert chart["type"] == "composite" and chart["title"] == "Overview"
    assert [(c["type"], c["title"]) for c in chart["elements"]] == [
        ("line", "trend"),
        ("bar", None),
    ]
    assert chart["elements"][0]["elements"] == [{"label": "", "points": [[1.0, 3.0], [2.0, 4.0]]}]


def test_a_single_axes_is_titled_by_the_suptitle_only_without_a_title_of_its_own() -> None:
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    fig.suptitle("figure title")
    assert chart_of(fig)["title"] == "figure title"
    ax.set_title("axes title")
    assert chart_of(fig)["title"] == "axes title"


def test_an_axes_of_an_unknown_kind_is_an_unknown_sub_chart() -> None:
    fig, (image, line) = plt.subplots(1, 2)
    image.imshow(np.eye(3))
    image.set_title("matrix")
    line.plot([1, 2])

    chart = chart_of(fig)

    assert [(c["type"], c["title"]) for c in chart["elements"]] == [
        ("unknown", "matrix"),
        ("line", None),
    ]


# Caps.


def test_a_million_point_line_is_cut_evenly_and_marked() -> None:
    x = np.arange(1_000_000, dtype=float)
    fig, ax = plt.subplots()
    ax.plot(x, x * 2)

    chart = chart_of(fig)

    points = chart["elements"][0]["points"]
    assert chart["truncated"] is True and len(points) == MAX_POINTS
    assert points[0] == [0.0, 0.0] and points[-1] == [999_999.0, 1_999_998.0]
    assert all(y == 2 * x for x, y in points)
    gaps = np.diff([x for x, _ in points])
    assert gaps.min() >= 99 and gaps.max() <= 101


def test_short_series_are_kept_whole_when_a_long_one_is_cut() -> None:
    fig, (big, small) = plt.subplots(1, 2)
    big.plot(np.arange(50_000), np.zeros(50_000))
    big.plot([0, 1], [5, 6])
    small.scatter(np.arange(300), np.arange(300))

    chart = chart_of(fig)

    line, scatter = chart["elements"]
    assert [len(e["points"]) for e in line["elements"]] == [MAX_POINTS - 302, 2]
    assert len(scatter["elements"][0]["points"]) == 300
    assert (chart["truncated"], line["truncated"], scatter["truncated"]) == (True, True, False)


def test_elements_ticks_and_text_are_capped() -> None:
    fig, ax = plt.subplots()
    ax.bar(np.arange(MAX_ELEMENTS + 5), 1.0)
    ax.yaxis.set_major_locator(
        FixedLocator((np.arange(MAX_TICKS + 50) / (MAX_TICKS + 50)).tolist())
    )
    ax.set_title("t" * (MAX_TEXT + 1))

    chart = chart_of(fig)

    assert chart["truncated"] is True
    assert len(chart["elements"]) == MAX_ELEMENTS
    assert len(chart["y_ticks"]) == len(chart["y_tick_labels"]) == MAX_TICKS
    assert chart["title"] == "t" * MAX_TEXT


def test_sub_charts_are_capped() -> None:
    fig, axes = plt.subplots(1, MAX_SUBCHARTS + 1)
    for i, ax in enumerate(axes):
        ax.plot([i, i + 1])

    chart = chart_of(fig)

    assert chart["truncated"] is True and len(chart["elements"]) == MAX_SUBCHARTS
    assert chart["elements"][-1]["elements"][0]["points"][0] == [0.0, MAX_SUBCHARTS - 1.0]


# Figures that are no chart.


def _text_only() -> Any:
    fig = plt.figure()
    fig.text(0.5, 0.5, "just words")
    fig.suptitle("words")
    return fig


def _image() -> Any:
    fig, ax = plt.subplots()
    fig.colorbar(ax.imshow(np.random.default_rng(0).random((4, 4))))
    return fig


def _three_d() -> Any:
    ax = plt.figure().add_subplot(projection="3d")
    ax.plot([1, 2], [3, 4], [5, 6])
    return ax.figure


def _polar() -> Any:
    ax = plt.figure().add_subplot(projection="polar")
    ax.plot([0, 1], [1, 2])
    return ax.figure


def _two_images() -> Any:
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.imshow(np.eye(2))
    return fig


def _axes_without_data() -> Any:
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "x")
    ax.set_xlabel("nothing")
    return fig


@pytest.mark.parametrize(
    ("make", "title"),
    [
        (plt.figure, None),
        (_text_only, "words"),
        (_image, None),
        (_three_d, None),
        (_polar, None),
        (_two_images, None),
        (_axes_without_data, None),
    ],
)
def test_figures_that_are_no_known_chart_are_unknown(make: Any, title: str | None) -> None:
    assert chart_of(make()) == {
        "type": "unknown",
        "title": title,
        "elements": [],
        "truncated": False,
    }


def test_an_axes_that_cannot_be_read_is_unknown_and_anything_else_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fig, (broken, fine) = plt.subplots(1, 2)
    broken.plot([1, 2])
    fine.plot([3, 4])

    def fail(*args: Any) -> str:
        raise RuntimeError("odd axes")

    monkeypatch.setattr(broken, "get_xlabel", fail)
    chart = chart_of(fig)
    assert [c["type"] for c in chart["elements"]] == ["unknown", "line"]
    assert chart_of(object())["type"] == "unknown"


def test_describing_imports_nothing_user_code_did_not() -> None:
    code = """
import sys
import sandbox_runner.charts
assert not {"matplotlib", "numpy", "pydantic"} & set(sys.modules), "imported too early"
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2])
assert sandbox_runner.charts.describe(plt.gcf())["type"] == "line"
assert "pydantic" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
