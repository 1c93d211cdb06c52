// One chat's conversation: its history, and the questions and code runs sent from this page.
// A view outlives switching to another chat, so a stream that is still coming in keeps its
// place (closing it would interrupt the code).

import { api, streamQuery } from "./api.js";
import { h } from "./dom.js";
import { isLlmFailure } from "./errors.js";
import {
  AnswerView,
  StepView,
  errorCard,
  notice,
  restartMessage,
  stopped,
  uploadMessage,
  userCode,
  userMessage,
  working,
} from "./render.js";

const SUGGESTIONS = [
  "Create a simple plot showing a sine wave",
  "Make a sample sales dataset for 12 months and summarise it",
  "Which Python packages can you use here?",
];

export class ChatView {
  /**
   * hooks: changed(chatId) after anything that may change variables or files; busy(view);
   * titled(chatId, text); untitled(chatId) when it has no messages; scroll(view, force);
   * suggest(text); uploadRequested(); useCode().
   */
  constructor(chat, hooks) {
    this.chat = chat;
    this.id = chat.chat_id;
    this.hooks = hooks;
    this.el = h("div", { class: "conversation" });
    this.busy = null; // null, "query", "code" or "upload"
    this.controller = null;
    this.empty = null;
    this.titled = false;
  }

  async load() {
    this.el.replaceChildren(working("Loading the conversation…"));
    let entries;
    try {
      entries = await api.messages(this.id);
    } catch (e) {
      const onClick = () => this.load();
      const retry = h("button", { class: "button small", type: "button", onClick }, "Try again");
      const title = "The history could not be loaded";
      this.el.replaceChildren(errorCard(e.detail || String(e), { status: e.status, title, action: retry }));
      return;
    }
    this.el.replaceChildren();
    if (!entries.length) {
      this.hooks.untitled(this.id);
      this.showEmpty();
    }
    for (const entry of entries) this.append(this.entry(entry));
    this.hooks.scroll(this, true);
  }

  entry(entry) {
    switch (entry.kind) {
      case "query":
        this.title(entry.query);
        return [userMessage(entry.query, entry.created_at), AnswerView.fromHistory(this.id, entry).el];
      case "code":
        this.title(entry.code);
        return [userCode(entry.code, entry.created_at), this.codeResult(entry)];
      case "upload":
        return uploadMessage(entry);
      case "restart":
        return restartMessage(entry);
      default:
        return null;
    }
  }

  codeResult(entry) {
    const box = h("div", { class: "turn-assistant" });
    if (entry.result) {
      box.append(StepView.fromResult(this.id, entry.result, { label: "Result", showCode: false }).el);
    }
    if (entry.status === "running") box.append(working("Still running…"));
    else if (entry.status === "interrupted") box.append(stopped(entry));
    else if (entry.status === "failed") box.append(errorCard(entry.error || "the code could not run"));
    return box;
  }

  title(text) {
    if (this.titled || !text) return;
    this.titled = true;
    this.hooks.titled(this.id, text);
  }

  showEmpty() {
    const chips = SUGGESTIONS.map((text) =>
      h("button", { class: "chip", type: "button", onClick: () => this.hooks.suggest(text) }, text),
    );
    const upload = h(
      "button",
      { class: "chip chip-upload", type: "button", onClick: () => this.hooks.uploadRequested() },
      "Upload data…",
    );
    this.empty = h(
      "div",
      { class: "empty-chat" },
      h("h2", {}, "What would you like to explore?"),
      h(
        "p",
        { class: "muted" },
        "Ask a question, run Python with “Run code”, or drop files here: CSV, Excel, Parquet and JSON load as DataFrames.",
      ),
      h("div", { class: "chips" }, chips, upload),
    );
    this.el.append(this.empty);
  }

  append(nodes) {
    if (this.empty) {
      this.empty.remove();
      this.empty = null;
    }
    for (const node of [nodes].flat()) if (node) this.el.append(node);
    this.hooks.scroll(this, false);
  }

  setBusy(kind) {
    this.busy = kind;
    this.hooks.busy(this);
  }

  /** Ask the AI data scientist; its steps and answer stream in as they are made. */
  async ask(question) {
    if (this.busy) return;
    this.title(question);
    const answer = new AnswerView(this.id);
    this.append([userMessage(question), answer.el]);
    this.hooks.scroll(this, true);
    answer.setStatus(working("Thinking…"));
    this.controller = new AbortController();
    this.setBusy("query");
    let ended = false;
    const onEvent = (name, data) => {
      if (name === "step_started") {
        answer.step(data.step);
        answer.setStatus(working(`Running step ${data.step}…`));
      } else if (name === "code") {
        answer.step(data.step).setCode(data.code);
      } else if (name === "output") {
        const step = answer.step(data.step);
        if (data.type === "stdout" || data.type === "stderr") step.addStream(data.type, data.text);
        else if (data.type === "display") step.addDisplay(data);
        else if (data.type === "error") step.addError(data);
      } else if (name === "file") {
        answer.step(data.step).addFile(data);
      } else if (name === "answer") {
        answer.addText(data.delta);
        answer.setStatus(working("Writing…"));
      } else if (name === "done") {
        ended = true;
        answer.finish(data);
      } else if (name === "error") {
        ended = true;
        answer.abandon("error");
        answer.setStatus(this.failure(data));
      }
      this.hooks.scroll(this, false);
    };
    try {
      await streamQuery(this.id, { query: question }, onEvent, this.controller.signal);
      if (!ended) {
        answer.abandon("interrupted");
        answer.setStatus(errorCard("The connection closed before the answer was complete.", { status: 0 }));
      }
    } catch (e) {
      if (e.name === "AbortError") {
        answer.abandon("interrupted");
        const text = "Stopped. The running code was interrupted; variables from finished steps are kept.";
        answer.setStatus(notice(text, "warn"));
      } else {
        answer.abandon("error");
        answer.setStatus(this.failure(e));
      }
    } finally {
      this.controller = null;
      this.setBusy(null);
      this.hooks.scroll(this, false);
      this.hooks.changed(this.id);
    }
  }

  /** Run Python directly in the sandbox, no model involved. */
  async run(code) {
    if (this.busy) return;
    this.title(code);
    const box = h("div", { class: "turn-assistant" }, working("Running…"));
    this.append([userCode(code), box]);
    this.hooks.scroll(this, true);
    this.controller = new AbortController();
    this.setBusy("code");
    let ended = false;
    const onEvent = (name, data) => {
      if (name === "done") {
        ended = true;
        box.replaceChildren(StepView.fromResult(this.id, data, { label: "Result", showCode: false }).el);
      } else if (name === "error") {
        ended = true;
        box.replaceChildren(this.failure(data));
      }
    };
    try {
      // Streamed, so that Stop (closing the stream) interrupts the code in the sandbox.
      await streamQuery(this.id, { code }, onEvent, this.controller.signal);
      if (!ended) box.replaceChildren(errorCard("The connection closed before the code finished.", { status: 0 }));
    } catch (e) {
      if (e.name === "AbortError") {
        box.replaceChildren(notice("Stopped. The code was interrupted; variables from earlier runs are kept.", "warn"));
      } else {
        box.replaceChildren(this.failure(e));
      }
    } finally {
      this.controller = null;
      this.setBusy(null);
      this.hooks.scroll(this, false);
      this.hooks.changed(this.id);
    }
  }

  /** A failed query or run: an ApiError, or a stream's `error` event (`status`, `detail`, `code`). */
  failure(error) {
    const { status, code } = error;
    const detail = error.detail || error.message || "the request failed";
    let action = null;
    if (isLlmFailure(code)) {
      const onClick = () => this.hooks.useCode();
      action = h("button", { class: "button small", type: "button", onClick }, "Switch to Run code");
    }
    return errorCard(detail, { code, status, action });
  }

  /** Close the stream: the gateway interrupts the code that is running. */
  stop() {
    if (this.controller) this.controller.abort();
  }

  /** A file just uploaded: the server's result for it (POST /upload). */
  addUpload(result) {
    const entry = {
      file: result.path,
      datasets: result.datasets,
      load_error: result.load_error,
      created_at: new Date().toISOString(),
    };
    this.append(uploadMessage(entry, result));
  }

  addRestart() {
    this.append(restartMessage({ created_at: new Date().toISOString() }));
  }
}
