// What each kind of chart draws: its axes' values, and its marks (lines, points, bars, boxes,
// slices). chart.js lays them out and makes them interactive; `ctx` is its drawing context:
// ctx.series(i) is the group of series i's marks, ctx.tip(element, lines) a mark's tooltip,
// ctx.point(x, y, i, lines) a point the pointer can come near.

import { axisKind, categoryText, formatValue, svg } from "./chart-axes.js";

// A line's points are dotted when there are this many or fewer (the pointer finds each either way).
const DOTS_LIMIT = 40;

const unique = (values) => [...new Set(values.map(String))];
const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** line and scatter: series of [x, y] points; y may be null (a gap). */
export function pointMarks(chart) {
  const elements = chart.elements || [];
  const xs = elements.flatMap((e) => (e.points || []).map((p) => p[0]));
  const ys = elements.flatMap((e) => (e.points || []).map((p) => p[1]));
  const xKind = axisKind(chart.x_scale, xs);
  const yKind = axisKind(chart.y_scale, ys);
  const line = chart.type === "line";
  return {
    x: { kind: xKind, values: xs, ticks: chart.x_ticks, tickLabels: chart.x_tick_labels },
    y: { kind: yKind, values: ys, ticks: chart.y_ticks, tickLabels: chart.y_tick_labels },
    series: elements.map((e) => e.label),
    draw(ctx, x, y) {
      elements.forEach((element, i) => {
        const group = ctx.series(i);
        const points = (element.points || []).map(([px, py]) => ({ px, py, at: [x.map(px), y.map(py)] }));
        if (line) {
          let d = "";
          let pen = "M";
          for (const { at } of points) {
            if (!at.every(Number.isFinite)) {
              pen = "M";
              continue;
            }
            d += `${pen}${at[0].toFixed(1)} ${at[1].toFixed(1)}`;
            pen = "L";
          }
          group.append(svg("path", { class: "chart-path", d }));
        }
        const dots = !line || points.length <= DOTS_LIMIT;
        for (const { px, py, at } of points) {
          if (!at.every(Number.isFinite)) continue;
          const lines = [element.label || "", `x: ${formatValue(px, xKind)}`, `y: ${formatValue(py, yKind)}`];
          const [cx, cy] = at.map((v) => v.toFixed(1));
          if (dots) group.append(svg("circle", { class: "chart-point", cx, cy, r: 3.5 }));
          ctx.point(at[0], at[1], i, lines);
        }
      });
    },
  };
}

/** The value axis of a bar or box chart (`axis` "x" or "y"), with the figure's scale and ticks. */
function valueAxis(chart, axis, values) {
  return {
    kind: axisKind(chart[`${axis}_scale`], values),
    values,
    ticks: chart[`${axis}_ticks`],
    tickLabels: chart[`${axis}_tick_labels`],
  };
}

/** bar: one bar per element, `label` its category and `group` its series, side by side. */
export function barMarks(chart) {
  const elements = (chart.elements || []).filter((e) => finite(e.value));
  const vertical = chart.orientation !== "horizontal";
  const categories = unique(elements.map((e) => e.label));
  const groups = unique(elements.map((e) => e.group ?? ""));
  const values = elements.map((e) => e.value);
  const category = { kind: "categorical", values: categories, categories };
  const value = { ...valueAxis(chart, vertical ? "y" : "x", values), includeZero: true };
  return {
    x: vertical ? category : value,
    y: vertical ? value : category,
    series: groups,
    draw(ctx, x, y) {
      const [cat, val] = vertical ? [x, y] : [y, x];
      const band = Math.abs(cat.step) * 0.8;
      const width = band / groups.length;
      for (const element of elements) {
        const g = groups.indexOf(String(element.group ?? ""));
        const centre = cat.map(element.label) - band / 2 + width * g;
        const end = val.map(element.value);
        if (!Number.isFinite(end)) continue;
        const [lo, hi] = [Math.min(val.base, end), Math.max(val.base, end)];
        const rect = vertical
          ? svg("rect", {
              class: "chart-bar",
              x: centre.toFixed(1),
              y: lo.toFixed(1),
              width: Math.max(1, width - 1).toFixed(1),
              height: Math.max(0.5, hi - lo).toFixed(1),
            })
          : svg("rect", {
              class: "chart-bar",
              y: centre.toFixed(1),
              x: lo.toFixed(1),
              height: Math.max(1, width - 1).toFixed(1),
              width: Math.max(0.5, hi - lo).toFixed(1),
            });
        ctx.series(g).append(rect);
        ctx.tip(rect, [String(element.group ?? ""), `${categoryText(element.label)}: ${formatValue(element.value)}`]);
      }
    },
  };
}

/** box_and_whisker: a box per element from its quartiles, whiskers to min and max, outliers;
 * the boxes stand along x ("vertical") or lie along y ("horizontal"). */
export function boxMarks(chart) {
  const elements = chart.elements || [];
  const vertical = chart.orientation !== "horizontal";
  const categories = unique(elements.map((e) => e.label));
  const values = elements
    .flatMap((e) => [e.min, e.max, e.first_quartile, e.third_quartile, ...(e.outliers || [])])
    .filter(finite);
  const category = { kind: "categorical", values: categories, categories };
  const value = valueAxis(chart, vertical ? "y" : "x", values);
  return {
    x: vertical ? category : value,
    y: vertical ? value : category,
    series: [],
    draw(ctx, x, y) {
      const [cat, val] = vertical ? [x, y] : [y, x];
      // Page coordinates of a position along the categories and a value.
      const at = (c, v) => (vertical ? { x: c, y: v } : { x: v, y: c });
      const line = (className, c1, v1, c2, v2) => {
        const [a, b] = [at(c1, v1), at(c2, v2)];
        return svg("line", { class: className, x1: a.x, y1: a.y, x2: b.x, y2: b.y });
      };
      const group = ctx.series(0);
      const width = Math.min(60, Math.abs(cat.step) * 0.5);
      for (const e of elements) {
        const c = cat.map(e.label);
        const [q1, med, q3, lo, hi] = [e.first_quartile, e.median, e.third_quartile, e.min, e.max].map((v) =>
          finite(v) ? val.map(v) : NaN,
        );
        if (![c, q1, q3].every(Number.isFinite)) continue;
        const box = svg("g", { class: "chart-box" });
        for (const end of [lo, hi].filter(Number.isFinite)) {
          const edge = Math.abs(end - q1) < Math.abs(end - q3) ? q1 : q3;
          box.append(
            line("chart-whisker", c, end, c, edge),
            line("chart-whisker", c - width / 4, end, c + width / 4, end),
          );
        }
        const corner = at(c - width / 2, Math.min(q1, q3));
        const [across, along] = [width, Math.abs(q1 - q3)];
        box.append(
          svg("rect", {
            class: "chart-box-body",
            x: corner.x,
            y: corner.y,
            width: vertical ? across : along,
            height: vertical ? along : across,
          }),
        );
        if (Number.isFinite(med)) box.append(line("chart-median", c - width / 2, med, c + width / 2, med));
        group.append(box);
        ctx.tip(box, [
          e.label,
          `max: ${formatValue(e.max)}`,
          `Q3: ${formatValue(e.third_quartile)}`,
          `median: ${formatValue(e.median)}`,
          `Q1: ${formatValue(e.first_quartile)}`,
          `min: ${formatValue(e.min)}`,
        ]);
        for (const outlier of (e.outliers || []).filter(finite)) {
          const p = at(c, val.map(outlier));
          if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
          group.append(svg("circle", { class: "chart-outlier", cx: p.x, cy: p.y, r: 3 }));
          ctx.point(p.x, p.y, 0, [e.label, `outlier: ${formatValue(outlier)}`]);
        }
      }
    },
  };
}

/** pie: slices of `angle` degrees, counter-clockwise from three o'clock as matplotlib draws. */
export function drawPie(ctx, chart, { cx, cy, r }) {
  const elements = (chart.elements || []).filter((e) => finite(e.angle) && e.angle > 0);
  const total = elements.reduce((sum, e) => sum + e.angle, 0) || 360;
  const largest = Math.max(1, ...elements.map((e) => (finite(e.radius) ? e.radius : 1)));
  let start = 0;
  elements.forEach((e, i) => {
    const radius = (r * (finite(e.radius) ? e.radius : 1)) / largest;
    const end = start + e.angle;
    const point = (deg) => [
      cx + radius * Math.cos((deg * Math.PI) / 180),
      cy - radius * Math.sin((deg * Math.PI) / 180),
    ];
    const [x0, y0] = point(start);
    const [x1, y1] = point(end);
    const large = e.angle > 180 ? 1 : 0;
    const d =
      e.angle >= 359.99
        ? `M${cx - radius} ${cy}a${radius} ${radius} 0 1 0 ${2 * radius} 0a${radius} ${radius} 0 1 0 ${-2 * radius} 0Z`
        : `M${cx} ${cy}L${x0.toFixed(1)} ${y0.toFixed(1)}` +
          `A${radius} ${radius} 0 ${large} 0 ${x1.toFixed(1)} ${y1.toFixed(1)}Z`;
    const slice = svg("path", { class: "chart-slice", d });
    ctx.series(i).append(slice);
    ctx.tip(slice, [e.label || `Slice ${i + 1}`, `${formatValue((e.angle / total) * 100)} %`]);
    start = end;
  });
  return elements.map((e, i) => e.label || `Slice ${i + 1}`);
}
