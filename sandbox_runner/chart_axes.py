"""Kernel side of chart data: one Axes' axes (scale, ticks, values in user code's units) and the
pieces every chart kind shares. See sandbox_runner.charts for the whole figure.

matplotlib and numpy are imported inside functions: they are loaded by then (user code drew a
figure), but this module is imported with the kernel's, before any cell ran. Their objects are
Any on purpose: they come from user code.
"""

import datetime
import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.chart_limits import MAX_TEXT, MAX_TICKS

JsonDict = dict[str, Any]
# An x or y as shared.charts has it: a float, null for NaN and infinities, or a string on a
# "datetime" (ISO 8601) or "categorical" axis.
Value = float | str | None

_DATE_CONVERTERS = {"DateConverter", "ConciseDateConverter", "_SwitchableDateConverter"}
_DATE_FORMATTERS = {"DateFormatter", "AutoDateFormatter", "ConciseDateFormatter"}


class Cuts:
    """Whether anything of one chart was cut to a cap (its `truncated`), and the cutting."""

    def __init__(self) -> None:
        self.truncated = False

    def text(self, value: object) -> str:
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        if len(text) > MAX_TEXT:
            self.truncated = True
            return text[:MAX_TEXT]
        return text

    def optional_text(self, value: object) -> str | None:
        """None for a missing or empty title or axis label."""
        return self.text(value) if value else None

    def label(self, value: object) -> str:
        """An artist's legend label; matplotlib's own ("_child0", "_nolegend_") become ""."""
        text = self.text(value) if value is not None else ""
        return "" if text.startswith("_") else text


@dataclass
class Series:
    """A list of points (an (n, 2) array) or of numbers (an (n,) array) that the figure's point
    budget cuts before `convert` turns it into JSON values at `element[key]`."""

    chart: JsonDict
    element: JsonDict
    key: str
    coords: Any
    convert: Callable[[Any], list[Any]]


def numbers(values: Any) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def number_text(value: float) -> str:
    """A coordinate as a category name: "3", "2.5"; float noise such as 0.30000000000000004 and
    "-0" are rounded away."""
    return f"{value + 0.0:.10g}" if math.isfinite(value) else str(value)


class AxisValues:
    """One axis: its scale as shared.charts names it, and its float coordinates read back as what
    user code gave (dates, categories) through the axis' unit converter."""

    def __init__(self, axis: Any, cuts: Cuts) -> None:
        get_converter = getattr(axis, "get_converter", None)
        converter = get_converter() if get_converter else getattr(axis, "converter", None)
        converter_names = {cls.__name__ for cls in type(converter).__mro__}
        self._axis = axis
        self._cuts = cuts
        self._categories: dict[float, str] = {}
        self._tz: datetime.tzinfo | None = None
        self._freq = getattr(axis, "freq", None)
        self.kind = "number"
        # pandas' own time-series plots (Series.plot on a regular DatetimeIndex) put periods'
        # ordinals on the axis; its PeriodConverter is a DateConverter, so it is checked first.
        if "PeriodConverter" in converter_names:
            if self._freq is not None and "pandas" in sys.modules:
                self.kind = "period"
        elif converter_names & _DATE_CONVERTERS or (
            type(axis.get_major_formatter()).__name__ in _DATE_FORMATTERS
        ):
            self.kind = "datetime"
            units = axis.get_units()
            self._tz = units if isinstance(units, datetime.tzinfo) else None
        elif "StrCategoryConverter" in converter_names:
            self.kind = "categorical"
            mapping = getattr(axis.get_units(), "_mapping", None) or {}
            self._categories = {float(v): cuts.text(k) for k, v in mapping.items()}
        named = {"period": "datetime", "datetime": "datetime", "categorical": "categorical"}
        self.scale = named.get(self.kind) or cuts.text(axis.get_scale())

    def values(self, coords: Any) -> list[Value]:
        if self.kind == "categorical":
            return [self._category(v) for v in coords.tolist()]
        if self.kind == "datetime":
            return self._dates(coords)
        if self.kind == "period":
            return self._periods(coords)
        return list(numbers(coords))

    def value(self, coord: float) -> Value:
        import numpy as np

        return self.values(np.array([coord], dtype=float))[0]

    def _category(self, coord: float) -> Value:
        return self._categories.get(coord, number(coord))

    def _dates(self, coords: Any) -> list[Value]:
        """matplotlib's date numbers (days since its epoch, in UTC) as ISO 8601, in the axis'
        time zone when it has one. Computed here: num2date takes ~100 us a value."""
        import matplotlib.dates as mdates
        import numpy as np

        # Beyond some 8,000 years from the epoch a date is out of Python's range anyway.
        valid = np.isfinite(coords) & (np.abs(coords) < 3e6)
        micros = np.round(np.where(valid, coords, 0) * 86_400_000_000).astype("int64")
        get_epoch: Callable[[], str] = mdates.get_epoch
        epoch = np.datetime64(get_epoch(), "us")
        dates = (epoch + micros.astype("timedelta64[us]")).tolist()
        values: list[Value] = []
        for ok, date in zip(valid.tolist(), dates, strict=True):
            if not ok or not isinstance(date, datetime.datetime):  # numpy gives an int past 9999
                values.append(None)
            elif self._tz is None:
                values.append(date.isoformat())
            else:
                values.append(date.replace(tzinfo=datetime.UTC).astimezone(self._tz).isoformat())
        return values

    def _periods(self, coords: Any) -> list[Value]:
        """pandas period ordinals as the ISO 8601 start of their period."""
        import numpy as np

        valid = np.isfinite(coords)
        ordinals = np.floor(np.where(valid, coords, 0)).astype("int64")
        periods = sys.modules["pandas"].PeriodIndex.from_ordinals(ordinals, freq=self._freq)
        starts = periods.to_timestamp(how="start").to_pydatetime()
        return [
            start.isoformat() if ok else None
            for ok, start in zip(valid.tolist(), starts, strict=True)
        ]

    def ticks(self) -> tuple[list[Value], list[str]]:
        """The major ticks inside the view, and their labels as drawn (mathtext made plain)."""
        import numpy as np

        locs = np.asarray(self._axis.get_majorticklocs(), dtype=float)
        # Labels of every tick first: a FixedFormatter labels ticks by their index in the list.
        labels = self._axis.get_major_formatter().format_ticks(locs)
        low, high = sorted(self._axis.get_view_interval())
        slack = (high - low) * 1e-9
        shown = [i for i, loc in enumerate(locs) if low - slack <= loc <= high + slack]
        if len(shown) > MAX_TICKS:
            self._cuts.truncated = True
            shown = shown[:MAX_TICKS]
        ticks = locs[shown]
        if self.kind == "number":  # a locator's 1.2000000000000002 is 1.2
            ticks = np.array([float(f"{tick:.12g}") for tick in ticks.tolist()])
        return self.values(ticks), [self._cuts.text(plain(labels[i])) for i in shown]

    def category(self, centre: float, extent: float) -> str:
        """What a bar or box at `centre` (of that width) stands for: the label of the tick under
        it when the ticks name things (categories, or ticks user code or a library set, as
        pandas' bar plots and seaborn do), else its own x as text or a date."""
        import numpy as np

        if self._tick_names is not None:
            locs, labels, reach = self._tick_names
            nearest = int(np.argmin(np.abs(locs - centre)))
            near = abs(locs[nearest] - centre) <= (extent / 2 if reach is None else reach)
            if near and labels[nearest]:
                return self._cuts.text(labels[nearest])
        value = self.value(centre)
        return value if isinstance(value, str) else number_text(centre)

    @functools.cached_property
    def _tick_names(self) -> tuple[Any, list[str], float | None] | None:
        """The ticks and their labels when they name things, and how far from a tick a bar may
        be to be named by it: half the least gap between ticks (None for a single tick)."""
        import matplotlib.ticker as mticker
        import numpy as np

        locator = self._axis.get_major_locator()
        if self.kind != "categorical" and not isinstance(locator, mticker.FixedLocator):
            return None
        locs = np.asarray(self._axis.get_majorticklocs(), dtype=float)
        if not len(locs):
            return None
        labels = self._axis.get_major_formatter().format_ticks(locs)
        gaps = np.diff(np.sort(locs))
        gaps = gaps[gaps > 0]
        reach = float(gaps.min()) / 2 if len(gaps) else None
        return locs, [plain(label) for label in labels], reach


def plain(label: object) -> str:
    """A tick label without mathtext: "$\\mathdefault{10^{2}}$" -> "10^2"."""
    text = str(label)
    if len(text) > 1 and text.startswith("$") and text.endswith("$"):
        text = text[1:-1].replace("\\mathdefault", "").replace("\\times", "\u00d7")
        text = text.replace("\\cdot", "·").replace("\\minus", "\u2212").replace("{", "")
        text = text.replace("}", "")
    return text


def title(ax: Any, cuts: Cuts) -> str | None:
    return cuts.optional_text(ax.get_title() or ax.get_title("left") or ax.get_title("right"))


def chart_2d(kind: str, ax: Any, cuts: Cuts, x: AxisValues, y: AxisValues) -> JsonDict:
    """The fields of line, scatter, bar and box_and_whisker charts, with no elements yet."""
    x_ticks, x_tick_labels = x.ticks()
    y_ticks, y_tick_labels = y.ticks()
    return {
        "type": kind,
        "title": title(ax, cuts),
        "x_label": cuts.optional_text(ax.get_xlabel()),
        "y_label": cuts.optional_text(ax.get_ylabel()),
        "x_scale": x.scale,
        "y_scale": y.scale,
        "x_ticks": x_ticks,
        "x_tick_labels": x_tick_labels,
        "y_ticks": y_ticks,
        "y_tick_labels": y_tick_labels,
        "elements": [],
        "truncated": False,
    }


def in_data_coords(ax: Any, xy: Any, transform: Any) -> Any:
    """(n, 2) coordinates drawn with `transform`, in the Axes' data coordinates: an axhline's
    ends, drawn in Axes fractions along x, become the view's left and right edges."""
    if transform is ax.transData:
        return xy
    return (transform - ax.transData).transform(xy)
