// Streaming generation (/live/generate/): POST /api/v1/llm/generate/ with "stream": true and
// read the Server-Sent Events with fetch + ReadableStream (EventSource cannot POST). Each
// token is tinted by the model's own probability for it; Stop aborts the fetch, and the
// server stops generating when the connection closes.
import { $, clearErrors, markReady, number, numberField, readAnswer, setSpeed, showErrors, tintClass } from "./common.js";

const form = $("#gen-form");
const output = $("#gen-output");
const tokensEl = $("#gen-tokens");
const startButton = $("#gen-start");
const stopButton = $("#gen-stop");
const SETTINGS = ["max_tokens", "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
  "frequency_penalty", "presence_penalty", "seed"];
let controller = null;

function request() {
  const body = { prompt: form.elements.prompt.value, stream: true };
  for (const name of SETTINGS) {
    const value = numberField(form, name);
    if (value !== undefined) body[name] = value;
  }
  return body;
}

function setState(value) {
  output.dataset.state = value;
  output.setAttribute("aria-busy", value === "streaming" ? "true" : "false");
  startButton.disabled = value === "streaming";
  stopButton.disabled = value !== "streaming";
}

function resetOutput(prompt) {
  $("#gen-prompt-echo").textContent = prompt;
  tokensEl.replaceChildren();
  for (const id of ["#gen-tps", "#gen-count", "#gen-ttft"]) $(id).textContent = "–";
  $("#gen-finish").textContent = "";
  $("#gen-seed-used").textContent = "";
}

function addToken(event) {
  const span = document.createElement("span");
  span.className = `tint ${tintClass(event.prob)}`;
  span.textContent = event.text;
  const prob = typeof event.prob === "number" ? `p ${event.prob.toPrecision(3)}` : "p unknown";
  span.title = `id ${event.id ?? "?"} · ${prob}`;
  tokensEl.append(span);
  $("#gen-count").textContent = String(tokensEl.childElementCount);
}

function finish(done) {
  const tps = done.tokens_per_second;
  $("#gen-tps").textContent = typeof tps === "number" ? number(tps, 1) : "–";
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

async function generate() {
  const body = request();
  clearErrors(form);
  resetOutput(body.prompt);
  controller = new AbortController();
  setState("streaming");
  let response;
  try {
    response = await fetch("/api/v1/llm/generate/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream, application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") {
      setState("stopped");
      return;
    }
    showErrors(form, { status: 0, body: { detail: `Could not reach the server (${error.message}).` } });
    setState("error");
    return;
  }
  if (!response.ok || !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    showErrors(form, await readAnswer(response));
    setState("error");
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
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
      $("#gen-finish").textContent = "stopped";
      setState("stopped");
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
  if (output.dataset.state !== "streaming") generate();
});
stopButton.addEventListener("click", () => {
  if (controller) controller.abort();
});
$("#gen-greedy").addEventListener("click", () => {
  form.elements.temperature.value = "0";
});
markReady();
