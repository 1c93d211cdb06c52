// The session panels: the chat's variables (click one for a preview) and its files as a folder
// tree (download, delete; images previewed). Refreshed after every query, upload and restart.

import { api, archiveUrl, exportUrl, listedFileUrl, variableCsvUrl } from "./api.js";
import { fill, formatBytes, formatDate, formatShape, h, icon } from "./dom.js";
import { confirmAction, openDialog } from "./dialogs.js";
import { cellText } from "./outputs.js";
import { errorCard } from "./render.js";

const PAGE_ROWS = 100;
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

function shortType(type) {
  return type.split(".").pop();
}

export class Panels {
  constructor({ variables, files, variablesCount, filesCount }) {
    this.variablesEl = variables;
    this.filesEl = files;
    this.variablesCount = variablesCount;
    this.filesCount = filesCount;
    this.chatId = null;
    this.generation = 0;
    // Folders the user closed, by chat and path: a refresh keeps them closed.
    this.closed = new Set();
  }

  show(chatId) {
    this.chatId = chatId;
    return this.refresh();
  }

  clear() {
    this.chatId = null;
    this.generation += 1;
    fill(this.variablesEl);
    fill(this.filesEl);
  }

  async refresh() {
    const chatId = this.chatId;
    if (!chatId) return;
    const generation = ++this.generation;
    const current = () => generation === this.generation && chatId === this.chatId;
    this.variablesEl.setAttribute("aria-busy", "true");
    this.filesEl.setAttribute("aria-busy", "true");
    const [variables, files] = await Promise.allSettled([api.variables(chatId), api.files(chatId)]);
    if (!current()) return;
    this.variablesEl.removeAttribute("aria-busy");
    this.filesEl.removeAttribute("aria-busy");
    if (variables.status === "fulfilled") this.renderVariables(variables.value);
    else this.failed(this.variablesEl, this.variablesCount, variables.reason);
    if (files.status === "fulfilled") this.renderFiles(files.value);
    else this.failed(this.filesEl, this.filesCount, files.reason);
  }

  failed(el, count, error) {
    count.textContent = "";
    const onClick = () => this.refresh();
    const retry = h("button", { class: "button small", type: "button", onClick }, "Try again");
    const detail = error.detail || String(error);
    fill(el, errorCard(detail, { status: error.status, title: "Could not load", action: retry }));
  }

  renderVariables(variables) {
    this.variablesCount.textContent = variables.length ? String(variables.length) : "";
    if (!variables.length) {
      const text = "No variables yet. Run code or upload data; what it defines shows up here.";
      fill(this.variablesEl, h("p", { class: "empty" }, text));
      return;
    }
    fill(this.variablesEl, h("ul", { class: "var-list" }, variables.map((v) => this.variableItem(v))));
  }

  variableItem(v) {
    const meta = [shortType(v.type), formatShape(v.shape)].filter(Boolean).join(" · ");
    const warning = v.persisted
      ? null
      : h("span", { class: "var-warn", title: v.not_persisted_reason || "" }, "not saved across restarts");
    const button = h(
      "button",
      {
        class: "var-item",
        type: "button",
        title: `Preview ${v.name}`,
        dataset: { name: v.name },
        onClick: () => this.openVariable(v),
      },
      h("span", { class: "var-line" }, h("span", { class: "var-name" }, v.name), h("span", { class: "var-meta" }, meta)),
      h("span", { class: "var-preview" }, v.preview),
      warning,
    );
    return h("li", {}, button);
  }

  renderFiles(files) {
    this.filesCount.textContent = files.length ? String(files.length) : "";
    const takeAway = this.takeAway(files.length > 0);
    if (!files.length) {
      const text = "No files yet. Uploaded files, plots and files your code saves appear here.";
      fill(this.filesEl, h("p", { class: "empty" }, text), takeAway);
      return;
    }
    fill(this.filesEl, this.folderList(folderTree(files)), takeAway);
  }

  /** A folder's entries: its folders first (each open unless closed before), then its files. */
  folderList(folder) {
    const folders = [...folder.folders.values()].sort((a, b) => a.name.localeCompare(b.name));
    return h(
      "ul",
      { class: "file-list" },
      folders.map((sub) => this.folderItem(sub)),
      folder.files.map((f) => this.fileItem(f)),
    );
  }

  folderItem(folder) {
    const key = `${this.chatId}/${folder.path}`;
    const details = h(
      "details",
      { class: "folder", open: !this.closed.has(key) },
      h(
        "summary",
        { class: "folder-summary", title: folder.path },
        h("span", { class: "folder-icon" }, icon("folder")),
        h("span", { class: "folder-name" }, folder.name),
        h("span", { class: "file-meta" }, plural(folder.count, "file")),
      ),
      this.folderList(folder),
    );
    details.addEventListener("toggle", () => {
      if (details.open) this.closed.delete(key);
      else this.closed.add(key);
    });
    return h("li", { class: "folder-item", dataset: { path: folder.path } }, details);
  }

  /** Links to take the chat away: its files as a zip, and the chat as a notebook, script or report. */
  takeAway(hasFiles) {
    const chatId = this.chatId;
    const link = (href, text, title) => h("a", { class: "button small", href, download: "", title }, text);
    return h(
      "div",
      { class: "take-away" },
      hasFiles ? link(archiveUrl(chatId), "All files (.zip)", "Download every file as one zip") : null,
      link(exportUrl(chatId, "ipynb"), "Notebook", "The chat as a Jupyter notebook"),
      link(exportUrl(chatId, "py"), "Script", "The chat's code as a Python script"),
      link(exportUrl(chatId, "md"), "Report", "The chat as a Markdown report"),
    );
  }

  async deleteFile(f) {
    const ok = await confirmAction({
      title: "Delete this file?",
      message: `“${f.path}” is deleted from the chat's files. Variables loaded from it stay.`,
      confirm: "Delete file",
    });
    if (!ok) return;
    try {
      await api.deleteFile(this.chatId, f);
    } catch (e) {
      // A file already gone is what was asked for.
      if (e.code !== "file_not_found") {
        openDialog({ title: "The file was not deleted", body: h("p", {}, e.detail) });
        return;
      }
    }
    await this.refresh();
  }

  fileItem(f) {
    const url = listedFileUrl(this.chatId, f);
    // The modification time in the URL makes a rewritten figure show anew, not from the cache.
    const fresh = `${url}?v=${encodeURIComponent(f.modified)}`;
    const thumb = IMAGE_TYPES.has(f.media_type)
      ? h(
          "button",
          { class: "thumb", type: "button", title: `Preview ${f.path}`, onClick: () => this.openImage(f, url, fresh) },
          h("img", { src: fresh, alt: "", loading: "lazy" }),
        )
      : h("span", { class: "thumb thumb-icon" }, icon("file"));
    const text = h(
      "span",
      { class: "file-text" },
      h("span", { class: "file-name", title: f.path }, f.path.split("/").pop()),
      h("span", { class: "file-meta" }, `${formatBytes(f.size)} · ${formatDate(f.modified)}`),
    );
    const download = h(
      "a",
      {
        class: "icon-button",
        href: url,
        download: f.path.split("/").pop(),
        title: `Download ${f.path}`,
        "aria-label": `Download ${f.path}`,
      },
      icon("download"),
    );
    const remove = h(
      "button",
      {
        class: "icon-button",
        type: "button",
        title: `Delete ${f.path}`,
        "aria-label": `Delete ${f.path}`,
        onClick: () => this.deleteFile(f),
      },
      icon("trash"),
    );
    return h("li", { class: "file-item", dataset: { path: f.path } }, thumb, text, download, remove);
  }

  openImage(file, url, fresh) {
    openDialog({
      title: file.path,
      wide: true,
      body: h("img", { class: "preview-image", src: fresh, alt: file.path }),
      extra: h("a", { class: "button small", href: url, download: file.path.split("/").pop() }, "Download"),
    });
  }

  openVariable(info) {
    const chatId = this.chatId;
    const body = h("div", { class: "var-preview-body" }, h("p", { class: "muted" }, "Loading…"));
    const size = info.size_bytes ? formatBytes(info.size_bytes) : null;
    const subtitle = [info.type, formatShape(info.shape), size].filter(Boolean).join(" · ");
    openDialog({ title: info.name, wide: true, body: [h("p", { class: "dialog-subtitle" }, subtitle), body] });
    const load = async (offset) => {
      let value;
      try {
        value = await api.variable(chatId, info.name, offset, PAGE_ROWS);
      } catch (e) {
        const title = "Could not load the variable";
        fill(body, errorCard(e.detail || String(e), { status: e.status, title }));
        return;
      }
      fill(body, variableBody(chatId, value, load));
    };
    load(0);
  }
}

/**
 * The listing's paths (`a/b/c.csv`) as a tree: {name, path, count, folders: Map, files: []};
 * each file stays under the folders its path names, in the listing's order.
 */
export function folderTree(files) {
  const root = { name: "", path: "", count: 0, folders: new Map(), files: [] };
  for (const f of files) {
    const parts = f.path.split("/");
    let folder = root;
    folder.count += 1;
    for (const part of parts.slice(0, -1)) {
      if (!folder.folders.has(part)) {
        const path = folder.path ? `${folder.path}/${part}` : part;
        folder.folders.set(part, { name: part, path, count: 0, folders: new Map(), files: [] });
      }
      folder = folder.folders.get(part);
      folder.count += 1;
    }
    folder.files.push(f);
  }
  return root;
}

function plural(n, word) {
  return `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
}

function variableBody(chatId, value, load) {
  if (value.kind === "json") return h("pre", { class: "output-value" }, JSON.stringify(value.value, null, 2));
  if (value.kind !== "dataframe" && value.kind !== "series") {
    return h("pre", { class: "output-value" }, value.repr ?? "");
  }
  const start = value.offset;
  const end = start + value.rows.length;
  const total = value.total_rows ?? end;
  const dtypes = value.dtypes || {};
  const header = value.columns.map((c) => h("th", {}, h("span", {}, c), h("span", { class: "dtype" }, dtypes[c] || "")));
  const cell = (v) => {
    const kind = typeof v === "number" ? "num" : v === null ? "null" : null;
    return h("td", { class: kind }, v === null ? "—" : cellText(v));
  };
  const table = h(
    "table",
    { class: "frame" },
    h("thead", {}, h("tr", {}, header)),
    h("tbody", {}, value.rows.map((row) => h("tr", {}, row.map(cell)))),
  );
  const range = total
    ? `Rows ${(start + 1).toLocaleString()}–${end.toLocaleString()} of ${total.toLocaleString()}`
    : "No rows";
  const button = (label, disabled, onClick) =>
    h("button", { class: "button small", type: "button", disabled, onClick }, label);
  const pager = h(
    "div",
    { class: "pager" },
    h("span", { class: "muted" }, range),
    h("span", { class: "spacer" }),
    button("Previous", start === 0, () => load(Math.max(0, start - PAGE_ROWS))),
    button("Next", end >= total, () => load(end)),
    h("a", { class: "button small", href: variableCsvUrl(chatId, value.name), download: `${value.name}.csv` }, "Download CSV"),
  );
  return [h("div", { class: "table-wrap tall" }, table), pager];
}
