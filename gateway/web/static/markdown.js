// Markdown for the model's answers: paragraphs, headings, lists, block quotes, tables, fenced
// code (Python highlighted), emphasis, inline code, links and images. Output is DOM built from
// text nodes, so no markup in an answer is ever interpreted; links only go to http(s), mailto
// or, through `resolvePath`, to files of the chat.

import { h } from "./dom.js";
import { codeBlock } from "./highlight.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}>/;
const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/**
 * Render `text` as a DocumentFragment. `resolvePath(path)` maps a relative link or image path
 * (an answer naming "plot_1.png") to a URL on this server, or returns null to leave it as text.
 */
export function renderMarkdown(text, { resolvePath = () => null } = {}) {
  const fragment = document.createDocumentFragment();
  const context = { resolvePath };
  renderBlocks(String(text).replace(/\r\n?/g, "\n").split("\n"), fragment, context);
  return fragment;
}

function renderBlocks(lines, parent, context) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let m = line.match(FENCE);
    if (m) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i += 1;
      parent.append(codeBlock(body.join("\n"), { language: m[2].toLowerCase() || "text" }));
      continue;
    }
    m = line.match(HEADING);
    if (m) {
      // An answer's "#" is a section of a message, not a page title: start at h3.
      parent.append(h(`h${Math.min(6, m[1].length + 2)}`, {}, inline(m[2], context)));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(h("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(lines[i++].replace(/^ {0,3}> ?/, ""));
      const quote = h("blockquote");
      renderBlocks(body, quote, context);
      parent.append(quote);
      continue;
    }
    if (isTableStart(lines, i)) {
      i = renderTable(lines, i, parent, context);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      i = renderList(lines, i, parent, context);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && (!paragraph.length || !startsBlock(lines, i))) {
      paragraph.push(lines[i++].trim());
    }
    parent.append(h("p", {}, inline(paragraph.join("\n"), context)));
  }
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    LIST_ITEM.test(line) ||
    isTableStart(lines, i)
  );
}

function isTableStart(lines, i) {
  return (
    lines[i].includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]) &&
    lines[i + 1].includes("-")
  );
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function renderTable(lines, i, parent, context) {
  const header = splitRow(lines[i]);
  const aligns = splitRow(lines[i + 1]).map((cell) => {
    if (cell.startsWith(":") && cell.endsWith(":")) return "align-center";
    if (cell.endsWith(":")) return "align-right";
    return null;
  });
  i += 2;
  const body = [];
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) body.push(splitRow(lines[i++]));
  const cell = (tag, text, column) =>
    h(tag, { class: aligns[column] || null }, inline(text || "", context));
  const table = h(
    "table",
    { class: "md-table" },
    h("thead", {}, h("tr", {}, header.map((text, c) => cell("th", text, c)))),
    h(
      "tbody",
      {},
      body.map((row) => h("tr", {}, header.map((_, c) => cell("td", row[c], c)))),
    ),
  );
  parent.append(h("div", { class: "table-wrap" }, table));
  return i;
}

function leadingSpaces(line) {
  return line.length - line.trimStart().length;
}

function renderList(lines, i, parent, context) {
  const first = lines[i].match(LIST_ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = h(ordered ? "ol" : "ul");
  const start = parseInt(first[2], 10);
  if (ordered && start !== 1) list.setAttribute("start", String(start));
  const sameList = (line) => {
    const m = line.match(LIST_ITEM);
    return m && m[1].length === indent && /\d/.test(m[2]) === ordered;
  };
  while (i < lines.length && sameList(lines[i])) {
    const m = lines[i].match(LIST_ITEM);
    const contentIndent = m[1].length + m[2].length + 1;
    const body = [m[3]];
    i += 1;
    while (i < lines.length) {
      const next = lines[i];
      if (!next.trim()) {
        let j = i + 1;
        while (j < lines.length && !lines[j].trim()) j += 1;
        if (j < lines.length && leadingSpaces(lines[j]) > indent) {
          body.push("");
          i += 1;
          continue;
        }
        break;
      }
      if (leadingSpaces(next) > indent) {
        body.push(next.slice(Math.min(leadingSpaces(next), contentIndent)));
        i += 1;
      } else if (!startsBlock(lines, i)) {
        body.push(next.trim()); // a lazy continuation of the item's text
        i += 1;
      } else {
        break;
      }
    }
    const item = h("li");
    if (body.length === 1) item.append(inline(body[0], context));
    else renderBlocks(body, item, context);
    list.append(item);
    let j = i;
    while (j < lines.length && !lines[j].trim()) j += 1;
    if (j > i && j < lines.length && sameList(lines[j])) i = j;
  }
  parent.append(list);
  return i;
}

// Inline: the earliest match wins; emphasis and link texts are parsed again inside.
const INLINE = new RegExp(
  [
    String.raw`(?<code>(?<ticks>` + "`+" + String.raw`)(?<codeText>[\s\S]*?[^` + "`" + String.raw`])\k<ticks>(?!` + "`" + `))`,
    String.raw`(?<image>!\[(?<imageAlt>[^\]\n]*)\]\(\s*(?<imageSrc>[^)\s]+)(?:\s+"[^"]*")?\s*\))`,
    String.raw`(?<link>\[(?<linkText>[^\]\n]+)\]\(\s*(?<linkHref>[^)\s]+)(?:\s+"[^"]*")?\s*\))`,
    String.raw`(?<strong>\*\*(?<strongText>[^\s*](?:[\s\S]*?[^\s])?)\*\*|__(?<strongText2>[^\s_](?:[\s\S]*?[^\s])?)__)`,
    String.raw`(?<strike>~~(?<strikeText>[\s\S]+?)~~)`,
    String.raw`(?<em>\*(?<emText>[^\s*](?:[\s\S]*?[^\s*])?)\*|(?<![\w])_(?<emText2>[^\s_](?:[\s\S]*?[^\s_])?)_(?![\w]))`,
    String.raw`(?<url>https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"*_])`,
    String.raw`(?<escape>\\(?<escaped>[\\` + "`" + String.raw`*_{}\[\]()#+\-.!~|>]))`,
    String.raw`(?<br>\n)`,
  ].join("|"),
  "g",
);

function safeHref(href, context) {
  if (/^(https?:|mailto:)/i.test(href)) return { url: href, external: true };
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) return null;
  if (href.startsWith("#")) return null;
  const resolved = context.resolvePath(href.replace(/^\.\//, "").replace(/^\/workspace\//, ""));
  return resolved ? { url: resolved, external: false } : null;
}

function inline(text, context) {
  const fragment = document.createDocumentFragment();
  const pattern = new RegExp(INLINE.source, "g");
  let last = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    if (m.index > last) fragment.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    const g = m.groups;
    if (g.code !== undefined) {
      fragment.append(h("code", {}, g.codeText.replace(/^ (.*) $/, "$1")));
    } else if (g.image !== undefined) {
      const target = safeHref(g.imageSrc, context);
      if (target && !target.external) {
        fragment.append(h("img", { class: "md-image", src: target.url, alt: g.imageAlt, loading: "lazy" }));
      } else {
        fragment.append(g.imageAlt || g.imageSrc);
      }
    } else if (g.link !== undefined) {
      const target = safeHref(g.linkHref, context);
      const label = inline(g.linkText, context);
      if (target) {
        fragment.append(
          h("a", { href: target.url, target: "_blank", rel: "noopener noreferrer" }, label),
        );
      } else {
        fragment.append(label);
      }
    } else if (g.strong !== undefined) {
      fragment.append(h("strong", {}, inline(g.strongText ?? g.strongText2, context)));
    } else if (g.strike !== undefined) {
      fragment.append(h("del", {}, inline(g.strikeText, context)));
    } else if (g.em !== undefined) {
      fragment.append(h("em", {}, inline(g.emText ?? g.emText2, context)));
    } else if (g.url !== undefined) {
      fragment.append(h("a", { href: g.url, target: "_blank", rel: "noopener noreferrer" }, g.url));
    } else if (g.escape !== undefined) {
      fragment.append(g.escaped);
    } else if (g.br !== undefined) {
      fragment.append(h("br"));
    }
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}
