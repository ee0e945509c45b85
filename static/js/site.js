// Site-wide behaviour: the "/" shortcut, keyboard navigation of result lists, and hover
// previews of glossary links. Served as a file: the Content-Security-Policy forbids inline script.

document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target.matches("input, textarea, select, [contenteditable]");
  if (event.key === "/" && !typing) {
    const box = document.querySelector("[data-hotkey='/']");
    if (box) { event.preventDefault(); box.focus(); box.select(); }
    return;
  }
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const list = document.querySelector("[data-keyboard-list]");
  if (!list) return;
  const links = [...list.querySelectorAll("a.result-link")];
  if (!links.length) return;
  const current = links.indexOf(document.activeElement);
  let next = event.key === "ArrowDown" ? current + 1 : current - 1;
  if (current === -1) next = event.key === "ArrowDown" ? 0 : links.length - 1;
  if (next < 0 || next >= links.length) return;
  event.preventDefault();
  links[next].focus();
});

// Hover and focus previews for links to other entries.
(() => {
  let timer = null;
  let shownFor = null;
  const card = () => document.getElementById("preview-card");

  function hide() {
    clearTimeout(timer);
    shownFor = null;
    const el = card();
    if (el) { el.hidden = true; el.innerHTML = ""; }
  }

  function show(link) {
    const el = card();
    if (!el || !window.htmx) return;
    shownFor = link;
    htmx.ajax("GET", `/glossary/${link.dataset.slug}/preview/`, { target: el, swap: "innerHTML" }).then(() => {
      if (shownFor !== link) return;
      const box = link.getBoundingClientRect();
      el.style.left = `${Math.max(8, Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - 360))}px`;
      el.style.top = `${window.scrollY + box.bottom + 6}px`;
      el.hidden = false;
      link.setAttribute("aria-describedby", "preview-card");
    });
  }

  function schedule(event) {
    const link = event.target.closest && event.target.closest("a.wikilink[data-slug]");
    if (!link || link === shownFor) return;
    clearTimeout(timer);
    timer = setTimeout(() => show(link), event.type === "focusin" ? 0 : 300);
  }

  function leave(event) {
    const link = event.target.closest && event.target.closest("a.wikilink[data-slug]");
    if (link) { link.removeAttribute("aria-describedby"); hide(); }
  }

  document.addEventListener("mouseover", schedule);
  document.addEventListener("focusin", schedule);
  document.addEventListener("mouseout", leave);
  document.addEventListener("focusout", leave);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });
})();
