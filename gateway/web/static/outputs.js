// One display of a cell (an `output` event of type "display", or an entry of a result's
// `outputs`): the richest of its MIME types this page can show safely, in Jupyter's order. Nothing
// a sandbox sends is ever inserted as markup: tables are rebuilt from text, SVG is only ever an
// <img> (a picture cannot run script), Markdown is rendered to DOM from text.

import { fileUrl } from "./api.js";
import { h } from "./dom.js";
import { canDraw, drawChart } from "./chart.js";
import { codeBlock } from "./highlight.js";
import { jsonView } from "./json-view.js";
import { renderMarkdown } from "./markdown.js";
import { plotlyFigure } from "./plotly-figure.js";
import { tableFromHtml } from "./sanitize.js";

const PLOTLY = "application/vnd.plotly.v1+json";
const DATA_RESOURCE = "application/vnd.dataresource+json";
const IMAGE_FILE = /\.(png|jpe?g|gif|webp)$/i;
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;
// A table past this many rows is cut here, and says so.
const ROW_LIMIT = 2000;

/** Where a relative path in Markdown ("plot_1.png") points: the chat's file. */
export function pathResolver(chatId) {
  return (path) => (/^[\w][\w./ -]*$/.test(path) && !path.includes("..") ? fileUrl(chatId, path) : null);
}

export function cellText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const isText = (value) => typeof value === "string";

/** The display as an element (the cell's own result marked "Out", as Jupyter does), or null. */
export function displayOutput(event, chatId) {
  const node = richest(event, chatId);
  if (!node || !event.is_result) return node;
  return h(
    "div",
    { class: "output-result" },
    h("span", { class: "output-prompt", title: "The cell's result" }, "Out"),
    node,
  );
}

function richest(event, chatId) {
  const data = event.data || {};
  if (isObject(data[PLOTLY])) {
    return plotlyFigure(data[PLOTLY], (reason) => plotlyFallback(reason, event, chatId));
  }
  if (isObject(data[DATA_RESOURCE])) {
    const table = dataResourceTable(data[DATA_RESOURCE]);
    if (table) return h("div", { class: "output-table" }, table);
  }
  if (isText(data["text/html"])) {
    const table = tableFromHtml(data["text/html"]);
    if (table) return h("div", { class: "output-table" }, table);
  }
  if (isText(data["image/svg+xml"])) {
    return figure(svgUrl(data["image/svg+xml"]), event.filename, size(event, "image/svg+xml"));
  }
  // Behind a drawn chart the picture loads though hidden, so that one whose file is gone says so.
  const drawable = canDraw(event.chart);
  const image = imageOf(event, chatId, { lazy: !drawable });
  if (image || drawable) return chartAndImage(event.chart, image);
  if (isText(data["text/markdown"])) {
    return h(
      "div",
      { class: "output-markdown markdown" },
      renderMarkdown(data["text/markdown"], { resolvePath: pathResolver(chatId) }),
    );
  }
  if (isText(data["text/latex"])) {
    // Shown as its source: no math renderer here.
    return h("div", { class: "output-latex" }, codeBlock(data["text/latex"], { language: "latex", label: "LaTeX" }));
  }
  if ("application/json" in data) return jsonView(data["application/json"]);
  if (data["text/plain"] !== undefined) return h("pre", { class: "output-value" }, cellText(data["text/plain"]));
  return null;
}

// A figure's picture: from its base64 copy, or from its file once the history has dropped that.
function imageOf(event, chatId, { lazy = true } = {}) {
  const data = event.data || {};
  for (const mime of ["image/png", "image/jpeg"]) {
    if (isText(data[mime]) && BASE64.test(data[mime])) {
      const src = `data:${mime};base64,${data[mime].replace(/\s/g, "")}`;
      return figure(src, event.filename, { ...size(event, mime), lazy });
    }
  }
  if (event.filename && IMAGE_FILE.test(event.filename)) {
    return figure(fileUrl(chatId, event.filename), event.filename, { lazy });
  }
  return null;
}

// IPython's display metadata may give an image's size: {"image/png": {"width": 300}}.
function size(event, mime) {
  const meta = (event.metadata || {})[mime] || {};
  const px = (v) => (Number.isFinite(v) && v > 0 ? Math.round(v) : null);
  return { width: px(meta.width), height: px(meta.height) };
}

function svgUrl(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

// The figure's file, when it has one, is offered for download with the step's other files.
function figure(src, filename, { width = null, height = null, lazy = true } = {}) {
  const img = h("img", { src, alt: filename || "figure", loading: lazy ? "lazy" : "eager", width, height });
  const fig = h("figure", { class: "output-figure" }, img);
  img.addEventListener("error", () => {
    fig.replaceChildren(
      h(
        "p",
        { class: "muted small-print" },
        `${filename || "This figure"} is no longer in the workspace ` +
          "(the session was restarted or the file deleted).",
      ),
    );
  });
  return fig;
}

/** A matplotlib figure drawn from its data, with its picture one click away. */
function chartAndImage(chart, image) {
  const drawn = canDraw(chart) ? drawChart(chart) : null;
  if (!drawn) return image;
  if (!image) return h("div", { class: "output-chart" }, drawn);
  const panes = {
    Chart: h("div", { class: "output-pane" }, drawn),
    Image: h("div", { class: "output-pane", hidden: true }, image),
  };
  const buttons = Object.keys(panes).map((name) =>
    h("button", { type: "button", class: "output-view", "aria-pressed": String(name === "Chart") }, name),
  );
  for (const button of buttons) {
    button.addEventListener("click", () => {
      for (const other of buttons) {
        const shown = other === button;
        other.setAttribute("aria-pressed", String(shown));
        panes[other.textContent].hidden = !shown;
      }
    });
  }
  const switcher = h("div", { class: "output-views", role: "group", "aria-label": "Show the figure as" }, buttons);
  return h("div", { class: "output-chart" }, switcher, panes.Chart, panes.Image);
}

function plotlyFallback(reason, event, chatId) {
  const note = h("p", { class: "output-note" }, `Interactive plotly figure not shown: ${reason}.`);
  const image = imageOf(event, chatId);
  return image ? [image, note] : [note];
}

/**
 * A Table Schema resource (pandas' `orient="table"`: schema.fields, data rows) as a table, the
 * primary key's columns as row headers; `total_rows`, when the rows were cut, is the whole count.
 */
function dataResourceTable(resource) {
  const fields = resource.schema?.fields;
  const rows = resource.data;
  if (!Array.isArray(fields) || !Array.isArray(rows)) return null;
  const key = resource.schema.primaryKey;
  const keys = new Set(Array.isArray(key) ? key : key ? [key] : []);
  // pandas names an unnamed index "index"; its own HTML leaves that header blank.
  const header = (f) => (keys.has(f.name) && f.name === "index" ? "" : String(f.name ?? ""));
  const head = h(
    "tr",
    {},
    fields.map((f) =>
      h("th", {}, header(f), f.type && !keys.has(f.name) ? h("span", { class: "dtype" }, String(f.type)) : null),
    ),
  );
  const shown = rows.slice(0, ROW_LIMIT);
  const body = shown.map((row) =>
    h(
      "tr",
      {},
      fields.map((f) => {
        const v = isObject(row) ? row[f.name] : undefined;
        if (keys.has(f.name)) return h("th", {}, cellText(v));
        const kind = typeof v === "number" ? "num" : v === null || v === undefined ? "null" : null;
        return h("td", { class: kind }, v === null || v === undefined ? "—" : cellText(v));
      }),
    ),
  );
  const table = h("table", { class: "frame" }, h("thead", {}, head), h("tbody", {}, body));
  const wrap = h("div", { class: "table-wrap" }, table);
  const total = Number.isInteger(resource.total_rows) ? resource.total_rows : rows.length;
  if (total > shown.length) {
    wrap.append(h("p", { class: "table-note" }, `${shown.length.toLocaleString()} of ${total.toLocaleString()} rows`));
  }
  return wrap;
}
