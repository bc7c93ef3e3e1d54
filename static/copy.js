// Copy buttons: <button data-copy="text">. Falls back to selecting a temporary field
// where the Clipboard API is unavailable (plain HTTP) or refused (no permission).
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-copy]");
  if (!b) return;
  const text = b.getAttribute("data-copy");
  const done = () => { b.dataset.copied = "1"; setTimeout(() => delete b.dataset.copied, 1500); };
  const byField = () => {
    const t = document.createElement("textarea");
    t.value = text;
    b.after(t); // inside an open <dialog>: outside it the field could not be selected
    t.select();
    document.execCommand("copy");
    t.remove();
    done();
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, byField);
    return;
  }
  byField();
});
