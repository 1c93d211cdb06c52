// The pieces of a conversation: the user's messages, steps (code and what it printed, drew or
// raised), answers, uploads, restarts and errors. Used both for history and live streams.

import { fileUrl } from "./api.js";
import { formatBytes, formatShape, formatTime, h, icon } from "./dom.js";
import { errorTitle } from "./errors.js";
import { codeBlock } from "./highlight.js";
import { renderMarkdown } from "./markdown.js";
import { cellText, displayOutput, pathResolver } from "./outputs.js";

const STEP_LIMIT = "Stopped at the step limit (LLM_MAX_STEPS).";

const STATUS_TEXT = {
  running: "running",
  ok: "done",
  error: "error",
  interrupted: "stopped",
  timeout: "timed out",
  crashed: "crashed",
};

function when(iso) {
  const text = iso ? formatTime(iso) : formatTime(new Date().toISOString());
  const title = iso ? new Date(iso).toLocaleString() : null;
  return h("time", { class: "when", datetime: iso || null, title }, text);
}

export function userMessage(text, createdAt) {
  return h("div", { class: "turn-user" }, h("div", { class: "bubble" }, text), when(createdAt));
}

export function userCode(code, createdAt) {
  return h(
    "div",
    { class: "turn-user" },
    h("div", { class: "bubble bubble-code" }, codeBlock(code, { label: "Run code" })),
    when(createdAt),
  );
}

/** An error where it happened: `code` and `status` (an ApiError's, or a stream's `error` event's)
 * choose the heading unless `title` is given. */
export function errorCard(detail, { code = null, status = null, title = null, action = null } = {}) {
  const heading = title || errorTitle(code, status);
  return h(
    "div",
    { class: "error-card", role: "alert" },
    h("strong", {}, heading),
    h("p", {}, detail),
    action,
  );
}

export function notice(text, kind = "info") {
  return h("div", { class: `turn-note note-${kind}` }, text);
}

/** A run the history marks as interrupted, with the reason it gives. */
export function stopped(entry) {
  return notice(`Stopped: ${entry.error || "interrupted"}`, "warn");
}

export function working(text) {
  return h("div", { class: "working" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** A step: the code that ran and everything it produced, filled live or from a result. */
export class StepView {
  constructor(chatId, { label = null, showCode = true } = {}) {
    this.chatId = chatId;
    this.label = label;
    this.showCode = showCode;
    this.status = h("span", { class: "status status-running" }, STATUS_TEXT.running);
    this.duration = h("span", { class: "duration" });
    this.code = h("div", { class: "step-code" });
    this.outputs = h("div", { class: "outputs" });
    this.files = h("div", { class: "step-files" });
    this.notes = h("div", { class: "step-notes" });
    this.lastStream = null;
    const name = h("span", { class: "step-label" }, label || "Python");
    const head = h("div", { class: "step-head" }, name, this.status, this.duration);
    this.el = h("div", { class: "step" }, head, this.code, this.outputs, this.files, this.notes);
  }

  setCode(code) {
    if (this.showCode) this.code.replaceChildren(codeBlock(code, { label: "Python" }));
  }

  addStream(type, text) {
    if (!text) return;
    if (this.lastStream && this.lastStream.type === type && this.outputs.lastChild === this.lastStream.el) {
      this.lastStream.el.append(text);
      return;
    }
    const el = h("pre", { class: `output-stream ${type}` }, text);
    this.lastStream = { type, el };
    this.outputs.append(el);
  }

  /** One `output` event as it streams: printed text, a rich output, or an error. */
  addOutput(event) {
    if (event.type === "stdout" || event.type === "stderr") this.addStream(event.type, event.text);
    else if (event.type === "display") this.addDisplay(event);
    else if (event.type === "error") this.addError(event);
  }

  addDisplay(event) {
    const node = displayOutput(event, this.chatId);
    if (node) this.outputs.append(node);
  }

  addError(event) {
    const traceback = (event.traceback || []).join("\n");
    this.outputs.append(
      h(
        "div",
        { class: "output-error" },
        h("div", { class: "error-name" }, `${event.ename}: ${event.evalue}`),
        traceback ? h("pre", { class: "traceback" }, traceback) : null,
      ),
    );
  }

  addFile(change) {
    const name = change.path;
    const label = `${name} · ${change.change}${change.size ? ` · ${formatBytes(change.size)}` : ""}`;
    const chip =
      change.change === "deleted"
        ? h("span", { class: "file-chip deleted" }, icon("file"), label)
        : h(
            "a",
            { class: "file-chip", href: fileUrl(this.chatId, name), download: name.split("/").pop() },
            icon("download"),
            label,
          );
    this.files.append(chip);
  }

  /** The step's end: its status, duration and what happened to the kernel. */
  finish(result) {
    const status = result.status || "ok";
    this.status.className = `status status-${status}`;
    this.status.textContent = STATUS_TEXT[status] || status;
    if (result.duration_ms !== undefined) {
      this.duration.textContent = `${(result.duration_ms / 1000).toFixed(2)} s`;
    }
    const kernel = result.kernel || {};
    if (kernel.restarted) {
      const states = { kept: "kept", restored: "restored from the last checkpoint", lost: "lost" };
      const why = kernel.reason ? ` (${kernel.reason})` : "";
      const variables = states[kernel.state] || kernel.state;
      this.notes.append(notice(`The Python kernel restarted${why}; variables ${variables}.`, "warn"));
    }
    if (result.disk && result.disk.warning) this.notes.append(notice(result.disk.warning, "warn"));
    const unsaved = Object.keys(result.not_persisted || {});
    if (unsaved.length) {
      const text = `Not saved across restarts: ${unsaved.join(", ")} (cannot be pickled).`;
      this.notes.append(notice(text, "muted"));
    }
    const shown = [this.code, this.outputs, this.files, this.notes].some((el) => el.hasChildNodes());
    const quiet = !shown;
    if (quiet && status === "ok") this.duration.before(h("span", { class: "muted quiet" }, "no output"));
  }

  /** A finished step from a reply or the history. */
  static fromResult(chatId, result, options = {}) {
    const step = new StepView(chatId, options);
    if (result.code) step.setCode(result.code);
    step.addStream("stdout", result.stdout);
    step.addStream("stderr", result.stderr);
    for (const output of result.outputs || []) step.addDisplay(output);
    if (result.error) step.addError(result.error);
    for (const change of result.files || []) step.addFile(change);
    step.finish(result);
    return step;
  }
}

/** The assistant's side of a question: text and steps in the order they came, then a status. */
export class AnswerView {
  constructor(chatId) {
    this.chatId = chatId;
    this.timeline = h("div", { class: "timeline" });
    this.statusEl = h("div", { class: "turn-status" });
    this.el = h("div", { class: "turn-assistant" }, this.timeline, this.statusEl);
    this.steps = new Map();
    this.text = null;
  }

  addText(delta) {
    if (!this.text) {
      this.text = { source: "", el: h("div", { class: "answer markdown" }), pending: false };
      this.timeline.append(this.text.el);
    }
    const segment = this.text;
    segment.source += delta;
    if (!segment.pending) {
      segment.pending = true;
      requestAnimationFrame(() => {
        segment.pending = false;
        const resolvePath = pathResolver(this.chatId);
        segment.el.replaceChildren(renderMarkdown(segment.source, { resolvePath }));
      });
    }
  }

  step(number) {
    let step = this.steps.get(number);
    if (!step) {
      step = new StepView(this.chatId, { label: `Step ${number}` });
      this.steps.set(number, step);
      this.timeline.append(step.el);
      this.text = null;
    }
    return step;
  }

  setStatus(node) {
    this.statusEl.replaceChildren(...(node ? [node] : []));
  }

  /** `done`: every step gets its final status; the answer is what the reply says it is. */
  finish(reply) {
    (reply.steps || []).forEach((result, index) => this.step(index + 1).finish(result));
    if (!this.text && !this.timeline.querySelector(".answer") && reply.answer) this.addText(reply.answer);
    this.setStatus(reply.status === "step_limit" ? notice(STEP_LIMIT, "warn") : null);
  }

  /** Steps that never got their end (the run was stopped or failed) are marked so. */
  abandon(status) {
    for (const step of this.steps.values()) {
      if (step.status.classList.contains("status-running")) step.finish({ status });
    }
  }

  static fromHistory(chatId, entry) {
    const view = new AnswerView(chatId);
    (entry.steps || []).forEach((result, index) => {
      const step = StepView.fromResult(chatId, result, { label: `Step ${index + 1}` });
      view.steps.set(index + 1, step);
      view.timeline.append(step.el);
    });
    if (entry.answer) {
      const text = renderMarkdown(entry.answer, { resolvePath: pathResolver(chatId) });
      view.timeline.append(h("div", { class: "answer markdown" }, text));
    }
    if (entry.status === "running") view.setStatus(working("Still running…"));
    else if (entry.status === "interrupted") view.setStatus(stopped(entry));
    else if (entry.status === "failed") view.setStatus(errorCard(entry.error || "the query failed"));
    else if (entry.answer_status === "step_limit") view.setStatus(notice(STEP_LIMIT, "warn"));
    return view;
  }
}

/** A code run from the history: its result, and how it ended when that was not plainly. */
export function codeRunResult(chatId, entry) {
  const box = h("div", { class: "turn-assistant" });
  if (entry.result) {
    box.append(StepView.fromResult(chatId, entry.result, { label: "Result", showCode: false }).el);
  }
  if (entry.status === "running") box.append(working("Still running…"));
  else if (entry.status === "interrupted") box.append(stopped(entry));
  else if (entry.status === "failed") box.append(errorCard(entry.error || "the code could not run"));
  return box;
}

/**
 * An upload in the conversation: each DataFrame it was loaded as (a line per sheet of a
 * workbook), or the file it was kept as, with why it was not loaded when it claimed to be data.
 * `result`, the server's answer just now, adds each frame's first rows. History entries written
 * before any file could be uploaded name one CSV's `variable` and `shape`.
 */
export function uploadMessage(entry, result = null) {
  const datasets = entry.datasets?.length
    ? entry.datasets
    : entry.variable
      ? [{ variable: entry.variable, shape: entry.shape }]
      : [];
  const time = when(entry.created_at);
  if (!datasets.length) {
    const why = entry.load_error ? h("span", { class: "load-error" }, ` · not loaded: ${entry.load_error}`) : null;
    const line = h(
      "div",
      { class: "turn-event" },
      icon("file"),
      h("span", {}, "Uploaded ", h("strong", {}, entry.file), " · kept as a file", why),
      time,
    );
    return h("div", { class: "turn-upload", dataset: { file: entry.file } }, line);
  }
  const heads = new Map((result?.datasets || []).map((d) => [d.variable, d]));
  const parts = datasets.map((d, i) => {
    const shape = formatShape(d.shape);
    const sheet = d.sheet !== null && d.sheet !== undefined ? ` (sheet ${d.sheet})` : "";
    const line = h(
      "div",
      { class: "turn-event" },
      icon("table"),
      h("span", {}, "Loaded ", h("strong", {}, entry.file), sheet, " as ", h("code", {}, d.variable), shape ? ` · ${shape}` : ""),
      i === 0 ? time : null,
    );
    const full = heads.get(d.variable);
    if (!full || !full.columns) return line;
    const head = (full.head || []).slice(0, 5);
    const table = h(
      "table",
      { class: "frame" },
      h("thead", {}, h("tr", {}, full.columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, head.map((row) => h("tr", {}, full.columns.map((c) => h("td", {}, cellText(row[c])))))),
    );
    return [line, h("div", { class: "table-wrap" }, table)];
  });
  return h("div", { class: "turn-upload", dataset: { file: entry.file } }, parts);
}

export function restartMessage(entry) {
  const text = h("span", {}, "Session restarted · variables and files cleared");
  return h("div", { class: "turn-divider" }, text, when(entry.created_at));
}

/** Packages installed from the server's store (a "packages" history entry). */
export function packagesMessage(entry) {
  const names = (entry.installed || []).join(", ") || "nothing new";
  const text = h("span", {}, `Packages installed · ${names}`);
  return h("div", { class: "turn-divider" }, text, when(entry.created_at));
}
