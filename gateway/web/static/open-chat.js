// The open chat: which one the URL's hash names (#/chat/<id>, so a reload or a shared link opens
// it again), its conversation with the scroll following new content, its title, restart, and
// the side panels and uploads that belong to it.

import { api } from "./api.js";
import { ChatView } from "./chat.js";
import { renderChatList } from "./chat-list.js";
import { autosize, setMode, updateComposer } from "./composer.js";
import { confirmAction } from "./dialogs.js";
import { closeDrawer } from "./drawer.js";
import { fill } from "./dom.js";
import { $, chatNotice, isOpen, openChatRecord, state } from "./page.js";
import { Panels } from "./panels.js";
import { titles } from "./titles.js";
import { Uploader } from "./upload.js";

export const panels = new Panels({
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
    if (isOpen(chatId)) showTitle();
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
  notice: (view, text) => {
    if (view === state.current) chatNotice(text);
  },
};

function refreshPanels(chatId) {
  if (isOpen(chatId)) panels.refresh();
}

/** Open the chat the hash names; with none named, the newest chat, or the welcome. */
export function route() {
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
  if (isOpen(chat.chat_id)) return;
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
  const chat = openChatRecord();
  if (!chat) return;
  $("chat-title").textContent = titles.get(chat);
  $("chat-title").title = chat.chat_id;
  document.title = `${titles.get(chat)} · AI Data Scientist`;
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

export function wireOpenChat() {
  $("restart-button").addEventListener("click", restartSession);
  $("upload-button").addEventListener("click", () => uploader.pick());
  $("attach-button").addEventListener("click", () => uploader.pick());
  $("panels-button").addEventListener("click", () => $("panels").scrollIntoView({ behavior: "smooth" }));
  $("refresh-panels").addEventListener("click", () => panels.refresh());
  $("messages").addEventListener("scroll", followScroll);
  window.addEventListener("hashchange", route);
}
