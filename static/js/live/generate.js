// Streaming generation (/live/generate/): POST /api/v1/llm/generate/ with "stream": true and
// read the Server-Sent Events with fetch + ReadableStream (EventSource cannot POST). Each
// token is tinted by the model's own probability for it; Stop aborts the fetch, and the
// server stops generating when the connection closes.
import {
  $, clearErrors, markReady, number, numberField, readAnswer, retryWhileBusy, setSpeed, showErrors, tintClass,
} from "./common.js";

const form = $("#gen-form");
const output = $("#gen-output");
const tokensEl = $("#gen-tokens");
const startButton = $("#gen-start");
const stopButton = $("#gen-stop");
const SETTINGS = ["max_tokens", "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
  "frequency_penalty", "presence_penalty", "seed"];
let controller = null;
// Timing seen from here, for figures that must not vanish when Stop cuts the stream short
// (the server's own figures come only with its last event).
const clock = { start: 0, first: null };

function request() {
  const body = { prompt: form.elements.prompt.value, stream: true };
  for (const name of SETTINGS) {
    const value = numberField(form, name);
    if (value !== undefined) body[name] = value;
  }
  return body;
}

// "waiting": the model is busy and the page will ask again by itself (common.js).
function setState(value) {
  const running = value === "streaming" || value === "waiting";
  output.dataset.state = value;
  output.setAttribute("aria-busy", running ? "true" : "false");
  startButton.disabled = running;
  stopButton.disabled = !running;
}

function resetOutput(prompt) {
  $("#gen-prompt-echo").textContent = prompt;
  tokensEl.replaceChildren();
  for (const id of ["#gen-tps", "#gen-count", "#gen-ttft"]) $(id).textContent = "–";
  $("#gen-tps-note").textContent = "whole call, prompt included";
  $("#gen-finish").textContent = "";
  $("#gen-seed-used").textContent = "";
}

// Tokens/s and time to the first token as measured here, while streaming and after Stop.
function showMeasured() {
  const count = tokensEl.childElementCount;
  const seconds = (performance.now() - clock.start) / 1000;
  if (count > 0 && seconds > 0) $("#gen-tps").textContent = number(count / seconds, 1);
  if (clock.first !== null) $("#gen-ttft").textContent = `${Math.round(clock.first - clock.start)} ms`;
  $("#gen-tps-note").textContent = "measured in this browser, prompt included";
}

function addToken(event) {
  if (clock.first === null) clock.first = performance.now();
  const span = document.createElement("span");
  span.className = `tint ${tintClass(event.prob)}`;
  span.textContent = event.text;
  const prob = typeof event.prob === "number" ? `p ${event.prob.toPrecision(3)}` : "p unknown";
  span.title = `id ${event.id ?? "?"} · ${prob}`;
  tokensEl.append(span);
  $("#gen-count").textContent = String(tokensEl.childElementCount);
  showMeasured();
}

function stopped() {
  showMeasured();
  $("#gen-finish").textContent = `stopped after ${tokensEl.childElementCount} tokens`;
  setState("stopped");
}

function finish(done) {
  const tps = done.tokens_per_second;
  $("#gen-tps").textContent = typeof tps === "number" ? number(tps, 1) : "–";
  $("#gen-tps-note").textContent = "whole call, prompt included";
  $("#gen-count").textContent = String(done.usage.completion_tokens);
  const reasons = { stop: "ended by the model", length: "reached max tokens", cancelled: "stopped",
    time_limit: "reached the time limit" };
  $("#gen-finish").textContent = reasons[done.finish_reason] || done.finish_reason;
  if (typeof done.time_to_first_token_ms === "number") $("#gen-ttft").textContent = `${Math.round(done.time_to_first_token_ms)} ms`;
  if (done.seed !== null && done.seed !== undefined) $("#gen-seed-used").textContent = `seed ${done.seed}`;
  if (typeof tps === "number") {
    setSpeed(`${number(tps, 1)} tokens/s (${done.usage.completion_tokens} tokens in ${Math.round(done.took_ms)} ms, prompt included)`);
  }
  setState("done");
}

// One SSE event block ("event: x\ndata: {...}"); comment lines start with ":".
function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  return { name, data: JSON.parse(data.join("\n")) };
}

// Start the stream: {ok: true, response} once events flow, else an error answer as
// postJSON gives (a busy model's 503 is retried by retryWhileBusy).
async function open(body, signal) {
  setState("streaming");
  clock.start = performance.now();
  clock.first = null;
  let response;
  try {
    response = await fetch("/api/v1/llm/generate/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream, application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") return { ok: false, status: 0, aborted: true };
    return { ok: false, status: 0, body: { detail: `Could not reach the server (${error.message}).` } };
  }
  if (response.ok && (response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    return { ok: true, response };
  }
  const answer = await readAnswer(response);
  if (answer.status === 503 && answer.retryAfter) setState("waiting");
  return answer;
}

async function generate() {
  const body = request();
  clearErrors(form);
  resetOutput(body.prompt);
  controller = new AbortController();
  const started = await retryWhileBusy(form, () => open(body, controller.signal), { signal: controller.signal });
  if (started === null || started.aborted) {
    setState("stopped");
    return;
  }
  if (!started.ok) {
    showErrors(form, started);
    setState("error");
    return;
  }
  const reader = started.response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) !== -1) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (!event) continue;
        if (event.name === "token") addToken(event.data);
        else if (event.name === "done") {
          finish(event.data);
          ended = true;
        } else if (event.name === "error") {
          showErrors(form, { status: 200, body: event.data });
          setState("error");
          ended = true;
        }
      }
    }
  } catch (error) {
    if (error.name === "AbortError") {
      stopped();
      return;
    }
    showErrors(form, { status: 0, body: { detail: `The stream broke off (${error.message}).` } });
    setState("error");
    return;
  }
  if (!ended) {
    showErrors(form, { status: 0, body: { detail: "The stream ended without its last event." } });
    setState("error");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!["streaming", "waiting"].includes(output.dataset.state)) generate();
});
stopButton.addEventListener("click", () => {
  if (controller) controller.abort();
});
$("#gen-greedy").addEventListener("click", () => {
  form.elements.temperature.value = "0";
});
markReady();
