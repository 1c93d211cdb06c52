// The admin page's entry (README: Web front end): users, sandboxes and the audit log, refreshed
// every few seconds and after each action. Each action asks first, naming what will happen.

import { AuditView } from "./admin-audit.js";
import { adminApi } from "./admin-api.js";
import { renderChats, renderSandboxes, renderUsers } from "./admin-tables.js";
import { api, setUnauthorizedHandler } from "./api.js";
import { confirmAction } from "./dialogs.js";
import { fill, formatTime, h, icon } from "./dom.js";

const REFRESH_MS = 10_000;
const SESSION_ENDED = "Your session ended. Sign in again, then come back to this page.";

const $ = (id) => document.getElementById(id);

const state = {
  users: [],
  chatsOf: null, // the user whose chats are shown
  timer: null,
  ended: false, // signed out or no admin any more: nothing is loaded again
};

let audit = null;

function showOnly(id) {
  for (const screen of ["boot", "denied", "admin"]) $(screen).hidden = screen !== id;
}

/** The page refused: why, and where to go instead. */
function deny(message, link = { href: "/", label: "Back to your chats" }) {
  state.ended = true;
  clearTimeout(state.timer);
  $("denied-text").textContent = message;
  $("denied-link").href = link.href;
  $("denied-link").textContent = link.label;
  showOnly("denied");
}

async function signedOut(message) {
  let mode = null;
  try {
    mode = (await api.config()).mode;
  } catch {
    // The local sign-in on the main page is the way in then.
  }
  const href = mode === "github" ? "/login/github?next=/admin" : "/";
  deny(message, { href, label: "Sign in" });
}

function notify(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function actionError(message) {
  $("action-error").textContent = message;
  $("action-error").hidden = !message;
}

function sectionError(id, message) {
  $(id).textContent = message;
  $(id).hidden = !message;
}

function loginOf(userId) {
  const user = state.users.find((u) => u.id === userId);
  return user ? user.login : userId || "no user";
}

// Loading. Each table loads on its own, so one failing (Docker slow to give stats) leaves the
// others current.

/** Whether the signed-in user is still an admin; when not, the page says so and stops. */
async function stillAdmin() {
  let me;
  try {
    me = await api.me();
  } catch (e) {
    if (e.status === 401) signedOut(SESSION_ENDED);
    return e.status !== 401;
  }
  if (!me.admin) deny("This page is for the admins of this server, and you are no longer one.");
  return me.admin;
}

async function loadUsers() {
  try {
    state.users = await adminApi.users();
  } catch (e) {
    // The admin API answers 404 to anyone but an admin, the signed-out too: /me tells which.
    if (e.status !== 404 || !(await stillAdmin())) return;
    sectionError("users-error", `The users could not be listed: ${e.detail}`);
    return;
  }
  sectionError("users-error", "");
  $("users-count").textContent = String(state.users.length);
  renderUsers($("users-body"), state.users, act);
}

async function loadSandboxes(usersLoaded) {
  let sandboxes;
  try {
    sandboxes = await adminApi.sandboxes();
  } catch (e) {
    sectionError("sandboxes-error", `The sandboxes could not be listed: ${e.detail}`);
    return;
  }
  await usersLoaded; // to name each sandbox's user
  sectionError("sandboxes-error", "");
  $("sandboxes-count").textContent = String(sandboxes.length);
  const logins = new Map(state.users.map((u) => [u.id, u.login]));
  renderSandboxes($("sandboxes-body"), sandboxes, logins, act);
}

async function loadChats() {
  const user = state.chatsOf;
  if (!user) return;
  let chats;
  try {
    chats = await adminApi.userChats(user.id);
  } catch (e) {
    sectionError("chats-error", `The chats of ${user.login} could not be listed: ${e.detail}`);
    return;
  }
  if (state.chatsOf !== user) return; // another user's chats were asked for meanwhile
  sectionError("chats-error", "");
  renderChats($("chats-body"), chats, act);
}

async function loadAll() {
  const usersLoaded = loadUsers();
  await Promise.all([usersLoaded, loadSandboxes(usersLoaded), loadChats(), audit.refresh()]);
  if (!state.ended) $("refreshed").textContent = `Updated ${formatTime(new Date().toISOString())}`;
}

// One load at a time, and at most one waiting behind it: a slow Docker never stacks requests.
let running = null;
let queued = null;

function refresh() {
  if (!running) {
    running = loadAll().finally(() => {
      running = null;
    });
    return running;
  }
  queued ??= running.then(() => {
    queued = null;
    return refresh();
  });
  return queued;
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.ended) state.timer = setTimeout(tick, REFRESH_MS);
}

async function tick() {
  // Nothing moves under an open dialog, nor in a tab nobody looks at.
  if (!document.hidden && !document.querySelector("dialog[open]")) await refresh();
  schedule();
}

// Actions: what each asks, does and says when done.

function chatName(chat) {
  return chat.title ? `“${chat.title}” (${chat.chat_id})` : `chat ${chat.chat_id}`;
}

const ACTIONS = {
  restart: (sandbox) => ({
    title: "Restart this sandbox?",
    message:
      `The sandbox of chat ${sandbox.chat_id} (${loginOf(sandbox.user_id)}) restarts: whatever runs ` +
      "in it now is cut off; its variables and files come back.",
    confirm: "Restart",
    doing: `Restarting the sandbox of chat ${sandbox.chat_id}…`,
    run: () => adminApi.restartSandbox(sandbox.chat_id),
    done: () => `Restarted the sandbox of chat ${sandbox.chat_id}.`,
  }),
  stop: (sandbox) => ({
    title: "Stop this sandbox?",
    message:
      `The sandbox of chat ${sandbox.chat_id} (${loginOf(sandbox.user_id)}) stops, and a query ` +
      "running in it is stopped. Its variables and files are kept; the chat's next query starts it again.",
    confirm: "Stop",
    doing: `Stopping the sandbox of chat ${sandbox.chat_id}…`,
    run: () => adminApi.stopSandbox(sandbox.chat_id),
    done: () => `Stopped the sandbox of chat ${sandbox.chat_id}.`,
  }),
  "delete-chat": (chat) => ({
    title: "Delete this chat?",
    message:
      `${chatName(chat)} of ${loginOf(chat.user_id)} is deleted with its sandbox, variables, ` +
      "files and history. This cannot be undone.",
    confirm: "Delete chat",
    doing: `Deleting ${chatName(chat)}…`,
    run: () => adminApi.deleteChat(chat.chat_id),
    done: () => `Deleted ${chatName(chat)}.`,
  }),
  revoke: (user) => ({
    title: `Sign ${user.login} out everywhere?`,
    message:
      `Every sign-in session of ${user.login} ends and every API token of theirs is deleted. ` +
      "They can sign in again unless blocked.",
    confirm: "Sign out everywhere",
    doing: `Signing ${user.login} out…`,
    run: () => adminApi.revoke(user.id),
    done: (r) => `Signed ${user.login} out: ${plural(r.sessions, "session")} ended, ${plural(r.tokens, "API token")} deleted.`,
  }),
  block: (user) => ({
    title: `Block ${user.login}?`,
    message:
      `Every request of ${user.login} is refused, with sessions and API tokens alike, until ` +
      "unblocked. Their chats are kept.",
    confirm: "Block",
    doing: `Blocking ${user.login}…`,
    run: () => adminApi.block(user.id),
    done: () => `Blocked ${user.login}.`,
  }),
  unblock: (user) => ({
    title: `Unblock ${user.login}?`,
    message: `${user.login} can use this server again.`,
    confirm: "Unblock",
    danger: false,
    doing: `Unblocking ${user.login}…`,
    run: () => adminApi.unblock(user.id),
    done: () => `Unblocked ${user.login}.`,
  }),
};

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

async function act(kind, row) {
  if (kind === "chats") {
    showChats(row);
    return;
  }
  const action = ACTIONS[kind](row);
  const confirmed = await confirmAction({
    title: action.title,
    message: action.message,
    confirm: action.confirm,
    danger: action.danger !== false,
  });
  if (!confirmed) return;
  actionError("");
  notify(action.doing);
  try {
    notify(action.done(await action.run()));
  } catch (e) {
    notify("");
    actionError(`${action.title.replace(/\?$/, "")}: ${e.detail}`);
  }
  await refresh();
  schedule();
}

function showChats(user) {
  state.chatsOf = user;
  $("chats-heading").textContent = `Chats of ${user.login}`;
  $("chats-body").replaceChildren();
  $("chats").hidden = false;
  loadChats();
  $("chats").scrollIntoView({ block: "nearest" });
}

function hideChats() {
  state.chatsOf = null;
  $("chats").hidden = true;
}

function wire(me) {
  const who = me.name || me.login;
  fill(
    $("user"),
    h("span", { class: "avatar", "aria-hidden": "true" }, (who || "?").slice(0, 1).toUpperCase()),
    h("span", { class: "user-name" }, who),
  );
  $("user").title = `Signed in as ${me.login}`;
  $("refresh").prepend(icon("refresh"));
  $("refresh").addEventListener("click", async () => {
    await refresh();
    schedule();
  });
  $("close-chats").addEventListener("click", hideChats);
  $("download-audit").prepend(icon("download"));
  audit = new AuditView({
    tbody: $("audit-body"),
    form: $("audit-filters"),
    action: $("audit-action"),
    user: $("audit-user"),
    older: $("audit-older"),
    download: $("download-audit"),
    error: $("audit-error"),
  });
}

async function boot() {
  setUnauthorizedHandler(() => signedOut(SESSION_ENDED));
  let me;
  try {
    me = await api.me();
  } catch (e) {
    if (e.status === 401) signedOut("Sign in first, as an admin of this server.");
    else deny(`The server cannot be reached: ${e.detail}`);
    return;
  }
  if (!me.admin) {
    deny("This page is for the admins of this server (ADMIN_GITHUB_USERS).");
    return;
  }
  wire(me);
  showOnly("admin");
  await refresh();
  schedule();
}

boot();
