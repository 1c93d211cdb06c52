// HTML from a sandbox (pandas' DataFrame tables) is untrusted: user code can return any HTML it
// likes. It is parsed into an inert document (no scripts run, nothing loads) and only its tables
// are rebuilt, element by element, from text: no attribute, style or other element survives.

import { h } from "./dom.js";

const KEEP = new Set(["thead", "tbody", "tfoot", "tr", "th", "td", "caption"]);
const SPAN_LIMIT = 1000;

function rebuild(source) {
  const tag = source.tagName.toLowerCase();
  const copy = document.createElement(tag);
  if (tag === "th" || tag === "td") {
    for (const name of ["colspan", "rowspan"]) {
      const value = Number.parseInt(source.getAttribute(name) || "", 10);
      if (value > 1 && value <= SPAN_LIMIT) copy.setAttribute(name, String(value));
    }
    // Cells keep their text only, whatever markup was inside.
    copy.textContent = source.textContent;
    return copy;
  }
  for (const child of source.children) {
    if (KEEP.has(child.tagName.toLowerCase())) copy.append(rebuild(child));
  }
  return copy;
}

const BLOCKS = /<(script|style|template|textarea|title)\b[\s\S]*?<\/\1\s*>/gi;
const TAG = /<(\/?)([a-zA-Z][\w-]*)([^>]*)>/g;
const SPAN = /\b(colspan|rowspan)\s*=\s*["']?(\d{1,4})/gi;

/**
 * Tags without attributes (but for numeric colspan and rowspan) and without script or style
 * blocks. Not a defence: whatever slips through is still never copied. It keeps the parser from
 * even meeting inline style or event handlers, which the page's Content-Security-Policy would
 * block and report, one console error each.
 */
function bareTags(html) {
  return String(html)
    .replace(BLOCKS, "")
    .replace(TAG, (_, slash, name, attributes) => {
      const spans = slash
        ? ""
        : [...attributes.matchAll(SPAN)].map(([, key, value]) => ` ${key.toLowerCase()}="${value}"`).join("");
      return `<${slash}${name}${spans}>`;
    });
}

/**
 * The first table of `html` rebuilt as a clean <table>, with pandas' "N rows × M columns" note
 * when there is one; null when the HTML holds no table.
 */
export function tableFromHtml(html) {
  const doc = new DOMParser().parseFromString(bareTags(html), "text/html");
  const source = doc.querySelector("table");
  if (!source) return null;
  const table = h("table", { class: "frame" });
  for (const child of source.children) {
    if (KEEP.has(child.tagName.toLowerCase())) table.append(rebuild(child));
  }
  const wrap = h("div", { class: "table-wrap" }, table);
  const note = [...doc.querySelectorAll("p")]
    .map((p) => p.textContent.trim())
    .find((text) => /rows?\s*×\s*\d+\s*columns?/.test(text));
  if (note) wrap.append(h("p", { class: "table-note" }, note));
  return wrap;
}
