// A JSON value (an application/json display) as a tree of text: objects and arrays fold open and
// shut, the first two levels open. Very large values are cut after NODE_LIMIT entries.

import { h } from "./dom.js";

const NODE_LIMIT = 2000;
const OPEN_DEPTH = 2;

export function jsonView(value) {
  const budget = { left: NODE_LIMIT };
  return h("div", { class: "output-json" }, node(value, 0, budget));
}

function leaf(value) {
  const kind = value === null ? "null" : typeof value;
  return h("span", { class: `json-${kind}` }, JSON.stringify(value) ?? String(value));
}

function node(value, depth, budget) {
  if (value === null || typeof value !== "object") return leaf(value);
  const array = Array.isArray(value);
  const entries = array ? value.map((v, i) => [i, v]) : Object.entries(value);
  const [open, close] = array ? ["[", "]"] : ["{", "}"];
  if (!entries.length) return h("span", {}, open + close);
  const noun = (array ? ["item", "items"] : ["key", "keys"])[entries.length === 1 ? 0 : 1];
  const count = `${entries.length} ${noun}`;
  const items = [];
  for (const [key, child] of entries) {
    if (budget.left-- <= 0) {
      items.push(h("li", { class: "muted" }, "… (cut here)"));
      break;
    }
    const name = array ? null : h("span", { class: "json-key" }, `${JSON.stringify(key)}: `);
    items.push(h("li", {}, name, node(child, depth + 1, budget)));
  }
  return h(
    "details",
    { open: depth < OPEN_DEPTH },
    h("summary", {}, `${open} `, h("span", { class: "muted" }, count), ` ${close}`),
    h("ul", {}, items),
  );
}
