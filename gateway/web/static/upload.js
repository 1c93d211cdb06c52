// Uploads of any files: by the file picker or by dropping them on the chat, several at once. Each
// file goes up on its own (so one too large or refused does not hold back the rest), with a row
// that shows its progress, then what became of it: loaded as DataFrames, kept as a file, kept
// but not loaded (and why), or refused (413, 409, ...). The rows stay when one needs reading.

import { uploadFile } from "./api.js";
import { fill, formatBytes, formatShape, h } from "./dom.js";

const TITLES = { payload_too_large: "File too large. ", disk_quota_exceeded: "Disk limit reached. " };

export class Uploader {
  /** hooks: view() the open ChatView (or null); done(view, result) per file kept; changed(id). */
  constructor({ status, input, overlay, dropZone }, hooks) {
    this.status = status;
    this.input = input;
    this.hooks = hooks;
    input.addEventListener("change", () => {
      const files = [...input.files];
      input.value = "";
      this.upload(files);
    });
    this.watchDrops(dropZone, overlay);
  }

  pick() {
    this.input.click();
  }

  watchDrops(zone, overlay) {
    let depth = 0;
    const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
    zone.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      overlay.hidden = false;
    });
    zone.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      this.upload([...(e.dataTransfer?.files || [])]);
    });
    // A file dropped anywhere else must not make the browser leave the page to show it.
    for (const name of ["dragover", "drop"]) window.addEventListener(name, (e) => e.preventDefault());
  }

  async upload(files) {
    const view = this.hooks.view();
    if (!view || !files.length) return;
    if (view.busy) {
      this.error("Wait for the running query to finish before uploading.");
      return;
    }
    const list = h("ul", { class: "upload-list" });
    this.show(list);
    view.setBusy("upload");
    let attention = false;
    try {
      for (const file of files) {
        const row = h("li", { class: "upload-row" });
        list.append(row);
        if (!(await this.one(view, file, row))) attention = true;
      }
    } finally {
      view.setBusy(null);
      this.hooks.changed(view.id);
    }
    if (!attention) {
      this.hide();
      return;
    }
    const dismiss = h("button", { class: "link-button", type: "button", onClick: () => this.hide() }, "Dismiss");
    this.status.append(h("div", { class: "upload-actions" }, dismiss));
    if (list.querySelector(".upload-error")) this.status.classList.add("failed");
  }

  /** Upload one file, its progress and outcome shown in `row`; true when nothing needs reading. */
  async one(view, file, row) {
    const bar = h("progress", { max: "100", value: "0", "aria-label": `Uploading ${file.name}` });
    const percent = h("span", { class: "percent" }, "0%");
    const label = h("span", { class: "upload-name" }, `Uploading ${file.name} (${formatBytes(file.size)})`);
    fill(row, label, bar, percent);
    let result;
    try {
      result = await uploadFile(view.id, file, (fraction) => {
        const value = Math.round(fraction * 100);
        bar.value = value;
        percent.textContent = `${value}%`;
        if (fraction >= 1) {
          label.textContent = `Storing ${file.name}…`;
          bar.removeAttribute("value"); // indeterminate while the sandbox reads it
          percent.textContent = "";
        }
      });
    } catch (e) {
      const title = TITLES[e.code] || "";
      fill(row, h("span", { class: "upload-error" }, title, `${file.name} was not uploaded: ${e.detail || e.message}`));
      row.setAttribute("role", "alert");
      return false;
    }
    this.hooks.done(view, result);
    fill(row, h("span", { class: "upload-outcome" }, outcome(result)));
    if (result.load_error) row.classList.add("warn");
    return !result.load_error;
  }

  show(content) {
    fill(this.status, content);
    this.status.classList.remove("failed");
    this.status.hidden = false;
  }

  hide() {
    this.status.hidden = true;
    fill(this.status);
  }

  error(message, code = null) {
    const dismiss = h("button", { class: "link-button", type: "button", onClick: () => this.hide() }, "Dismiss");
    const title = TITLES[code] || "";
    const text = h("span", { class: "upload-error" }, title, message);
    this.show(h("div", { class: "upload-row", role: "alert" }, text, dismiss));
    this.status.classList.add("failed");
  }
}

/** What became of one uploaded file, in a line. */
export function outcome(result) {
  const kept = result.path !== result.name ? ` as ${result.path}` : "";
  if (result.datasets.length) {
    const names = result.datasets.map((d) => `${d.variable} (${formatShape(d.shape)})`).join(", ");
    return `${result.name}: loaded as ${names}`;
  }
  if (result.load_error) return `${result.name}: kept${kept} as a file, not loaded: ${result.load_error}`;
  return `${result.name}: kept${kept} as a file`;
}
