// CSV upload: by the file picker or by dropping files on the chat, one file at a time, with a
// progress bar while the bytes go up and the server's answer (413, 400, 409...) shown in place.

import { uploadCsv } from "./api.js";
import { fill, formatBytes, h } from "./dom.js";

function isCsv(file) {
  return /\.csv$/i.test(file.name) || file.type === "text/csv";
}

export class Uploader {
  /** hooks: view() the open ChatView (or null); done(view, result); busy(view). */
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
    for (const file of files) {
      if (!isCsv(file)) {
        this.error(`${file.name} is not a CSV file; only .csv files can be loaded.`);
        return;
      }
    }
    view.setBusy("upload");
    try {
      for (const file of files) {
        if (!(await this.one(view, file))) break;
      }
    } finally {
      view.setBusy(null);
      this.hooks.changed(view.id);
    }
  }

  async one(view, file) {
    const bar = h("progress", { max: "100", value: "0", "aria-label": `Uploading ${file.name}` });
    const percent = h("span", { class: "percent" }, "0%");
    const label = h("span", { class: "upload-name" }, `Uploading ${file.name} (${formatBytes(file.size)})`);
    this.show(h("div", { class: "upload-row" }, label, bar, percent));
    try {
      const result = await uploadCsv(view.id, file, (fraction) => {
        const value = Math.round(fraction * 100);
        bar.value = value;
        percent.textContent = `${value}%`;
        if (fraction >= 1) {
          label.textContent = `Loading ${file.name} into the sandbox…`;
          bar.removeAttribute("value"); // indeterminate while pandas reads it
          percent.textContent = "";
        }
      });
      this.hide();
      this.hooks.done(view, result);
      return true;
    } catch (e) {
      this.error(`${file.name} was not loaded: ${e.detail || e.message}`, e.code);
      return false;
    }
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
    const titles = { payload_too_large: "File too large. ", disk_quota_exceeded: "Disk limit reached. " };
    const title = titles[code] || "";
    const text = h("span", { class: "upload-error" }, title, message);
    this.show(h("div", { class: "upload-row", role: "alert" }, text, dismiss));
    this.status.classList.add("failed");
  }
}
