// Python syntax highlighting: a small tokenizer that returns DOM nodes (spans with classes and
// plain text), never HTML strings.

const KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try while " +
    "with yield match case"
  ).split(" "),
);

const BUILTINS = new Set(
  (
    "abs all any bool bytes callable chr dict dir divmod enumerate filter float format frozenset " +
    "getattr hasattr hash help hex id input int isinstance issubclass iter len list map max min " +
    "next object oct open ord pow print range repr reversed round set setattr slice sorted str " +
    "sum super tuple type vars zip self cls Exception ValueError TypeError KeyError IndexError " +
    "RuntimeError"
  ).split(" "),
);

// One alternation; the first group that matches names the token. Order matters: strings and
// comments before anything that could match inside them.
const TOKEN = new RegExp(
  [
    String.raw`(?<comment>#[^\n]*)`,
    String.raw`(?<string>(?:[rRbBuUfF]{1,2})?(?:"""[\s\S]*?(?:"""|(?![\s\S]))|'''[\s\S]*?(?:'''|(?![\s\S]))|"(?:[^"\\\n]|\\.)*(?:"|$)|'(?:[^'\\\n]|\\.)*(?:'|$)))`,
    String.raw`(?<decorator>@[A-Za-z_][\w.]*)`,
    String.raw`(?<number>\b(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?j?)\b)`,
    String.raw`(?<name>[A-Za-z_]\w*)`,
  ].join("|"),
  "gm",
);

function span(cls, text) {
  const el = document.createElement("span");
  el.className = cls;
  el.textContent = text;
  return el;
}

/** Highlighted Python as a DocumentFragment. */
export function highlightPython(code) {
  const out = document.createDocumentFragment();
  let last = 0;
  let previousName = "";
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(code); match; match = TOKEN.exec(code)) {
    if (match[0] === "") {
      TOKEN.lastIndex += 1;
      continue;
    }
    if (match.index > last) out.append(code.slice(last, match.index));
    const text = match[0];
    const groups = match.groups;
    if (groups.comment) out.append(span("tok-comment", text));
    else if (groups.string) out.append(span("tok-string", text));
    else if (groups.decorator) out.append(span("tok-decorator", text));
    else if (groups.number) out.append(span("tok-number", text));
    else if (KEYWORDS.has(text)) out.append(span("tok-keyword", text));
    else if (previousName === "def" || previousName === "class") out.append(span("tok-def", text));
    else if (BUILTINS.has(text)) out.append(span("tok-builtin", text));
    else out.append(text);
    previousName = groups.name ? text : "";
    last = match.index + text.length;
  }
  if (last < code.length) out.append(code.slice(last));
  return out;
}

const PYTHON_NAMES = new Set(["python", "py", "python3", "ipython", "pycon"]);

/**
 * A code block: a <pre> with the code (highlighted when it is Python) and a copy button.
 * `label` names it in its header ("Python", "Step 2", ...); no label, no header.
 */
export function codeBlock(code, { language = "python", label = null } = {}) {
  const codeEl = document.createElement("code");
  if (PYTHON_NAMES.has(language)) codeEl.append(highlightPython(code));
  else codeEl.textContent = code;
  const pre = document.createElement("pre");
  pre.className = "code";
  pre.append(codeEl);
  const wrap = document.createElement("div");
  wrap.className = "code-block";
  const head = document.createElement("div");
  head.className = "code-head";
  const name = document.createElement("span");
  name.textContent = label || language || "text";
  head.append(name);
  if (navigator.clipboard) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "link-button copy";
    copy.textContent = "Copy";
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(code);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Copy failed";
      }
      setTimeout(() => (copy.textContent = "Copy"), 1500);
    });
    head.append(copy);
  }
  wrap.append(head, pre);
  return wrap;
}
