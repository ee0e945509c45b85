// Next-token explorer (/live/next-token/): the model's top-N next tokens for a prompt, as a
// bar chart and a list; clicking a token appends it to the prompt and asks again.
import {
  $, appendVisible, clearErrors, markReady, number, numberField, percent, postJSON, setSpeed, showErrors,
  themeColors, visibleText,
} from "./common.js";

const form = $("#nt-form");
const prompt = $("#nt-prompt");
const list = $("#nt-list");
const undo = $("#nt-undo");
const state = { tokens: [], history: [], request: 0, chart: null };

// A piece that is only part of a UTF-8 character comes back as U+FFFD: appending that
// character would not append the token, so such tokens cannot be clicked.
const appendable = (token) => !token.text.includes("\uFFFD");

async function ask() {
  const request = ++state.request;
  const body = { prompt: prompt.value, top_n: numberField(form, "top_n") };
  $("#nt-ask").disabled = true;
  $("#nt-status").textContent = "Asking the model…";
  let result;
  try {
    result = await postJSON("next-token/", body, { form });
  } finally {
    if (request === state.request) {
      $("#nt-ask").disabled = false;
      $("#nt-status").textContent = "";
    }
  }
  if (request !== state.request || !result) return; // a newer question was asked meanwhile
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  clearErrors(form);
  show(result.body, body.prompt);
}

function show(answer, askedPrompt) {
  state.tokens = answer.tokens;
  list.dataset.prompt = askedPrompt;
  list.replaceChildren(...answer.tokens.map((token, index) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "nt-token";
    button.dataset.index = String(index);
    button.dataset.text = token.text;
    const label = document.createElement("span");
    label.className = "nt-token-text";
    appendVisible(label, token.text);
    const prob = document.createElement("span");
    prob.className = "nt-token-prob";
    prob.textContent = percent(token.prob);
    button.append(label, prob);
    const logit = typeof token.logit === "number" ? ` · logit ${token.logit.toFixed(3)}` : "";
    button.title = `id ${token.id ?? "?"}${logit} · p ${token.prob.toPrecision(4)}`;
    if (appendable(token)) {
      button.setAttribute("aria-label", `Append ${JSON.stringify(token.text)} (${percent(token.prob)})`);
    } else {
      button.disabled = true;
      button.title += " · one byte of a multi-byte character: cannot be appended as text";
    }
    item.append(button);
    return item;
  }));

  const top = answer.tokens[0];
  $("#nt-top").textContent = top ? visibleText(top.text) : "–";
  if (typeof answer.entropy === "number") {
    const bits = answer.entropy / Math.LN2;
    $("#nt-entropy").textContent = `${number(answer.entropy)} nats`;
    // exp(H): the number of equally likely tokens that would be as uncertain.
    $("#nt-entropy-note").textContent = `${number(bits)} bits · like a fair pick among ${number(Math.exp(answer.entropy), 1)} tokens`;
  } else {
    $("#nt-entropy").textContent = "–";
    $("#nt-entropy-note").textContent = "this model server reports only the top tokens";
  }
  const mass = answer.tokens.reduce((sum, t) => sum + t.prob, 0);
  $("#nt-mass").textContent = percent(mass);
  $("#nt-mass-note").textContent = answer.n_vocab
    ? `${answer.tokens.length} of ${answer.n_vocab.toLocaleString("en-US")} tokens`
    : `${answer.tokens.length} tokens`;
  if (answer.prompt_tokens && answer.took_ms > 0) {
    const rate = answer.prompt_tokens / (answer.took_ms / 1000);
    setSpeed(`${Math.round(rate).toLocaleString("en-US")} prompt tokens/s (${answer.prompt_tokens} tokens in ${Math.round(answer.took_ms)} ms)`);
  }
  drawChart(answer.tokens);
}

function drawChart(tokens) {
  const canvas = $("#nt-chart");
  if (!window.Chart) return; // the list below carries the same numbers
  const colors = themeColors();
  const labels = tokens.map((t) => visibleText(t.text) || "∅");
  const data = tokens.map((t) => t.prob * 100);
  $("#nt-chart-box").style.height = `${Math.max(12, tokens.length * 1.7 + 3)}rem`;
  if (state.chart) {
    state.chart.data.labels = labels;
    state.chart.data.datasets[0].data = data;
    state.chart.update();
    return;
  }
  window.Chart.defaults.color = colors.muted;
  state.chart = new window.Chart(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label: "probability (%)", data, backgroundColor: colors.accent }] },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => ` ${percent(state.tokens[ctx.dataIndex].prob)}` } },
      },
      scales: {
        x: { beginAtZero: true, title: { display: true, text: "probability (%)" }, grid: { color: colors.line } },
        y: { ticks: { font: { family: "monospace" }, autoSkip: false }, grid: { display: false } },
      },
      onClick: (event, elements) => {
        if (elements.length) append(elements[0].index);
      },
      onHover: (event, elements) => {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
    },
  });
  window.liveNextToken.chart = state.chart;
}

function append(index) {
  const token = state.tokens[index];
  if (!token || !appendable(token)) return;
  state.history.push(prompt.value);
  undo.disabled = false;
  prompt.value += token.text;
  ask();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  ask();
});
list.addEventListener("click", (event) => {
  const button = event.target.closest("button.nt-token");
  if (button) append(Number(button.dataset.index));
});
undo.addEventListener("click", () => {
  if (!state.history.length) return;
  prompt.value = state.history.pop();
  undo.disabled = state.history.length === 0;
  ask();
});

window.liveNextToken = { state, chart: null };
markReady();
// Show the first distribution at once; Chart.js (a deferred classic script) has run by now,
// since module scripts execute after deferred ones in document order.
ask();
