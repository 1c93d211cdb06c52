// The page's entry: it wires each part (sign-in, the chat list, the open chat, the composer, the
// drawer) to its elements and boots: how to sign in here, then the app or the sign-in screen.

import { api, setUnauthorizedHandler } from "./api.js";
import { wireChatList } from "./chat-list.js";
import { wireComposer } from "./composer.js";
import { wireDrawer } from "./drawer.js";
import { fill, h, icon } from "./dom.js";
import { route, wireOpenChat } from "./open-chat.js";
import { $, setRouter, state } from "./page.js";
import { showSignIn, start, wireSignIn } from "./sign-in.js";

const ICONS = {
  "menu-button": "menu",
  "attach-button": "upload",
  "refresh-panels": "refresh",
};
const LEADING_ICONS = {
  "new-chat": "plus",
  "stop-button": "stop",
  signout: "signout",
  "admin-link": "shield",
  "github-link": "github",
  "upload-button": "upload",
  "restart-button": "restart",
  "delete-chat-button": "trash",
  "panels-button": "data",
};

function wire() {
  for (const [id, name] of Object.entries(ICONS)) $(id).append(icon(name));
  for (const [id, name] of Object.entries(LEADING_ICONS)) $(id).prepend(icon(name));
  wireSignIn();
  wireChatList();
  wireOpenChat();
  wireComposer();
  wireDrawer();
  setRouter(route);
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
