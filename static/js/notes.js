// Notes: a character counter under the note text (the limit is checked on the server too,
// with a message that says by how much), and invite links that select themselves on focus.
// Served as a file: the Content-Security-Policy forbids inline script.

(() => {
  function updateCount(box) {
    const counter = document.getElementById("body-count");
    if (!counter) return;
    const limit = Number(box.dataset.maxLength);
    // Count as the server does: a line break is one character, whatever the browser sends.
    const length = [...box.value.replace(/\r\n/g, "\n")].length;
    counter.textContent = `${length.toLocaleString()} / ${limit.toLocaleString()} characters`;
    counter.classList.toggle("error", length > limit);
  }

  document.addEventListener("input", (event) => {
    if (event.target.matches("textarea[data-max-length]")) updateCount(event.target);
  });

  document.addEventListener("focusin", (event) => {
    if (event.target.matches("input[data-select-on-focus]")) event.target.select();
  });

  function init() {
    document.querySelectorAll("textarea[data-max-length]").forEach(updateCount);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
