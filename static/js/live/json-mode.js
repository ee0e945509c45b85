// JSON mode and grammars (/live/json-mode/): generate under a JSON schema or a GBNF
// grammar, then say whether the output parses as JSON. An invalid grammar or schema comes
// back as a 400 naming the field, shown under the textarea.
import { $, clearErrors, markReady, number, numberField, postJSON, setSpeed, showErrors } from "./common.js";

const form = $("#jm-form");
const spec = $("#jm-spec");
const presets = JSON.parse($("#jm-presets").textContent);
const LABELS = { json_schema: "JSON schema", grammar: "GBNF grammar" };

const kind = () => form.elements.kind.value;

function setKind(value) {
  for (const radio of form.elements.kind) radio.checked = radio.value === value;
  $("#jm-spec-label").textContent = LABELS[value];
}

function usePreset(key) {
  const preset = presets.find((p) => p.key === key);
  if (!preset) return;
  setKind(preset.kind);
  spec.value = preset.text;
  form.elements.prompt.value = preset.prompt;
  clearErrors(form);
}

function constraint() {
  return { [kind()]: spec.value };
}

function verdict(text, finishReason) {
  const el = $("#jm-verdict");
  let parsed = true;
  let why = "";
  try {
    JSON.parse(text);
  } catch (error) {
    parsed = false;
    why = error.message;
  }
  if (kind() === "json_schema") {
    el.dataset.parses = parsed ? "yes" : "no";
    el.textContent = parsed ? "✓ Parses as JSON" : `✗ Does not parse as JSON: ${why}`;
    if (!parsed && finishReason === "length") el.textContent += " (max tokens cut it off)";
  } else {
    el.dataset.parses = "";
    el.textContent = finishReason === "stop"
      ? "✓ The grammar is complete (the model could only stop here)"
      : "The output reached max tokens before the grammar was complete";
  }
}

async function run() {
  const body = { prompt: form.elements.prompt.value, ...constraint() };
  for (const name of ["max_tokens", "temperature"]) {
    const value = numberField(form, name);
    if (value !== undefined) body[name] = value;
  }
  $("#jm-run").disabled = true;
  $("#jm-verdict").textContent = "Generating…";
  $("#jm-verdict").dataset.parses = "";
  let result;
  try {
    result = await postJSON("generate/", body, { form });
  } finally {
    $("#jm-run").disabled = false;
  }
  if (!result) { // a newer request from this form took over
    $("#jm-verdict").textContent = "";
    return;
  }
  if (!result.ok) {
    showErrors(form, result);
    $("#jm-verdict").textContent = "";
    $("#jm-output code").textContent = "";
    return;
  }
  clearErrors(form);
  const answer = result.body;
  $("#jm-output code").textContent = answer.text;
  verdict(answer.text, answer.finish_reason);
  const tps = answer.tokens_per_second;
  $("#jm-stats").textContent = `${answer.usage.completion_tokens} tokens${typeof tps === "number" ? ` · ${number(tps, 1)} tokens/s` : ""} · finish: ${answer.finish_reason}`;
  if (typeof tps === "number") setSpeed(`${number(tps, 1)} tokens/s (${answer.usage.completion_tokens} tokens in ${Math.round(answer.took_ms)} ms, prompt included)`);
}

async function showGrammar() {
  const result = await postJSON("grammar/", constraint(), { form });
  if (!result) return;
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  clearErrors(form);
  $("#jm-grammar").textContent = result.body.grammar;
  const box = $("#jm-grammar-box");
  box.hidden = false;
  box.open = true;
}

$("#jm-preset").addEventListener("change", (event) => usePreset(event.target.value));
for (const radio of form.elements.kind) radio.addEventListener("change", () => setKind(kind()));
$("#jm-show-grammar").addEventListener("click", showGrammar);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
markReady();
