// The chat list in the sidebar: loading it, drawing it, starting a chat, deleting one or all.

import { api } from "./api.js";
import { confirmAction } from "./dialogs.js";
import { closeDrawer } from "./drawer.js";
import { fill, formatDate, h, icon } from "./dom.js";
import { $, chatNotice, isOpen, openChatRecord, routeAgain, sidebarError, state } from "./page.js";
import { titles } from "./titles.js";

export async function loadChats() {
  try {
    state.chats = await api.chats();
    sidebarError("");
  } catch (e) {
    sidebarError(`Chats could not be loaded: ${e.detail}`);
  }
  renderChatList();
  loadImages();
}

/** The image picker for new chats, shown only when the operator offers more than one image. */
async function loadImages() {
  let images = [];
  try {
    images = await api.images();
  } catch {
    // Without the list, new chats get the default image: nothing to choose.
  }
  fill(
    $("new-chat-image"),
    images.map((image) => h("option", { value: image.name }, image.name)),
  );
  $("new-chat-image-label").hidden = images.length < 2;
}

/** " · name" for a chat on another image than the default. */
function imageNote(chat) {
  return chat.image && chat.image !== "default" ? ` · ${chat.image}` : "";
}

export function renderChatList() {
  const list = $("chat-list");
  $("chat-list-empty").hidden = state.chats.length > 0;
  $("delete-all").hidden = state.chats.length === 0;
  fill(
    list,
    state.chats.map((chat) => {
      const view = state.views.get(chat.chat_id);
      const active = isOpen(chat.chat_id);
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
            view && view.busy
              ? h("span", { class: "dot-busy" }, "working…")
              : formatDate(chat.created_at) + imageNote(chat),
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
    const picker = $("new-chat-image");
    chat = await api.createChat($("new-chat-image-label").hidden ? null : picker.value);
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
  try {
    await api.deleteChat(chat.chat_id);
  } catch (e) {
    // A chat already gone is what was asked for.
    if (e.code !== "chat_not_found") {
      const where = isOpen(chat.chat_id) ? chatNotice : sidebarError;
      where(`The chat was not deleted: ${e.detail}`);
      return;
    }
  }
  forget([chat.chat_id]);
}

function deleteOpenChat() {
  const chat = openChatRecord();
  if (chat) deleteChat(chat);
}

async function deleteAll() {
  const count = state.chats.length;
  const ok = await confirmAction({
    title: `Delete all ${count} chat${count === 1 ? "" : "s"}?`,
    message: "Every chat, with its sandbox, variables and files, is deleted. This cannot be undone.",
    confirm: "Delete all",
  });
  if (!ok) return;
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
  for (const id of gone) {
    state.views.get(id)?.detach();
    state.views.delete(id);
  }
  titles.drop(chatIds);
  sidebarError("");
  if (state.current && gone.has(state.current.id)) {
    state.current = null;
    history.replaceState(null, "", "/");
  }
  renderChatList();
  routeAgain();
}

export function wireChatList() {
  $("new-chat").addEventListener("click", newChat);
  $("welcome-new-chat").addEventListener("click", newChat);
  $("delete-all").addEventListener("click", deleteAll);
  $("delete-chat-button").addEventListener("click", deleteOpenChat);
}
