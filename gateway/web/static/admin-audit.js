// The audit log on the admin page: newest first, older entries a page at a time (the API's
// `next_before`), filtered by action or user, and the whole of it as a JSON Lines download.

import { adminApi, auditDownloadUrl } from "./admin-api.js";
import { renderAudit } from "./admin-tables.js";
import { h } from "./dom.js";

const PAGE_SIZE = 50;

// gateway/audit.py's AuditAction, for the filter (tests/e2e/test_admin.py keeps the two equal).
export const AUDIT_ACTIONS = [
  "sign_in",
  "sign_in_failed",
  "sign_out",
  "token_created",
  "token_revoked",
  "chat_deleted",
  "sandbox_restarted",
  "quota_refused",
  "admin_chat_deleted",
  "admin_sandbox_stopped",
  "admin_sandbox_restarted",
  "admin_sessions_revoked",
  "admin_audit_exported",
  "admin_user_blocked",
  "admin_user_unblocked",
];

/** Whether entry id `id` ("<ms>-<n>") is newer than `other`. */
function isNewer(id, other) {
  const [ms, n] = id.split("-").map(Number);
  const [otherMs, otherN] = other.split("-").map(Number);
  return ms > otherMs || (ms === otherMs && n > otherN);
}

export class AuditView {
  /** `els`: the table body, the filter form with its action select and user input, the "Older"
   * button, the download link and where errors show. */
  constructor(els) {
    this.els = els;
    this.filters = { action: "", user: "" };
    this.newest = null; // the id of the newest entry shown
    this.nextBefore = null;
    els.action.append(...AUDIT_ACTIONS.map((action) => h("option", { value: action }, action)));
    els.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.applyFilters();
    });
    els.action.addEventListener("change", () => this.applyFilters());
    els.older.addEventListener("click", () => this.older());
    this.updateDownload();
  }

  applyFilters() {
    this.filters = { action: this.els.action.value, user: this.els.user.value.trim() };
    this.newest = null;
    this.nextBefore = null;
    this.updateDownload();
    return this.refresh();
  }

  updateDownload() {
    this.els.download.href = auditDownloadUrl(this.filters);
  }

  /** The newest entries: those newer than the ones shown go on top; after a gap (more new ones
   * than a page holds) or a change of filters, the table starts again. */
  async refresh() {
    const filters = this.filters;
    const page = await this.load({ limit: PAGE_SIZE, ...filters });
    if (!page || filters !== this.filters) return;
    const oldest = page.entries.at(-1);
    if (this.newest === null || (page.next_before && oldest && isNewer(oldest.id, this.newest))) {
      renderAudit(this.els.tbody, page.entries, "replace");
      this.nextBefore = page.next_before;
    } else {
      renderAudit(this.els.tbody, page.entries.filter((e) => isNewer(e.id, this.newest)), "before");
    }
    if (page.entries.length) this.newest = page.entries[0].id;
    this.els.older.hidden = !this.nextBefore;
  }

  async older() {
    if (!this.nextBefore) return;
    const filters = this.filters;
    this.els.older.disabled = true;
    const page = await this.load({ limit: PAGE_SIZE, before: this.nextBefore, ...filters });
    this.els.older.disabled = false;
    if (!page || filters !== this.filters) return;
    renderAudit(this.els.tbody, page.entries, "after");
    this.nextBefore = page.next_before;
    this.els.older.hidden = !this.nextBefore;
  }

  async load(params) {
    try {
      const page = await adminApi.audit(params);
      this.showError("");
      return page;
    } catch (e) {
      this.showError(`The audit log could not be read: ${e.detail}`);
      return null;
    }
  }

  showError(message) {
    this.els.error.textContent = message;
    this.els.error.hidden = !message;
  }
}
