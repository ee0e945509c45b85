// The LoRA calculator page (templates/calculators/lora.html).
//
// The server computes every number; this file only draws them. The summary partial
// carries the chart data as JSON (#lora-chart-data, from calculators/web/lora.py
// chart_series); htmx replaces it on every change and the charts are updated in place.
// Also: the "attention only / all linear" buttons and "edit this preset as JSON".
(() => {
  const GIB = 2 ** 30;
  const exact = new Intl.NumberFormat("en-US");
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const gib = (bytes) => bytes / GIB;
  const charts = {};

  function palette() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    return {
      fg: v("--fg"), muted: v("--muted"), line: v("--line"), accent: v("--accent"),
      ok: v("--ok"), warn: v("--warn"), bad: v("--bad"),
    };
  }

  function readData() {
    const el = document.getElementById("lora-chart-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch { return null; }
  }

  const adapterName = (data) => (data.method === "dora" ? "DoRA" : "LoRA");

  function baseOptions(c) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: c.fg } } },
    };
  }

  function axis(c, extra) {
    return {
      ticks: { color: c.muted }, grid: { color: c.line },
      ...extra,
      title: extra && extra.title ? { display: true, color: c.muted, text: extra.title } : undefined,
    };
  }

  function tooltipLabel(ctx) {
    const value = ctx.raw;
    if (ctx.dataset.yAxisID === "params") return `${ctx.dataset.label}: ${exact.format(value)}`;
    return `${ctx.dataset.label}: ${value.toFixed(2)} GiB`;
  }

  // A log axis gets a tick at every 1…9 × 10^n; label only 1, 2 and 5 × 10^n.
  function logTick(value) {
    const lead = Math.round(value / 10 ** Math.floor(Math.log10(value)));
    return [1, 2, 5].includes(lead) ? compact.format(value) : "";
  }

  // Trainable parameters (bars, log axis) and LoRA/QLoRA memory (lines) for each rank.
  function rankConfig(data, c) {
    const chosen = data.ranks.indexOf(data.rank);
    const barColors = data.ranks.map((_, i) => (i === chosen ? c.warn : c.accent));
    return {
      type: "bar",
      data: {
        labels: data.ranks.map(String),
        datasets: [
          { label: "Trainable parameters", data: data.trainable, yAxisID: "params",
            backgroundColor: barColors, order: 2 },
          { type: "line", label: `${adapterName(data)} memory (GiB)`, data: data.lora_bytes.map(gib),
            yAxisID: "memory", borderColor: c.ok, backgroundColor: c.ok, order: 1,
            pointRadius: data.ranks.map((_, i) => (i === chosen ? 6 : 3)) },
          { type: "line", label: `Q${adapterName(data)} memory (GiB)`, data: data.qlora_bytes.map(gib),
            yAxisID: "memory", borderColor: c.bad, backgroundColor: c.bad, order: 1,
            pointRadius: data.ranks.map((_, i) => (i === chosen ? 6 : 3)) },
        ],
      },
      options: {
        ...baseOptions(c),
        plugins: { ...baseOptions(c).plugins, tooltip: { callbacks: { label: tooltipLabel } } },
        scales: {
          x: axis(c, { title: "rank r" }),
          params: axis(c, { type: "logarithmic", position: "left", title: "trainable parameters",
            ticks: { color: c.muted, callback: logTick } }),
          memory: axis(c, { position: "right", beginAtZero: true, title: "GiB",
            grid: { drawOnChartArea: false, color: c.line } }),
        },
      },
    };
  }

  // Attention only vs all linear vs the chosen set, at the chosen rank.
  function setsConfig(data, c) {
    return {
      type: "bar",
      data: {
        labels: data.sets.map((s) => `${s.label} (${s.modules.length})`),
        datasets: [
          { label: "Trainable parameters", data: data.sets.map((s) => s.trainable),
            yAxisID: "params", backgroundColor: c.accent },
          { label: `${adapterName(data)} memory (GiB)`, data: data.sets.map((s) => gib(s.lora_bytes)),
            yAxisID: "memory", backgroundColor: c.ok },
          { label: `Q${adapterName(data)} memory (GiB)`, data: data.sets.map((s) => gib(s.qlora_bytes)),
            yAxisID: "memory", backgroundColor: c.bad },
        ],
      },
      options: {
        ...baseOptions(c),
        plugins: { ...baseOptions(c).plugins, tooltip: { callbacks: { label: tooltipLabel } } },
        scales: {
          x: axis(c),
          params: axis(c, { position: "left", beginAtZero: true, title: "trainable parameters",
            ticks: { color: c.muted, callback: (v) => compact.format(v) } }),
          memory: axis(c, { position: "right", beginAtZero: true, title: "GiB",
            grid: { drawOnChartArea: false, color: c.line } }),
        },
      },
    };
  }

  // Full fine-tuning vs the adapter on a bf16 and on an NF4 base, stacked by kind.
  function memoryConfig(data, c) {
    const modes = ["full", "lora", "qlora"];
    const kinds = [
      ["weights", "Weights", c.accent],
      ["gradients", "Gradients", c.warn],
      ["optimizer_states", "Adam states", c.bad],
      ["activations", "Activations", c.ok],
    ];
    return {
      type: "bar",
      data: {
        labels: ["Full fine-tuning", adapterName(data), `Q${adapterName(data)}`],
        datasets: kinds.map(([key, label, color]) => ({
          label, backgroundColor: color, data: modes.map((m) => gib(data.memory[m][key])),
        })),
      },
      options: {
        ...baseOptions(c),
        indexAxis: "y",
        plugins: {
          ...baseOptions(c).plugins,
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.raw.toFixed(2)} GiB` } },
        },
        scales: {
          x: axis(c, { stacked: true, beginAtZero: true, title: "GiB" }),
          y: axis(c, { stacked: true }),
        },
      },
    };
  }

  const builders = { "chart-rank": rankConfig, "chart-sets": setsConfig, "chart-memory": memoryConfig };

  function draw() {
    const data = readData();
    if (!data || !window.Chart) return;
    const c = palette();
    for (const [id, build] of Object.entries(builders)) {
      const canvas = document.getElementById(id);
      if (!canvas) continue;
      const config = build(data, c);
      const chart = charts[id] || Chart.getChart(canvas);
      if (chart) {
        chart.data = config.data;
        chart.options = config.options;
        chart.update();
      } else {
        charts[id] = new Chart(canvas, config);
      }
      // The rank the chart shows, for tests and scripts that read the page.
      canvas.dataset.rank = String(data.rank);
    }
  }

  function redrawFresh() {
    for (const id of Object.keys(charts)) { charts[id].destroy(); delete charts[id]; }
    draw();
  }

  const form = document.getElementById("lora-form");

  function changed(element) {
    element.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setUpQuickSets() {
    const box = form && form.querySelector("[data-quick-sets]");
    if (!box) return;
    box.hidden = false;
    box.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-targets]");
      if (!button) return;
      const wanted = new Set(button.dataset.targets.split(","));
      const boxes = form.querySelectorAll("input[name=target_modules]");
      boxes.forEach((input) => { input.checked = wanted.has(input.value); });
      if (boxes.length) changed(boxes[0]);
    });
  }

  function setUpEditPreset() {
    const button = form && form.querySelector("[data-edit-preset]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const slug = form.querySelector("#id_model").value;
      const response = await fetch(`/api/v1/calculators/models/${encodeURIComponent(slug)}/`,
        { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const preset = await response.json();
      const area = form.querySelector("#id_architecture");
      area.value = JSON.stringify(preset.architecture, null, 2);
      form.querySelector("#source-paste").checked = true;
      changed(area);
      area.focus();
    });
  }

  setUpQuickSets();
  setUpEditPreset();
  draw();
  document.body.addEventListener("htmx:afterSettle", draw);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawFresh);
})();
