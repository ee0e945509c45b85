// Perplexity (/live/perplexity/): perplexity of a text, and each scored token coloured by
// its negative log-likelihood (NLL), with a chart of the NLLs in text order.
import {
  $, clearErrors, markReady, number, percent, postJSON, setSpeed, showErrors, themeColors, visibleText,
} from "./common.js";

const form = $("#ppl-form");
const text = $("#ppl-text");
const presets = JSON.parse($("#ppl-presets").textContent);
let chart = null;

// NLL bucket 0–9 (0.5 nats each, the last ≥ 4.5) for the heat-N classes in live.css.
const heat = (nll) => `heat-${Math.max(0, Math.min(9, Math.floor(nll / 0.5)))}`;

async function score() {
  $("#ppl-run").disabled = true;
  let result;
  try {
    result = await postJSON("perplexity/", { text: text.value });
  } finally {
    $("#ppl-run").disabled = false;
  }
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  clearErrors(form);
  render(result.body);
}

function render(answer) {
  const value = $("#ppl-value");
  value.textContent = answer.perplexity < 100 ? number(answer.perplexity, 2) : Math.round(answer.perplexity).toLocaleString("en-US");
  value.dataset.value = String(answer.perplexity);
  $("#ppl-nll").textContent = number(answer.mean_nll, 3);
  $("#ppl-scored").textContent = String(answer.n_scored);
  $("#ppl-context").textContent = `after ${answer.first + 1} context tokens (BOS included)`;
  const lead = document.createElement("span");
  lead.className = "ppl-context";
  lead.textContent = `[${answer.first + 1} context tokens] `;
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
}

function drawChart(tokens) {
  if (!window.Chart) return;
  const colors = themeColors();
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
      plugins: { legend: { display: false } },
      scales: {
        x: { ticks: { display: false }, grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: "NLL (nats)" }, grid: { color: colors.line } },
      },
    },
  });
}

$("#ppl-preset").addEventListener("change", (event) => {
  const preset = presets.find((p) => p.key === event.target.value);
  if (preset) text.value = preset.text;
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  score();
});
markReady();
