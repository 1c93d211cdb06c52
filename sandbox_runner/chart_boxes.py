"""Kernel side of chart data: box plots found again among an Axes' artists.

ax.boxplot (and ax.bxp, which seaborn's boxplot calls) keeps no record of its statistics on the
Axes: it draws plain Line2Ds and, with patch_artist, PathPatches. So a box is recognised by the
shape bxp gives it: a closed outline (a Line2D of 5 points, or 11 when notched, or a PathPatch)
and, at a position within its width, two whiskers (two-point lines along the value axis) that
start on the outline, one going down from q1 to the low end, one up from q3 to the high end. The
median is the level line inside the box (bxp labels it "_nolegend_", unlike a mean line); the
outliers are the "_nolegend_" marker-only line at the box's position. Anything else shaped like
this is taken for a box too."""

import bisect
from dataclasses import dataclass
from typing import Any

_NOLEGEND = "_nolegend_"


@dataclass
class Box:
    position: float
    width: float
    low: float
    first_quartile: float
    median: float | None
    third_quartile: float
    high: float
    outliers: Any  # an (n,) array


@dataclass
class _Level:
    """A two-point level line: a median, a cap, or a mean line."""

    middle: float
    value: float
    span: float
    nolegend: bool


def find_boxes(ax: Any) -> tuple[str, list[Box]]:
    """The Axes' boxes and their orientation ("vertical" when the position is x), in drawing
    order; no boxes when it has none."""
    from matplotlib.patches import PathPatch

    lines = [(line, line.get_xydata()) for line in ax.lines if line.get_transform() is ax.transData]
    outlines = [xy for _, xy in lines if len(xy) >= 5 and (xy[0] == xy[-1]).all()]
    outlines += [
        patch.get_path().vertices
        for patch in ax.patches
        if isinstance(patch, PathPatch) and patch.get_transform() is ax.transData
    ]
    if not outlines:
        return "vertical", []
    for orientation in ("vertical", "horizontal"):
        boxes = _match(outlines, lines, swap=orientation == "horizontal")
        if boxes:
            return orientation, boxes
    return "vertical", []


def _match(outlines: list[Any], lines: list[tuple[Any, Any]], swap: bool) -> list[Box]:
    """Boxes in (position, value) coordinates: (x, y) when vertical, (y, x) when swapped."""
    whiskers: list[tuple[float, float, float]] = []  # (position, start, end)
    levels: list[_Level] = []
    fliers: dict[float, Any] = {}
    for line, xy in lines:
        coords = xy[:, ::-1] if swap else xy
        if len(coords) == 2:
            (p0, v0), (p1, v1) = coords.tolist()
            if p0 == p1:
                whiskers.append((p0, v0, v1))
            if v0 == v1:
                nolegend = line.get_label() == _NOLEGEND
                levels.append(_Level((p0 + p1) / 2, v0, abs(p1 - p0), nolegend))
        if (
            len(coords)
            and line.get_label() == _NOLEGEND
            and line.get_linestyle() == "None"
            and (coords[:, 0] == coords[0, 0]).all()
        ):
            fliers.setdefault(float(coords[0, 0]), coords[:, 1])
    # By position only: bxp draws a box's low whisker before its high one.
    whiskers.sort(key=lambda whisker: whisker[0])
    levels.sort(key=lambda level: level.middle)
    whisker_positions = [whisker[0] for whisker in whiskers]
    level_middles = [level.middle for level in levels]

    boxes = []
    for outline in outlines:
        coords = outline[:, ::-1] if swap else outline
        p_low, p_high = coords[:, 0].min(), coords[:, 0].max()
        found = _whiskers(whiskers, whisker_positions, p_low, p_high, set(coords[:, 1].tolist()))
        if found is None:
            continue
        position, (q1, low), (q3, high) = found
        start = bisect.bisect_left(level_middles, p_low)
        inside = [
            level
            for level in levels[start : bisect.bisect_right(level_middles, p_high)]
            if q1 <= level.value <= q3
        ]
        # Caps touch the box only at q1 or q3, and a mean line is not "_nolegend_".
        median = max(
            inside,
            key=lambda level: (level.nolegend, q1 < level.value < q3, level.span),
            default=None,
        )
        boxes.append(
            Box(
                position=position,
                width=p_high - p_low,
                low=low,
                first_quartile=q1,
                median=median.value if median else None,
                third_quartile=q3,
                high=high,
                outliers=fliers.get(position, coords[:0, 1]),
            )
        )
    return boxes


def _whiskers(
    whiskers: list[tuple[float, float, float]],
    positions: list[float],
    p_low: float,
    p_high: float,
    outline_values: set[float],
) -> tuple[float, tuple[float, float], tuple[float, float]] | None:
    """The first position inside the box's span with two whiskers that start on its outline:
    (position, (q1, low end), (q3, high end)). A notched box's outline reaches past q1 and q3
    (its notch), so the quartiles are read from where the whiskers start."""
    by_position: dict[float, list[tuple[float, float]]] = {}
    start = bisect.bisect_left(positions, p_low)
    for p, v0, v1 in whiskers[start : bisect.bisect_right(positions, p_high)]:
        if v0 in outline_values:
            by_position.setdefault(p, []).append((v0, v1))
    for p, found in by_position.items():
        if len(found) < 2:
            continue
        (q1, low), (q3, high) = sorted(found[:2], key=lambda whisker: whisker[1])
        if low <= q1 <= q3 <= high:
            return p, (q1, low), (q3, high)
    return None
