// Suanli: the little glue the HTMX pages need (the dialog, the messages, form toggles).
// No inline handlers anywhere: the CSP forbids them, so everything is delegated here.
"use strict";

// --- the <dialog>: whatever is swapped into #dialog-body opens it; closing empties it
// (a shown password or a half-filled form does not linger in the page).
function closeDialog() {
  const d = document.getElementById("dialog");
  if (d && d.open) d.close();
}
document.addEventListener("htmx:afterSwap", (e) => {
  const d = document.getElementById("dialog");
  if (d && d.contains(e.detail.target) && !d.open) d.showModal();
});
document.addEventListener("close", (e) => {
  if (e.target.id !== "dialog") return;
  const body = document.getElementById("dialog-body");
  if (body) body.replaceChildren();
}, true);
document.addEventListener("close-dialog", closeDialog);
document.addEventListener("click", (e) => {
  if (!(e.target instanceof Element)) return;
  if (e.target.closest("[data-close-dialog]")) closeDialog();
  const x = e.target.closest("[data-dismiss]");
  if (x) x.closest(".flash")?.remove();
});

// A WebSocket to one of the panel's stream endpoints (path + query) on this origin. The
// CSRF token travels as a subprotocol, not in the URL (URLs end up in proxy logs).
function panelSocket(pathAndQuery, csrf) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(`${proto}//${location.host}${pathAndQuery}`, ["suanli", "suanli-csrf." + csrf]);
}

// --- messages in #flash: errors stack (newest last, at most 5) until closed or until
// an action succeeds; notices (e.g. 密码已修改) go by themselves after 10 s.
const FLASH_MAX = 5;
function flash(text, isError) {
  const page = document.getElementById("flash");
  if (!page || !text) return;
  // an open modal dialog hides the page behind it: the message goes on top of the dialog
  const d = document.getElementById("dialog");
  const box = d && d.open ? document.getElementById("dialog-body") : page;
  const m = document.createElement("div");
  m.className = isError ? "flash error" : "flash";
  m.setAttribute("role", isError ? "alert" : "status");
  const t = document.createElement("span");
  t.textContent = text;
  const x = document.createElement("button");
  x.type = "button";
  x.className = "flash-close";
  x.dataset.dismiss = "";
  x.setAttribute("aria-label", page.dataset.close || "×");
  x.textContent = "×";
  m.append(t, x);
  if (box === page) {
    box.append(m);
    while (box.children.length > FLASH_MAX) box.firstElementChild.remove();
  } else {
    box.prepend(m);
  }
  if (!isError) expire(m);
}
function expire(m) {
  setTimeout(() => m.remove(), 10000);
}
function clearErrors() {
  document.querySelectorAll("#flash > .flash.error, #dialog-body > .flash.error").forEach((m) => m.remove());
}
// An error page's message (#error-message) in the page's language: its parts marked
// with another `lang` are left out.
function errorText(html, fallback) {
  const doc = new DOMParser().parseFromString(html || "", "text/html");
  const box = doc.getElementById("error-message");
  if (!box) return fallback;
  const lang = (document.documentElement.lang || "").split("-")[0];
  const langOf = (el) => ((el.closest("[lang]") || {}).lang || "").split("-")[0];
  const parts = [...box.querySelectorAll("p")];
  const mine = parts.filter((p) => langOf(p) === lang);
  const shown = mine.length ? mine : parts.length ? parts : [box];
  return shown.map((p) => p.textContent.trim()).filter(Boolean).join(" ");
}
// base.html's responseHandling sends 4xx/5xx answers to #flash: each becomes a message
// of its own instead of replacing the last one.
document.addEventListener("htmx:beforeSwap", (e) => {
  if (!e.detail.isError || !e.detail.target || e.detail.target.id !== "flash") return;
  e.detail.shouldSwap = false;
  flash(errorText(e.detail.serverResponse, `${e.detail.xhr.status} ${e.detail.xhr.statusText}`), true);
});
document.addEventListener("htmx:sendError", () => {
  const box = document.getElementById("flash");
  if (box) flash(box.dataset.offline, true);
});
document.addEventListener("htmx:afterRequest", (e) => {
  const verb = (e.detail.requestConfig && e.detail.requestConfig.verb) || "get";
  const s = e.detail.xhr ? e.detail.xhr.status : 0;
  if (verb !== "get" && s >= 200 && s < 300) clearErrors();
});
document.addEventListener("list-changed", clearErrors);
document.querySelectorAll("#flash .flash:not(.error)").forEach(expire);

// --- <… data-shown-by="use_tls">: shown only while its form's checkbox of that name is
// ticked (the node form's TLS fields).
function syncShown(root) {
  root.querySelectorAll("[data-shown-by]").forEach((el) => {
    const form = el.closest("form");
    const box = form && form.elements.namedItem(el.dataset.shownBy);
    el.hidden = !(box && box.checked);
  });
}
document.addEventListener("change", (e) => {
  const f = e.target instanceof Element && e.target.closest("form");
  if (f && e.target.type === "checkbox") syncShown(f);
});
document.addEventListener("htmx:load", (e) => syncShown(e.target));
syncShown(document);

// --- the phone menu: the button in the header shows and hides the navigation.
document.addEventListener("click", (e) => {
  const b = e.target instanceof Element && e.target.closest("[data-menu-toggle]");
  if (!b) return;
  const open = b.closest("header").classList.toggle("open");
  b.setAttribute("aria-expanded", String(open));
});

// --- the account dropdown closes on a click elsewhere or on Escape.
function closeAccount(except) {
  document.querySelectorAll("details[data-account][open]").forEach((d) => {
    if (d !== except) d.open = false;
  });
}
document.addEventListener("click", (e) => {
  closeAccount(e.target instanceof Element ? e.target.closest("details[data-account]") : null);
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeAccount(null);
});

// --- <time datetime="…">: shown in the viewer's time zone, to the second (the server
// writes UTC; the zone's name is the tooltip).
const pad2 = (n) => String(n).padStart(2, "0");
function localTimes(root) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  root.querySelectorAll("time[datetime]").forEach((el) => {
    const d = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(d.getTime())) return;
    el.textContent = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    el.title = zone;
  });
}
document.addEventListener("htmx:load", (e) => localTimes(e.target));
localTimes(document);

// --- pending: the button that sent a request (or a form's submit buttons, for a form
// that posts) is disabled and shows a spinner until the answer comes, so an action
// cannot be sent twice and the user sees it is under way.
function pendingButtons(e) {
  const elt = e.detail.elt;
  if (!(elt instanceof Element)) return [];
  if (elt.matches("button, input[type=submit]")) return [elt];
  const verb = (e.detail.requestConfig && e.detail.requestConfig.verb) || "get";
  if (elt.tagName === "FORM" && verb !== "get") {
    return [...elt.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")];
  }
  return [];
}
document.addEventListener("htmx:beforeRequest", (e) => {
  pendingButtons(e).forEach((b) => {
    b.disabled = true;
    b.classList.add("pending");
    b.setAttribute("aria-busy", "true");
  });
});
document.addEventListener("htmx:afterRequest", (e) => {
  pendingButtons(e).forEach((b) => {
    b.disabled = false;
    b.classList.remove("pending");
    b.removeAttribute("aria-busy");
  });
});

// --- "fill these values": a button with data-fill='{"field": "value", …}' sets the fields
// of its form (the node form's 测试连接 offers the engine's CPUs and memory).
document.addEventListener("click", (e) => {
  const b = e.target instanceof Element && e.target.closest("[data-fill]");
  if (!b) return;
  const form = b.closest("form");
  let values = {};
  try { values = JSON.parse(b.getAttribute("data-fill")); } catch { return; }
  for (const [name, value] of Object.entries(values)) {
    const input = form && form.elements.namedItem(name);
    if (input && "value" in input) {
      input.value = value;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }
});
