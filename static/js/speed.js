// The memory page's speed section (templates/calculators/_speed.html).
//
// The server computes every number (calculators/web/speed.py); this file sends the memory
// form (the speed controls belong to it) to the section's URL whenever something changes,
// swaps in the results it gets back, and draws two charts: tokens/s against the tokens
// already in the context, and the generation speed of each quant mix.
(() => {
  const section = document.getElementById("speed-section");
  const form = document.getElementById("memory-form");
  const results = document.getElementById("speed-results");
  if (!section || !form || !results) return;

  const memoryResults = document.getElementById("memory-results");
  const keyInput = document.getElementById("id_gguf_key");
  const charts = {};
  const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  let timer = null;
  let inFlight = null;
  let generation = 0;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch { return ""; }
  }

  function source() {
    const checked = form.querySelector("input[name=source]:checked");
    return checked ? checked.value : "preset";
  }

  async function send() {
    // A local file's header reaches the server through the memory form's own request first.
    if (source() === "gguf" && !keyInput.value) return;
    const mine = ++generation;
    section.querySelectorAll(".speed-controls .field-error").forEach((el) => { el.textContent = ""; });
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const body = new FormData(form);
    body.delete("gguf");
    results.setAttribute("aria-busy", "true");
    let response;
    try {
      response = await fetch(section.dataset.url, {
        method: "POST", body, signal: inFlight.signal,
        headers: { "X-CSRFToken": csrfToken(), Accept: "text/html" },
      });
    } catch (error) {
      if (error.name !== "AbortError") results.setAttribute("aria-busy", "false");
      return;
    }
    if (mine !== generation) return;
    results.setAttribute("aria-busy", "false");
    // a 400 answer is the section with its error message; the last chart goes with it
    results.innerHTML = await response.text();
    if (response.ok) draw();
  }

  function schedule(delay = 350) {
    clearTimeout(timer);
    timer = setTimeout(send, delay);
  }

  // Speed controls live outside the form element (form="memory-form"): listen to both.
  section.addEventListener("input", () => schedule());
  section.addEventListener("change", () => schedule(0));
  form.addEventListener("input", () => schedule(600));
  form.addEventListener("change", () => schedule(400));
  if (memoryResults) {
    // after the memory results arrive (a GGUF header is parsed, the key is set), refresh
    new MutationObserver(() => { if (memoryResults.getAttribute("aria-busy") === "false") schedule(0); })
      .observe(memoryResults, { attributes: true, attributeFilter: ["aria-busy"] });
  }

  // --- drawing -------------------------------------------------------------------------

  function palette() {
    const style = getComputedStyle(document.documentElement);
    const v = (name) => style.getPropertyValue(name).trim();
    return { fg: v("--fg"), muted: v("--muted"), line: v("--line"), accent: v("--accent"),
             gen: v("--mem-weights") || v("--accent"), pp: v("--mem-kv_cache") || v("--muted") };
  }

  function readData() {
    const el = document.getElementById("speed-chart-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch { return null; }
  }

  const tokens = (n) => (n >= 2 ** 20 ? `${n / 2 ** 20}M` : n >= 1024 ? `${n / 1024}k` : `${n}`);

  function depthConfig(data, c) {
    // x is log2(1 + depth): an empty context sits at 0, powers of two fall on even ticks
    const at = (p, key) => ({ x: Math.log2(1 + p.depth), y: p[key], depth: p.depth });
    const chosen = data.series.filter((p) => p.depth === data.depth);
    return {
      type: "line",
      data: {
        datasets: [
          { label: "Generation", data: data.series.map((p) => at(p, "generation_tokens_per_second")),
            borderColor: c.gen, backgroundColor: c.gen, pointRadius: 2 },
          { label: "Prompt processing", data: data.series.map((p) => at(p, "prompt_tokens_per_second")),
            borderColor: c.pp, backgroundColor: c.pp, pointRadius: 2 },
          { label: "Your depth", type: "scatter", pointRadius: 6, pointStyle: "rectRot",
            data: chosen.map((p) => at(p, "generation_tokens_per_second")), backgroundColor: c.fg, borderColor: c.fg },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: { duration: 200 }, parsing: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { labels: { color: c.fg, boxWidth: 12 } },
          tooltip: { callbacks: {
            title: (items) => `${number.format(items[0].raw.depth)} tokens in the context`,
            label: (ctx) => `${ctx.dataset.label}: ${number.format(ctx.parsed.y)} tokens/s`,
          } },
        },
        scales: {
          x: { type: "linear", ticks: { color: c.muted, stepSize: 1, callback: (v) => (Number.isInteger(v) && v > 0 ? tokens(2 ** v) : v === 0 ? "0" : "") },
               grid: { color: c.line }, title: { display: true, color: c.muted, text: "tokens already in the context (log scale)" } },
          y: { type: "logarithmic", ticks: { color: c.muted }, grid: { color: c.line },
               title: { display: true, color: c.muted, text: "tokens/s (log scale)" } },
        },
      },
    };
  }

  function quantsConfig(data, c) {
    const rows = data.quants;
    return {
      type: "bar",
      data: {
        labels: rows.map((r) => r.quant),
        datasets: [{
          label: "Generation (tokens/s)", data: rows.map((r) => r.generation_tokens_per_second),
          backgroundColor: rows.map((r) => (r.chosen ? c.accent : c.gen)),
          borderColor: rows.map((r) => (r.chosen ? c.fg : c.gen)), borderWidth: rows.map((r) => (r.chosen ? 2 : 0)),
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: { duration: 200 },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => {
            const row = rows[ctx.dataIndex];
            return `${number.format(row.generation_tokens_per_second)} tokens/s, ${row.generation_speedup.toFixed(2)}× ${data.quant || "the file"}`;
          } } },
        },
        scales: {
          x: { ticks: { color: c.muted }, grid: { color: c.line } },
          y: { beginAtZero: true, ticks: { color: c.muted }, grid: { color: c.line },
               title: { display: true, color: c.muted, text: "tokens/s" } },
        },
      },
    };
  }

  function render(id, config) {
    const canvas = document.getElementById(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    if (!canvas || !window.Chart) return;
    charts[id] = new window.Chart(canvas, config);
  }

  function draw() {
    const data = readData();
    if (!data || !window.Chart) return;
    const c = palette();
    render("chart-speed-depth", depthConfig(data, c));
    if (data.quants) render("chart-speed-quants", quantsConfig(data, c));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
})();
