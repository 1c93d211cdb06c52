// The admin API as the admin page uses it (README: Operating). Every route answers 404 to anyone
// but an admin; errors are ApiErrors, as in api.js.

import { call } from "./api.js";

const enc = encodeURIComponent;

export const adminApi = {
  users: () => call("GET", "/admin/users"),
  userChats: (userId) => call("GET", `/admin/users/${enc(userId)}/chats`),
  sandboxes: () => call("GET", "/admin/sandboxes"),
  stopSandbox: (chatId) => call("POST", `/admin/sandboxes/${enc(chatId)}/stop`),
  restartSandbox: (chatId) => call("POST", `/admin/sandboxes/${enc(chatId)}/restart`),
  deleteChat: (chatId) => call("DELETE", `/admin/chats/${enc(chatId)}`),
  revoke: (userId) => call("POST", `/admin/users/${enc(userId)}/revoke`),
  block: (userId) => call("POST", `/admin/users/${enc(userId)}/block`),
  unblock: (userId) => call("POST", `/admin/users/${enc(userId)}/unblock`),
  /** A page of the audit log, newest first: `{entries, next_before}`. */
  audit: ({ limit, before, action, user }) => call("GET", `/admin/audit?${auditQuery({ limit, before, action, user })}`),
};

/** The whole audit log (or what the filters match) as a JSON Lines file. */
export function auditDownloadUrl({ action, user }) {
  const query = auditQuery({ action, user });
  return query ? `/admin/audit.jsonl?${query}` : "/admin/audit.jsonl";
}

function auditQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  return query.toString();
}
