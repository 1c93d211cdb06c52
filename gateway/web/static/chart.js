// Charts drawn from a figure's data (a display's `chart`, README "Results and charts"): SVG built
// element by element, never from markup. Axes carry the figure's own ticks and scales; a legend
// turns each series on and off; the tooltip shows the values under the pointer.

import { h } from "./dom.js";
import { clip, drawAxes, labelWidth, makeScale, svg, xLabelLayout } from "./chart-axes.js";
import { barMarks, boxMarks, drawPie, pointMarks } from "./chart-marks.js";

// The chart's own units (the SVG scales to its box): a subplot's are fewer, so its text reads
// at about the same size as a whole chart's.
const FULL = { width: 640, height: 380 };
const SUBPLOT = { width: 460, height: 320 };
const COLOURS = 10;
// How near (in the chart's own units) the pointer must come to a point to show it.
const NEAR = 28;

const TRUNCATED = "Only part of the data is drawn here; the image shows all of it.";

const PLANAR = { line: pointMarks, scatter: pointMarks, bar: barMarks, box_and_whisker: boxMarks };

/** Whether this page can draw the chart (anything but "unknown", in short). */
export function canDraw(chart) {
  if (!chart || typeof chart !== "object") return false;
  if (chart.type === "composite") return (chart.elements || []).some(canDraw);
  return chart.type === "pie" || Boolean(PLANAR[chart.type]);
}

/** The chart as an element, or null when it is of no kind this page draws. */
export function drawChart(chart, size = FULL) {
  if (!canDraw(chart)) return null;
  if (chart.type === "composite") return composite(chart);
  const frame = new Frame(chart, size);
  return chart.type === "pie" ? pie(frame, chart) : planar(frame, chart, PLANAR[chart.type](chart));
}

/** One chart's picture, legend and tooltip, and what the pointer can find in it. */
class Frame {
  constructor(chart, { width, height }) {
    this.width = width;
    this.height = height;
    this.svg = svg("svg", {
      class: "chart-svg",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": chart.title || `${chart.type} chart`,
    });
    this.marks = svg("g", { class: "chart-marks" });
    this.ring = svg("circle", { class: "chart-ring", r: 6, cx: -99, cy: -99 });
    this.tooltip = h("div", { class: "chart-tooltip", role: "tooltip", hidden: true });
    this.legend = h("div", { class: "chart-legend" });
    this.el = h("div", { class: `chart chart-kind-${chart.type}` }, this.svg, this.legend, this.tooltip);
    this.groups = new Map();
    this.tips = new WeakMap();
    this.points = [];
    this.off = new Set();
    if (chart.title) {
      this.svg.append(
        svg("text", { class: "chart-title", x: width / 2, y: 20, "text-anchor": "middle" }, clip(chart.title, 90)),
      );
    }
    this.svg.addEventListener("pointermove", (event) => this.hover(event));
    this.svg.addEventListener("pointerleave", () => this.hide());
  }

  /** The group holding series i's marks (its colour comes from its class). */
  series(i) {
    let group = this.groups.get(i);
    if (!group) {
      group = svg("g", { class: `chart-series chart-c${i % COLOURS}`, "data-series": i });
      this.marks.append(group);
      this.groups.set(i, group);
    }
    return group;
  }

  tip(element, lines) {
    this.tips.set(element, lines);
  }

  point(x, y, series, lines) {
    this.points.push({ x, y, series, lines });
  }

  /** Marks drawn: the legend (when it names something) and the note on a cut chart. */
  finish(labels, chart, { alwaysLegend = false } = {}) {
    this.svg.append(this.marks, this.ring);
    // Series user code did not name have "" (matplotlib's own "_child0" and the like): a legend
    // shows when any has a name, or there are several to tell apart.
    if (alwaysLegend || labels.length > 1 || labels.some(Boolean)) {
      labels.forEach((label, i) => {
        const text = String(label || `Series ${i + 1}`);
        const item = h(
          "button",
          { type: "button", class: "chart-legend-item", "aria-pressed": "true", title: text.length > 40 ? text : null },
          h("span", { class: `chart-swatch chart-c${i % COLOURS}`, "aria-hidden": "true" }),
          clip(text, 40),
        );
        item.addEventListener("click", () => this.toggle(i, item));
        this.legend.append(item);
      });
    }
    if (chart.truncated) {
      this.el.append(h("p", { class: "chart-note" }, TRUNCATED));
    }
    return this.el;
  }

  toggle(i, item) {
    const hide = !this.off.has(i);
    if (hide) this.off.add(i);
    else this.off.delete(i);
    this.groups.get(i)?.classList.toggle("chart-off", hide);
    item.setAttribute("aria-pressed", String(!hide));
    this.hide();
  }

  hover(event) {
    for (let node = event.target; node && node !== this.svg; node = node.parentNode) {
      const lines = this.tips.get(node);
      if (lines) {
        this.ring.classList.remove("shown");
        this.show(lines, event.clientX, event.clientY);
        return;
      }
    }
    const matrix = this.svg.getScreenCTM();
    if (!matrix) return;
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    let best = null;
    let bestDistance = NEAR * NEAR;
    for (const p of this.points) {
      if (this.off.has(p.series)) continue;
      const distance = (p.x - at.x) ** 2 + (p.y - at.y) ** 2;
      if (distance < bestDistance) [best, bestDistance] = [p, distance];
    }
    if (!best) return this.hide();
    this.ring.setAttribute("cx", best.x.toFixed(1));
    this.ring.setAttribute("cy", best.y.toFixed(1));
    this.ring.setAttribute("class", `chart-ring shown chart-c${best.series % COLOURS}`);
    const screen = new DOMPoint(best.x, best.y).matrixTransform(matrix);
    this.show(best.lines, screen.x, screen.y);
  }

  show([title, ...rows], clientX, clientY) {
    const tip = this.tooltip;
    tip.replaceChildren(title ? h("strong", {}, title) : "", ...rows.map((row) => h("div", {}, row)));
    tip.hidden = false;
    const box = this.el.getBoundingClientRect();
    let left = clientX - box.left + 12;
    if (left + tip.offsetWidth > box.width) left = Math.max(0, clientX - box.left - tip.offsetWidth - 12);
    // Positions go through the CSSOM, which the page's style-src policy allows.
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(0, clientY - box.top - tip.offsetHeight - 10)}px`;
  }

  hide() {
    this.tooltip.hidden = true;
    this.ring.classList.remove("shown");
  }
}

// Axes first with stand-in ranges, to learn how much room their labels need; then for real.
function planar(frame, chart, spec) {
  const probeX = makeScale([0, 1], spec.x);
  const probeY = makeScale([1, 0], spec.y);
  const left = labelWidth(probeY.ticks.map((t) => t.label)) + (chart.y_label ? 18 : 0);
  const top = chart.title ? 36 : 14;
  const width = frame.width - left - 18;
  const xLabels = probeX.ticks.map((t) => t.label);
  const xLayout = xLabelLayout(xLabels, width);
  const plot = { left, top, width, height: frame.height - top - xLayout.height - (chart.x_label ? 26 : 8) };
  const x = makeScale([plot.left, plot.left + plot.width], spec.x);
  const y = makeScale([plot.top + plot.height, plot.top], spec.y);
  drawAxes(frame.svg, plot, x, y, { xTitle: chart.x_label, yTitle: chart.y_label, xLayout });
  spec.draw(frame, x, y);
  return frame.finish(spec.series, chart);
}

function pie(frame, chart) {
  const top = chart.title ? 36 : 10;
  const r = (frame.height - top - 10) / 2;
  const labels = drawPie(frame, chart, { cx: frame.width / 2, cy: top + r, r });
  return frame.finish(labels, chart, { alwaysLegend: true });
}

// Subplots side by side, two to a row; one this page cannot draw says so in its place.
function composite(chart) {
  const subs = chart.elements || [];
  const size = subs.length > 1 ? SUBPLOT : FULL;
  const missing = () =>
    h("div", { class: "chart-missing muted small-print" }, "This subplot is shown in the image only.");
  const grid = h(
    "div",
    { class: `chart-composite${subs.length > 1 ? " two" : ""}` },
    subs.map((sub) => drawChart(sub, size) || missing()),
  );
  const title = chart.title ? h("div", { class: "chart-composite-title" }, chart.title) : null;
  const note = chart.truncated ? h("p", { class: "chart-note" }, TRUNCATED) : null;
  return h("div", { class: "chart-group" }, title, grid, note);
}
