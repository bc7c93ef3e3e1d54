// Copy buttons: <button data-copy="text">. Falls back to selecting a temporary field
// where the Clipboard API is unavailable (plain HTTP).
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-copy]");
  if (!b) return;
  const text = b.getAttribute("data-copy");
  const done = () => { b.dataset.copied = "1"; setTimeout(() => delete b.dataset.copied, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
    return;
  }
  const t = document.createElement("textarea");
  t.value = text;
  document.body.appendChild(t);
  t.select();
  document.execCommand("copy");
  t.remove();
  done();
});
