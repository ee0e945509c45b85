// Runs static/js/sampling.js on cases read as JSON from stdin and prints the results as
// JSON, for tests/calculators/test_sampling_js.py to compare with calculators/sampling.py.
// Input: {"cases": [{"kind": "apply", "logits"|"probs", "samplers", "history", "stages"}
//                   | {"kind": "mirostat", "logits", "tau", "eta", "mu", "seed", "draws"}]}
// Numbers JSON cannot carry are written {"$num": "-Infinity" | "Infinity" | "NaN"}.
// Output: [{"ok": result} | {"error": {"field", "message"}}, ...]
import { readFileSync } from "node:fs";

import { SamplingError, applySamplers, mirostatV2 } from "../../static/js/sampling.js";

const decode = (value) => {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if (Object.keys(value).length === 1 && "$num" in value) return Number(value.$num);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
};

const encode = (key, value) =>
  typeof value === "number" && !Number.isFinite(value) ? { $num: String(value) } : value;

const run = (c) => {
  if (c.kind === "mirostat") {
    return mirostatV2(c.logits ?? null, c.tau, c.eta, c.mu ?? null, c.seed, c.draws, { probs: c.probs ?? null });
  }
  return applySamplers(c.logits ?? null, c.samplers, c.history ?? [], { probs: c.probs ?? null, stages: c.stages ?? true });
};

const { cases } = decode(JSON.parse(readFileSync(0, "utf8")));
const results = cases.map((c) => {
  try {
    return { ok: run(c) };
  } catch (e) {
    if (!(e instanceof SamplingError)) throw e;
    return { error: { field: e.field, message: e.message } };
  }
});
process.stdout.write(JSON.stringify(results, encode));
