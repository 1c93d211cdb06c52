// The page: sign-in, the chat list, the open chat with its composer, and the session panels.
// The open chat is in the URL's hash (#/chat/<id>), so a reload or a shared link opens it again.

import { api, setUnauthorizedHandler } from "./api.js";
import { ChatView } from "./chat.js";
import { confirmAction } from "./dialogs.js";
import { fill, formatDate, h, icon } from "./dom.js";
import { Panels } from "./panels.js";
import { Uploader } from "./upload.js";

const $ = (id) => document.getElementById(id);
const TITLES_KEY = "ads.chat-titles";
const TITLE_LENGTH = 60;

const state = {
  config: null,
  user: null,
  chats: [],
  views: new Map(), // chat id -> ChatView, kept while the page lives
  current: null, // the open ChatView
  autoScroll: true, // the conversation follows new content to the bottom
  pinnedTop: 0, // where following last put the scroll
};

// Chats have no title on the server yet: the first question asked in one names it, kept in
// this browser; chats named elsewhere get theirs from their history, in the background.
const titles = {
  empty: new Set(), // chats seen to have no messages yet
  all: (() => {
    try {
      return JSON.parse(localStorage.getItem(TITLES_KEY) || "{}");
    } catch {
      return {};
    }
  })(),
  get(chat) {
    const fallback = this.empty.has(chat.chat_id) ? "New chat" : "Untitled chat";
    return chat.title || this.all[chat.chat_id] || fallback;
  },
  async fill(chats) {
    // One request at a time: a nicety in the background, not worth a burst at every load.
    for (const chat of chats.filter((c) => !c.title && !this.all[c.chat_id]).slice(0, 50)) {
      if (!state.user) return;
      try {
        const first = (await api.messages(chat.chat_id)).find((e) => e.query || e.code);
        if (first) this.set(chat.chat_id, first.query || first.code);
        else this.empty.add(chat.chat_id);
        renderChatList();
      } catch {
        // Left untitled; the chat itself still opens.
      }
    }
  },
  set(chatId, text) {
    const line = text.trim().split("\n")[0];
    const title = line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line;
    if (!title || this.all[chatId] === title) return;
    this.all[chatId] = title;
    this.save();
  },
  drop(chatIds) {
    for (const id of chatIds) delete this.all[id];
    this.save();
  },
  save() {
    try {
      localStorage.setItem(TITLES_KEY, JSON.stringify(this.all));
    } catch {
      // Storage full or disabled: titles only last for this page.
    }
  },
};

const panels = new Panels({
  variables: $("variables"),
  files: $("files"),
  variablesCount: $("variables-count"),
  filesCount: $("files-count"),
});

const uploader = new Uploader(
  {
    status: $("upload-status"),
    input: $("file-input"),
    overlay: $("drop-overlay"),
    dropZone: $("chat-view"),
  },
  {
    view: () => state.current,
    done: (view, result) => view.addUpload(result),
    changed: (chatId) => refreshPanels(chatId),
  },
);

const viewHooks = {
  changed: (chatId) => refreshPanels(chatId),
  busy: (view) => {
    renderChatList();
    if (view === state.current) updateComposer();
  },
  titled: (chatId, text) => {
    titles.set(chatId, text);
    renderChatList();
    if (state.current && state.current.id === chatId) showTitle();
  },
  untitled: (chatId) => {
    titles.empty.add(chatId);
    renderChatList();
    showTitle();
  },
  scroll: (view, force) => {
    if (view === state.current) scrollMessages(force);
  },
  suggest: (text) => {
    setMode("ask");
    $("prompt").value = text;
    autosize();
    updateComposer();
    $("prompt").focus();
  },
  uploadRequested: () => uploader.pick(),
  useCode: () => {
    setMode("code");
    $("prompt").focus();
  },
};

function refreshPanels(chatId) {
  if (state.current && state.current.id === chatId) panels.refresh();
}

// Screens

function showOnly(id) {
  for (const screen of ["boot", "signin", "app"]) $(screen).hidden = screen !== id;
}

function showSignIn(message = "") {
  for (const view of state.views.values()) view.stop();
  state.views.clear();
  state.current = null;
  state.user = null;
  panels.clear();
  showOnly("signin");
  const notice = $("signin-notice");
  notice.textContent = message;
  notice.hidden = !message;
  const github = state.config && state.config.mode === "github";
  $("signin-github").hidden = !github;
  $("signin-local").hidden = github;
  if (!github) $("token-input").focus();
}

async function signInLocal(event) {
  event.preventDefault();
  const input = $("token-input");
  const error = $("signin-error");
  let token = input.value.trim();
  const match = token.match(/[?&]token=([^&#\s]+)/);
  if (match) token = decodeURIComponent(match[1]);
  error.hidden = true;
  try {
    await api.loginLocal(token);
  } catch (e) {
    error.textContent =
      e.status === 401
        ? "That token is not valid. Use the link or token printed when the gateway started."
        : e.detail;
    error.hidden = false;
    input.select();
    return;
  }
  input.value = "";
  await start();
}

async function start() {
  try {
    state.user = await api.me();
  } catch (e) {
    showSignIn(e.status === 401 ? "" : e.detail);
    return;
  }
  showOnly("app");
  const who = state.user.name || state.user.login;
  fill(
    $("user"),
    h("span", { class: "avatar", "aria-hidden": "true" }, (who || "?").slice(0, 1).toUpperCase()),
    h("span", { class: "user-name" }, who),
  );
  $("user").title = `Signed in as ${state.user.login}`;
  await loadChats();
  route();
  titles.fill(state.chats);
}

async function signOut() {
  const running = [...state.views.values()].some((v) => v.busy === "query" || v.busy === "code");
  const message = "A query is still running; signing out stops it.";
  if (running && !(await confirmAction({ title: "Sign out?", message, confirm: "Sign out" }))) return;
  try {
    await api.logout();
  } catch {
    // Signed out on the server or not, this page forgets the session.
  }
  history.replaceState(null, "", "/");
  showSignIn("You are signed out.");
}

// Chat list

async function loadChats() {
  try {
    state.chats = await api.chats();
    sidebarError("");
  } catch (e) {
    sidebarError(`Chats could not be loaded: ${e.detail}`);
  }
  renderChatList();
}

function sidebarError(message) {
  $("sidebar-error").textContent = message;
  $("sidebar-error").hidden = !message;
}

function renderChatList() {
  const list = $("chat-list");
  $("chat-list-empty").hidden = state.chats.length > 0;
  $("delete-all").hidden = state.chats.length === 0;
  fill(
    list,
    state.chats.map((chat) => {
      const view = state.views.get(chat.chat_id);
      const active = state.current && state.current.id === chat.chat_id;
      return h(
        "div",
        { class: `chat-item${active ? " active" : ""}`, dataset: { chatId: chat.chat_id } },
        h(
          "a",
          { class: "chat-link", href: `#/chat/${chat.chat_id}`, "aria-current": active ? "page" : null },
          h("span", { class: "chat-name" }, titles.get(chat)),
          h(
            "span",
            { class: "chat-date" },
            view && view.busy ? h("span", { class: "dot-busy" }, "working…") : formatDate(chat.created_at),
          ),
        ),
        h(
          "button",
          {
            class: "icon-button chat-delete",
            type: "button",
            title: "Delete this chat",
            "aria-label": `Delete chat ${titles.get(chat)}`,
            onClick: () => deleteChat(chat),
          },
          icon("trash"),
        ),
      );
    }),
  );
}

async function newChat() {
  let chat;
  try {
    chat = await api.createChat();
  } catch (e) {
    sidebarError(`No new chat: ${e.detail}`);
    return;
  }
  sidebarError("");
  titles.empty.add(chat.chat_id);
  state.chats.unshift(chat);
  renderChatList();
  location.hash = `#/chat/${chat.chat_id}`;
  closeDrawer();
}

async function deleteChat(chat) {
  const ok = await confirmAction({
    title: "Delete this chat?",
    message: `“${titles.get(chat)}” and its sandbox, variables and files are deleted. This cannot be undone.`,
    confirm: "Delete chat",
  });
  if (!ok) return;
  state.views.get(chat.chat_id)?.stop();
  try {
    await api.deleteChat(chat.chat_id);
  } catch (e) {
    if (e.status !== 404) {
      const where = state.current && state.current.id === chat.chat_id ? chatNotice : sidebarError;
      where(`The chat was not deleted: ${e.detail}`);
      return;
    }
  }
  forget([chat.chat_id]);
}

async function deleteAll() {
  const count = state.chats.length;
  const ok = await confirmAction({
    title: `Delete all ${count} chat${count === 1 ? "" : "s"}?`,
    message: "Every chat, with its sandbox, variables and files, is deleted. This cannot be undone.",
    confirm: "Delete all",
  });
  if (!ok) return;
  for (const view of state.views.values()) view.stop();
  try {
    await api.deleteAllChats();
  } catch (e) {
    sidebarError(`The chats were not deleted: ${e.detail}`);
    return;
  }
  forget(state.chats.map((c) => c.chat_id));
}

function forget(chatIds) {
  const gone = new Set(chatIds);
  state.chats = state.chats.filter((c) => !gone.has(c.chat_id));
  for (const id of gone) state.views.delete(id);
  titles.drop(chatIds);
  sidebarError("");
  if (state.current && gone.has(state.current.id)) {
    state.current = null;
    history.replaceState(null, "", "/");
  }
  renderChatList();
  route();
}

// The open chat

function route() {
  if (!state.user) return;
  const match = location.hash.match(/^#\/chat\/([\w-]+)$/);
  let chat = match && state.chats.find((c) => c.chat_id === match[1]);
  if (!chat && !match && state.chats.length) chat = state.chats[0];
  if (!chat) {
    if (match) history.replaceState(null, "", "/");
    showWelcome();
    return;
  }
  if (!match) history.replaceState(null, "", `#/chat/${chat.chat_id}`);
  openChat(chat);
}

function showWelcome() {
  state.current = null;
  $("welcome").hidden = false;
  $("chat-view").hidden = true;
  $("panels").hidden = true;
  panels.clear();
  document.title = "AI Data Scientist";
  renderChatList();
}

function openChat(chat) {
  if (state.current && state.current.id === chat.chat_id) return;
  let view = state.views.get(chat.chat_id);
  const fresh = !view || !view.busy;
  if (fresh) {
    view = new ChatView(chat, viewHooks);
    state.views.set(chat.chat_id, view);
  }
  state.current = view;
  $("welcome").hidden = true;
  $("chat-view").hidden = false;
  $("panels").hidden = false;
  chatNotice("");
  uploader.hide();
  fill($("messages"), view.el);
  growth.disconnect();
  growth.observe(view.el);
  state.autoScroll = true;
  if (fresh) view.load();
  else scrollMessages(true);
  showTitle();
  renderChatList();
  updateComposer();
  panels.show(chat.chat_id);
  closeDrawer();
  if (window.matchMedia("(pointer: fine)").matches) $("prompt").focus();
}

function showTitle() {
  const chat = state.current && state.chats.find((c) => c.chat_id === state.current.id);
  if (!chat) return;
  $("chat-title").textContent = titles.get(chat);
  $("chat-title").title = chat.chat_id;
  document.title = `${titles.get(chat)} · AI Data Scientist`;
}

function chatNotice(message) {
  $("chat-notice").textContent = message;
  $("chat-notice").hidden = !message;
}

async function restartSession() {
  const view = state.current;
  if (!view) return;
  const ok = await confirmAction({
    title: "Restart the session?",
    message:
      "All variables and files of this chat are deleted and Python starts empty. The conversation stays.",
    confirm: "Restart",
  });
  if (!ok) return;
  chatNotice("");
  $("restart-button").disabled = true;
  try {
    await api.restart(view.id);
    view.addRestart();
  } catch (e) {
    chatNotice(`The session was not restarted: ${e.detail}`);
  } finally {
    updateComposer();
    refreshPanels(view.id);
  }
}

// Figures and tables grow the conversation after they are added: follow them to the bottom
// unless the reader scrolled up.
const growth = new ResizeObserver(() => scrollMessages(false));

function scrollMessages(force) {
  const box = $("messages");
  if (force) state.autoScroll = true;
  if (state.autoScroll) {
    box.scrollTop = box.scrollHeight;
    state.pinnedTop = box.scrollTop;
  }
}

function followScroll() {
  // Only the reader scrolling up stops the following; content growing under a scroll that
  // has not been dispatched yet must not.
  const box = $("messages");
  if (box.scrollHeight - box.scrollTop - box.clientHeight < 80) state.autoScroll = true;
  else if (box.scrollTop < state.pinnedTop - 4) state.autoScroll = false;
}

// Composer

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function setMode(value) {
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

function autosize() {
  const prompt = $("prompt");
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
}

function updateComposer() {
  const view = state.current;
  const busy = view ? view.busy : null;
  const text = $("prompt").value.trim();
  $("send-button").disabled = !view || !!busy || !text;
  $("send-button").hidden = busy === "query" || busy === "code";
  $("stop-button").hidden = busy !== "query" && busy !== "code";
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

// The chat list as a drawer on narrow screens

function openDrawer() {
  document.body.classList.add("drawer-open");
  $("scrim").hidden = false;
  $("menu-button").setAttribute("aria-expanded", "true");
}

function closeDrawer() {
  document.body.classList.remove("drawer-open");
  $("scrim").hidden = true;
  $("menu-button").setAttribute("aria-expanded", "false");
}

function wire() {
  $("menu-button").append(icon("menu"));
  $("attach-button").append(icon("upload"));
  $("refresh-panels").append(icon("refresh"));
  $("new-chat").prepend(icon("plus"));
  $("stop-button").prepend(icon("stop"));
  $("signout").prepend(icon("signout"));
  $("github-link").prepend(icon("github"));
  $("upload-button").prepend(icon("upload"));
  $("restart-button").prepend(icon("restart"));
  $("delete-chat-button").prepend(icon("trash"));
  $("panels-button").prepend(icon("data"));

  $("signin-local").addEventListener("submit", signInLocal);
  $("signout").addEventListener("click", signOut);
  $("new-chat").addEventListener("click", newChat);
  $("welcome-new-chat").addEventListener("click", newChat);
  $("delete-all").addEventListener("click", deleteAll);
  $("restart-button").addEventListener("click", restartSession);
  $("upload-button").addEventListener("click", () => uploader.pick());
  $("attach-button").addEventListener("click", () => uploader.pick());
  $("delete-chat-button").addEventListener("click", () => {
    const chat = state.current && state.chats.find((c) => c.chat_id === state.current.id);
    if (chat) deleteChat(chat);
  });
  $("panels-button").addEventListener("click", () => $("panels").scrollIntoView({ behavior: "smooth" }));
  $("refresh-panels").addEventListener("click", () => panels.refresh());
  $("menu-button").addEventListener("click", openDrawer);
  $("scrim").addEventListener("click", closeDrawer);
  // Picking a chat closes the drawer, also when it is the one already open.
  $("chat-list").addEventListener("click", (e) => {
    if (e.target.closest(".chat-link")) closeDrawer();
  });
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
  $("messages").addEventListener("scroll", followScroll);
  window.addEventListener("hashchange", route);
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDrawer();
  });
  window.addEventListener("beforeunload", (e) => {
    // Leaving closes the stream, which stops the code: ask first.
    if ([...state.views.values()].some((v) => v.busy === "query" || v.busy === "code")) e.preventDefault();
  });
  setUnauthorizedHandler(() => {
    if (state.user) showSignIn("Your session ended. Sign in again to continue.");
  });
}

async function boot() {
  wire();
  try {
    state.config = await api.config();
  } catch (e) {
    fill($("boot"), h("p", {}, `The server cannot be reached: ${e.detail}`));
    return;
  }
  $("github-link").href = "/login/github?next=/";
  await start();
}

boot();
