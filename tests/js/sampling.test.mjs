// static/js/sampling.js against the vectors calculators/sampling.py is tested with:
// llama.cpp's tests/test-sampling.cpp, transformers' tests/generation/test_logits_process.py
// and libstdc++'s output (tests/js/sampling_vectors.json). Run: node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  Mt19937,
  SamplingError,
  applySamplers,
  canonicalDouble,
  discrete,
  mirostatV2,
  runChain,
  sortOrderAllEquivalent,
  uniformFloat,
} from "../../static/js/sampling.js";

const VECTORS = JSON.parse(readFileSync(new URL("./sampling_vectors.json", import.meta.url), "utf8"));
const label = (source) => source.split(": ").slice(1).join(": ");
const maxAbsDiff = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
const softmax = (xs) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

// --- llama.cpp tests/test-sampling.cpp ----------------------------------------------------

for (const c of VECTORS.llama_cpp) {
  test(`llama.cpp vector holds: ${label(c.source)}`, () => {
    const result = applySamplers(null, c.samplers, c.history || [], { probs: c.probs });
    let expected = c.expected;
    if (c.renormalize) {
      const total = expected.reduce((a, b) => a + b, 0);
      expected = expected.map((x) => x / total);
    }
    c.expected_ids.forEach((id, i) => assert.ok(Math.abs(result.probs[id] - expected[i]) < 1e-5, `token ${id}`));
    result.probs.forEach((p, id) => {
      if (!c.expected_ids.includes(id)) assert.equal(p, 0);
    });
    assert.equal(result.kept, c.kept);
  });
}

// test_sampler_queue's bookkeeping for one sampler, ported line by line (float32 where the C++ is).
function expectedQueueStep(s, nVocab, size, minTokenId, topK, topP, minP) {
  const f = Math.fround;
  let expectedSize;
  if (s === "k") {
    expectedSize = Math.min(size, topK);
    minTokenId = Math.max(minTokenId, nVocab - topK);
  } else if (s === "p") {
    const divisor = (nVocab * (nVocab - 1)) / 2 - (minTokenId * (minTokenId - 1)) / 2;
    const target = Math.ceil(f(f(topP) * f(divisor)));
    minTokenId = nVocab;
    expectedSize = 0;
    let cumsum = 0;
    do {
      minTokenId--;
      expectedSize++;
      cumsum += minTokenId;
    } while (cumsum < target);
    if (minTokenId === 1) {
      minTokenId--;
      expectedSize++;
    }
  } else {
    expectedSize = Math.ceil(f(f(1 - f(minP)) * nVocab));
    expectedSize = Math.min(Math.max(expectedSize, 1), size);
    minTokenId = Math.floor(f(f(minP) * nVocab));
    minTokenId = Math.min(Math.max(minTokenId, 1, nVocab - size), nVocab - 1);
  }
  return [expectedSize, minTokenId];
}

const queue = VECTORS.llama_cpp_sampler_queue;
const queueLogits = Array.from({ length: queue.n_vocab }, (_, i) => Math.log(i));
for (const [seq, topK, topP, minP] of queue.cases) {
  test(`llama.cpp sampler queue ${seq} k=${topK} p=${topP} m=${minP}`, () => {
    const builders = {
      k: { name: "top_k", k: topK },
      p: { name: "top_p", p: topP, min_keep: 1 },
      m: { name: "min_p", p: minP, min_keep: 1 },
    };
    let minTokenId = 0;
    for (let step = 1; step <= seq.length; step++) {
      const c = runChain(queueLogits, [...seq.slice(0, step)].map((s) => builders[s]));
      const s = seq[step - 1];
      let expectedSize;
      [expectedSize, minTokenId] = expectedQueueStep(s, queue.n_vocab, c.ids.length, minTokenId, topK, topP, minP);
      assert.equal(c.ids.length, expectedSize);
      if (c.sorted || s === "k") {
        assert.equal(c.ids[0], queue.n_vocab - 1);
        assert.equal(c.ids[expectedSize - 1], minTokenId);
      }
    }
  });
}

// --- transformers tests/generation/test_logits_process.py ----------------------------------

for (const c of VECTORS.transformers) {
  test(`transformers vector holds: ${label(c.source)}`, () => {
    const result = c.probs
      ? applySamplers(null, c.samplers, c.history || [], { probs: c.probs })
      : applySamplers(c.logits, c.samplers, c.history || []);
    const probs = result.probs;
    if (c.expected_probs) {
      probs.forEach((p, i) => assert.ok(Math.abs(p - c.expected_probs[i]) <= c.tolerance * (1 + c.expected_probs[i])));
    }
    if (c.expected_logits) assert.ok(maxAbsDiff(probs, softmax(c.expected_logits)) < c.tolerance);
    if (c.expected_kept_ids) {
      assert.deepEqual(probs.flatMap((p, i) => (p > 0 ? [i] : [])), c.expected_kept_ids);
    }
    if (c.expected_kept !== undefined) assert.equal(result.kept, c.expected_kept);
    if (c.expect) {
      const before = softmax(c.logits);
      const [maxA, minA, maxB, minB] = [Math.max(...probs), Math.min(...probs), Math.max(...before), Math.min(...before)];
      assert.ok(c.expect === "sharper" ? maxA > maxB && minA < minB : maxA < maxB && minA > minB);
    }
  });
}

// --- libstdc++ ----------------------------------------------------------------------------

test("mt19937 gives the C++ standard's 10000th output", () => {
  // [rand.predef]: default-constructed mt19937 (seed 5489), 10000th output 4123659995.
  const rng = new Mt19937(5489);
  for (let i = 0; i < 9999; i++) rng.nextU32();
  assert.equal(rng.nextU32(), 4123659995);
});

for (const c of VECTORS.libstdcxx.mt19937) {
  test(`random draws match libstdc++ for seed ${c.seed}`, () => {
    let rng = new Mt19937(c.seed);
    assert.deepEqual(Array.from({ length: 6 }, () => rng.nextU32()), c.raw);
    rng = new Mt19937(c.seed);
    assert.deepEqual(Array.from({ length: 6 }, () => uniformFloat(rng)), c.uniform_float.map(Math.fround));
    rng = new Mt19937(c.seed);
    assert.deepEqual(Array.from({ length: 6 }, () => canonicalDouble(rng)), c.uniform_double);
  });
}

for (const c of VECTORS.libstdcxx.discrete) {
  test(`discrete_distribution matches libstdc++ for seed ${c.seed}, weights ${c.weights}`, () => {
    const rng = new Mt19937(c.seed);
    const weights = Float32Array.from(c.weights);
    assert.deepEqual(Array.from({ length: 12 }, () => discrete(rng, weights)), c.draws);
  });
}

for (const c of VECTORS.libstdcxx.sort_all_equivalent) {
  test(`std::sort order with NaN scores matches libstdc++ for n=${c.n}`, () => {
    assert.deepEqual(sortOrderAllEquivalent(c.n), c.order);
  });
}

// --- behaviour ----------------------------------------------------------------------------

test("temperature 0 is greedy and keeps the first of tied maxima", () => {
  const result = applySamplers([1, 3, 2, 3], [{ name: "temperature", t: 0 }]);
  assert.deepEqual(result.probs, [0, 1, 0, 0]);
  assert.equal(result.kept, 1);
});

test("ties are broken by position (top-k, typical)", () => {
  const topK = applySamplers([0.5, 0.5, 0.5, 0.1], [{ name: "top_k", k: 2 }]);
  assert.deepEqual(topK.probs.map((p) => p > 0), [true, true, false, false]);
  assert.deepEqual(applySamplers([0, 0, 0, 0], [{ name: "typical", p: 0.3 }]).probs, [0.5, 0.5, 0, 0]);
});

test("top-p stops at p, typical only beyond it", () => {
  // llama.cpp: `cum_sum >= p` for top-p, `cum_sum > p` for typical.
  assert.equal(applySamplers([0, 0], [{ name: "top_p", p: 0.5 }]).kept, 1);
  assert.equal(applySamplers([0, 0], [{ name: "typical", p: 0.5 }]).kept, 2);
});

test("min-p compares in float32", () => {
  // max + logf(0.5) in float32 equals the second logit exactly: it stays (llama.cpp keeps both).
  assert.equal(applySamplers([0, Math.fround(Math.log(0.5))], [{ name: "min_p", p: 0.5 }]).kept, 2);
});

test("disabled values leave the distribution alone", () => {
  const probs = [0.1, 0.2, 0.3, 0.4];
  for (const spec of [
    { name: "top_p", p: 1 },
    { name: "min_p", p: 0 },
    { name: "typical", p: 1 },
    { name: "top_k", k: 0 },
    { name: "top_n_sigma", n: 0 },
    { name: "xtc", probability: 1, threshold: 0.51 },
    { name: "penalties" },
    { name: "dry", multiplier: 0 },
  ]) {
    const result = applySamplers(null, [spec], [0, 1, 2, 3, 0, 1, 2, 3], { probs });
    assert.ok(maxAbsDiff(result.probs, probs) < 1e-7, spec.name);
    assert.equal(result.kept, 4);
  }
});

test("entropy is in nats", () => {
  assert.ok(Math.abs(applySamplers(new Array(8).fill(0), []).entropy - Math.log(8)) < 1e-12);
});

test("stages show each sampler in order", () => {
  const result = applySamplers(null, [{ name: "top_k", k: 3 }, { name: "temperature", t: 0 }], [], { probs: [0.1, 0.2, 0.3, 0.4] });
  assert.deepEqual(result.stages.map((s) => s.name), ["input", "top_k", "temperature"]);
  assert.deepEqual(result.stages.map((s) => s.kept), [4, 3, 1]);
});

test("mirostat v2 starts mu at twice tau and counts its draws", () => {
  const first = mirostatV2([0, 1, 2, 3], 5, 0.1, null, 1);
  assert.equal(first.draws, 2);
  assert.deepEqual(mirostatV2([0, 1, 2, 3], 5, 0.1, 10, 1), first);
});

// --- bad input ----------------------------------------------------------------------------

const badInputs = [
  [[], [], [], "logits"],
  [[1, NaN], [], [], "logits[1]"],
  [[1, Infinity], [], [], "logits[1]"],
  [[1, "x"], [], [], "logits[1]"],
  [[-Infinity, -Infinity], [], [], "logits"],
  [[1], { name: "top_k" }, [], "samplers"],
  [[1], ["top_k"], [], "samplers[0]"],
  [[1], [{ k: 3 }], [], "samplers[0].name"],
  [[1], [{ name: "top_q" }], [], "samplers[0].name"],
  [[1], [{ name: "top_k", k: 40 }, { name: "top_p" }], [], "samplers[1].p"],
  [[1], [{ name: "top_k", k: 2.5 }], [], "samplers[0].k"],
  [[1], [{ name: "top_p", p: "0.9" }], [], "samplers[0].p"],
  [[1], [{ name: "top_p", p: 0.9, q: 1 }], [], "samplers[0].q"],
  [[1], [{ name: "temperature", t: -0.5 }], [], "samplers[0].t"],
  [[1], [{ name: "penalties", repeat: 0 }], [], "samplers[0].repeat"],
  [[1], [{ name: "dry", multiplier: 1, breakers: [[1, -2]] }], [], "samplers[0].breakers[0][1]"],
  [[1], [], [0, -1], "history[1]"],
  [[1], [{ name: "temperature", t: 1e-44 }], [], "samplers[0]"],
];
for (const [logits, samplers, history, field] of badInputs) {
  test(`bad input names ${field}`, () => {
    assert.throws(
      () => applySamplers(logits, samplers, history),
      (e) => e instanceof SamplingError && e.field === field && e.message.startsWith(`${field}: `),
    );
  });
}
