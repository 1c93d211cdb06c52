// What the page's modules share: its elements by id, the signed-in state, where notices show,
// and a way for a module below app.js to have the URL routed again.

export const $ = (id) => document.getElementById(id);

export const state = {
  config: null,
  user: null,
  chats: [],
  views: new Map(), // chat id -> ChatView, kept while the page lives
  current: null, // the open ChatView
  autoScroll: true, // the conversation follows new content to the bottom
  pinnedTop: 0, // where following last put the scroll
};

export function isOpen(chatId) {
  return Boolean(state.current && state.current.id === chatId);
}

/** The open chat's record in the chat list, if a chat is open. */
export function openChatRecord() {
  return state.current && state.chats.find((c) => c.chat_id === state.current.id);
}

export function chatNotice(message) {
  $("chat-notice").textContent = message;
  $("chat-notice").hidden = !message;
}

export function sidebarError(message) {
  $("sidebar-error").textContent = message;
  $("sidebar-error").hidden = !message;
}

// The router lives in open-chat.js, which builds on the modules that need it (the chat list
// routes again after deleting chats); app.js connects the two at boot.
let router = () => {};

export function setRouter(route) {
  router = route;
}

export function routeAgain() {
  router();
}
