// What llama.cpp's sampler chain does to one next-token distribution.
//
// A line-for-line twin of calculators/sampling.py (read its docstring for the rules);
// tests/calculators/test_sampling_js.py runs both on the same inputs and requires
// them to agree. No DOM: the page imports this module, node --test imports it too.
//
// A port of llama.cpp's CPU samplers (src/llama-sampler.cpp, formerly
// src/llama-sampling.cpp). The state is llama.cpp's llama_token_data_array: the
// surviving tokens in their current array order, a float32 logit each, and a
// `sorted` flag. Float32 arithmetic is emulated with Math.fround after every
// operation llama.cpp does in `float` (and by storing logits in a Float32Array);
// expf/logf/log2f/powf are the float64 functions rounded to float32. Sorts are stable
// (ties keep array order); llama.cpp's sorts are not, so which of two equal logits
// survives a cut is implementation-defined there. Random draws follow libstdc++:
// std::mt19937, uniform_real_distribution<float> = float(x) / 2^32,
// discrete_distribution = lower_bound over cumulative sums with a
// generate_canonical<double, 53> draw.

export const MAX_VOCAB = 300000;
export const MAX_HISTORY = 300000;
export const MAX_SAMPLERS = 32;
export const MAX_BREAKERS = 64;
export const MAX_BREAKER_TOKENS = 20; // llama.cpp's MAX_SEQ_LEN for a breaker's tail
export const MAX_DRAWS = 1000000;
export const UINT32_MAX = 4294967295;
export const FLT_MAX = 3.4028234663852886e38;

const f32 = Math.fround;
const expf = (x) => f32(Math.exp(x));
const logf = (x) => f32(Math.log(x));
const log2f = (x) => f32(Math.log2(x));

export class SamplingError extends Error {
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.name = "SamplingError";
    this.field = field;
    this.reason = message;
  }
}

// `float s = 0; for (...) s += v;` — a sequential float32 sum.
function sumF32(values) {
  let s = 0;
  for (let i = 0; i < values.length; i++) s = f32(s + values[i]);
  return s;
}

// --- the candidate array (llama_token_data_array) -----------------------------------

function makeCandidates(logits) {
  const n = logits.length;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  return { ids, logits: Float32Array.from(logits), sorted: false };
}

function take(c, index) {
  const ids = new Int32Array(index.length);
  const logits = new Float32Array(index.length);
  for (let i = 0; i < index.length; i++) {
    ids[i] = c.ids[index[i]];
    logits[i] = c.logits[index[i]];
  }
  c.ids = ids;
  c.logits = logits;
}

function truncate(c, start, end) {
  c.ids = c.ids.slice(start, end);
  c.logits = c.logits.slice(start, end);
}

function range(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

// Sort by logit, descending, stable; returns the permutation applied.
function sortCandidates(c) {
  const l = c.logits;
  const order = range(l.length).sort((a, b) => (l[a] > l[b] ? -1 : l[a] < l[b] ? 1 : a - b));
  take(c, order);
  c.sorted = true;
  return order;
}

function maxOf(values) {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i];
  return m;
}

// llama_sampler_softmax_impl: float32 probabilities in the current array order.
function softmax(c, doSort) {
  if (doSort && !c.sorted) sortCandidates(c);
  const maxL = c.sorted ? c.logits[0] : maxOf(c.logits);
  const p = new Float32Array(c.logits.length);
  for (let i = 0; i < p.length; i++) p[i] = expf(f32(c.logits[i] - maxL));
  const cum = sumF32(p);
  for (let i = 0; i < p.length; i++) p[i] = f32(p[i] / cum);
  return p;
}

// llama_sampler_temp_impl: divide by temp, or keep only the first maximum when temp <= 0.
function tempImpl(c, temp) {
  const n = c.logits.length;
  if (n === 0) return;
  if (temp <= 0) {
    let keep = 0;
    for (let i = 1; i < n; i++) if (c.logits[i] > c.logits[keep]) keep = i;
    for (let i = 0; i < n; i++) if (i !== keep) c.logits[i] = -Infinity;
    return;
  }
  for (let i = 0; i < n; i++) c.logits[i] = f32(c.logits[i] / temp);
}

// --- the samplers, one function each ---------------------------------------------------

// llama_sampler_temp_ext_apply (common's TEMPERATURE; range 0 = plain temperature).
function temperature(c, { t, range: delta = 0, exponent = 1 }) {
  const temp = f32(t);
  delta = f32(delta);
  const expo = f32(exponent);
  if (!(delta > 0)) {
    tempImpl(c, temp);
    return;
  }
  const minTemp = Math.max(0, f32(temp - delta));
  const maxTemp = f32(temp + delta);
  const n = c.logits.length;
  if (n <= 1) return;
  const maxEntropy = -logf(f32(1 / n));
  const p = softmax(c, true);
  let entropy = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0) entropy = f32(entropy - f32(p[i] * logf(p[i])));
  }
  const normalized = f32(entropy / maxEntropy);
  const powed = f32(Math.pow(normalized, expo));
  const dynTemp = f32(minTemp + f32(f32(maxTemp - minTemp) * powed));
  tempImpl(c, dynTemp);
}

// llama_sampler_top_k_impl: keep the k highest logits; k <= 0 does nothing.
function topK(c, { k }) {
  if (k <= 0) return;
  k = Math.min(k, c.logits.length);
  if (!c.sorted) sortCandidates(c);
  truncate(c, 0, k);
}

// llama_sampler_top_p_apply: the smallest head whose float32 cumulative sum reaches p.
function topP(c, { p, min_keep: minKeep = 0 }) {
  p = f32(p);
  if (p >= 1) return;
  let probs = softmax(c, false);
  if (!c.sorted) {
    const order = sortCandidates(c);
    probs = Float32Array.from(order, (i) => probs[i]);
  }
  const n = probs.length;
  let lastIdx = n;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum = f32(cum + probs[i]);
    if (cum >= p && i + 1 >= minKeep) {
      lastIdx = i + 1;
      break;
    }
  }
  truncate(c, 0, lastIdx);
}

// llama_sampler_min_p_apply: keep logits >= max + logf(p), i.e. p_i >= p * p_max.
function minP(c, { p, min_keep: minKeep = 0 }) {
  p = f32(p);
  if (p <= 0 || c.logits.length === 0) return;
  const logP = logf(p);
  if (!c.sorted) {
    const maxLogit = Math.max(-FLT_MAX, maxOf(c.logits));
    const minLogit = f32(maxLogit + logP);
    const keep = [];
    for (let i = 0; i < c.logits.length; i++) if (c.logits[i] >= minLogit) keep.push(i);
    if (keep.length > 0 && keep.length >= minKeep) {
      take(c, keep);
      return;
    }
    sortCandidates(c);
  }
  const minLogit = f32(c.logits[0] + logP);
  let i = 1;
  for (; i < c.logits.length; i++) {
    if (c.logits[i] < minLogit && i >= minKeep) break;
  }
  truncate(c, 0, i);
}

// The permutation libstdc++'s std::sort applies when the comparator is always false
// (bits/stl_algo.h: __move_median_to_first swaps the middle to the front, then
// __unguarded_partition swaps pairs inwards; ranges <= 16 are left as they are).
export function sortOrderAllEquivalent(n) {
  const order = range(n);
  const swap = (i, j) => {
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  };
  const introsortLoop = (first, last) => {
    while (last - first > 16) {
      swap(first, first + Math.floor((last - first) / 2));
      let lo = first + 1;
      let hi = last;
      for (;;) {
        hi -= 1;
        if (!(lo < hi)) break;
        swap(lo, hi);
        lo += 1;
      }
      introsortLoop(lo, last);
      last = lo;
    }
  };
  introsortLoop(0, n);
  return order;
}

// llama_sampler_typical_apply: rank by |-log p - H|, keep until the sum exceeds p.
// A p = 0 candidate makes llama.cpp's entropy NaN; see sampling.py's typical().
function typical(c, { p, min_keep: minKeep = 0 }) {
  p = f32(p);
  if (p >= 1) return;
  const probs = softmax(c, true);
  const n = probs.length;
  const logProbs = Float32Array.from(probs, (v) => logf(v));
  let entropy = 0;
  for (let i = 0; i < n; i++) entropy = f32(entropy + f32(-probs[i] * logProbs[i]));
  const shifted = Float32Array.from(logProbs, (lp) => Math.abs(f32(-lp - entropy)));
  let order;
  if (Number.isNaN(entropy)) {
    order = sortOrderAllEquivalent(n);
  } else {
    order = range(n).sort((a, b) => (shifted[a] < shifted[b] ? -1 : shifted[a] > shifted[b] ? 1 : a - b));
  }
  let lastIdx = n;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum = f32(cum + probs[order[i]]);
    if (cum > p && (minKeep === 0 || i >= minKeep - 1)) {
      lastIdx = i + 1;
      break;
    }
  }
  take(c, order.slice(0, lastIdx));
  c.sorted = false;
}

// llama_sampler_top_n_sigma_apply: mask logits below max - n·σ (σ over finite logits).
function topNSigma(c, { n }) {
  n = f32(n);
  const size = c.logits.length;
  if (n <= 0 || size <= 1) return;
  let maxL = c.logits[0];
  let sum = 0;
  let count = 0;
  for (let i = 0; i < size; i++) {
    const l = c.logits[i];
    if (l !== -Infinity) {
      maxL = Math.max(maxL, l);
      sum = f32(sum + l);
      count++;
    }
  }
  const mean = count > 0 ? f32(sum / count) : 0;
  let acc = 0;
  for (let i = 0; i < size; i++) {
    const l = c.logits[i];
    if (l !== -Infinity) {
      const d = f32(l - mean);
      acc = f32(acc + d * d); // pow(float, 2) is a double; one rounding into the float
    }
  }
  const std = count > 0 ? f32(Math.sqrt(f32(acc / count))) : 0;
  const bar = f32(maxL - f32(n * std));
  for (let i = 0; i < size; i++) if (c.logits[i] < bar) c.logits[i] = -Infinity;
}

// llama_sample_xtc_apply: with chance `probability`, drop every token at or above
// `threshold` except the least likely of them. One coin from std::mt19937(seed).
function xtc(c, { probability, threshold, min_keep: minKeep = 0, seed = 0 }) {
  probability = f32(probability);
  threshold = f32(threshold);
  const n = c.logits.length;
  if (probability <= 0 || threshold > f32(0.5) || n < 2) return;
  const chance = uniformFloat(new Mt19937(seed));
  if (chance > probability) return;
  const probs = softmax(c, true);
  let posLast = 0;
  for (let i = 0; i < n; i++) {
    if (probs[i] >= threshold) posLast = i;
    else break;
  }
  if (n - posLast >= minKeep && posLast > 0) truncate(c, posLast, n);
}

function lastTokens(history, lastN) {
  return lastN < history.length ? history.slice(history.length - lastN) : history.slice();
}

// llama_sampler_penalties_apply over the last `last_n` tokens of the history.
function penalties(c, { repeat = 1, frequency = 0, presence = 0, last_n: lastN = 64 }, history) {
  repeat = f32(repeat);
  frequency = f32(frequency);
  presence = f32(presence);
  lastN = lastN === -1 ? history.length : Math.max(lastN, 0);
  if (lastN === 0 || (repeat === 1 && frequency === 0 && presence === 0)) return;
  const counts = new Map();
  for (const t of lastTokens(history, lastN)) counts.set(t, (counts.get(t) || 0) + 1);
  for (let i = 0; i < c.logits.length; i++) {
    const count = counts.get(c.ids[i]);
    if (count === undefined) continue;
    let l = c.logits[i];
    l = l <= 0 ? f32(l * repeat) : f32(l / repeat);
    c.logits[i] = f32(l - f32(f32(count * frequency) + presence));
  }
  c.sorted = false;
}

// llama_sampler_dry_apply ("Don't Repeat Yourself", koboldcpp PR 982 by pi6am).
// Breakers are token ids or lists of ids (head, then tail), as in llama.cpp's
// llama_sampler_init_dry_testing; llama.cpp proper tokenizes breaker strings.
function dry(c, { multiplier, base = 1.75, allowed_length: allowedLength = 2, last_n: lastN = -1, breakers = [] }, history) {
  multiplier = f32(multiplier);
  base = f32(base);
  lastN = lastN === -1 ? history.length : Math.max(lastN, 0);
  if (multiplier === 0 || base < 1 || lastN === 0) return;

  const processed = new Map();
  for (const breaker of breakers) {
    const seq = Array.isArray(breaker) ? breaker : [breaker];
    if (!processed.has(seq[0])) processed.set(seq[0], []);
    processed.get(seq[0]).push(seq.slice(1));
  }

  const tokens = lastTokens(history, lastN);
  const lastNRepeat = tokens.length;
  if (lastNRepeat <= allowedLength) return;
  const rat = (i) => tokens[lastNRepeat - 1 - i];

  // Step 1: the most recent breaker limits how far back a repeat may reach.
  let repLimit = lastNRepeat;
  for (let i = 0; i < lastNRepeat; i++) {
    const tails = processed.get(rat(i));
    if (tails === undefined) continue;
    let longestMatch = -1;
    for (const tail of tails) {
      const seqLen = tail.length;
      if (seqLen > longestMatch && seqLen <= i) {
        let match = true;
        for (let offset = 0; offset < seqLen; offset++) {
          if (tail[offset] !== rat(i - offset - 1)) {
            match = false;
            break;
          }
        }
        if (match) longestMatch = seqLen;
      }
    }
    if (longestMatch >= 0) {
      repLimit = i - longestMatch;
      break;
    }
  }
  if (repLimit < allowedLength) return;

  // Step 2: Z-algorithm, run backwards over the context.
  const repeatCount = new Array(lastNRepeat).fill(0);
  const last = lastNRepeat - 1;
  let rt = 0;
  let lt = 0;
  for (let k = 1; k < lastNRepeat; k++) {
    if (k > rt) {
      let n = 0;
      while (n + k < lastNRepeat && rat(n) === rat(n + k)) n++;
      repeatCount[last - k] = Math.min(n, repLimit);
      if (n > 0) {
        lt = k;
        rt = k + n - 1;
      }
    } else {
      const p = k - lt;
      const rightPartLen = rt - k + 1;
      if (repeatCount[last - p] < rightPartLen) {
        repeatCount[last - k] = Math.min(repeatCount[last - p], repLimit);
      } else {
        let i = rt + 1;
        while (i < lastNRepeat && rat(i) === rat(i - k)) i++;
        repeatCount[last - k] = Math.min(i - k, repLimit);
        lt = k;
        rt = i - 1;
      }
    }
  }

  // Step 3: the token after each repeat would extend it; keep the longest per token.
  const maxTokenRepeat = new Map();
  for (let i = 0; i < lastNRepeat - 1; i++) {
    const repeatLen = repeatCount[i];
    if (repeatLen >= allowedLength) {
      const token = rat(lastNRepeat - 2 - i);
      const seen = maxTokenRepeat.get(token);
      if (seen === undefined || seen < repeatLen) maxTokenRepeat.set(token, repeatLen);
    }
  }

  // Step 4: penalise; max_exponent keeps pow(base, exp) below FLT_MAX.
  let maxExponent = 0;
  if (base > f32(1.000001)) maxExponent = Math.trunc(f32(f32(88.7228391) / logf(base)));
  for (let i = 0; i < c.logits.length; i++) {
    const length = maxTokenRepeat.get(c.ids[i]);
    if (length === undefined) continue;
    if ((processed.get(c.ids[i]) || []).some((tail) => tail.length === 0)) continue;
    let repeatExp = length - allowedLength;
    if (maxExponent > 0 && repeatExp > maxExponent) repeatExp = maxExponent;
    const penalty = f32(multiplier * Math.pow(base, repeatExp)); // std::pow(float, int) is double
    c.logits[i] = f32(c.logits[i] - penalty);
  }
  c.sorted = false;
}

const SAMPLERS = {
  dry,
  min_p: minP,
  penalties,
  temperature,
  top_k: topK,
  top_n_sigma: topNSigma,
  top_p: topP,
  typical,
  xtc,
};

// --- random numbers: std::mt19937 and libstdc++'s distributions ------------------------

// std::mt19937 seeded with one 32-bit integer (init_genrand). Hand-written: the
// browser has no Mersenne Twister, and the sequence must be exactly C++'s.
export class Mt19937 {
  constructor(seed, skip = 0) {
    this.mt = new Uint32Array(624);
    this.index = 624;
    this.draws = 0;
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    for (let i = 0; i < skip; i++) this.nextU32();
  }

  twist() {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      let v = mt[(i + 397) % 624] ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }

  nextU32() {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    this.draws++;
    return y >>> 0;
  }
}

// std::uniform_real_distribution<float>(0, 1) in libstdc++: one draw, float(x) / 2^32.
export function uniformFloat(rng) {
  const value = f32(rng.nextU32()) / 4294967296;
  return value < 1 ? value : f32(1 - 2 ** -24);
}

// std::generate_canonical<double, 53> in libstdc++: (x1 + x2·2^32) / 2^64.
export function canonicalDouble(rng) {
  const x1 = rng.nextU32();
  const x2 = rng.nextU32();
  const value = (x1 + x2 * 4294967296) / 18446744073709551616;
  return value < 1 ? value : 1 - 2 ** -53;
}

// std::discrete_distribution<int>(weights)(rng) in libstdc++ (bits/random.tcc).
export function discrete(rng, weights) {
  if (weights.length < 2) return 0; // no draw
  return drawFrom(rng, cumulative(weights));
}

// The cumulative table discrete_distribution builds: float64 sums of weight/total, the
// last entry forced to 1.
export function cumulative(weights) {
  const n = weights.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const cp = new Float64Array(n);
  let run = 0;
  for (let i = 0; i < n; i++) {
    run += weights[i] / total;
    cp[i] = run;
  }
  cp[n - 1] = 1;
  return cp;
}

// One draw from a cumulative table: lower_bound on one generate_canonical<double, 53>.
export function drawFrom(rng, cp) {
  const u = canonicalDouble(rng);
  let lo = 0;
  let hi = cp.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cp[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// --- validation (messages identical to sampling.py) -------------------------------------

const REQUIRED = Symbol("required");

// name -> {parameter: [default, kind, minimum, maximum]}; see sampling.py PARAMETERS.
export const PARAMETERS = {
  temperature: { t: [REQUIRED, "number", 0, null], range: [0, "number", 0, null], exponent: [1, "number", 0, null] },
  top_k: { k: [REQUIRED, "int", 0, null] },
  top_p: { p: [REQUIRED, "number", 0, null], min_keep: [0, "int", 0, MAX_VOCAB] },
  min_p: { p: [REQUIRED, "number", 0, null], min_keep: [0, "int", 0, MAX_VOCAB] },
  typical: { p: [REQUIRED, "number", 0, null], min_keep: [0, "int", 0, MAX_VOCAB] },
  top_n_sigma: { n: [REQUIRED, "number", 0, null] },
  xtc: {
    probability: [REQUIRED, "number", 0, null],
    threshold: [REQUIRED, "number", 0, null],
    min_keep: [0, "int", 0, MAX_VOCAB],
    seed: [0, "int", 0, UINT32_MAX],
  },
  penalties: {
    repeat: [1, "number", "positive", null],
    frequency: [0, "number", null, null],
    presence: [0, "number", null, null],
    last_n: [64, "int", -1, MAX_HISTORY],
  },
  dry: {
    multiplier: [REQUIRED, "number", 0, null],
    base: [1.75, "number", 0, null],
    allowed_length: [2, "int", 0, MAX_HISTORY],
    last_n: [-1, "int", -1, MAX_HISTORY],
    breakers: [[], "breakers", null, null],
  },
};

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const isList = (value) => Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));

function checkNumber(field, value, kind, minimum, maximum) {
  if (typeof value !== "number") {
    throw new SamplingError(field, kind === "int" ? "must be an integer" : "must be a number");
  }
  if (!Number.isFinite(value)) throw new SamplingError(field, "must be a finite number");
  if (kind === "int") {
    if (!Number.isInteger(value)) throw new SamplingError(field, "must be an integer");
  } else if (Math.abs(value) > FLT_MAX) {
    throw new SamplingError(field, "must fit in float32 (at most 3.4028235e38 in size)");
  }
  if (minimum === "positive") {
    if (!(value > 0)) throw new SamplingError(field, "must be greater than 0");
  } else if (minimum !== null && value < minimum) {
    throw new SamplingError(field, `must be at least ${minimum}`);
  }
  if (maximum !== null && value > maximum) throw new SamplingError(field, `must be at most ${maximum}`);
  return value;
}

const checkTokenId = (field, value) => checkNumber(field, value, "int", 0, UINT32_MAX);

function checkBreakers(field, value) {
  if (!Array.isArray(value)) throw new SamplingError(field, "must be a list");
  if (value.length > MAX_BREAKERS) throw new SamplingError(field, `at most ${MAX_BREAKERS} breakers`);
  return value.map((breaker, i) => {
    const here = `${field}[${i}]`;
    if (Array.isArray(breaker)) {
      if (breaker.length < 1 || breaker.length > MAX_BREAKER_TOKENS + 1) {
        throw new SamplingError(here, `must hold 1 to ${MAX_BREAKER_TOKENS + 1} token ids`);
      }
      return breaker.map((t, j) => checkTokenId(`${here}[${j}]`, t));
    }
    if (typeof breaker === "number") return checkTokenId(here, breaker);
    throw new SamplingError(here, "must be a token id or a list of token ids");
  });
}

function checkSampler(index, spec) {
  const field = `samplers[${index}]`;
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new SamplingError(field, "must be an object with a name");
  }
  if (!hasOwn(spec, "name")) throw new SamplingError(`${field}.name`, "required");
  const name = spec.name;
  if (typeof name !== "string") throw new SamplingError(`${field}.name`, "must be a string");
  if (!hasOwn(PARAMETERS, name)) {
    const names = Object.keys(PARAMETERS).sort().join(", ");
    throw new SamplingError(`${field}.name`, `unknown sampler '${name}'; expected one of ${names}`);
  }
  const table = PARAMETERS[name];
  const unknown = Object.keys(spec).filter((key) => key !== "name" && !hasOwn(table, key)).sort();
  if (unknown.length) throw new SamplingError(`${field}.${unknown[0]}`, `unknown parameter for ${name}`);
  const params = {};
  for (const [key, [fallback, kind, minimum, maximum]] of Object.entries(table)) {
    const value = hasOwn(spec, key) ? spec[key] : undefined;
    if (value === undefined || value === null) {
      if (fallback === REQUIRED) throw new SamplingError(`${field}.${key}`, "required");
      params[key] = kind === "breakers" ? [] : fallback;
    } else if (kind === "breakers") {
      params[key] = checkBreakers(`${field}.${key}`, value);
    } else {
      params[key] = checkNumber(`${field}.${key}`, value, kind, minimum, maximum);
    }
  }
  return [name, params];
}

function checkSamplers(samplers) {
  if (!Array.isArray(samplers)) throw new SamplingError("samplers", "must be a list");
  if (samplers.length > MAX_SAMPLERS) throw new SamplingError("samplers", `at most ${MAX_SAMPLERS} samplers`);
  return samplers.map((spec, i) => checkSampler(i, spec));
}

function checkHistory(history) {
  if (!isList(history)) throw new SamplingError("history", "must be a list of token ids");
  if (history.length > MAX_HISTORY) {
    throw new SamplingError("history", `at most ${MAX_HISTORY} tokens (got ${history.length})`);
  }
  return Array.from(history, (t, i) => checkTokenId(`history[${i}]`, t));
}

function checkVector(field, values) {
  if (!isList(values)) throw new SamplingError(field, "must be a list of numbers");
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== "number") throw new SamplingError(`${field}[${i}]`, "must be a number");
  }
  if (values.length === 0) throw new SamplingError(field, "must not be empty");
  if (values.length > MAX_VOCAB) {
    throw new SamplingError(field, `at most ${MAX_VOCAB} entries (got ${values.length})`);
  }
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) throw new SamplingError(`${field}[${i}]`, "must not be NaN");
  }
  return values;
}

function checkLogits(logits) {
  const values = checkVector("logits", logits);
  let anyFinite = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v > FLT_MAX || (v < -FLT_MAX && Number.isFinite(v))) {
      throw new SamplingError(`logits[${i}]`, "must fit in float32 (at most 3.4028235e38 in size, or -infinity)");
    }
    if (Number.isFinite(v)) anyFinite = true;
  }
  if (!anyFinite) throw new SamplingError("logits", "at least one entry must be finite");
  return Float32Array.from(values);
}

function checkProbs(probs) {
  const values = checkVector("probs", probs);
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0 || values[i] > 1) throw new SamplingError(`probs[${i}]`, "must be between 0 and 1");
  }
  // llama.cpp's tests turn probabilities into logits with logf(p) on float32 values.
  const logits = Float32Array.from(values, (v) => logf(f32(v)));
  if (!logits.some((v) => Number.isFinite(v))) {
    throw new SamplingError("probs", "at least one entry must be greater than 0 in float32");
  }
  return logits;
}

function inputLogits(logits, probs) {
  if ((logits === null || logits === undefined) === (probs === null || probs === undefined)) {
    throw new SamplingError("logits", "give either logits or probs");
  }
  return probs === null || probs === undefined ? checkLogits(logits) : checkProbs(probs);
}

// --- the chain ----------------------------------------------------------------------------

// llama_sampler_dist_apply's probabilities (float p, double sum), scattered to token ids.
function distribution(c, nVocab) {
  const n = c.logits.length;
  const maxL = c.sorted ? c.logits[0] : maxOf(c.logits);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    p[i] = expf(f32(c.logits[i] - maxL));
    sum += p[i];
  }
  const out = new Array(nVocab).fill(0);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    out[c.ids[i]] = f32(p[i] / sum);
    if (c.logits[i] !== -Infinity) kept++;
  }
  return [out, kept];
}

// Shannon entropy in nats (natural log).
export function entropyNats(probs) {
  let h = 0;
  for (const p of probs) if (p > 0) h -= p * Math.log(p);
  return h;
}

function run(values, chain, tokens, onStage = null) {
  const c = makeCandidates(values);
  if (onStage) onStage("input", c);
  chain.forEach(([name, params], index) => {
    SAMPLERS[name](c, params, tokens);
    let finite = false;
    for (const l of c.logits) {
      if (Number.isNaN(l) || l === Infinity) {
        throw new SamplingError(`samplers[${index}]`, "pushes logits beyond float32 range; llama.cpp would produce NaN");
      }
      if (l !== -Infinity) finite = true;
    }
    if (!finite) throw new SamplingError(`samplers[${index}]`, "leaves no token with a finite logit");
    if (onStage) onStage(name, c);
  });
  return c;
}

// The candidate array llama.cpp holds after the chain: {ids, logits, sorted} in its
// array order, masked tokens still there at -Infinity. Same as sampling.py run_chain.
export function runChain(logits, samplers, history = [], { probs = null } = {}) {
  return run(inputLogits(logits, probs), checkSamplers(samplers), checkHistory(history));
}

// applySamplers(logits, samplers, history, {probs, stages}) -> {probs, kept, entropy, stages}
// Same contract as sampling.py apply_samplers; pass logits = null with options.probs
// to start from probabilities. Throws SamplingError ("samplers[2].p: ...").
export function applySamplers(logits, samplers, history = [], { probs = null, stages = true } = {}) {
  const values = inputLogits(logits, probs);
  const tokens = checkHistory(history);
  const chain = checkSamplers(samplers);
  const nVocab = values.length;
  const snapshots = [];
  const snapshot = (name, c) => {
    const [dist, kept] = distribution(c, nVocab);
    snapshots.push({ name, probs: dist, kept });
  };
  const c = run(values, chain, tokens, stages ? snapshot : null);
  const [dist, kept] = distribution(c, nVocab);
  const result = { probs: dist, kept, entropy: entropyNats(dist) };
  if (stages) result.stages = snapshots;
  return result;
}

// One step of llama_sampler_mirostat_v2_apply; same contract as sampling.py mirostat_v2.
// mu = null starts at 2·tau; draws = 32-bit outputs already taken from mt19937(seed).
export function mirostatV2(logits, tau = 5, eta = 0.1, mu = null, seed = 0, draws = 0, { probs = null } = {}) {
  const values = inputLogits(logits, probs);
  tau = checkNumber("tau", tau, "number", 0, null);
  eta = checkNumber("eta", eta, "number", 0, null);
  mu = mu === null || mu === undefined ? f32(2 * f32(tau)) : f32(checkNumber("mu", mu, "number", null, null));
  seed = checkNumber("seed", seed, "int", 0, UINT32_MAX);
  draws = checkNumber("draws", draws, "int", 0, MAX_DRAWS);
  tau = f32(tau);
  eta = f32(eta);

  const c = makeCandidates(values);
  let p = softmax(c, true);
  let size = p.length;
  for (let i = 0; i < p.length; i++) {
    if (-log2f(p[i]) > mu) {
      size = i;
      break;
    }
  }
  truncate(c, 0, Math.max(size, 1));
  p = softmax(c, true);
  const rng = new Mt19937(seed, draws);
  const idx = discrete(rng, p);
  const surprise = -log2f(p[idx]);
  const newMu = f32(mu - f32(eta * f32(surprise - tau)));

  const out = new Array(values.length).fill(0);
  for (let i = 0; i < p.length; i++) out[c.ids[i]] = p[i];
  return { probs: out, kept: p.length, token: c.ids[idx], mu: newMu, draws: rng.draws };
}
