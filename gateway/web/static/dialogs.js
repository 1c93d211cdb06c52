// Modal dialogs on the native <dialog> element: confirmations and previews. Escape closes them.

import { h } from "./dom.js";

/**
 * A modal with a title, a body and buttons; resolves with the value of the button pressed
 * (null when dismissed). `actions`: [{label, value, kind}], kind "primary" or "danger".
 */
export function openDialog({ title, body, actions = [], wide = false, extra = null, onClose = null }) {
  const heading = h("h2", { class: "dialog-title" }, title);
  const close = h("button", { class: "icon-button dialog-close", type: "button", "aria-label": "Close" }, "×");
  const buttons = actions.map((action) =>
    h(
      "button",
      { class: `button ${action.kind || "ghost"}`, type: "button", dataset: { value: action.value } },
      action.label,
    ),
  );
  const dialog = h(
    "dialog",
    { class: wide ? "dialog wide" : "dialog", "aria-labelledby": "dialog-title" },
    h("header", { class: "dialog-head" }, heading, extra, close),
    h("div", { class: "dialog-body" }, body),
    buttons.length ? h("footer", { class: "dialog-actions" }, buttons) : null,
  );
  heading.id = "dialog-title";
  document.body.append(dialog);
  const result = new Promise((resolve) => {
    let value = null;
    for (const button of buttons) {
      button.addEventListener("click", () => {
        value = button.dataset.value;
        dialog.close();
      });
    }
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (e) => {
      if (e.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (onClose) onClose();
      resolve(value);
    });
  });
  dialog.showModal();
  const primary = buttons.find((b) => !b.classList.contains("danger")) || close;
  primary.focus();
  return { dialog, result };
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export async function confirmAction({ title, message, confirm, danger = true }) {
  const { result } = openDialog({
    title,
    body: h("p", {}, message),
    actions: [
      { label: "Cancel", value: "cancel", kind: "ghost" },
      { label: confirm, value: "confirm", kind: danger ? "danger" : "primary" },
    ],
  });
  return (await result) === "confirm";
}
