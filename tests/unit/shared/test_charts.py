"""What the gateway refuses of a sandbox's chart: unknown fields, wrong types, past a cap."""

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from shared.charts import (
    CHART_ADAPTER,
    MAX_ELEMENTS,
    MAX_POINTS,
    MAX_SUBCHARTS,
    MAX_TEXT,
    MAX_TICKS,
    BarChart,
    CompositeChart,
    LineChart,
)

AXES: dict[str, Any] = {
    "title": "t",
    "x_label": None,
    "y_label": "y",
    "x_scale": "datetime",
    "y_scale": "log",
    "x_ticks": ["2024-01-01T00:00:00", "2024-01-02T00:00:00"],
    "x_tick_labels": ["Jan 1", "Jan 2"],
    "y_ticks": [1.0, 10.0],
    "y_tick_labels": ["10^0", "10^1"],
    "truncated": False,
}
LINE: dict[str, Any] = {
    "type": "line",
    **AXES,
    "elements": [{"label": "a", "points": [["2024-01-01T00:00:00", 1.5], ["x", None]]}],
}
SCATTER: dict[str, Any] = {
    "type": "scatter",
    **AXES,
    "elements": [{"label": "", "points": [[1.0, 2.0]]}],
}
BAR: dict[str, Any] = {
    "type": "bar",
    **AXES,
    "orientation": "horizontal",
    "elements": [{"label": "apples", "group": "2024", "value": 3.0}],
}
BOX: dict[str, Any] = {
    "type": "box_and_whisker",
    **AXES,
    "orientation": "vertical",
    "elements": [
        {
            "label": "a",
            "min": 1.0,
            "first_quartile": 2.0,
            "median": 3.0,
            "third_quartile": 4.0,
            "max": 5.0,
            "outliers": [30.0, None],
        }
    ],
}
PIE: dict[str, Any] = {
    "type": "pie",
    "title": None,
    "elements": [{"label": "cats", "angle": 36.0, "radius": 1.0}],
    "truncated": False,
}
UNKNOWN: dict[str, Any] = {"type": "unknown", "title": None, "elements": [], "truncated": False}
COMPOSITE: dict[str, Any] = {
    "type": "composite",
    "title": "all",
    "elements": [LINE, SCATTER, BAR, BOX, PIE, UNKNOWN],
    "truncated": True,
}
VALID: list[dict[str, Any]] = [LINE, SCATTER, BAR, BOX, PIE, UNKNOWN, COMPOSITE]


@pytest.mark.parametrize("chart", VALID, ids=[c["type"] for c in VALID])
def test_every_kind_is_taken_as_it_is(chart: dict[str, Any]) -> None:
    parsed = CHART_ADAPTER.validate_json(json.dumps(chart))
    assert CHART_ADAPTER.dump_python(parsed) == chart
    assert CHART_ADAPTER.validate_python(chart) == parsed


def test_the_union_is_a_field_type() -> None:
    assert isinstance(CHART_ADAPTER.validate_python(LINE), LineChart)
    assert isinstance(CHART_ADAPTER.validate_python(BAR), BarChart)
    assert isinstance(CHART_ADAPTER.validate_python(COMPOSITE), CompositeChart)


def changed(chart: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    copied = copy.deepcopy(chart)
    change(copied)
    return copied


def points(n: int) -> list[list[float]]:
    return [[float(i), 0.0] for i in range(n)]


def element(chart: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = chart["elements"][0]
    return first


REFUSED = {
    # Unknown fields, at every level.
    "extra top-level field": changed(LINE, lambda c: c.update(html="<script>")),
    "extra element field": changed(BAR, lambda c: element(c).update(color="red")),
    "extra pie field": changed(PIE, lambda c: c.update(x_label="x")),
    "extra field in a sub-chart": changed(COMPOSITE, lambda c: element(c).update(z=1)),
    # Kinds.
    "unknown type": changed(LINE, lambda c: c.update(type="heatmap")),
    "no type": changed(LINE, lambda c: c.pop("type")),
    "a missing field": changed(LINE, lambda c: c.pop("y_ticks")),
    "a composite inside a composite": changed(
        COMPOSITE, lambda c: c.update(elements=[copy.deepcopy(COMPOSITE)])
    ),
    "an unknown chart with elements": changed(UNKNOWN, lambda c: c.update(elements=[None])),
    # Wrong types.
    "a number as a string": changed(BAR, lambda c: element(c).update(value="3")),
    "a boolean as a number": changed(BOX, lambda c: element(c).update(median=True)),
    "a point of three values": changed(LINE, lambda c: element(c).update(points=[[1, 2, 3]])),
    "a point of one value": changed(LINE, lambda c: element(c).update(points=[[1.0]])),
    "a point as an object": changed(LINE, lambda c: element(c).update(points=[{"x": 1}])),
    "a list as a value": changed(SCATTER, lambda c: element(c).update(points=[[[1], 2]])),
    "a number as a title": changed(PIE, lambda c: c.update(title=5)),
    "a string as truncated": changed(LINE, lambda c: c.update(truncated="yes")),
    "a number as a label": changed(PIE, lambda c: element(c).update(label=1)),
    "an odd orientation": changed(BAR, lambda c: c.update(orientation="diagonal")),
    "a null scale": changed(LINE, lambda c: c.update(x_scale=None)),
    "elements as an object": changed(LINE, lambda c: c.update(elements={"a": 1})),
    # Caps.
    "too many points in one series": changed(
        LINE, lambda c: element(c).update(points=points(MAX_POINTS + 1))
    ),
    "too many points in all": changed(
        SCATTER,
        lambda c: c.update(
            elements=[{"label": "", "points": points(MAX_POINTS // 2 + 1)} for _ in range(2)]
        ),
    ),
    "too many outliers in all": changed(
        BOX,
        lambda c: c.update(
            elements=[element(c) | {"outliers": [1.0] * (MAX_POINTS // 2 + 1)} for _ in range(2)]
        ),
    ),
    "too many points over sub-charts": changed(
        COMPOSITE,
        lambda c: c.update(
            elements=[
                LINE | {"elements": [{"label": "", "points": points(MAX_POINTS // 2 + 1)}]}
                for _ in range(2)
            ]
        ),
    ),
    "too many elements": changed(
        BAR, lambda c: c.update(elements=[element(c)] * (MAX_ELEMENTS + 1))
    ),
    "too many wedges": changed(PIE, lambda c: c.update(elements=[element(c)] * (MAX_ELEMENTS + 1))),
    "too many sub-charts": changed(
        COMPOSITE, lambda c: c.update(elements=[UNKNOWN] * (MAX_SUBCHARTS + 1))
    ),
    "too many ticks": changed(LINE, lambda c: c.update(y_ticks=[1.0] * (MAX_TICKS + 1))),
    "too many tick labels": changed(
        LINE, lambda c: c.update(x_tick_labels=["a"] * (MAX_TICKS + 1))
    ),
    "a long title": changed(LINE, lambda c: c.update(title="t" * (MAX_TEXT + 1))),
    "a long label": changed(BAR, lambda c: element(c).update(group="g" * (MAX_TEXT + 1))),
    "a long category": changed(
        LINE, lambda c: element(c).update(points=[["c" * (MAX_TEXT + 1), 1.0]])
    ),
    "a long tick": changed(LINE, lambda c: c.update(x_ticks=["2" * (MAX_TEXT + 1)])),
    "a long scale": changed(LINE, lambda c: c.update(x_scale="s" * (MAX_TEXT + 1))),
}


@pytest.mark.parametrize("chart", REFUSED.values(), ids=REFUSED.keys())
def test_refused(chart: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CHART_ADAPTER.validate_python(chart)
    with pytest.raises(ValidationError):
        CHART_ADAPTER.validate_json(json.dumps(chart))


def test_the_caps_themselves_are_allowed() -> None:
    full = changed(
        LINE,
        lambda c: c.update(
            title="t" * MAX_TEXT,
            x_ticks=[1.0] * MAX_TICKS,
            elements=[{"label": "", "points": points(MAX_POINTS // 2)} for _ in range(2)],
        ),
    )
    CHART_ADAPTER.validate_python(full)
    CHART_ADAPTER.validate_python(
        changed(PIE, lambda c: c.update(elements=[element(c)] * MAX_ELEMENTS))
    )
