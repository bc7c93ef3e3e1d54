// The browser terminal: xterm.js + fit addon over a WebSocket to a TTY exec (protocol in
// src/web/pages/streams.rs). Keystrokes go out as binary frames, resizes as
// {"type":"resize","cols":…,"rows":…}; binary frames in are terminal output, text frames
// are {"type":"exit","code":…} or {"type":"error","message":…}.
"use strict";
(() => {
  // xterm.js's DOM renderer writes its theme and cell sizes into <style> elements it
  // creates; the page's CSP admits them only with this response's nonce (issue #14).
  const styleNonce = document.currentScript ? document.currentScript.nonce : "";
  if (styleNonce) {
    const create = document.createElement.bind(document);
    document.createElement = (tag, options) => {
      const el = create(tag, options);
      if (String(tag).toLowerCase() === "style") el.nonce = styleNonce;
      return el;
    };
  }
  const root = document.getElementById("terminal-card");
  if (!root || !root.dataset.ws || !window.Terminal || !window.FitAddon) return;
  const msg = root.dataset;
  const state = document.getElementById("term-state");
  const closeBtn = document.getElementById("term-close");
  const reconnectBtn = document.getElementById("term-reconnect");

  const term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontSize: 14,
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();

  const enc = new TextEncoder();
  let ws = null, ended = false;

  function setState(text, error) {
    state.textContent = text;
    state.classList.toggle("error", !!error);
  }

  function send(data) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
  }

  // Input in frames of at most 64 KiB: the server takes one frame at a time as the
  // shell reads it (a big paste waits in the browser's send buffer, nothing is lost).
  const FRAME = 64 * 1024;
  function sendInput(bytes) {
    for (let at = 0; at < bytes.length; at += FRAME) send(bytes.subarray(at, at + FRAME));
  }

  function sendSize() {
    send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  }

  function connect() {
    ended = false;
    reconnectBtn.hidden = true;
    closeBtn.hidden = false;
    setState(msg.msgConnecting);
    const q = new URLSearchParams({ cols: term.cols, rows: term.rows });
    ws = panelSocket(`${msg.ws}?${q}`, msg.csrf);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      setState(msg.msgConnected);
      sendSize();
      term.focus();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        term.write(new Uint8Array(e.data));
        return;
      }
      let m = {};
      try { m = JSON.parse(e.data); } catch (_) { return; }
      if (m.type === "exit") {
        ended = true;
        const code = m.code === null || m.code === undefined ? "?" : m.code;
        setState(`${msg.msgExited} ${code}`, m.code !== 0);
        term.write(`\r\n[${msg.msgExited} ${code}]\r\n`);
      } else if (m.type === "error") {
        ended = true;
        setState(m.message, true);
      }
    };
    ws.onclose = () => {
      if (!ended) setState(msg.msgDisconnected, true);
      closeBtn.hidden = true;
      reconnectBtn.hidden = false;
    };
  }

  term.onData((d) => sendInput(enc.encode(d)));
  term.onBinary((d) => sendInput(Uint8Array.from(d, (c) => c.charCodeAt(0) & 255)));
  term.onResize(sendSize);

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => fit.fit(), 100);
  });
  closeBtn.addEventListener("click", () => {
    if (!ws) return;
    ended = true;
    setState(msg.msgClosed);
    ws.close(1000);
  });
  reconnectBtn.addEventListener("click", () => {
    term.reset();
    connect();
  });
  window.addEventListener("beforeunload", () => ws && ws.close(1000));
  connect();
})();
