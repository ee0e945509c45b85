// Perplexity (/live/perplexity/): perplexity of a text, and each scored token coloured by
// its negative log-likelihood (NLL), with a chart of the NLLs in text order. What is shown
// always belongs to one text: an error clears it, and editing the text marks it stale.
import {
  $, clearErrors, markReady, number, percent, postJSON, setSpeed, showErrors, themeColors, visibleText,
} from "./common.js";

const form = $("#ppl-form");
const text = $("#ppl-text");
const presets = JSON.parse($("#ppl-presets").textContent);
let chart = null;
let scoredText = null; // the text the figures on screen belong to
let chartTokens = [];

// NLL bucket 0–9 (0.5 nats each, the last ≥ 4.5) for the heat-N classes in live.css.
const heat = (nll) => `heat-${Math.max(0, Math.min(9, Math.floor(nll / 0.5)))}`;

async function score() {
  const asked = text.value;
  $("#ppl-run").disabled = true;
  let result;
  try {
    result = await postJSON("perplexity/", { text: asked }, { form });
  } finally {
    $("#ppl-run").disabled = false;
  }
  if (!result) return; // a newer request took over
  if (!result.ok) {
    clear();
    showErrors(form, result);
    return;
  }
  clearErrors(form);
  render(result.body, asked);
}

// No figures rather than figures of another text.
function clear() {
  scoredText = null;
  for (const id of ["#ppl-value", "#ppl-nll", "#ppl-scored"]) $(id).textContent = "–";
  delete $("#ppl-value").dataset.value;
  $("#ppl-context").textContent = "";
  $("#ppl-tokens").replaceChildren();
  $("#ppl-context-about").hidden = true;
  $("#ppl-stale").hidden = true;
  if (chart) {
    chart.destroy();
    chart = null;
  }
}

function markStale() {
  const stale = scoredText !== null && text.value !== scoredText;
  $("#ppl-stale").hidden = !stale;
  $("#ppl-result").classList.toggle("is-stale", stale);
}

// The context part of the text: what comes before the first scored token. The scored
// tokens' pieces make up the end of the text; when they do not (a piece that is part of a
// character), only the number of context tokens is known.
function contextText(asked, tokens) {
  const scored = tokens.map((t) => t.text).join("");
  return asked.endsWith(scored) ? asked.slice(0, asked.length - scored.length) : null;
}

function render(answer, asked) {
  scoredText = asked;
  const value = $("#ppl-value");
  value.textContent = answer.perplexity < 100 ? number(answer.perplexity, 2) : Math.round(answer.perplexity).toLocaleString("en-US");
  value.dataset.value = String(answer.perplexity);
  $("#ppl-nll").textContent = number(answer.mean_nll, 3);
  $("#ppl-scored").textContent = String(answer.n_scored);
  const contextTokens = answer.first + 1;
  $("#ppl-context").textContent = `of ${answer.n_tokens}; the first ${contextTokens} are context`;
  $("#ppl-context-count").textContent = `${contextTokens} token${contextTokens === 1 ? "" : "s"}`;
  $("#ppl-context-about").hidden = false;
  const lead = document.createElement("span");
  lead.className = "ppl-context";
  const context = contextText(asked, answer.tokens);
  lead.textContent = context === null ? `[${contextTokens} context tokens] ` : context;
  lead.title = `Context: ${contextTokens} tokens (start-of-text included), read but not scored`;
  $("#ppl-tokens").replaceChildren(lead, ...answer.tokens.map((token) => {
    const span = document.createElement("span");
    span.className = `heat ${heat(token.nll)}`;
    span.textContent = token.text;
    span.title = `NLL ${token.nll.toFixed(3)} nats · p ${percent(token.prob)} · id ${token.id}`;
    return span;
  }));
  if (typeof answer.tokens_per_second === "number") {
    setSpeed(`${Math.round(answer.tokens_per_second).toLocaleString("en-US")} tokens/s scored (${answer.n_tokens} tokens in ${Math.round(answer.took_ms)} ms)`);
  }
  drawChart(answer.tokens);
  markStale();
}

function drawChart(tokens) {
  if (!window.Chart) return;
  const colors = themeColors();
  chartTokens = tokens;
  const labels = tokens.map((t) => visibleText(t.text));
  const data = tokens.map((t) => t.nll);
  if (chart) {
    chart.data.labels = labels;
    chart.data.datasets[0].data = data;
    chart.update();
    return;
  }
  window.Chart.defaults.color = colors.muted;
  chart = new window.Chart($("#ppl-chart"), {
    type: "bar",
    data: { labels, datasets: [{ label: "NLL (nats)", data, backgroundColor: colors.bad }] },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false }, tooltip: { callbacks: { title: (items) => JSON.stringify(chartTokens[items[0].dataIndex].text) } } },
      scales: {
        // Each bar names its token; where they crowd, Chart.js shows every few and the
        // tooltip names the rest.
        x: { ticks: { autoSkip: true, autoSkipPadding: 4, maxRotation: 60, minRotation: 60, font: { family: "ui-monospace, monospace", size: 11 } },
          grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: "NLL (nats)" }, grid: { color: colors.line } },
      },
    },
  });
}

$("#ppl-preset").addEventListener("change", (event) => {
  const preset = presets.find((p) => p.key === event.target.value);
  if (preset) text.value = preset.text;
  markStale();
});
text.addEventListener("input", markStale);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  score();
});
markReady();
