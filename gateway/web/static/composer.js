// The composer: the prompt, Ask or Run code, Send and Stop, and the buttons a busy chat disables.

import { $, chatNotice, state } from "./page.js";

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

export function setMode(value) {
  document.querySelector(`input[name="mode"][value="${value}"]`).checked = true;
  applyMode();
}

function applyMode() {
  const code = mode() === "code";
  $("prompt").classList.toggle("code-input", code);
  $("prompt").placeholder = code
    ? "Python to run in this chat's sandbox, e.g. df.describe()"
    : "Ask a question about your data…";
}

export function autosize() {
  const prompt = $("prompt");
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
}

export function updateComposer() {
  const view = state.current;
  const busy = view ? view.busy : null;
  const text = $("prompt").value.trim();
  $("send-button").disabled = !view || !!busy || !text;
  $("send-button").hidden = busy === "query" || busy === "code";
  $("stop-button").hidden = busy !== "query" && busy !== "code";
  $("stop-button").disabled = Boolean(view && view.stopping);
  $("send-button").textContent = busy === "code" ? "Running…" : busy === "upload" ? "Uploading…" : "Send";
  for (const id of ["restart-button", "upload-button", "attach-button"]) $(id).disabled = !view || !!busy;
}

function send(event) {
  event?.preventDefault();
  const view = state.current;
  const text = $("prompt").value;
  if (!view || view.busy || !text.trim()) return;
  $("prompt").value = "";
  autosize();
  chatNotice("");
  if (mode() === "code") view.run(text);
  else view.ask(text.trim());
}

export function wireComposer() {
  $("stop-button").addEventListener("click", () => state.current?.stop());
  $("composer").addEventListener("submit", send);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", applyMode);
  }
  const prompt = $("prompt");
  prompt.addEventListener("input", () => {
    autosize();
    updateComposer();
  });
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  });
}
