// Chat titles. Chats have no title on the server yet: the first question asked in one names it,
// kept in this browser; chats named elsewhere get theirs from their history, in the background.

import { api } from "./api.js";
import { state } from "./page.js";

const TITLES_KEY = "ads.chat-titles";
const TITLE_LENGTH = 60;

export const titles = {
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
  /** Title untitled chats from their first message; `changed()` after each one learned. */
  async fill(chats, changed) {
    // One request at a time: a nicety in the background, not worth a burst at every load.
    for (const chat of chats.filter((c) => !c.title && !this.all[c.chat_id]).slice(0, 50)) {
      if (!state.user) return;
      try {
        const first = (await api.messages(chat.chat_id)).find((e) => e.query || e.code);
        if (first) this.set(chat.chat_id, first.query || first.code);
        else this.empty.add(chat.chat_id);
        changed();
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
