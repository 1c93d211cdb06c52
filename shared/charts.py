"""Chart data: what a matplotlib figure drew, as the kernel describes it (sandbox_runner.charts).

The gateway validates a sandbox's chart with `CHART_ADAPTER` before it trusts or stores it: every
model refuses unknown fields and wrong types (strict: no "1" for 1, no true for 1.0), and every
list and string is capped (shared.chart_limits, re-exported here).

Values: a number is a float, or null for NaN and infinities. An x or y value (a point's, a tick's)
is a number, or a string on an axis whose scale is "datetime" (ISO 8601, with a UTC offset only
when the data had a time zone) or "categorical" (the category; a position between categories,
such as a jittered strip plot's, stays a number).
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared.chart_limits import MAX_ELEMENTS, MAX_POINTS, MAX_SUBCHARTS, MAX_TEXT, MAX_TICKS

__all__ = [
    "CHART_ADAPTER",
    "MAX_ELEMENTS",
    "MAX_POINTS",
    "MAX_SUBCHARTS",
    "MAX_TEXT",
    "MAX_TICKS",
    "BarChart",
    "BarElement",
    "BoxAndWhiskerChart",
    "BoxElement",
    "Chart",
    "CompositeChart",
    "LineChart",
    "PieChart",
    "PieElement",
    "ScatterChart",
    "SeriesElement",
    "SubChart",
    "UnknownChart",
    "point_count",
]

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Number = float | None
Value = float | Text | None
Point = Annotated[list[Value], Field(min_length=2, max_length=2)]
Orientation = Literal["vertical", "horizontal"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SeriesElement(_Model):
    """One Line2D of a line chart, or one PathCollection of a scatter chart."""

    label: Text
    points: Annotated[list[Point], Field(max_length=MAX_POINTS)]


class BarElement(_Model):
    label: Text  # the category
    group: Text  # the series
    value: Number


class BoxElement(_Model):
    label: Text
    min: Number
    first_quartile: Number
    median: Number
    third_quartile: Number
    max: Number
    outliers: Annotated[list[Number], Field(max_length=MAX_POINTS)]


class PieElement(_Model):
    label: Text
    angle: Number  # degrees
    radius: Number


class _Chart2D(_Model):
    title: Text | None
    x_label: Text | None
    y_label: Text | None
    x_scale: Text
    y_scale: Text
    x_ticks: Annotated[list[Value], Field(max_length=MAX_TICKS)]
    x_tick_labels: Annotated[list[Text], Field(max_length=MAX_TICKS)]
    y_ticks: Annotated[list[Value], Field(max_length=MAX_TICKS)]
    y_tick_labels: Annotated[list[Text], Field(max_length=MAX_TICKS)]
    truncated: bool


class LineChart(_Chart2D):
    type: Literal["line"]
    elements: Annotated[list[SeriesElement], Field(max_length=MAX_ELEMENTS)]

    @model_validator(mode="after")
    def _points_capped(self) -> Self:
        _check_points(point_count(self))
        return self


class ScatterChart(_Chart2D):
    type: Literal["scatter"]
    elements: Annotated[list[SeriesElement], Field(max_length=MAX_ELEMENTS)]

    @model_validator(mode="after")
    def _points_capped(self) -> Self:
        _check_points(point_count(self))
        return self


class BarChart(_Chart2D):
    type: Literal["bar"]
    # Which axis holds the categories: x for "vertical", y for "horizontal" (barh).
    orientation: Orientation
    elements: Annotated[list[BarElement], Field(max_length=MAX_ELEMENTS)]


class BoxAndWhiskerChart(_Chart2D):
    type: Literal["box_and_whisker"]
    orientation: Orientation
    elements: Annotated[list[BoxElement], Field(max_length=MAX_ELEMENTS)]

    @model_validator(mode="after")
    def _points_capped(self) -> Self:
        _check_points(point_count(self))
        return self


class PieChart(_Model):
    type: Literal["pie"]
    title: Text | None
    elements: Annotated[list[PieElement], Field(max_length=MAX_ELEMENTS)]
    truncated: bool


class UnknownChart(_Model):
    type: Literal["unknown"]
    title: Text | None
    elements: Annotated[list[None], Field(max_length=0)]
    truncated: bool


_SubChart = LineChart | ScatterChart | BarChart | BoxAndWhiskerChart | PieChart | UnknownChart
SubChart = Annotated[_SubChart, Field(discriminator="type")]


class CompositeChart(_Model):
    """A figure with several Axes that have data: one chart per Axes, never nested."""

    type: Literal["composite"]
    title: Text | None
    elements: Annotated[list[SubChart], Field(max_length=MAX_SUBCHARTS)]
    truncated: bool

    @model_validator(mode="after")
    def _points_capped(self) -> Self:
        _check_points(sum(point_count(chart) for chart in self.elements))
        return self


Chart = Annotated[_SubChart | CompositeChart, Field(discriminator="type")]
CHART_ADAPTER: TypeAdapter[Chart] = TypeAdapter(Chart)


def point_count(chart: _SubChart | CompositeChart) -> int:
    """The points that count against MAX_POINTS: series points and box outliers."""
    if isinstance(chart, LineChart | ScatterChart):
        return sum(len(element.points) for element in chart.elements)
    if isinstance(chart, BoxAndWhiskerChart):
        return sum(len(element.outliers) for element in chart.elements)
    if isinstance(chart, CompositeChart):
        return sum(point_count(sub) for sub in chart.elements)
    return 0


def _check_points(count: int) -> None:
    if count > MAX_POINTS:
        raise ValueError(f"{count} points in all, more than {MAX_POINTS}")
