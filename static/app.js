// Suanli: the little glue the HTMX pages need (dialog open/close).
"use strict";
function closeDialog() {
  const d = document.getElementById("dialog");
  if (d && d.open) d.close();
}
document.addEventListener("htmx:afterSwap", (e) => {
  const d = document.getElementById("dialog");
  if (d && d.contains(e.detail.target) && !d.open) d.showModal();
});
document.addEventListener("close-dialog", closeDialog);
// buttons marked data-close-dialog close it (no inline handlers: the CSP forbids them)
document.addEventListener("click", (e) => {
  if (e.target instanceof Element && e.target.closest("[data-close-dialog]")) closeDialog();
});
document.addEventListener("list-changed", () => {
  const f = document.getElementById("flash");
  if (f) f.innerHTML = "";
});

// A WebSocket to one of the panel's stream endpoints (path + query) on this origin. The
// CSRF token travels as a subprotocol, not in the URL (URLs end up in proxy logs).
function panelSocket(pathAndQuery, csrf) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(`${proto}//${location.host}${pathAndQuery}`, ["suanli", "suanli-csrf." + csrf]);
}
