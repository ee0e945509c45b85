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

// Suggestions in the header search box: terms, aliases and tools as you type (an ARIA
// combobox). ↑/↓ move through them, Enter opens the chosen one (or searches), Escape closes.
(() => {
  const form = document.querySelector("form[data-suggestions]");
  if (!form) return;
  const box = form.querySelector("input[name=q]");
  const list = form.querySelector("[role=listbox]");
  let timer = null;
  let controller = null;
  let active = -1;

  const options = () => [...list.querySelectorAll("[role=option]")];

  function close() {
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function select(index) {
    const all = options();
    if (!all.length) return;
    active = (index + all.length) % all.length;
    all.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
    box.setAttribute("aria-activedescendant", all[active].id);
  }

  function show(suggestions) {
    list.replaceChildren(...suggestions.map((s, i) => {
      const option = document.createElement("li");
      option.id = `header-suggestion-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      const link = document.createElement("a");
      link.href = s.url;
      link.tabIndex = -1;
      link.textContent = s.title;
      if (s.matched) {
        const matched = document.createElement("span");
        matched.className = "matched";
        matched.textContent = ` (${s.matched})`;
        link.append(matched);
      }
      if (s.type === "tool") {
        const kind = document.createElement("span");
        kind.className = "kind";
        kind.textContent = " · tool";
        link.append(kind);
      }
      option.append(link);
      return option;
    }));
    active = -1;
    box.removeAttribute("aria-activedescendant");
    list.hidden = !suggestions.length;
    box.setAttribute("aria-expanded", String(Boolean(suggestions.length)));
  }

  async function fetchSuggestions() {
    const text = box.value.trim();
    if (!text) { close(); return; }
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      const url = `${form.dataset.suggestions}?${new URLSearchParams({ q: text, limit: 8 })}`;
      const response = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
      if (!response.ok) { close(); return; }
      const body = await response.json();
      if (box.value.trim() === text) show(body.suggestions);
    } catch (error) {
      if (error.name !== "AbortError") close();
    }
  }

  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 120);
  });
  box.addEventListener("keydown", (event) => {
    const open = !list.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.stopPropagation();  // the result-list navigation must not take these keys
      event.preventDefault();
      if (!open) { fetchSuggestions().then(() => select(0)); return; }
      select(active === -1 && event.key === "ArrowUp" ? -1 : active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      window.location.assign(options()[active].querySelector("a").href);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      close();
    }
  });
  box.addEventListener("blur", () => setTimeout(close, 150));
  list.addEventListener("mousedown", (event) => event.preventDefault());  // keep focus for the click
})();
