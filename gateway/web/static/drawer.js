// The chat list as a drawer on narrow screens.

import { $ } from "./page.js";

function openDrawer() {
  document.body.classList.add("drawer-open");
  $("scrim").hidden = false;
  $("menu-button").setAttribute("aria-expanded", "true");
}

export function closeDrawer() {
  document.body.classList.remove("drawer-open");
  $("scrim").hidden = true;
  $("menu-button").setAttribute("aria-expanded", "false");
}

export function wireDrawer() {
  $("menu-button").addEventListener("click", openDrawer);
  $("scrim").addEventListener("click", closeDrawer);
  // Picking a chat closes the drawer, also when it is the one already open.
  $("chat-list").addEventListener("click", (e) => {
    if (e.target.closest(".chat-link")) closeDrawer();
  });
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDrawer();
  });
}
