// Scales and axes of a chart drawn from a figure's data (chart.js): where a value goes on the
// page for each of matplotlib's scales, the ticks the figure had, and the axes drawn in SVG.

export const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes set as attributes (never a style string) and text as text. */
export function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  if (text !== null) el.textContent = text;
  return el;
}

// Each scale is drawn linearly in its transformed space, as matplotlib does. symlog's linear part
// is taken as [-1, 1] (matplotlib's default linthresh); the figure's own ticks place the labels.
const TRANSFORMS = {
  linear: (v) => v,
  log: (v) => (v > 0 ? Math.log10(v) : NaN),
  symlog: (v) => Math.sign(v) * Math.log10(1 + Math.abs(v)),
  logit: (v) => (v > 0 && v < 1 ? Math.log10(v / (1 - v)) : NaN),
  datetime: (v) => v,
  categorical: (v) => v,
};

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/;

/** An ISO date or date-time as milliseconds; one without an offset is read as UTC. */
export function parseDate(value) {
  if (typeof value === "number") return value;
  const text = String(value);
  const m = text.match(ISO_DATE);
  if (!m) return NaN;
  return Date.parse(m[1] ? text : `${text.replace(" ", "T")}${text.length === 10 ? "T00:00:00" : ""}Z`);
}

export function formatNumber(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

export function formatDate(ms) {
  const iso = new Date(ms).toISOString();
  if (iso.endsWith("T00:00:00.000Z")) return iso.slice(0, 10);
  return iso.slice(0, 19).replace("T", " ");
}

/** How a value of this kind of axis reads in a tooltip. */
export function formatValue(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "datetime") {
    const ms = parseDate(value);
    return Number.isNaN(ms) ? String(value) : formatDate(ms);
  }
  return typeof value === "number" ? formatNumber(value) : String(value);
}

/** The kind of axis the values need: the figure's scale, unless its values say otherwise (text
 * on a "linear" axis is a category, or a date). */
export function axisKind(scale, values) {
  const kind = TRANSFORMS[scale] ? scale : "linear";
  const text = values.find((v) => typeof v === "string");
  if (text === undefined || kind === "categorical") return kind;
  if (kind === "datetime" || !Number.isNaN(parseDate(text))) return "datetime";
  return "categorical";
}

// Round ticks over [lo, hi] (in the scale's transformed space): steps of 1, 2 or 5 times a power
// of ten, about five of them; on a log scale 1, 2 and 5 times each power of ten in view.
function niceTicks(lo, hi, kind) {
  if (kind === "log") {
    const ticks = [];
    for (let power = Math.floor(lo); power <= Math.ceil(hi); power += 1) {
      for (const m of [1, 2, 5]) ticks.push(power + Math.log10(m));
    }
    const inView = ticks.filter((t) => t >= lo && t <= hi);
    return inView.length > 8 ? inView.filter(Number.isInteger) : inView;
  }
  const raw = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/**
 * A scale from values to pixels over `range` ([start, end]).
 * options: kind, values (the data), ticks and tickLabels (the figure's), categories (for
 * "categorical", their order), includeZero (bars), padding (a share of the span on each side).
 * Returns {kind, map(value) -> px or NaN, ticks: [{at, label}]}, with `base` (where bars start)
 * for numbers, and `step` (the room of one category) and `categories` for categories.
 */
export function makeScale(
  range,
  { kind, values, ticks = [], tickLabels = [], categories = [], includeZero = false, padding = 0.05 },
) {
  if (kind === "categorical") return categoryScale(range, values, ticks, categories);
  const transform = TRANSFORMS[kind];
  const number = kind === "datetime" ? parseDate : (v) => (typeof v === "number" ? v : Number(v));
  const at = (v) => (v === null || v === undefined ? NaN : transform(number(v)));
  const data = values.map(at).filter(Number.isFinite);
  const zero = includeZero ? at(0) : NaN;
  if (Number.isFinite(zero)) data.push(zero);
  // (A loop, not Math.min(...data): a spread of many thousand arguments can overflow the stack.)
  let [lo, hi] = data.length ? [Infinity, -Infinity] : [0, 1];
  for (const t of data) [lo, hi] = [Math.min(lo, t), Math.max(hi, t)];
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const pad = (hi - lo) * padding;
  // Bars start at zero, with no margin below it (or above it, for negative bars).
  if (lo !== zero) lo -= pad;
  if (hi !== zero) hi += pad;
  // The figure's ticks are those inside its view: the view reaches at least that far.
  for (const t of ticks.map(at).filter(Number.isFinite)) [lo, hi] = [Math.min(lo, t), Math.max(hi, t)];
  const [r0, r1] = range;
  const toPx = (t) => r0 + ((t - lo) / (hi - lo)) * (r1 - r0);
  const map = (v) => toPx(at(v));
  const inside = (t) => Number.isFinite(t) && t >= lo - 1e-9 * (hi - lo) && t <= hi + 1e-9 * (hi - lo);
  // A label the figure left empty stays empty (matplotlib drew no text there).
  let shown = ticks
    .map((tick, i) => ({
      t: at(tick),
      label: i < tickLabels.length ? tickText(tickLabels[i]) : formatValue(tick, kind),
    }))
    .filter(({ t }) => inside(t));
  if (!shown.length) {
    // The figure gave no ticks: round ones instead.
    shown = niceTicks(lo, hi, kind).map((t) => ({ t, label: tickLabel(t, kind) }));
  }
  const base = toPx(Number.isFinite(zero) ? zero : lo);
  return { kind, map, base, ticks: shown.map(({ t, label }) => ({ at: toPx(t), label })) };
}

// A round tick's label; `t` is in the scale's transformed space.
function tickLabel(t, kind) {
  if (kind === "datetime") return formatDate(t);
  if (kind === "log") return formatNumber(10 ** t);
  return formatNumber(t);
}

// Categories sit at 0, 1, 2... in the order the figure's ticks name them (matplotlib numbers
// categories in the order it first met them), then any the ticks did not name. A number on a
// categorical axis is a position between them (a strip plot's jitter).
function categoryScale([r0, r1], values, ticks, categories) {
  const index = new Map();
  for (const name of [
    ...categories,
    ...ticks.filter((t) => typeof t === "string"),
    ...values.filter((v) => typeof v === "string"),
  ]) {
    if (!index.has(String(name))) index.set(String(name), index.size);
  }
  const step = (r1 - r0) / Math.max(1, index.size);
  const map = (v) => {
    if (typeof v === "number") return r0 + step * (v + 0.5);
    return index.has(String(v)) ? r0 + step * (index.get(String(v)) + 0.5) : NaN;
  };
  const names = [...index.keys()];
  return {
    kind: "categorical",
    map,
    step,
    categories: names,
    ticks: names.map((name) => ({ at: map(name), label: categoryText(name) })),
  };
}

const CHAR_PX = 6.4;
const SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹";

/** A tick label on one line, powers raised: log ticks come as "10^3" (mathtext made plain). */
export function tickText(label) {
  const raise = (power) => [...power].map((c) => SUPERSCRIPT_DIGITS[c] ?? "⁻").join("");
  const text = String(label ?? "")
    .replace(/\s+/g, " ")
    .trim();
  return text.replace(/(\d)\^([-−]?\d+)/g, (_, base, power) => base + raise(power));
}

const NUMBER_TEXT = /^[-−]?\d+(\.\d+)?(e[-+]?\d+)?$/i;

/** A category's name as shown: one that is a number (a histogram's bin) rounded to 5 digits. */
export function categoryText(name) {
  const text = String(name);
  return NUMBER_TEXT.test(text) ? formatNumber(Number(text.replace("−", "-"))) : text;
}

/** Cut to at most `max` characters, with an ellipsis. */
export function clip(text, max) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The left margin the y axis's labels need. */
export function labelWidth(labels) {
  const longest = Math.max(0, ...labels.map((l) => clip(l, 18).length));
  return Math.min(140, 16 + longest * CHAR_PX);
}

/** Whether the x axis's labels need turning to fit under the plot, and which to show. */
export function xLabelLayout(labels, width) {
  const widest = Math.max(0, ...labels.map((l) => clip(l, 24).length)) * CHAR_PX + 8;
  const rotate = widest * labels.length > width;
  const every = rotate ? Math.max(1, Math.ceil((labels.length * 14) / width)) : 1;
  return { rotate, every, height: rotate ? Math.min(110, widest * 0.6 + 12) : 22 };
}

/** Grid, tick marks, tick labels and axis titles around `plot` ({left, top, width, height}). */
export function drawAxes(root, plot, x, y, { xTitle, yTitle, xLayout }) {
  const bottom = plot.top + plot.height;
  const right = plot.left + plot.width;
  const grid = svg("g", { class: "chart-grid-lines" });
  const axes = svg("g", { class: "chart-axes" });
  // Grid lines across the values, not across categories (horizontal bars' values are on x).
  const xGrid = y.kind === "categorical" && x.kind !== "categorical";
  // Labels a line of text apart at least (many categories on y), the others left out.
  const yEvery = Math.max(1, Math.ceil((y.ticks.length * 13) / plot.height));
  y.ticks.forEach((tick, i) => {
    if (!xGrid) grid.append(svg("line", { x1: plot.left, x2: right, y1: tick.at, y2: tick.at }));
    axes.append(svg("line", { x1: plot.left - 4, x2: plot.left, y1: tick.at, y2: tick.at }));
    if (i % yEvery) return;
    const label = svg(
      "text",
      { x: plot.left - 6, y: tick.at, "text-anchor": "end", "dominant-baseline": "middle" },
      clip(tick.label, 18),
    );
    axes.append(label);
  });
  x.ticks.forEach((tick, i) => {
    if (xGrid) grid.append(svg("line", { x1: tick.at, x2: tick.at, y1: plot.top, y2: bottom }));
    axes.append(svg("line", { x1: tick.at, x2: tick.at, y1: bottom, y2: bottom + 4 }));
    if (i % xLayout.every) return;
    const text = clip(tick.label, 24);
    const label = xLayout.rotate
      ? svg(
          "text",
          { x: tick.at, y: bottom + 10, "text-anchor": "end", transform: `rotate(-40 ${tick.at} ${bottom + 10})` },
          text,
        )
      : svg("text", { x: tick.at, y: bottom + 16, "text-anchor": "middle" }, text);
    if (text !== tick.label) label.append(svg("title", {}, tick.label));
    axes.append(label);
  });
  axes.append(
    svg("line", { class: "chart-axis-line", x1: plot.left, x2: right, y1: bottom, y2: bottom }),
    svg("line", { class: "chart-axis-line", x1: plot.left, x2: plot.left, y1: plot.top, y2: bottom }),
  );
  if (xTitle) {
    const at = bottom + xLayout.height + 14;
    axes.append(
      svg(
        "text",
        { class: "chart-axis-title", x: plot.left + plot.width / 2, y: at, "text-anchor": "middle" },
        clip(xTitle, 80),
      ),
    );
  }
  if (yTitle) {
    const cx = 14;
    const cy = plot.top + plot.height / 2;
    axes.append(
      svg(
        "text",
        { class: "chart-axis-title", x: cx, y: cy, "text-anchor": "middle", transform: `rotate(-90 ${cx} ${cy})` },
        clip(yTitle, 60),
      ),
    );
  }
  root.append(grid, axes);
}
