// The sampler playground (templates/calculators/sampling.html).
//
// Every number comes from ./sampling.js, the browser twin of calculators/sampling.py
// (llama.cpp's samplers with float32 arithmetic): no round trip to the server, except to
// ask the live model for a distribution (POST /api/v1/llm/next-token/). This file reads
// the page, runs the engine, and draws. For tests and curious readers the last run is
// kept on window.samplerPlayground ({logits, samplers, engineHistory, result}).
import {
  PARAMETERS,
  SamplingError,
  UINT32_MAX,
  Mt19937,
  applySamplers,
  cumulative,
  discrete,
  drawFrom,
  entropyNats,
  mirostatV2,
  runChain,
} from "./sampling.js";

// Tokens the chart and the table show, or more (up to the second number) to bring the
// cut-off into view; fewer on a phone, where 60 bars would be slivers.
const narrow = () => window.matchMedia("(max-width: 600px)").matches;
const topCounts = () => (narrow() ? [15, 30] : [30, 60]);
const LIVE_URL = "/api/v1/llm/next-token/";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const readJson = (id) => JSON.parse(document.getElementById(id).textContent);

const EXAMPLES = readJson("sp-examples");
const CHAIN_PRESETS = readJson("sp-chain-presets");

const state = {
  source: "example",
  tokens: [], // [{id, text, logit}] in the engine's order: index i is candidate i
  about: "",
  // The last good run: exactly what went into applySamplers, and what came out.
  logits: [],
  samplers: [],
  history: [], // the tokens' own ids, as typed or drawn
  engineHistory: [], // the same, numbered as the engine sees them (see engineHistory())
  result: null,
  // Step by step: one generator for the whole walk, and mirostat's running state.
  steps: [],
  stepRng: null,
  stepSeed: null,
  mirostat: { mu: null, draws: 0 },
  tokenTexts: new Map(), // texts of drawn tokens, for history chips after the list changes
  liveBusy: false,
};
window.samplerPlayground = state;

// --- formatting -----------------------------------------------------------------------

const pct = (p) => {
  if (p === 0) return "0";
  if (p >= 0.001) return `${(p * 100).toFixed(p >= 0.1 ? 1 : 2)}%`;
  return `${(p * 100).toExponential(1)}%`;
};
const fixed = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
// Token text with its spaces and line breaks visible: " Berlin" -> "␣Berlin".
const showToken = (text) => (text === "" ? "∅" : text.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥"));

function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return { fg: v("--fg"), bg: v("--bg"), muted: v("--muted"), line: v("--line"), accent: v("--accent"), warn: v("--warn"), bad: v("--bad") };
}

// --- the source -------------------------------------------------------------------------

function setTokens(tokens, about) {
  state.tokens = tokens;
  state.about = about;
  resetSteps();
  $("#sp-history").value = ""; // the ids of another distribution mean nothing here
  $("#sp-source-summary").textContent = about;
  update();
}

function useExample(slug) {
  const example = EXAMPLES.find((e) => e.slug === slug) || EXAMPLES[0];
  const prompt = example.prompt.replace(/\n/g, "↵");
  $("#sp-example-about").textContent =
    `Gemma 3 270M's ${example.tokens.length} most likely next tokens after “${prompt}”. ` +
    `They hold ${pct(example.top_mass)} of its probability over 262,144 tokens (entropy ${example.entropy.toFixed(2)} nats).`;
  setTokens(example.tokens.map((t) => ({ ...t })), `${example.tokens.length} tokens, logits from the model.`);
}

// "3.1, 2.4 -inf", a JSON list of numbers or of {text, logit}, or a next-token answer.
function parseLogits(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("paste some logits first");
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let data;
    try {
      data = JSON.parse(trimmed);
    } catch (e) {
      throw new Error(`not valid JSON: ${e.message}`);
    }
    if (data && !Array.isArray(data) && Array.isArray(data.tokens)) data = data.tokens;
    if (!Array.isArray(data)) throw new Error("expected a list of numbers or of {\"text\", \"logit\"} objects");
    return data.map((item, i) => {
      if (typeof item === "number") return { id: i, text: `#${i}`, logit: item };
      if (item && typeof item === "object") {
        let logit = item.logit;
        if ((logit === null || logit === undefined) && typeof item.prob === "number") logit = Math.log(item.prob);
        if (typeof logit !== "number") throw new Error(`entry ${i}: needs a numeric "logit" (or "prob")`);
        const id = Number.isInteger(item.id) && item.id >= 0 ? item.id : i;
        return { id, text: typeof item.text === "string" ? item.text : `#${i}`, logit };
      }
      throw new Error(`entry ${i}: must be a number or an object with a logit`);
    });
  }
  return trimmed.split(/[\s,;]+/).filter(Boolean).map((word, i) => {
    const lower = word.toLowerCase();
    const logit = lower === "-inf" || lower === "-infinity" ? -Infinity : Number(word);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(word) && logit !== -Infinity) {
      throw new Error(`entry ${i}: not a number: “${word.slice(0, 40)}”`);
    }
    return { id: i, text: `#${i}`, logit };
  });
}

function usePasted() {
  const error = $("#sp-paste-error");
  error.textContent = "";
  try {
    const tokens = parseLogits($("#sp-paste").value);
    if (tokens.length === 0) throw new Error("no numbers found");
    const ids = new Set(tokens.map((t) => t.id));
    if (ids.size !== tokens.length) tokens.forEach((t, i) => { t.id = i; }); // ids must be unique
    setTokens(tokens, `${tokens.length.toLocaleString("en-US")} pasted logits.`);
  } catch (e) {
    error.textContent = e.message;
  }
}

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

// The live model's top-N for a prompt. Resolves to null (with a message shown) on failure.
async function fetchLive(prompt, topN) {
  const status = $("#sp-live-status");
  const error = $("#sp-live-error");
  error.textContent = "";
  status.textContent = "Asking the model…";
  let response;
  try {
    response = await fetch(LIVE_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ prompt, top_n: topN }),
      credentials: "same-origin",
    });
  } catch (e) {
    status.textContent = "";
    error.textContent = `Could not reach the server (${e.message}).`;
    return null;
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  status.textContent = "";
  if (response.status === 404) {
    error.textContent = "The live model is not available on this server (404). Use an example or paste logits.";
    return null;
  }
  if (response.status === 503) {
    const retry = response.headers.get("Retry-After");
    const why = body && body.detail ? ` ${body.detail}` : "";
    error.textContent = `The model is busy or not loaded (503).${why}${retry ? ` Try again in ${retry} s.` : ""}`;
    return null;
  }
  if (!response.ok) {
    let why = "";
    if (body && typeof body === "object") {
      why = Object.entries(body).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : v}`).join("; ");
    }
    error.textContent = `The model answered ${response.status}${why ? `: ${why}` : ""}.`;
    return null;
  }
  if (!body || !Array.isArray(body.tokens) || body.tokens.length === 0) {
    error.textContent = "The model's answer holds no tokens.";
    return null;
  }
  let fromProbs = false;
  const tokens = body.tokens.map((t, i) => {
    let logit = t.logit;
    if (typeof logit !== "number") {
      // Remote backends report log-probabilities only; over the same tokens they give the
      // same softmax (they differ from the logits by one constant).
      logit = Math.log(t.prob);
      fromProbs = true;
    }
    return { id: Number.isInteger(t.id) ? t.id : -1 - i, text: String(t.text ?? ""), logit };
  });
  const mass = body.tokens.reduce((s, t) => s + (typeof t.prob === "number" ? t.prob : 0), 0);
  const parts = [`${tokens.length} tokens from the model`];
  if (body.n_vocab) parts.push(`of ${Number(body.n_vocab).toLocaleString("en-US")}`);
  if (mass > 0) parts.push(`holding ${pct(mass)} of its probability`);
  if (typeof body.entropy === "number") parts.push(`(full entropy ${body.entropy.toFixed(2)} nats)`);
  if (typeof body.took_ms === "number") parts.push(`in ${Math.round(body.took_ms)} ms`);
  if (fromProbs) parts.push("— logits from log-probabilities");
  return { tokens, about: `${parts.join(" ")}.` };
}

async function askLive() {
  if (state.liveBusy) return;
  const topN = Number($("#sp-top-n").value);
  if (!Number.isInteger(topN) || topN < 1 || topN > 100) {
    // The live next-token endpoint returns at most 100 tokens.
    $("#sp-live-error").textContent = "top N must be a whole number from 1 to 100.";
    return;
  }
  state.liveBusy = true;
  $("#sp-live-ask").disabled = true;
  try {
    const live = await fetchLive($("#sp-prompt").value, topN);
    if (live) setTokens(live.tokens, live.about);
  } finally {
    state.liveBusy = false;
    $("#sp-live-ask").disabled = false;
  }
}

function showSource(mode) {
  state.source = mode;
  $$(".sp-mode").forEach((el) => { el.hidden = el.dataset.mode !== mode; });
  $("#sp-reask-label").hidden = mode !== "live";
  if (mode === "example") useExample($("#sp-example").value);
  else if (mode === "paste" && $("#sp-paste").value.trim()) usePasted();
}

// --- the chain ----------------------------------------------------------------------------

const cards = () => $$("#sp-chain > .sp-card");

function parseBreakers(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  return trimmed.split(",").map((part) => {
    const ids = part.trim().split(/\s+/).map(Number);
    if (ids.some((n) => !Number.isInteger(n) || n < 0)) throw new Error("token ids separated by commas; a multi-token breaker as ids separated by spaces");
    return ids.length === 1 ? ids[0] : ids;
  });
}

// The enabled cards as engine specs, and the card behind each spec (for error messages).
function readChain() {
  const samplers = [];
  const owners = [];
  const problems = [];
  for (const card of cards()) {
    if (!$("[data-role=enabled]", card).checked) continue;
    const spec = { name: card.dataset.name };
    for (const input of $$("[data-param]", card)) {
      const raw = input.value.trim();
      if (raw === "") continue; // the engine fills its default, or says "required"
      if (input.dataset.kind === "breakers") {
        try {
          spec[input.dataset.param] = parseBreakers(raw);
        } catch (e) {
          problems.push([card, input.dataset.param, e.message]);
        }
      } else {
        spec[input.dataset.param] = Number(raw);
      }
    }
    samplers.push(spec);
    owners.push(card);
  }
  return { samplers, owners, problems };
}

function readHistory() {
  const raw = $("#sp-history").value.trim();
  if (!raw) return [];
  return raw.split(/[\s,;]+/).filter(Boolean).map((word) => {
    const n = Number(word);
    if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new Error(`“${word.slice(0, 20)}” is not a token id`);
    return n;
  });
}

// The engine numbers candidates 0..n-1; the history holds the tokens' own ids. A token
// still in the list maps to its position; one that is not gets a distinct number past
// the end (n, n+1, ... in order of first appearance), so DRY still sees the sequence.
function engineHistory(history) {
  const position = new Map(state.tokens.map((t, i) => [t.id, i]));
  const n = state.tokens.length;
  const absent = new Map();
  return history.map((id) => {
    if (position.has(id)) return position.get(id);
    if (!absent.has(id)) absent.set(id, n + absent.size);
    return absent.get(id);
  });
}

function clearErrors() {
  $$("#sp-chain .field-error").forEach((el) => { el.textContent = ""; });
  ["#sp-chain-error", "#sp-history-error", "#sp-source-error"].forEach((s) => { $(s).textContent = ""; });
}

function showError(error, owners) {
  const match = /^samplers\[(\d+)\](?:\.(\w+))?/.exec(error.field || "");
  if (match && owners[Number(match[1])]) {
    const card = owners[Number(match[1])];
    const slot = $(`[data-error-for="${match[2] || ""}"]`, card) || $('[data-error-for=""]', card);
    slot.textContent = error.reason;
    openFold(slot);
    $("#sp-chain-error").textContent = `${$(".sp-card-title", card).textContent}: ${error.reason}`;
  } else if ((error.field || "").startsWith("history")) {
    $("#sp-history-error").textContent = error.reason;
  } else {
    $("#sp-source-error").textContent = error.reason || error.message;
  }
}

// A parameter folded under "more" opens when it has something to say.
function openFold(slot) {
  const fold = slot.closest("details");
  if (fold) fold.open = true;
}

function typicalWarning(samplers) {
  const at = (name) => samplers.findIndex((s) => s.name === name);
  const typical = at("typical");
  if (typical < 0 || !(samplers[typical].p < 1)) return "";
  const sigma = at("top_n_sigma");
  if (sigma >= 0 && sigma < typical && samplers[sigma].n > 0) {
    return "Top-n-σ runs before typical: it leaves the tokens it removes in the array at −∞, which makes typical's " +
      "entropy NaN in llama.cpp. Typical then keeps an arbitrary-looking slice of the tokens. This is what llama.cpp does.";
  }
  const temp = samplers.findIndex((s, i) => i < typical && s.name === "temperature" && s.t <= 0);
  if (temp >= 0) {
    return "Temperature 0 runs before typical: it leaves every other token at −∞, which makes typical's entropy NaN in llama.cpp.";
  }
  return "";
}

// --- running it ---------------------------------------------------------------------------

function update() {
  clearErrors();
  if (!state.tokens.length) return;
  const { samplers, owners, problems } = readChain();
  const warning = typicalWarning(samplers);
  $("#sp-warning").hidden = !warning;
  $("#sp-warning").textContent = warning;
  if (problems.length) {
    const [card, param, message] = problems[0];
    const slot = $(`[data-error-for="${param}"]`, card);
    slot.textContent = message;
    openFold(slot);
    markStale();
    return;
  }
  let history;
  try {
    history = readHistory();
  } catch (e) {
    $("#sp-history-error").textContent = e.message;
    markStale();
    return;
  }
  renderHistory(history);
  const logits = state.tokens.map((t) => t.logit);
  const engineIds = engineHistory(history);
  let result;
  try {
    result = applySamplers(logits, samplers, engineIds, { stages: true });
  } catch (e) {
    if (!(e instanceof SamplingError)) throw e;
    showError(e, owners);
    markStale();
    return;
  }
  Object.assign(state, { logits, samplers, history, engineHistory: engineIds, result });
  $("#sp-result").classList.remove("is-stale");
  renderStages(samplers, owners, result);
  renderReadouts(result);
  renderStageOptions(samplers);
  renderChart();
  renderHistogram();
}

function markStale() {
  $("#sp-result").classList.add("is-stale");
}

function keptOf(probs) {
  let n = 0;
  for (const p of probs) if (p > 0) n++;
  return n;
}

function sameProbs(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function renderStages(samplers, owners, result) {
  for (const card of cards()) {
    const slot = $("[data-role=stage]", card);
    const index = owners.indexOf(card);
    card.classList.toggle("is-off", index < 0);
    if (index < 0) {
      slot.textContent = "off";
      continue;
    }
    const before = result.stages[index];
    const after = result.stages[index + 1];
    const changed = !sameProbs(before.probs, after.probs);
    card.classList.toggle("is-noop", !changed);
    slot.textContent = changed
      ? `${before.kept} → ${after.kept} tokens · entropy ${fixed(entropyNats(after.probs))} nats`
      : `no effect here (${after.kept} tokens)`;
  }
}

function argmax(probs) {
  let best = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
  return best;
}

function renderReadouts(result) {
  const n = state.tokens.length;
  const kept = $("#sp-kept");
  kept.textContent = result.kept.toLocaleString("en-US");
  kept.dataset.kept = String(result.kept);
  $("#sp-kept-note").textContent = `of ${n.toLocaleString("en-US")}`;
  const entropy = $("#sp-entropy");
  entropy.textContent = `${fixed(result.entropy)} nats`;
  entropy.dataset.entropy = String(result.entropy);
  $("#sp-entropy-note").textContent = `${fixed(result.entropy / Math.LN2)} bits · input ${fixed(entropyNats(result.stages[0].probs))} nats`;
  const top = argmax(result.probs);
  $("#sp-top").textContent = showToken(state.tokens[top].text);
  $("#sp-top-note").textContent = `p = ${pct(result.probs[top])}`;
}

function renderStageOptions(samplers) {
  const select = $("#sp-stage");
  const previous = select.value;
  const options = [["all", "The whole chain: input → final"]];
  samplers.forEach((s, i) => {
    // By name (each sampler appears once), so the choice follows a sampler that moves.
    const card = cards().find((c) => c.dataset.name === s.name);
    options.push([s.name, `${i + 1}. ${card ? $(".sp-card-title", card).textContent : s.name}`]);
  });
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  select.value = options.some(([value]) => value === previous) ? previous : "all";
}

function selectedStage() {
  const { result } = state;
  const i = state.samplers.findIndex((s) => s.name === $("#sp-stage").value);
  if (i < 0) {
    return { before: result.stages[0].probs, after: result.probs, label: "the whole chain" };
  }
  return { before: result.stages[i].probs, after: result.stages[i + 1].probs, label: $("#sp-stage").selectedOptions[0].textContent };
}

// The most likely tokens before the stage, in order (ties: lower index first).
function topIndices(probs, count) {
  const order = [];
  for (let i = 0; i < probs.length; i++) if (probs[i] > 0) order.push(i);
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  return order.slice(0, count);
}

const charts = {};

function isPowerOfTen(v) {
  const e = Math.log10(v);
  return Math.abs(e - Math.round(e)) < 1e-9;
}

// Chart.js plugin: a dashed vertical line between the last kept and the first removed bar,
// when the kept tokens are the head of the list (what every truncating sampler leaves).
const cutoffPlugin = {
  id: "spCutoff",
  afterDatasetsDraw(chart, _args, options) {
    const at = options && options.index;
    if (at === null || at === undefined || at <= 0) return;
    const x = chart.scales.x;
    const left = x.getPixelForValue(at - 1);
    const right = x.getPixelForValue(at);
    const pos = (left + right) / 2;
    const { ctx, chartArea } = chart;
    ctx.save();
    ctx.strokeStyle = options.color;
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(pos, chartArea.top);
    ctx.lineTo(pos, chartArea.bottom);
    ctx.stroke();
    ctx.fillStyle = options.color;
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = pos > chartArea.right - 60 ? "right" : "left";
    ctx.fillText("cut-off", pos + (ctx.textAlign === "left" ? 4 : -4), chartArea.top + 12);
    ctx.restore();
  },
};

function withAlpha(color, alpha) {
  // Colours come from CSS variables as #rrggbb.
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function upsertChart(id, config) {
  if (!window.Chart) return;
  const canvas = document.getElementById(id);
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].options = config.options;
    charts[id].update();
  } else {
    charts[id] = new window.Chart(canvas, config);
  }
}

function renderChart() {
  const { before, after, label } = selectedStage();
  const [base, most] = topCounts();
  const shown = topIndices(before, Math.min(most, Math.max(base, keptOf(after) + 6)));
  const c = palette();
  const removed = shown.map((i) => after[i] === 0);
  const firstRemoved = removed.indexOf(true);
  const isHead = firstRemoved > 0 && removed.slice(firstRemoved).every(Boolean);
  const log = $("#sp-log").checked;
  $("#sp-chart-caption").textContent =
    `Top ${shown.length} tokens before and after ${label}: ${keptOf(before)} → ${keptOf(after)} tokens`;
  upsertChart("sp-chart", {
    type: "bar",
    data: {
      labels: shown.map((i) => showToken(state.tokens[i].text)),
      datasets: [
        {
          label: "before",
          data: shown.map((i) => before[i]),
          backgroundColor: shown.map((i, k) => (removed[k] ? withAlpha(c.muted, 0.35) : withAlpha(c.accent, 0.3))),
          borderColor: shown.map((i, k) => (removed[k] ? c.muted : c.accent)),
          borderWidth: 1,
        },
        {
          label: "after",
          data: shown.map((i) => after[i]),
          backgroundColor: c.accent,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 200 },
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { color: c.fg, autoSkip: narrow(), maxRotation: 60, minRotation: 45 }, grid: { display: false } },
        y: {
          type: log ? "logarithmic" : "linear",
          min: log ? undefined : 0,
          ticks: { color: c.muted, callback: (v) => (!log || isPowerOfTen(v) ? pct(v) : "") },
          grid: { color: c.line },
          title: { display: true, text: "probability", color: c.muted },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const t = state.tokens[shown[items[0].dataIndex]];
              return `${JSON.stringify(t.text)} (id ${t.id})`;
            },
            label: (item) => `${item.dataset.label}: ${pct(item.raw)}${item.datasetIndex === 0 && removed[item.dataIndex] ? " (removed)" : ""}`,
          },
        },
        spCutoff: { index: isHead ? firstRemoved : null, color: c.bad },
      },
    },
    plugins: [cutoffPlugin],
  });
  renderTable(shown, before, after);
}

function renderTable(shown, before, after) {
  const rows = shown.map((i, rank) => {
    const t = state.tokens[i];
    const tr = document.createElement("tr");
    tr.dataset.index = String(i);
    if (after[i] === 0) tr.className = "is-removed";
    const cells = [String(rank + 1), showToken(t.text), String(t.id), fixed(t.logit, 4), pct(before[i]), pct(after[i])];
    cells.forEach((text, k) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (k >= 2) td.className = "num";
      if (k === 5) td.dataset.p = String(after[i]);
      tr.append(td);
    });
    return tr;
  });
  $("#sp-table-body").replaceChildren(...rows);
}

// --- sampling many times -----------------------------------------------------------------

// The final distribution as llama.cpp's dist sampler would see it sorted: tokens left,
// most likely first (ties: lower index first), with their probabilities as weights.
function finalWeights(probs) {
  const order = topIndices(probs, probs.length);
  return { order, weights: order.map((i) => probs[i]) };
}

// `count` draws of sampling.js discrete(rng, weights), building the cumulative table once.
function drawMany(rng, weights, count) {
  const picks = new Int32Array(count);
  if (weights.length < 2) return picks;
  const cp = cumulative(weights);
  for (let d = 0; d < count; d++) picks[d] = drawFrom(rng, cp);
  return picks;
}

function readInt(selector, min, max, name) {
  const raw = $(selector).value.trim();
  const n = Number(raw);
  if (raw === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name}: a whole number from ${min} to ${max.toLocaleString("en-US")}`);
  }
  return n;
}

function renderHistogram() {
  if (!state.result) return;
  $("#sp-seed-error").textContent = "";
  let seed;
  let count;
  try {
    seed = readInt("#sp-seed", 0, UINT32_MAX, "seed");
    count = readInt("#sp-draws", 1, 100000, "draws");
  } catch (e) {
    $("#sp-seed-error").textContent = e.message;
    return;
  }
  const { order, weights } = finalWeights(state.result.probs);
  const picks = drawMany(new Mt19937(seed), weights, count);
  const counts = new Map();
  for (const k of picks) counts.set(order[k], (counts.get(order[k]) || 0) + 1);
  const shown = order.slice(0, topCounts()[0]);
  const hist = $("#sp-hist");
  hist.dataset.seed = String(seed);
  hist.dataset.counts = JSON.stringify(shown.map((i) => [i, counts.get(i) || 0]));
  const distinct = counts.size;
  $("#sp-sample-summary").textContent =
    `Seed ${seed}: ${count.toLocaleString("en-US")} draws, ${distinct} different token${distinct === 1 ? "" : "s"} ` +
    `of ${order.length} that could be drawn.`;
  const c = palette();
  upsertChart("sp-hist", {
    type: "bar",
    data: {
      labels: shown.map((i) => showToken(state.tokens[i].text)),
      datasets: [
        // Chart.js draws higher `order` first: bars (1) underneath, expected-count markers (0)
        // on top, where a bar cannot hide them. The marker's outline keeps it visible on a bar.
        { type: "bar", label: "drawn", order: 1, data: shown.map((i) => counts.get(i) || 0), backgroundColor: c.accent },
        {
          type: "line", label: "expected (p × draws)", order: 0, data: shown.map((i) => state.result.probs[i] * count),
          borderColor: c.bg, backgroundColor: c.warn, borderWidth: 1.5, pointStyle: "rectRot", pointRadius: 5,
          pointHoverRadius: 6, showLine: false,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 200 },
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { color: c.fg, autoSkip: narrow(), maxRotation: 60, minRotation: 45 }, grid: { display: false } },
        y: { min: 0, ticks: { color: c.muted }, grid: { color: c.line }, title: { display: true, text: "draws", color: c.muted } },
      },
      plugins: {
        legend: { labels: { color: c.fg } },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.datasetIndex ? item.raw.toFixed(1) : item.raw}` } },
      },
    },
  });
}

// --- step by step --------------------------------------------------------------------------

function renderHistory(history) {
  const byId = new Map(state.tokens.map((t) => [t.id, t]));
  const texts = state.tokenTexts;
  const chips = history.map((id) => {
    const span = document.createElement("span");
    span.className = "sp-chip";
    const t = byId.get(id);
    const text = t ? t.text : texts.get(id);
    span.textContent = text === undefined ? `#${id}` : showToken(text);
    span.title = `token id ${id}`;
    return span;
  });
  $("#sp-history-tokens").replaceChildren(...chips);
}

function resetSteps() {
  state.steps = [];
  state.stepRng = null;
  state.mirostat = { mu: null, draws: 0 };
  $("#sp-step-body").replaceChildren();
  $("#sp-step-status").textContent = "";
}

function stepMode() {
  return $("input[name=sp-step-mode]:checked").value;
}

function readNumber(selector, name) {
  const raw = $(selector).value.trim();
  const n = Number(raw);
  if (raw === "" || !Number.isFinite(n)) throw new SamplingError(name, "must be a number");
  return n;
}

// One token: drawn from the chain's final distribution, or by temperature → mirostat v2.
function drawToken() {
  const seed = readInt("#sp-step-seed", 0, UINT32_MAX, "seed");
  if (stepMode() === "mirostat") {
    const t = readNumber("#sp-m-temp", "temperature");
    const tau = readNumber("#sp-m-tau", "tau");
    const eta = readNumber("#sp-m-eta", "eta");
    // llama.cpp's mirostat chain (common/sampling.cpp): temperature, then mirostat v2.
    let scaled;
    try {
      scaled = runChain(state.tokens.map((tok) => tok.logit), [{ name: "temperature", t }]);
    } catch (e) {
      if (e instanceof SamplingError) throw new SamplingError("temperature", e.reason);
      throw e;
    }
    const logits = new Array(state.tokens.length);
    scaled.ids.forEach((id, i) => { logits[id] = scaled.logits[i]; });
    const before = state.mirostat;
    const step = mirostatV2(logits, tau, eta, before.mu, seed, before.draws);
    if (!Number.isFinite(step.mu)) throw new SamplingError("tau", "too large: mu overflows float32");
    state.mirostat = { mu: step.mu, draws: step.draws };
    return {
      index: step.token, p: step.probs[step.token], kept: step.kept, entropy: entropyNats(step.probs),
      surprise: -Math.log2(step.probs[step.token]), mu: step.mu,
    };
  }
  if (!state.stepRng || state.stepSeed !== seed) {
    // One generator for the whole walk, as llama.cpp's dist sampler keeps its std::mt19937.
    state.stepRng = new Mt19937(seed);
    state.stepSeed = seed;
  }
  const { order, weights } = finalWeights(state.result.probs);
  const k = discrete(state.stepRng, weights);
  const index = order[k];
  const p = state.result.probs[index];
  return { index, p, kept: state.result.kept, entropy: state.result.entropy, surprise: -Math.log2(p), mu: null };
}

async function step() {
  if (!state.result || $("#sp-result").classList.contains("is-stale")) {
    $("#sp-step-status").textContent = "Fix the errors above first.";
    return;
  }
  $("#sp-m-error").textContent = "";
  let drawn;
  try {
    drawn = drawToken();
  } catch (e) {
    const message = e instanceof SamplingError ? `${e.field}: ${e.reason}` : e.message;
    if (stepMode() === "mirostat") $("#sp-m-error").textContent = message;
    else $("#sp-step-status").textContent = message;
    return;
  }
  const token = state.tokens[drawn.index];
  state.tokenTexts.set(token.id, token.text);
  const box = $("#sp-history");
  box.value = box.value.trim() ? `${box.value.trim()}, ${token.id}` : String(token.id);
  state.steps.push({ token, ...drawn });
  const row = document.createElement("tr");
  const cells = [
    String(state.steps.length), showToken(token.text), pct(drawn.p), String(drawn.kept), fixed(drawn.entropy),
    fixed(drawn.surprise, 2), drawn.mu === null ? "–" : fixed(drawn.mu, 3),
  ];
  cells.forEach((text, k) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (k >= 2) td.className = "num";
    row.append(td);
  });
  $("#sp-step-body").append(row);
  const mode = stepMode() === "mirostat" ? ` · μ = ${fixed(drawn.mu, 3)}, ${state.mirostat.draws} draws used` : "";
  $("#sp-step-status").textContent = `Step ${state.steps.length}: drew ${showToken(token.text)} (p = ${pct(drawn.p)})${mode}.`;

  if (state.source === "live" && $("#sp-reask").checked) {
    const prompt = $("#sp-prompt");
    prompt.value += token.text;
    $("#sp-step").disabled = true;
    try {
      const live = await fetchLive(prompt.value, Number($("#sp-top-n").value) || 60);
      if (live) {
        state.tokens = live.tokens;
        $("#sp-source-summary").textContent = live.about;
      }
    } finally {
      $("#sp-step").disabled = false;
    }
  }
  update();
}

// --- reordering and presets ----------------------------------------------------------------

function announce(card) {
  const list = cards();
  $("#sp-announce").textContent = `${$(".sp-card-title", card).textContent}: position ${list.indexOf(card) + 1} of ${list.length}`;
}

function move(card, direction) {
  const sibling = direction === "up" ? card.previousElementSibling : card.nextElementSibling;
  if (!sibling) return;
  if (direction === "up") sibling.before(card);
  else sibling.after(card);
  $(`[data-move=${direction}]`, card).focus();
  announce(card);
  update();
}

function setControl(card, param, value) {
  const input = $(`[data-param="${param}"]`, card);
  if (!input) return;
  input.value = Array.isArray(value)
    ? value.map((b) => (Array.isArray(b) ? b.join(" ") : String(b))).join(", ")
    : String(value);
  const slider = $(`[data-slider-for="${param}"]`, card);
  if (slider) slider.value = input.value;
}

function applyPreset(key) {
  const preset = CHAIN_PRESETS[key];
  if (!preset) return;
  const list = $("#sp-chain");
  const byName = new Map(cards().map((card) => [card.dataset.name, card]));
  const used = new Set();
  for (const spec of preset.chain) {
    const card = byName.get(spec.name);
    if (!card) continue;
    for (const [param, [fallback]] of Object.entries(PARAMETERS[spec.name])) {
      const value = Object.prototype.hasOwnProperty.call(spec, param) ? spec[param] : fallback;
      if (typeof value !== "symbol") setControl(card, param, value);
    }
    $("[data-role=enabled]", card).checked = true;
    list.append(card);
    used.add(spec.name);
  }
  for (const card of byName.values()) {
    if (used.has(card.dataset.name)) continue;
    $("[data-role=enabled]", card).checked = false;
    list.append(card);
  }
  $("#sp-announce").textContent = `${preset.label}: ${preset.chain.map((s) => s.name).join(", ")}`;
  update();
}

function setUpDrag() {
  const list = $("#sp-chain");
  let dragged = null;
  list.addEventListener("dragstart", (event) => {
    const handle = event.target.closest && event.target.closest(".sp-handle");
    if (!handle) return;
    dragged = handle.closest(".sp-card");
    dragged.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.name);
    event.dataTransfer.setDragImage(dragged, 20, 20);
  });
  list.addEventListener("dragover", (event) => {
    if (!dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    const over = event.target.closest && event.target.closest(".sp-card");
    if (!over || over === dragged) return;
    const box = over.getBoundingClientRect();
    if (event.clientY < box.top + box.height / 2) over.before(dragged);
    else over.after(dragged);
  });
  const finish = (event) => {
    if (!dragged) return;
    if (event.type === "drop") event.preventDefault();
    const card = dragged;
    dragged = null;
    card.classList.remove("is-dragging");
    announce(card);
    update();
  };
  list.addEventListener("drop", finish);
  list.addEventListener("dragend", finish);
}

// --- wiring ---------------------------------------------------------------------------------

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function init() {
  const later = debounce(update, 120);
  const chain = $("#sp-chain");
  chain.addEventListener("input", (event) => {
    const target = event.target;
    if (target.dataset.sliderFor) {
      const box = $(`[data-param="${target.dataset.sliderFor}"]`, target.closest(".sp-card"));
      box.value = target.value;
    } else if (target.dataset.param) {
      const slider = $(`[data-slider-for="${target.dataset.param}"]`, target.closest(".sp-card"));
      if (slider && target.value.trim() !== "") slider.value = target.value;
    }
    later();
  });
  chain.addEventListener("change", (event) => {
    if (event.target.dataset.role === "enabled") update();
  });
  chain.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (button) move(button.closest(".sp-card"), button.dataset.move);
  });
  setUpDrag();
  $$("[data-chain-preset]").forEach((b) => b.addEventListener("click", () => applyPreset(b.dataset.chainPreset)));
  $("#sp-history").addEventListener("input", later);
  $$("input[name=sp-source]").forEach((r) => r.addEventListener("change", () => showSource(r.value)));
  $("#sp-example").addEventListener("change", () => useExample($("#sp-example").value));
  $("#sp-paste-apply").addEventListener("click", usePasted);
  $("#sp-live-ask").addEventListener("click", askLive);
  $("#sp-stage").addEventListener("change", renderChart);
  $("#sp-log").addEventListener("change", renderChart);
  $("#sp-seed").addEventListener("input", debounce(renderHistogram, 150));
  $("#sp-draws").addEventListener("input", debounce(renderHistogram, 150));
  $("#sp-reseed").addEventListener("click", () => {
    $("#sp-seed").value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
    renderHistogram();
  });
  $$("input[name=sp-step-mode]").forEach((r) => r.addEventListener("change", () => {
    $("#sp-mirostat").hidden = stepMode() !== "mirostat";
    resetSteps();
  }));
  $("#sp-step").addEventListener("click", step);
  $("#sp-step-reset").addEventListener("click", () => {
    resetSteps();
    $("#sp-history").value = "";
    update();
  });
  $("#sp-step-seed").addEventListener("input", () => { state.stepRng = null; });
  // Chart.js is a deferred classic script; module scripts run after it, but be safe.
  const checked = $("input[name=sp-source]:checked");
  showSource(checked ? checked.value : "example");
  document.documentElement.dataset.samplingReady = "1";
}

init();
