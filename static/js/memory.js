// The memory calculator page (templates/calculators/memory.html).
//
// The server computes every number (calculators/web/memory.py); this file sends the form
// and draws. On every change (debounced) it POSTs the form to the page URL and swaps in
// the results partial it gets back; a 400 answer carries the error messages, shown next
// to their fields while the last good numbers stay on screen. A local GGUF file is never
// uploaded whole: only its first MiB (File.slice) go, once; the server keeps the parsed
// header and answers with a key that later requests send instead.
(() => {
  const form = document.getElementById("memory-form");
  const results = document.getElementById("memory-results");
  if (!form || !results) return;

  const MIB = 2 ** 20;
  const GIB = 2 ** 30;
  const status = document.getElementById("memory-status");
  const fileInput = document.getElementById("gguf-file");
  const fileStatus = document.getElementById("gguf-status");
  const keyInput = document.getElementById("id_gguf_key");
  const contextInput = document.getElementById("id_context_length");
  const slider = document.getElementById("context-slider");
  const steps = slider ? slider.dataset.steps.split(",").map(Number) : [];
  const maxUpload = Number(form.dataset.maxUpload) * MIB;
  let sliceBytes = Number(form.dataset.sliceBytes) * MIB;
  let timer = null;
  let inFlight = null;
  let generation = 0;
  const charts = {};
  const exact = new Intl.NumberFormat("en-US");

  // --- sending -----------------------------------------------------------------------

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch { return ""; }
  }

  function source() {
    const checked = form.querySelector("input[name=source]:checked");
    return checked ? checked.value : "preset";
  }

  function chosenFile() {
    return fileInput && fileInput.files && fileInput.files[0];
  }

  function showErrors(errors) {
    form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
    let unplaced = "";
    for (const [field, message] of Object.entries(errors || {})) {
      const slot = document.getElementById(`error-${field}`);
      if (slot) slot.textContent = message; else unplaced += ` ${field}: ${message}`;
    }
    if (unplaced) document.getElementById("error-form").textContent = unplaced.trim();
    const count = Object.keys(errors || {}).length;
    status.hidden = count === 0;
    status.textContent = count ? `Showing the last valid result: fix the highlighted field${count > 1 ? "s" : ""}.` : "";
  }

  function shareableUrl() {
    // Everything but the file: a preset or a pasted config can be shared as a link.
    if (source() === "gguf") return null;
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (name === "gguf_key" || value === "" || typeof value !== "string") continue;
      params.append(name, value);
    }
    const url = `${form.action}?${params}`;
    return url.length < 8000 ? url : null;
  }

  async function send({ withFile = false } = {}) {
    if (source() === "gguf" && !chosenFile() && !keyInput.value) {
      fileStatus.textContent = "Choose a .gguf file: only its first MiB are read and sent.";
      return;
    }
    const mine = ++generation;
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const body = new FormData(form);
    const file = chosenFile();
    if (source() === "gguf" && file && (withFile || !keyInput.value)) {
      body.set("gguf_key", "");
      body.set("gguf", file.slice(0, Math.min(sliceBytes, file.size)), file.name);
      fileStatus.textContent = `Sending the first ${(Math.min(sliceBytes, file.size) / MIB).toFixed(1)} MiB of ${file.name} (${(file.size / GIB).toFixed(2)} GiB)…`;
    }
    results.setAttribute("aria-busy", "true");
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST", body, signal: inFlight.signal,
        headers: { "X-CSRFToken": csrfToken(), Accept: "text/html" },
      });
    } catch (error) {
      if (error.name !== "AbortError") showErrors({ form: "The server could not be reached." });
      return;
    } finally {
      if (mine === generation) results.setAttribute("aria-busy", "false");
    }
    if (mine !== generation) return; // a newer request is on its way
    if (response.ok) {
      results.innerHTML = await response.text();
      const box = results.querySelector(".mem-results");
      if (box && box.dataset.ggufKey) {
        keyInput.value = box.dataset.ggufKey;
        if (file) fileStatus.textContent = `Read the header of ${file.name}; the rest of the file stayed on this computer.`;
      }
      showErrors({});
      const url = shareableUrl();
      if (url) history.replaceState(null, "", url);
      draw();
      return;
    }
    let data = {};
    try { data = await response.json(); } catch { data = { errors: { form: `The server answered ${response.status}.` } }; }
    const errors = data.errors || {};
    if (source() === "gguf" && file) {
      if (data.need_more_bytes && sliceBytes < Math.min(file.size, maxUpload)) {
        // A header larger than the slice (a huge vocabulary): try again with more of it.
        sliceBytes = Math.min(sliceBytes * 4, maxUpload);
        send({ withFile: true });
        return;
      }
      if (errors.gguf && !withFile && keyInput.value) {
        keyInput.value = ""; // the server forgot the header: send the slice again
        send({ withFile: true });
        return;
      }
    }
    showErrors(errors);
  }

  function schedule(delay = 300) {
    clearTimeout(timer);
    timer = setTimeout(() => send(), delay);
  }

  form.addEventListener("input", (event) => {
    if (event.target === fileInput) return;
    if (event.target === slider) {
      contextInput.value = steps[Number(slider.value)];
    } else if (event.target === contextInput) {
      syncSlider();
    }
    schedule(event.target.type === "range" ? 150 : 300);
  });
  form.addEventListener("change", (event) => {
    if (event.target.matches("select, input[type=radio], input[type=checkbox]")) schedule(0);
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); schedule(0); });

  if (fileInput) {
    fileInput.addEventListener("change", () => {
      const file = chosenFile();
      if (!file) return;
      keyInput.value = "";
      sliceBytes = Number(form.dataset.sliceBytes) * MIB;
      form.querySelector("#source-gguf").checked = true;
      const quant = form.querySelector("#id_quant");
      if (quant) quant.value = "file"; // start from the file's own types
      send({ withFile: true });
    });
  }

  // "Use these settings": the answer's -ngl, --n-cpu-moe and -ts into the form.
  results.addEventListener("click", (event) => {
    if (event.target.id !== "fit-apply") return;
    const answer = document.getElementById("fit-answer");
    const set = (name, value) => { const el = form.elements[name]; if (el) el.value = value; };
    set("gpu_layers", answer.dataset.gpuLayers);
    set("n_cpu_moe", answer.dataset.nCpuMoe === "0" ? "" : answer.dataset.nCpuMoe);
    set("tensor_split", answer.dataset.tensorSplit);
    if (form.elements.cpu_moe) form.elements.cpu_moe.checked = false;
    schedule(0);
  });

  // "The file's own types" only means something for a GGUF file.
  function syncQuantChoices() {
    const quant = form.querySelector("#id_quant");
    const own = quant && quant.querySelector("option[value=file]");
    if (!own) return;
    const gguf = source() === "gguf";
    own.disabled = !gguf;
    if (!gguf && quant.value === "file") quant.value = "Q4_K_M";
  }
  form.querySelectorAll("input[name=source]").forEach((radio) => radio.addEventListener("change", syncQuantChoices));
  syncQuantChoices();

  function syncSlider() {
    if (!slider) return;
    const value = Number(contextInput.value);
    if (!Number.isFinite(value) || value <= 0) return;
    let best = 0;
    steps.forEach((s, i) => { if (Math.abs(Math.log2(s) - Math.log2(value)) < Math.abs(Math.log2(steps[best]) - Math.log2(value))) best = i; });
    slider.value = String(best);
  }

  if (slider) { slider.hidden = false; syncSlider(); }
  // Without script the form is an ordinary GET form; with it, a local file works too.
  form.querySelector("#update-hint").textContent = "Results update as you type.";

  // --- drawing -------------------------------------------------------------------------

  function palette() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    return {
      fg: v("--fg"), muted: v("--muted"), line: v("--line"), accent: v("--accent"),
      ok: v("--ok"), warn: v("--warn"), bad: v("--bad"), kind: (k) => v(`--mem-${k}`) || v("--muted"),
    };
  }

  const gib = (bytes) => bytes / GIB;
  const fmtGib = (x) => `${x.toFixed(2)} GiB`;
  const verdictColor = (c, verdict) => ({ fits: c.ok, tight: c.warn, "does-not-fit": c.bad }[verdict] || c.accent);

  function readData() {
    const el = document.getElementById("memory-chart-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch { return null; }
  }

  function axis(c, extra = {}) {
    const { title, ...rest } = extra;
    return {
      ticks: { color: c.muted }, grid: { color: c.line }, ...rest,
      title: title ? { display: true, color: c.muted, text: title } : undefined,
    };
  }

  function base(c) {
    return {
      responsive: true, maintainAspectRatio: false, animation: { duration: 200 },
      plugins: {
        legend: { labels: { color: c.fg, boxWidth: 12 } },
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmtGib(ctx.parsed[ctx.chart.options.indexAxis === "y" ? "x" : "y"])}` } },
      },
    };
  }

  // A tick across each device's bar at what it can hold: red where the bar runs past it.
  const capacityMarks = {
    id: "capacityMarks",
    afterDatasetsDraw(chart, _args, options) {
      if (!options || !options.available) return;
      const { ctx, scales } = chart;
      options.available.forEach((bytes, i) => {
        if (!bytes) return;
        const x = scales.x.getPixelForValue(gib(bytes));
        const y = scales.y.getPixelForValue(i);
        const half = (scales.y.getPixelForValue(1) - scales.y.getPixelForValue(0)) * 0.4 || 10;
        ctx.save();
        ctx.strokeStyle = options.used[i] > bytes ? options.bad : options.fg;
        ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(x, y - Math.abs(half)); ctx.lineTo(x, y + Math.abs(half)); ctx.stroke();
        ctx.restore();
      });
    },
  };

  // One horizontal stacked bar per device (GPU 0, GPU 1, …, CPU): bytes by kind, the room
  // left of what the device can hold, and a tick at its size (capacityMarks).
  function deviceBarsConfig(bars, c) {
    const used = bars.devices.map((_, i) => bars.kinds.reduce((sum, k) => sum + k.bytes[i], 0));
    const available = bars.available || [];
    const datasets = bars.kinds.filter((k) => k.bytes.some((b) => b > 0)).map((k) => ({
      label: k.label, data: k.bytes.map(gib), backgroundColor: c.kind(k.kind), borderWidth: 0,
    }));
    if (available.some((a, i) => a && used[i] < a)) {
      datasets.push({
        label: "Free", data: available.map((a, i) => (a ? gib(Math.max(0, a - used[i])) : 0)),
        backgroundColor: "transparent", borderColor: c.ok, borderWidth: 1,
      });
    }
    return {
      type: "bar",
      data: { labels: bars.devices, datasets },
      options: {
        ...base(c), indexAxis: "y",
        plugins: { ...base(c).plugins, capacityMarks: { available, used, bad: c.bad, fg: c.fg } },
        scales: { x: axis(c, { stacked: true, beginAtZero: true, title: "GiB" }), y: axis(c, { stacked: true }) },
      },
      plugins: [capacityMarks],
    };
  }

  // A vertical rule where the KV cache overtakes the weights (Chart.js has no built-in
  // annotations; this plugin draws on the chart's canvas).
  const crossingRule = {
    id: "crossingRule",
    afterDatasetsDraw(chart, _args, options) {
      if (!options || !options.x) return;
      const { ctx, chartArea, scales } = chart;
      const x = scales.x.getPixelForValue(options.x);
      if (x < chartArea.left || x > chartArea.right) return;
      ctx.save();
      ctx.strokeStyle = options.color; ctx.setLineDash([4, 4]); ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(x, chartArea.top); ctx.lineTo(x, chartArea.bottom); ctx.stroke();
      ctx.fillStyle = options.color; ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = x > (chartArea.left + chartArea.right) / 2 ? "right" : "left";
      ctx.fillText(options.label, x + (ctx.textAlign === "left" ? 4 : -4), chartArea.top + 12);
      ctx.restore();
    },
  };

  // x is log2 of the context, so powers of two fall on evenly spaced ticks.
  function contextConfig(data, c) {
    const s = data.series;
    const at = (p, bytes) => ({ x: Math.log2(p.context_length), y: gib(bytes), tokens: p.context_length });
    const kv = s.points.map((p) => at(p, p.kv_cache_bytes));
    const weights = s.points.map((p) => at(p, s.weights_bytes));
    const total = s.points.map((p) => at(p, p.total_bytes));
    const chosen = s.points.filter((p) => p.context_length === s.context_length).map((p) => at(p, p.kv_cache_bytes));
    const tokens = (n) => (n >= 2 ** 20 ? `${n / 2 ** 20}M` : n >= 1024 ? `${n / 1024}k` : `${n}`);
    return {
      type: "line",
      data: {
        datasets: [
          { label: "KV cache", data: kv, borderColor: c.kind("kv_cache"), backgroundColor: c.kind("kv_cache"), pointRadius: 2 },
          { label: "Weights", data: weights, borderColor: c.kind("weights"), backgroundColor: c.kind("weights"), pointRadius: 0 },
          { label: "Total", data: total, borderColor: c.muted, backgroundColor: c.muted, borderDash: [6, 4], pointRadius: 0 },
          { label: "Your context", data: chosen, type: "scatter", pointRadius: 6, pointStyle: "rectRot", backgroundColor: c.fg, borderColor: c.fg },
        ],
      },
      options: {
        ...base(c),
        parsing: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          ...base(c).plugins,
          tooltip: { callbacks: {
            title: (items) => `${exact.format(items[0].raw.tokens)} tokens`,
            label: (ctx) => `${ctx.dataset.label}: ${fmtGib(ctx.parsed.y)}`,
          } },
          crossingRule: s.kv_overtakes_weights_at ? {
            x: Math.log2(s.kv_overtakes_weights_at), color: c.bad,
            label: `KV > weights from ${exact.format(s.kv_overtakes_weights_at)} tokens`,
          } : {},
        },
        scales: {
          x: axis(c, { type: "linear", title: "context (tokens, log scale)",
            ticks: { color: c.muted, stepSize: 1, callback: (v) => (Number.isInteger(v) ? tokens(2 ** v) : "") } }),
          y: axis(c, { beginAtZero: true, title: "GiB" }),
        },
      },
      plugins: [crossingRule],
    };
  }

  function mixesConfig(data, c) {
    const rows = data.mixes;
    const colors = rows.map((m) => (m.verdict ? verdictColor(c, m.verdict) : c.kind("weights")));
    const datasets = [
      { label: data.gpu ? "Weights (green fits, amber tight, red does not)" : "Weights",
        data: rows.map((m) => gib(m.weights_bytes)), backgroundColor: colors,
        borderColor: rows.map((m) => (m.quant === data.quant ? c.fg : colors[0])),
        borderWidth: rows.map((m) => (m.quant === data.quant ? 2 : 0)), stack: "s" },
      { label: "KV cache and buffers on the GPU", data: rows.map((m) => gib(Math.max(0, m.gpu_bytes - m.weights_bytes))),
        backgroundColor: c.muted, stack: "s" },
    ];
    if (data.gpu) {
      datasets.push({ label: `${data.gpu.name}`, type: "line", data: rows.map(() => gib(data.gpu.gpu_usable_bytes)),
        borderColor: c.bad, borderDash: [5, 4], pointRadius: 0, borderWidth: 1.5 });
    }
    return {
      type: "bar",
      data: { labels: rows.map((m) => m.quant), datasets },
      options: {
        ...base(c),
        scales: { x: axis(c, { stacked: true }), y: axis(c, { stacked: true, beginAtZero: true, title: "GiB" }) },
      },
    };
  }

  function trainingConfig(data, c) {
    const kinds = [["weights", "Weights"], ["gradients", "Gradients"], ["optimizer_states", "Optimizer states"], ["activations", "Activations"]];
    return {
      type: "bar",
      data: {
        labels: data.comparison.map((r) => r.title),
        datasets: kinds.map(([k, label]) => ({
          label, data: data.comparison.map((r) => gib(r.by_kind[k])), backgroundColor: c.kind(k),
        })),
      },
      options: {
        ...base(c),
        scales: { x: axis(c, { stacked: true }), y: axis(c, { stacked: true, beginAtZero: true, title: "GiB" }) },
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
    render("chart-breakdown", deviceBarsConfig(data.bars, c));
    if (data.fit) render("chart-fit", deviceBarsConfig(data.fit, c));
    if (data.series) render("chart-context", contextConfig(data, c));
    if (data.mixes) render("chart-mixes", mixesConfig(data, c));
    if (data.comparison) render("chart-training", trainingConfig(data, c));
  }

  // Chart.js loads with `defer` too; both run before DOMContentLoaded, in document order.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
})();
