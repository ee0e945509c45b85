// Glossary pages: the A–Z filter box, and the backlink list folded away on narrow screens.
// The filter compares names the way the server's ?q= does (glossary.models.named_like):
// case, accents and the difference between spaces, hyphens and underscores ignored.

const loose = (text) => text.normalize("NFD").replace(/\p{Diacritic}/gu, "")
  .toLowerCase().replace(/[\s_-]+/g, " ").trim();

(() => {
  const box = document.querySelector("[data-az-filter]");
  if (!box) return;
  const entries = [...document.querySelectorAll(".az-entry")].map((el) => ({ el, names: loose(el.dataset.names) }));
  const groups = [...document.querySelectorAll("[data-az-group]")];
  const count = document.querySelector("[data-az-count]");
  const none = document.querySelector("[data-az-none]");

  function apply() {
    const query = loose(box.value);
    let shown = 0;
    for (const { el, names } of entries) {
      const hit = !query || names.includes(query);
      el.hidden = !hit;
      shown += hit;
    }
    for (const group of groups) {
      const empty = !group.querySelector(".az-entry:not([hidden])");
      group.hidden = empty;
      const letter = document.querySelector(`[data-az-letter="${CSS.escape(group.dataset.azGroup)}"]`);
      if (letter) letter.hidden = empty;
    }
    count.textContent = query ? `${shown} of ${count.dataset.total} entries` : "";
    none.hidden = !query || shown > 0;
    none.querySelector("[data-az-query]").textContent = box.value.trim();
    none.querySelector("[data-az-search]").href = `/search/?q=${encodeURIComponent(box.value.trim())}`;
    const url = new URL(location.href);
    if (query) url.searchParams.set("q", box.value.trim()); else url.searchParams.delete("q");
    history.replaceState(null, "", url);
  }

  box.addEventListener("input", apply);
  box.form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
})();

// On a phone the list of entries that link here would end every page with a hundred lines:
// it starts folded there (it is open in the page as served, so nothing is hidden without script).
(() => {
  const narrow = window.matchMedia("(max-width: 820px)");
  for (const details of document.querySelectorAll("details[data-fold-on-phone]")) {
    if (narrow.matches) details.open = false;
  }
})();
