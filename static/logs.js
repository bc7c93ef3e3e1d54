// The logs page: follows the container log over a WebSocket (protocol in
// src/web/pages/streams.rs). Binary frames are log bytes; text frames are JSON
// ({"type":"end"} or {"type":"error","message":…}). Pause holds new output in memory
// and shows it on resume. The page keeps the last MAX_CHARS characters.
"use strict";
(() => {
  const root = document.getElementById("logs");
  if (!root || !root.dataset.ws) return;
  const $ = (id) => document.getElementById(id);
  const out = $("log-output"), state = $("log-state"), pauseBtn = $("log-pause");
  const tailIn = $("log-tail"), tsIn = $("log-timestamps"), download = $("log-download");
  const msg = root.dataset;
  const MAX_CHARS = 2000000;

  let ws = null, decoder = null, paused = false, held = [], shown = 0, finished = false;

  function setState(text, error) {
    state.textContent = text;
    state.classList.toggle("error", !!error);
  }

  function path() {
    const q = new URLSearchParams({
      tail: tailIn.value === "" ? "200" : tailIn.value,
      timestamps: tsIn.checked ? "1" : "0",
    });
    return `${msg.ws}?${q}`;
  }

  function append(text) {
    if (!text) return;
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 8;
    out.appendChild(document.createTextNode(text));
    shown += text.length;
    while (shown > MAX_CHARS && out.firstChild) {
      shown -= out.firstChild.textContent.length;
      out.removeChild(out.firstChild);
    }
    if (atBottom) out.scrollTop = out.scrollHeight;
  }

  function receive(text) {
    if (paused) {
      held.push(text);
      if (held.length > 20000) held.splice(0, held.length - 20000);
    } else {
      append(text);
    }
  }

  function connect() {
    if (ws) {
      ws.onclose = null;
      ws.close(1000);
    }
    out.textContent = "";
    shown = 0;
    held = [];
    finished = false;
    decoder = new TextDecoder();
    setState(msg.msgConnecting);
    ws = panelSocket(path(), msg.csrf);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => setState(paused ? msg.msgPaused : msg.msgFollowing);
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        receive(decoder.decode(new Uint8Array(e.data), { stream: true }));
        return;
      }
      let m = {};
      try { m = JSON.parse(e.data); } catch (_) { return; }
      if (m.type === "end") {
        receive(decoder.decode());
        finished = true;
        setState(msg.msgEnded);
      } else if (m.type === "error") {
        finished = true;
        setState(m.message, true);
      }
    };
    ws.onclose = () => {
      if (!finished) setState(msg.msgDisconnected, true);
    };
  }

  function updateDownload() {
    download.href = `${msg.download}?timestamps=${tsIn.checked ? "1" : "0"}`;
  }

  $("log-controls").addEventListener("submit", (e) => {
    e.preventDefault();
    connect();
  });
  tsIn.addEventListener("change", () => {
    updateDownload();
    connect();
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? msg.labelResume : msg.labelPause;
    if (!paused) {
      append(held.join(""));
      held = [];
    }
    if (!finished) setState(paused ? msg.msgPaused : msg.msgFollowing);
  });
  $("log-clear").addEventListener("click", () => {
    out.textContent = "";
    shown = 0;
    held = [];
  });
  window.addEventListener("beforeunload", () => ws && ws.close(1000));
  updateDownload();
  connect();
})();
