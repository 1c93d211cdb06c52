// The admin page's tables, rebuilt from the API's rows. Everything in them is text: logins, names
// and chat titles are whatever users chose, so none of it is ever read as HTML.

import { formatBytes, formatDate, h } from "./dom.js";

const MIB = 1024 * 1024;

/** `act(kind, row)` is called by a row's action buttons. */
export function renderUsers(tbody, users, act) {
  tbody.replaceChildren(...(users.length ? users.map((user) => userRow(user, act)) : [emptyRow(8, "No users yet.")]));
}

function userRow(user, act) {
  const blockButton = user.blocked
    ? button("Unblock", () => act("unblock", user))
    : button("Block", () => act("block", user), {
        danger: true,
        // The API refuses it too (400): an admin is taken off ADMIN_GITHUB_USERS first.
        disabled: user.admin,
        title: user.admin ? "An admin cannot be blocked" : null,
      });
  return h(
    "tr",
    { dataset: { userId: user.id } },
    h(
      "td",
      {},
      h("span", { class: "login" }, user.login),
      user.name ? h("span", { class: "muted secondary" }, user.name) : null,
      user.admin ? badge("admin", "admin") : null,
      user.blocked ? badge("blocked", "blocked") : null,
    ),
    numberCell(user.chats),
    numberCell(user.running_sandboxes),
    numberCell(formatBytes(user.disk_bytes)),
    numberCell(user.llm_tokens_today.toLocaleString()),
    numberCell(user.llm_tokens_total.toLocaleString()),
    timeCell(user.last_seen, "never"),
    h(
      "td",
      { class: "actions" },
      button("Chats", () => act("chats", user)),
      button("Sign out everywhere", () => act("revoke", user), { danger: true }),
      blockButton,
    ),
  );
}

export function renderChats(tbody, chats, act) {
  tbody.replaceChildren(...(chats.length ? chats.map((chat) => chatRow(chat, act)) : [emptyRow(5, "No chats.")]));
}

function chatRow(chat, act) {
  return h(
    "tr",
    { dataset: { chatId: chat.chat_id } },
    h("td", { class: chat.title ? "title" : "title muted" }, chat.title || "Untitled"),
    timeCell(chat.created_at),
    h("td", {}, chat.sandbox ? stateBadge(chat.sandbox) : h("span", { class: "muted" }, "none")),
    h("td", { class: "mono" }, chat.chat_id),
    h("td", { class: "actions" }, button("Delete", () => act("delete-chat", chat), { danger: true })),
  );
}

/** `logins`: user id -> login, to name each sandbox's user. */
export function renderSandboxes(tbody, sandboxes, logins, act) {
  const rows = sandboxes.map((sandbox) => sandboxRow(sandbox, logins, act));
  tbody.replaceChildren(...(rows.length ? rows : [emptyRow(10, "No sandboxes.")]));
}

// What the first column says of a sandbox that is not a chat's own.
const KIND_LABELS = { pool: "pooled", installer: "installing packages for " };

function sandboxRow(sandbox, logins, act) {
  const chat = sandbox.kind === "chat";
  return h(
    "tr",
    { dataset: { container: sandbox.container, chatId: sandbox.chat_id || "", kind: sandbox.kind } },
    h(
      "td",
      {},
      chat ? null : h("span", { class: "muted" }, KIND_LABELS[sandbox.kind]),
      sandbox.chat_id ? h("span", { class: "mono" }, sandbox.chat_id) : null,
      h("span", { class: "muted secondary mono" }, sandbox.container),
    ),
    h("td", {}, sandbox.user_id ? logins.get(sandbox.user_id) || sandbox.user_id : "—"),
    h("td", { class: "state-cell" }, stateBadge(sandbox.state)),
    memoryCell(sandbox.memory_bytes, sandbox.memory_limit_bytes),
    numberCell(sandbox.cpu_percent === null ? "—" : `${sandbox.cpu_percent.toFixed(1)} %`, "cpu"),
    numberCell(sandbox.idle_for_s === null ? "—" : formatDuration(sandbox.idle_for_s), "idle"),
    timeCell(sandbox.started_at, "—"),
    h("td", { class: "mono" }, sandbox.image),
    h("td", {}, sandbox.runtime || "—"),
    h(
      "td",
      { class: "actions" },
      !chat
        ? null
        : [
            button("Restart", () => act("restart", sandbox)),
            button("Stop", () => act("stop", sandbox), {
              danger: true,
              disabled: sandbox.state !== "running",
            }),
          ],
    ),
  );
}

/** Rows of audit entries (newest first): `where` is "replace", "before" (newer than those shown)
 * or "after" (older). */
export function renderAudit(tbody, entries, where) {
  const rows = entries.map(auditRow);
  if (where === "replace") tbody.replaceChildren(...(rows.length ? rows : [emptyRow(7, "No entries.")]));
  else if (where === "before") tbody.prepend(...rows);
  else tbody.append(...rows);
}

function auditRow(entry) {
  const details = Object.keys(entry.details || {}).length ? JSON.stringify(entry.details) : "";
  return h(
    "tr",
    { dataset: { id: entry.id, action: entry.action } },
    timeCell(entry.time),
    h("td", { class: "mono" }, entry.action),
    h("td", {}, h("span", { class: "outcome", dataset: { outcome: entry.outcome } }, entry.outcome)),
    h("td", {}, entry.actor_login || entry.actor_id || h("span", { class: "muted" }, "—")),
    h("td", { class: "mono" }, entry.target || ""),
    h("td", { class: "mono", title: entry.user_agent || null }, entry.ip || ""),
    h("td", { class: "details mono", title: entry.request_id ? `request ${entry.request_id}` : null }, details),
  );
}

function button(label, onClick, { danger = false, disabled = false, title = null } = {}) {
  const kind = danger ? "danger-ghost" : "ghost";
  return h("button", { class: `button small ${kind}`, type: "button", disabled, title, onClick }, label);
}

function badge(text, kind) {
  return h("span", { class: "badge", dataset: { kind } }, text);
}

/** The container's status as Docker names it (running, exited, ...), coloured by CSS. */
function stateBadge(state) {
  return h("span", { class: "state", dataset: { state } }, state);
}

function numberCell(value, name = null) {
  return h("td", { class: "num", dataset: name ? { column: name } : null }, String(value));
}

function timeCell(iso, none = "") {
  if (!iso) return h("td", { class: "muted" }, none);
  return h("td", { class: "time", title: iso }, formatDate(iso));
}

function memoryCell(bytes, limit) {
  if (bytes === null) return h("td", { class: "num muted", dataset: { column: "memory" } }, "—");
  const used = Math.round(bytes / MIB);
  const text = limit ? `${used} of ${Math.round(limit / MIB)} MiB` : `${used} MiB`;
  return h(
    "td",
    { class: "num", dataset: { column: "memory" } },
    limit ? h("meter", { min: 0, max: limit, value: bytes, high: limit * 0.8, "aria-hidden": "true" }) : null,
    text,
  );
}

export function formatDuration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

function emptyRow(columns, text) {
  return h("tr", { class: "empty-row" }, h("td", { colspan: columns, class: "muted" }, text));
}
