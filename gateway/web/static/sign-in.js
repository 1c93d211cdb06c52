// Signing in and out: the sign-in screen (GitHub's button or local mode's token), and starting
// the app for the signed-in user.

import { api } from "./api.js";
import { loadChats, renderChatList } from "./chat-list.js";
import { fill, h } from "./dom.js";
import { isSignedOut } from "./errors.js";
import { panels, route } from "./open-chat.js";
import { $, state } from "./page.js";
import { titles } from "./titles.js";

function showOnly(id) {
  for (const screen of ["boot", "signin", "app"]) $(screen).hidden = screen !== id;
}

export function showSignIn(message = "") {
  // Runs go on without this page; signed in again, it follows them again.
  for (const view of state.views.values()) view.detach();
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
      e.code === "invalid_login_link"
        ? "That token is not valid. Use the link or token printed when the gateway started."
        : e.detail;
    error.hidden = false;
    input.select();
    return;
  }
  input.value = "";
  await start();
}

/** Show the app to the signed-in user, or the sign-in screen when nobody is. */
export async function start() {
  try {
    state.user = await api.me();
  } catch (e) {
    showSignIn(isSignedOut(e.code) ? "" : e.detail);
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
  $("admin-link").hidden = !state.user.admin;
  await loadChats();
  route();
  titles.fill(state.chats, renderChatList);
}

async function signOut() {
  try {
    await api.logout();
  } catch {
    // Signed out on the server or not, this page forgets the session.
  }
  history.replaceState(null, "", "/");
  showSignIn("You are signed out.");
}

export function wireSignIn() {
  $("signin-local").addEventListener("submit", signInLocal);
  $("signout").addEventListener("click", signOut);
}
