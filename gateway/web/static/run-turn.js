// A run's place in the conversation while its events come: a question's steps and answer, or a
// code run's output and then its result, and how the run ended. A run this page started and one
// it attached to (after a reload, in another tab) send the same events, so they look the same.

import { h } from "./dom.js";
import { AnswerView, StepView, codeRunResult, notice, working } from "./render.js";

const STOPPED_QUERY = "Stopped. The running code was interrupted; variables from finished steps are kept.";
const STOPPED_CODE = "Stopped. The code was interrupted; variables from earlier runs are kept.";
const CODE_STEP = { label: "Result", showCode: false };

/** An `error` event that says the run was interrupted, not that it failed, as a notice; else null. */
function interruption(error, stoppedText) {
  // Stopped on request (POST /chat/{id}/stop), or the gateway process running it stopped.
  if (error.code === "run_stopped") return notice(stoppedText, "warn");
  if (error.code === "run_interrupted") return notice(`Stopped: ${error.detail}`, "warn");
  return null;
}

/** A question to the AI data scientist. `failure(error)` draws an error where it happened. */
export class QueryTurn {
  constructor(chatId, failure) {
    this.chatId = chatId;
    this.failure = failure;
    this.answer = new AnswerView(chatId);
    this.answer.setStatus(working("Thinking…"));
  }

  get el() {
    return this.answer.el;
  }

  event(name, data) {
    const answer = this.answer;
    if (name === "step_started") {
      answer.step(data.step);
      answer.setStatus(working(`Running step ${data.step}…`));
    } else if (name === "answer") {
      answer.addText(data.delta);
      answer.setStatus(working("Writing…"));
    } else if (name === "done" && data.from_history) {
      // Its events had expired: the history says how it went.
      const view = AnswerView.fromHistory(this.chatId, data);
      answer.el.replaceWith(view.el);
      this.answer = view;
    } else if (name === "done") {
      answer.finish(data);
    } else if (name === "error") {
      this.end(data);
    } else if (name === "code") {
      answer.step(data.step).setCode(data.code);
    } else if (name === "output") {
      answer.step(data.step).addOutput(data);
    } else if (name === "file") {
      answer.step(data.step).addFile(data);
    }
  }

  /** The run ended on an `error` event, or could not be followed (an ApiError). */
  end(error) {
    const interrupted = interruption(error, STOPPED_QUERY);
    this.answer.abandon(interrupted ? "interrupted" : "error");
    this.answer.setStatus(interrupted || this.failure(error));
  }
}

/** Code run directly: what it prints as it runs, then its whole result. */
export class CodeTurn {
  constructor(chatId, failure) {
    this.chatId = chatId;
    this.failure = failure;
    this.step = null;
    this.status = h("div", { class: "turn-status" }, working("Running…"));
    this.el = h("div", { class: "turn-assistant" }, this.status);
  }

  event(name, data) {
    if (name === "done") {
      const result = data.from_history
        ? codeRunResult(this.chatId, data)
        : h("div", { class: "turn-assistant" }, StepView.fromResult(this.chatId, data, CODE_STEP).el);
      this.el.replaceWith(result);
      this.el = result;
    } else if (name === "error") {
      this.end(data);
    } else if (name === "output") {
      if (!this.step) {
        this.step = new StepView(this.chatId, CODE_STEP);
        this.status.before(this.step.el);
      }
      this.step.addOutput(data);
    }
  }

  end(error) {
    const interrupted = interruption(error, STOPPED_CODE);
    this.step?.finish({ status: interrupted ? "interrupted" : "error" });
    this.status.replaceChildren(interrupted || this.failure(error));
  }
}
