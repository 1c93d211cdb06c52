// One chat's conversation: its history, and the runs (questions and code) going on in it. A run
// belongs to the gateway, not to this page: one started here, or found going when the chat is
// opened (after a reload, or started in another tab), is followed to its end the same way.
// A view outlives switching to another chat, so a run that is still coming in keeps its place.

import { api, followRun, streamQuery } from "./api.js";
import { h } from "./dom.js";
import { isLlmFailure } from "./errors.js";
import {
  AnswerView,
  codeRunResult,
  errorCard,
  packagesMessage,
  restartMessage,
  uploadMessage,
  userCode,
  userMessage,
  working,
} from "./render.js";
import { CodeTurn, QueryTurn } from "./run-turn.js";

const SUGGESTIONS = [
  "Create a simple plot showing a sine wave",
  "Make a sample sales dataset for 12 months and summarise it",
  "Which Python packages can you use here?",
];

export class ChatView {
  /**
   * hooks: changed(chatId) after anything that may change variables or files; busy(view);
   * titled(chatId, text); untitled(chatId) when it has no messages; scroll(view, force);
   * suggest(text); uploadRequested(); useCode(); notice(view, text) for what the view cannot
   * show in the conversation.
   */
  constructor(chat, hooks) {
    this.chat = chat;
    this.id = chat.chat_id;
    this.hooks = hooks;
    this.el = h("div", { class: "conversation" });
    this.busy = null; // null, "query", "code" or "upload"
    this.controller = null; // reading a run's events
    this.stopping = false;
    this.empty = null;
    this.titled = false;
  }

  async load() {
    this.el.replaceChildren(working("Loading the conversation…"));
    let chat;
    let entries;
    try {
      // The chat first: the run it names as going on is in the history read after.
      chat = await api.chat(this.id);
      entries = await api.messages(this.id);
    } catch (e) {
      const onClick = () => this.load();
      const retry = h("button", { class: "button small", type: "button", onClick }, "Try again");
      const title = "The history could not be loaded";
      this.el.replaceChildren(errorCard(e.detail || String(e), { status: e.status, title, action: retry }));
      return;
    }
    const running = entries.find((e) => e.id === chat.active_run_id && e.status === "running");
    this.el.replaceChildren();
    if (!entries.length) {
      this.hooks.untitled(this.id);
      this.showEmpty();
    }
    for (const entry of entries) if (entry !== running) this.append(this.entry(entry));
    if (running) this.attach(running);
    this.hooks.scroll(this, true);
  }

  entry(entry) {
    switch (entry.kind) {
      case "query":
        this.title(entry.query);
        return [userMessage(entry.query, entry.created_at), AnswerView.fromHistory(this.id, entry).el];
      case "code":
        this.title(entry.code);
        return [userCode(entry.code, entry.created_at), codeRunResult(this.id, entry)];
      case "upload":
        return uploadMessage(entry);
      case "packages":
        return packagesMessage(entry);
      case "restart":
        return restartMessage(entry);
      default:
        return null;
    }
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
  ask(question) {
    if (this.busy) return;
    this.title(question);
    const turn = new QueryTurn(this.id, (error) => this.failure(error));
    this.append([userMessage(question), turn.el]);
    this.follow("query", turn, (onEvent, signal) => streamQuery(this.id, { query: question }, onEvent, signal));
  }

  /** Run Python directly in the sandbox, no model involved; what it prints streams in. */
  run(code) {
    if (this.busy) return;
    this.title(code);
    const turn = new CodeTurn(this.id, (error) => this.failure(error));
    this.append([userCode(code), turn.el]);
    this.follow("code", turn, (onEvent, signal) => streamQuery(this.id, { code }, onEvent, signal));
  }

  /** Follow a run found going (its history record): what it did so far, then the rest live. */
  attach(record) {
    const query = record.kind === "query";
    const text = query ? record.query : record.code;
    this.title(text);
    const turn = new (query ? QueryTurn : CodeTurn)(this.id, (error) => this.failure(error));
    this.append([(query ? userMessage : userCode)(text, record.created_at), turn.el]);
    this.follow(record.kind, turn, (onEvent, signal) => followRun(this.id, record.id, onEvent, signal));
  }

  /** Read a run's events into `turn` to its end; `read(onEvent, signal)` reads them. */
  async follow(kind, turn, read) {
    this.hooks.scroll(this, true);
    this.controller = new AbortController();
    this.setBusy(kind);
    const onEvent = (name, data) => {
      turn.event(name, data);
      this.hooks.scroll(this, false);
    };
    try {
      await read(onEvent, this.controller.signal);
    } catch (e) {
      // Aborted: this page stopped following (the chat was deleted, the session ended).
      if (e.name !== "AbortError") turn.end(e);
    } finally {
      this.controller = null;
      this.stopping = false;
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

  /** Ask the gateway to stop the run this view follows; its stream then ends with `run_stopped`. */
  async stop() {
    if (!this.controller || this.stopping) return;
    this.stopping = true;
    this.hooks.busy(this);
    let result = null;
    try {
      result = await api.stop(this.id);
    } catch (e) {
      this.hooks.notice(this, `The run was not stopped: ${e.detail}`);
    }
    // Not stopped (yet): Stop can be pressed again while the run goes on.
    if (!result?.stopped && this.controller) {
      this.stopping = false;
      this.hooks.busy(this);
    }
  }

  /** Stop reading the run's events; the run goes on. */
  detach() {
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
