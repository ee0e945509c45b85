// Shared by the live-demo pages (static/js/live/*.js): calling the live API under
// /api/v1/llm/, showing its errors next to the fields they name, and the few display rules
// every page uses. The API needs no CSRF token: it stores nothing and takes no session.

export const API = "/api/v1/llm/";

export const $ = (selector, root = document) => root.querySelector(selector);

// POST a JSON body. Resolves to {ok, status, body, retryAfter}; network failures become a
// status-0 answer with a detail message. An abort (Stop button) is re-thrown. With `form`,
// a busy model is asked again by itself (retryWhileBusy), and null means the wait was given
// up for a newer request.
export async function postJSON(path, body, { signal, form } = {}) {
  const send = () => postOnce(path, body, signal);
  return form ? retryWhileBusy(form, send, { signal }) : send();
}

async function postOnce(path, body, signal) {
  let response;
  try {
    response = await fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return { ok: false, status: 0, body: { detail: `Could not reach the server (${error.message}).` } };
  }
  return readAnswer(response);
}

export async function readAnswer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { ok: response.ok, status: response.status, body, retryAfter: response.headers.get("Retry-After") };
}

// A busy model (its queue is full) answers 503 with Retry-After. The pages wait that long,
// counting down under the form, and ask again by themselves, up to BUSY_RETRIES times. The
// countdown's Cancel button shows the busy answer instead; a newer request from the same
// form, or `signal` (the Stop button), ends the wait with null.
const BUSY_RETRIES = 10;
const waiting = new WeakMap(); // form -> the AbortController of its current wait

export function busySeconds(result) {
  if (!result || result.status !== 503 || !result.retryAfter) return null;
  const seconds = Number(result.retryAfter);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(result.retryAfter); // Retry-After may also be an HTTP date
  return Number.isNaN(date) ? null : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

export async function retryWhileBusy(form, send, { signal } = {}) {
  waiting.get(form)?.abort();
  const mine = new AbortController();
  waiting.set(form, mine);
  signal?.addEventListener("abort", () => mine.abort(), { once: true });
  try {
    for (let attempt = 0; ; attempt++) {
      const result = await send();
      if (mine.signal.aborted) return null;
      const seconds = busySeconds(result);
      if (seconds === null || attempt >= BUSY_RETRIES) return result;
      const outcome = await countDown(form, result, seconds, mine.signal);
      if (outcome === "aborted") return null;
      if (outcome === "cancelled") return result;
    }
  } finally {
    if (waiting.get(form) === mine) {
      waiting.delete(form);
      busyLine(form).hidden = true;
    }
  }
}

// The status line under a form that counts down to the next try.
function busyLine(form) {
  let line = form.querySelector(".live-retry");
  if (!line) {
    line = document.createElement("p");
    line.className = "live-retry";
    line.setAttribute("role", "status");
    line.hidden = true;
    const message = document.createElement("span");
    message.className = "live-retry-message";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    line.append(message, " ", cancel);
    form.querySelector('[data-error-for~="detail"]').before(line);
  }
  return line;
}

// Resolves "done" after `seconds`, "cancelled" on the Cancel button, "aborted" on `signal`.
function countDown(form, result, seconds, signal) {
  const line = busyLine(form);
  const message = line.querySelector(".live-retry-message");
  const reason = result.body && typeof result.body.detail === "string"
    ? result.body.detail.replace(/\s*Retry in \d+ s\.?$/, "") : "The model is busy.";
  clearErrors(form);
  line.hidden = false;
  return new Promise((resolve) => {
    let left = seconds;
    const show = () => { message.textContent = `${reason} Trying again in ${left} s…`; };
    const finish = (outcome) => {
      clearInterval(timer);
      line.querySelector("button").removeEventListener("click", cancel);
      signal.removeEventListener("abort", abort);
      resolve(outcome);
    };
    const cancel = () => finish("cancelled");
    const abort = () => finish("aborted");
    const timer = setInterval(() => {
      left -= 1;
      if (left <= 0) finish("done");
      else show();
    }, 1000);
    show();
    line.querySelector("button").addEventListener("click", cancel);
    signal.addEventListener("abort", abort);
  });
}

// Clear every [data-error-for] message inside `form`.
export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
}

// Show an error answer: {"field": ["message"]} next to the element whose data-error-for
// names that field (a space-separated list), anything else in the "detail" slot.
export function showErrors(form, result) {
  clearErrors(form);
  const slots = [...form.querySelectorAll("[data-error-for]")];
  const slotFor = (name) => slots.find((el) => el.dataset.errorFor.split(" ").includes(name));
  const detail = slotFor("detail");
  const body = result.body;
  if (!body || typeof body !== "object") {
    detail.textContent = `The server answered ${result.status}.`;
    return;
  }
  const leftover = [];
  for (const [field, messages] of Object.entries(body)) {
    const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
    const slot = field === "detail" ? null : slotFor(field);
    if (slot) slot.textContent = text;
    else leftover.push(field === "detail" || field === "non_field_errors" ? text : `${field}: ${text}`);
  }
  if (leftover.length) {
    let text = leftover.join(" ");
    if (result.status === 503 && result.retryAfter && !/Retry in/.test(text)) text += ` Retry in ${result.retryAfter} s.`;
    detail.textContent = text;
  }
}

// A form field's value for the API: absent when blank (the server's default applies), a
// number when it reads as one, else the text as typed (so the server names the problem).
export function numberField(form, name) {
  const input = form.elements[name];
  if (!input) return undefined;
  const raw = input.value.trim();
  if (raw === "") {
    // type=number gives "" for text it cannot read; say so rather than use the default.
    if (input.validity && input.validity.badInput) return "not a number";
    return undefined;
  }
  const value = Number(raw);
  return Number.isFinite(value) ? value : raw;
}

// Whitespace made visible in token labels: ␣ for spaces, ↵ for newlines, ⇥ for tabs.
export function visibleText(text) {
  return text.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

// Append `text` to `el`, with whitespace marks in muted spans (for token lists).
export function appendVisible(el, text) {
  if (text === "") {
    const mark = document.createElement("span");
    mark.className = "ws";
    mark.textContent = "∅";
    el.append(mark);
    return;
  }
  for (const part of text.split(/([ \n\t])/)) {
    if (part === "") continue;
    if (part === " " || part === "\n" || part === "\t") {
      const mark = document.createElement("span");
      mark.className = "ws";
      mark.textContent = visibleText(part);
      el.append(mark);
    } else {
      el.append(part);
    }
  }
}

export function percent(p) {
  if (p >= 0.1) return `${(p * 100).toFixed(1)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(2)}%`;
  return `${(p * 100).toExponential(1)}%`;
}

export function number(value, digits = 2) {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// Probability bucket 0–9 (p < 0.1 … p ≥ 0.9) for the tint-N classes in live.css.
export function tintClass(prob) {
  if (typeof prob !== "number") return "";
  return `tint-${Math.max(0, Math.min(9, Math.floor(prob * 10)))}`;
}

// The model card's speed readout.
export function setSpeed(text) {
  const el = $("#live-speed");
  if (!el) return;
  el.textContent = text;
  el.classList.remove("muted");
}

// Colours for Chart.js from the page's CSS variables (light or dark).
export function themeColors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    accent: read("--accent", "#1f6feb"),
    muted: read("--muted", "#5d6470"),
    line: read("--line", "#e2e4e8"),
    fg: read("--fg", "#1b1d21"),
    bad: read("--bad", "#cf222e"),
  };
}

// Pages set data-live-ready once their handlers are installed (the browser tests wait for it).
export function markReady() {
  document.documentElement.dataset.liveReady = "1";
}
