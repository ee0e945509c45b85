// Tokenizer (/live/tokenizer/): the text split into the model's tokens, each coloured, with
// its id and bytes on hover or focus. Tokenizes as you type (debounced) and on submit.
import { $, clearErrors, markReady, postJSON, setSpeed, showErrors } from "./common.js";

const form = $("#tok-form");
const text = $("#tok-text");
const pieces = $("#tok-pieces");
const detail = $("#tok-detail");
let request = 0;
let timer = null;
let tokens = [];

const hex = (bytes) => bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");

// How a piece is drawn: byte-fallback pieces as <0xF0> (llama.cpp's own notation for byte
// tokens), newlines as ↵ followed by the line break itself.
function shown(token) {
  if (token.partial && token.bytes) return token.bytes.map((b) => `<0x${hex([b])}>`).join("");
  return token.text.replace(/\n/g, "↵\n");
}

async function tokenize() {
  const mine = ++request;
  const body = { text: text.value, add_bos: $("#tok-bos").checked };
  const result = await postJSON("tokenize/", body, { form });
  if (mine !== request || !result) return;
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  clearErrors(form);
  render(result.body, body);
}

function render(answer, body) {
  tokens = answer.tokens;
  pieces.replaceChildren(...tokens.map((token, index) => {
    const span = document.createElement("span");
    span.className = `tok-piece tok-c${index % 5}`;
    if (token.partial) span.classList.add("is-partial");
    if (index === 0 && body.add_bos) span.classList.add("is-special");
    span.tabIndex = 0;
    span.dataset.index = String(index);
    span.textContent = shown(token);
    span.setAttribute("aria-label", `token ${index + 1}: id ${token.id}`);
    return span;
  }));
  const count = $("#tok-count");
  count.textContent = answer.count.toLocaleString("en-US");
  count.dataset.count = String(answer.count);
  const characters = [...body.text].length; // code points, not UTF-16 units
  const textTokens = answer.count - (body.add_bos ? 1 : 0);
  $("#tok-chars").textContent = characters.toLocaleString("en-US");
  $("#tok-ratio").textContent = textTokens > 0 ? (characters / textTokens).toFixed(2) : "–";
  detail.textContent = "Hover or focus a token to see its id and bytes.";
  setSpeed(`${answer.count} tokens in ${answer.took_ms.toFixed(1)} ms (tokenizing only; the model does not run)`);
}

function describe(event) {
  const span = event.target.closest && event.target.closest(".tok-piece");
  if (!span) return;
  const index = Number(span.dataset.index);
  const token = tokens[index];
  if (!token) return;
  const bytes = token.bytes ? `bytes ${hex(token.bytes)}` : "bytes unknown";
  const note = token.partial ? " · part of a multi-byte character" : "";
  detail.textContent = `token ${index + 1} of ${tokens.length} · id ${token.id} · ${bytes} · ${JSON.stringify(token.text)}${note}`;
}

text.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(tokenize, 350);
});
$("#tok-bos").addEventListener("change", tokenize);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(timer);
  tokenize();
});
pieces.addEventListener("mouseover", describe);
pieces.addEventListener("focusin", describe);
markReady();
tokenize();
