"""The caps on chart data (shared.charts), which the kernel applies when it describes a figure
(sandbox_runner.charts) and the gateway checks when it validates what a sandbox sent.

Standard library only: the kernel imports it, and it must not bring pydantic into user code's
process. shared.charts re-exports these.
"""

# Points in one described figure, in all: every line's and scatter's points and every box's
# outliers, over all sub-charts of a composite. This bounds the JSON at a few hundred KB beside a
# PNG of about the same size.
MAX_POINTS = 10_000
# Elements of one chart (lines, bars, boxes, wedges).
MAX_ELEMENTS = 1_000
# Sub-charts of a composite (one per Axes that has data).
MAX_SUBCHARTS = 20
# Ticks, and tick labels, per axis.
MAX_TICKS = 200
# Characters of any string: titles, labels, tick labels, category values, dates.
MAX_TEXT = 1_000
