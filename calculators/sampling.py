"""What llama.cpp's sampler chain does to one next-token distribution.

A port of llama.cpp's CPU samplers (`src/llama-sampler.cpp`, formerly
`src/llama-sampling.cpp`; checked against the copy vendored in llama-cpp-python 0.3.36).
Each sampler is one function below, named after the llama.cpp function it ports, and
works on the same state llama.cpp's `llama_token_data_array` holds: candidates in
their current array order, a float32 logit each, and a `sorted` flag. We keep that
order because it changes results: llama.cpp sums probabilities in float32 in array
order, and thresholds such as top-p's `cum_sum >= p` can flip on the last bit.

Exactness rules (the same in `static/js/sampling.js`, which must agree with this file):

- Arithmetic is float32 where llama.cpp's is: logits, parameters and every `float`
  expression are rounded to float32 after each operation, in llama.cpp's order.
  `expf`/`logf`/`log2f`/`powf` are computed in float64 and rounded to float32, which
  is the correctly rounded result; glibc's float functions are within 1 ulp of it, so
  a probability may differ from llama.cpp's in the last float32 bit, rarely.
  Compilers that fuse `a*b+c` into one FMA (clang on arm64 does by default) can also
  move the last bit; x86-64 builds without `-march=native` do not fuse.
- Ties: llama.cpp sorts with `std::partial_sort`/`std::sort` or a bucket sort, none of
  them stable, so which of two equal logits survives a cut (top-k 1 with two equal
  maxima) is implementation-defined. We sort stably: among equal values the token
  that came first in the array (the lower token id, before any reordering) wins.
  Equal values sum to the same float32 total in any order, so only the identity of the
  kept token at a tie depends on this rule, never a probability value.
- Random draws (XTC's coin, mirostat's pick) follow libstdc++ (Linux builds):
  `std::mt19937(seed)`; `uniform_real_distribution<float>(0, 1)` is
  `generate_canonical<float, 24>`: one 32-bit draw x, `float(x) / 2^32`, clamped below
  1; `discrete_distribution` draws `generate_canonical<double, 53>` from two 32-bit
  draws (x1 + x2·2^32) / 2^64 and takes `lower_bound` in the normalised cumulative
  sums, whose last entry is set to 1.0. Seeds are used as given: llama.cpp's
  LLAMA_DEFAULT_SEED (0xFFFFFFFF, "random") is not special here.

The final distribution is what `llama_sampler_dist_apply` computes before it draws:
`p_i = expf(l_i - max)` in float32, summed in float64, divided, stored as float32.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

MAX_VOCAB = 300_000  # more entries than any vocabulary we know of (Gemma 3: 262,144)
MAX_HISTORY = 300_000
MAX_SAMPLERS = 32
MAX_BREAKERS = 64
MAX_BREAKER_TOKENS = 20  # llama.cpp's MAX_SEQ_LEN for a breaker's tail (llama_sampler_init_dry)
MAX_DRAWS = 1_000_000
UINT32_MAX = 2**32 - 1
FLT_MAX = float(np.finfo(np.float32).max)

_F32 = np.float32
_F64 = np.float64
_NEG_INF = _F32(-np.inf)


class SamplingError(ValueError):
    """Bad input, with the offending field (e.g. "samplers[2].p") for the web layer."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- float32 helpers -------------------------------------------------------------------

def _expf(x: np.ndarray) -> np.ndarray:
    # numpy's own float32 exp is a SIMD approximation (up to a few ulp); exp in float64
    # rounded to float32 is the correctly rounded expf.
    return np.exp(x.astype(_F64)).astype(_F32)


def _logf(x) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=_F64)).astype(_F32)


def _log2f(x) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log2(np.asarray(x, dtype=_F64)).astype(_F32)


def _sum_f32(values: np.ndarray) -> np.float32:
    # `float s = 0; for (...) s += v;` — a sequential float32 sum. np.sum would use
    # pairwise summation and round differently; cumsum (add.accumulate) is sequential.
    if values.size == 0:
        return _F32(0)
    return np.cumsum(values, dtype=_F32)[-1]


# --- the candidate array ---------------------------------------------------------------

@dataclass
class Candidates:
    """llama.cpp's llama_token_data_array: the surviving tokens in array order."""

    ids: np.ndarray  # int64 token ids
    logits: np.ndarray  # float32
    sorted: bool = False

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def take(self, index) -> None:
        self.ids = self.ids[index]
        self.logits = self.logits[index]

    def sort(self) -> np.ndarray:
        """Sort by logit, descending; stable (see the module docstring on ties)."""
        order = np.argsort(-self.logits, kind="stable")
        self.take(order)
        self.sorted = True
        return order


def _softmax(c: Candidates, do_sort: bool) -> np.ndarray:
    """llama_sampler_softmax_impl: float32 probabilities in the current array order."""
    if do_sort and not c.sorted:
        c.sort()
    max_l = c.logits[0] if c.sorted else c.logits.max()
    p = _expf(c.logits - max_l)
    return p / _sum_f32(p)


def _temp_impl(c: Candidates, temp: np.float32) -> None:
    """llama_sampler_temp_impl: divide by temp, or keep only the first maximum when temp <= 0."""
    if c.size == 0:
        return
    if temp <= 0:
        # The loop keeps the first index holding the maximum and sets every other
        # logit to -inf; the tokens stay in the array (size is unchanged).
        keep = int(np.argmax(c.logits))
        logits = np.full_like(c.logits, _NEG_INF)
        logits[keep] = c.logits[keep]
        c.logits = logits
        return
    with np.errstate(over="ignore"):  # a tiny temp overflows to inf; _run reports it
        c.logits = c.logits / temp


# --- the samplers, one function each ----------------------------------------------------

def temperature(c: Candidates, t, range=0.0, exponent=1.0, **_) -> None:
    """llama_sampler_temp_ext_apply (common's TEMPERATURE is temp_ext; range 0 = plain temp).

    t <= 0 is greedy: every logit but the first maximum becomes -inf.
    range > 0 is dynamic temperature: the temperature moves between t - range and
    t + range with the normalised entropy of the candidates raised to `exponent`.
    """
    temp, delta, expo = _F32(t), _F32(range), _F32(exponent)
    if not delta > 0:
        _temp_impl(c, temp)
        return
    min_temp = max(_F32(0), temp - delta)
    max_temp = temp + delta
    if c.size <= 1:
        return
    max_entropy = -_logf(_F32(1) / _F32(c.size))
    p = _softmax(c, True)
    nonzero = p[p > 0]
    entropy = _sum_f32(-(nonzero * _logf(nonzero)))  # entropy -= prob * logf(prob)
    normalized = entropy / max_entropy
    powed = _F32(math.pow(float(normalized), float(expo)))  # powf
    dyn_temp = min_temp + (max_temp - min_temp) * powed
    _temp_impl(c, dyn_temp)


def top_k(c: Candidates, k, **_) -> None:
    """llama_sampler_top_k_impl: keep the k highest logits; k <= 0 does nothing."""
    k = int(k)
    if k <= 0:
        return
    k = min(k, c.size)
    if not c.sorted:
        c.sort()  # partial_sort_inplace(cur_p, k): the first k sorted, the rest dropped
    c.take(slice(0, k))


def top_p(c: Candidates, p, min_keep=0, **_) -> None:
    """llama_sampler_top_p_apply: the smallest head whose float32 cumulative sum reaches p."""
    p = _F32(p)
    if p >= 1:
        return
    probs = _softmax(c, False)  # in the current order: the float32 sum depends on it
    if not c.sorted:
        order = c.sort()
        probs = probs[order]
    cum = np.cumsum(probs, dtype=_F32)
    reached = (cum >= p) & (np.arange(1, c.size + 1) >= int(min_keep))
    hits = np.flatnonzero(reached)
    last_idx = int(hits[0]) + 1 if hits.size else c.size
    c.take(slice(0, last_idx))


def min_p(c: Candidates, p, min_keep=0, **_) -> None:
    """llama_sampler_min_p_apply: keep logits >= max + logf(p), i.e. p_i >= p * p_max."""
    p = _F32(p)
    min_keep = int(min_keep)
    if p <= 0 or c.size == 0:
        return
    log_p = _logf(p)
    if not c.sorted:
        # The unsorted path keeps the array order.
        max_logit = max(_F32(-FLT_MAX), c.logits.max())
        keep = np.flatnonzero(c.logits >= max_logit + log_p)
        if keep.size > 0 and keep.size >= min_keep:
            c.take(keep)
            return
        c.sort()
    min_logit = c.logits[0] + log_p
    # The first token always stays; stop at the first one below the bar once min_keep is met.
    stop = (c.logits < min_logit) & (np.arange(c.size) >= min_keep)
    stop[0] = False
    hits = np.flatnonzero(stop)
    c.take(slice(0, int(hits[0]) if hits.size else c.size))


def typical(c: Candidates, p, min_keep=0, **_) -> None:
    """llama_sampler_typical_apply: locally typical sampling (Meister et al. 2022).

    Tokens are ranked by |-log p - H| and kept until their float32 sum exceeds p.
    If any candidate has p = 0 (a -inf logit, e.g. after temperature 0 or top-n-sigma,
    which leaves masked tokens in the array), llama.cpp's entropy is NaN (0 * log 0),
    every score is NaN and every comparison false; the tokens then come out in the
    order libstdc++'s std::sort leaves them in (sort_order_all_equivalent), so what is
    kept is an arbitrary-looking slice. That is llama.cpp's behaviour and we show it.
    """
    p = _F32(p)
    min_keep = int(min_keep)
    if p >= 1:
        return
    probs = _softmax(c, True)
    with np.errstate(invalid="ignore"):
        log_probs = _logf(probs)
        entropy = _sum_f32(-probs * log_probs)
        shifted = np.abs(-log_probs - entropy)
    if np.isnan(entropy):
        order = np.asarray(sort_order_all_equivalent(c.size), dtype=np.int64)
    else:
        order = np.argsort(shifted, kind="stable")
    cum = np.cumsum(probs[order], dtype=_F32)
    i = np.arange(c.size)
    reached = (cum > p) & ((min_keep == 0) | (i >= min_keep - 1))
    hits = np.flatnonzero(reached)
    last_idx = int(hits[0]) + 1 if hits.size else c.size
    c.take(order[:last_idx])
    c.sorted = False


def sort_order_all_equivalent(n: int) -> list[int]:
    """The permutation libstdc++'s std::sort applies when the comparator is always false.

    bits/stl_algo.h: __introsort_loop picks the pivot with __move_median_to_first, which
    with no "less" swaps the middle element to the front, then __unguarded_partition
    swaps pairs from both ends inwards and splits at the middle; ranges of 16 or fewer
    are left to the final insertion sort, which moves nothing. The depth limit
    (2·log2 n) is never reached because every split is at the middle.
    """
    order = list(range(n))

    def introsort_loop(first: int, last: int) -> None:
        while last - first > 16:
            mid = first + (last - first) // 2
            order[first], order[mid] = order[mid], order[first]
            lo, hi = first + 1, last
            while True:
                hi -= 1
                if not lo < hi:
                    break
                order[lo], order[hi] = order[hi], order[lo]
                lo += 1
            introsort_loop(lo, last)
            last = lo

    introsort_loop(0, n)
    return order


def top_n_sigma(c: Candidates, n, **_) -> None:
    """llama_sampler_top_n_sigma_apply: mask logits below max - n·σ (σ over finite logits).

    The vendored llama.cpp no longer re-sorts here (the older llama-sampling.cpp did),
    so the array keeps its order and the masked tokens stay in it at -inf.
    """
    n = _F32(n)
    if n <= 0 or c.size <= 1:
        return
    valid = c.logits[c.logits != _NEG_INF]
    max_l = valid.max() if valid.size else c.logits[0]
    count = valid.size
    mean = _sum_f32(valid) / _F32(count) if count else _F32(0)
    # acc += pow(logit - mean, 2): pow(float, int) returns double, so each exact square
    # is added to the float accumulator in double and rounded once.
    acc = _F32(0)
    for d in (valid - mean).astype(_F64):
        acc = _F32(float(acc) + d * d)
    std = _F32(math.sqrt(float(acc / _F32(count)))) if count else _F32(0)
    bar = max_l - n * std
    logits = c.logits.copy()
    logits[logits < bar] = _NEG_INF
    c.logits = logits


def xtc(c: Candidates, probability, threshold, min_keep=0, seed=0, **_) -> None:
    """llama_sample_xtc_apply: "exclude top choices" — with chance `probability`, drop
    every token at or above `threshold` except the least likely of them.

    One coin from a fresh std::mt19937(seed): the first decision an XTC sampler makes.
    threshold > 0.5 disables XTC, as in llama.cpp.
    """
    probability, threshold = _F32(probability), _F32(threshold)
    min_keep = int(min_keep)
    if probability <= 0 or threshold > _F32(0.5) or c.size < 2:
        return
    chance = uniform_float(Mt19937(int(seed)))
    if chance > probability:
        return
    probs = _softmax(c, True)
    above = probs >= threshold
    if not above[0]:
        pos_last = 0
    else:
        below = np.flatnonzero(~above)
        pos_last = int(below[0]) - 1 if below.size else c.size - 1
    if c.size - pos_last >= min_keep and pos_last > 0:
        c.take(slice(pos_last, None))


def penalties(c: Candidates, history=(), repeat=1.0, frequency=0.0, presence=0.0, last_n=64, **_) -> None:
    """llama_sampler_penalties_apply over the last `last_n` tokens of `history`.

    A token seen `count` times: a positive logit is divided by `repeat`, a negative
    one multiplied (so both move down), then `count * frequency + presence` is
    subtracted. last_n = -1 means the whole history (llama.cpp's common layer maps -1
    to the context size); 0 disables.
    """
    repeat, frequency, presence = _F32(repeat), _F32(frequency), _F32(presence)
    last_n = len(history) if last_n == -1 else max(int(last_n), 0)
    if last_n == 0 or (repeat == 1 and frequency == 0 and presence == 0):
        return
    counts = Counter(history[len(history) - last_n:] if last_n < len(history) else history)
    if not counts:
        c.sorted = False
        return
    seen_ids = np.fromiter(counts.keys(), dtype=np.int64)
    seen_counts = np.fromiter(counts.values(), dtype=np.int64)
    order = np.argsort(seen_ids)
    seen_ids, seen_counts = seen_ids[order], seen_counts[order]
    pos = np.searchsorted(seen_ids, c.ids).clip(max=seen_ids.size - 1)
    hit = seen_ids[pos] == c.ids
    count = np.where(hit, seen_counts[pos], 0).astype(_F32)
    logits = c.logits.copy()
    negative = hit & (logits <= 0)
    positive = hit & (logits > 0)
    with np.errstate(over="ignore"):  # overflow to ±inf is reported by _run
        logits[negative] = logits[negative] * repeat
        logits[positive] = logits[positive] / repeat
        # logit -= float(count) * freq + float(count > 0) * present
        logits[hit] = logits[hit] - (count[hit] * frequency + presence)
    c.logits = logits
    c.sorted = False


def dry(c: Candidates, history=(), multiplier=0.0, base=1.75, allowed_length=2, last_n=-1, breakers=(), **_) -> None:
    """llama_sampler_dry_apply: "Don't Repeat Yourself" (koboldcpp PR 982, by pi6am).

    A token that would extend a sequence already seen in the last `last_n` tokens of
    `history` loses multiplier * base^(length - allowed_length) from its logit, if the
    repeat is at least `allowed_length` long. Sequence breakers stop the look-back.

    llama.cpp takes breakers as strings and tokenizes them with the model's vocabulary;
    here tokens are plain ids, so each breaker is a token id or a list of ids (a head
    token and its tail), as llama.cpp's own `llama_sampler_init_dry_testing` takes them.
    last_n = -1 means the whole history (llama.cpp's common layer maps -1 to the
    context size); 0 disables.
    """
    multiplier, base = _F32(multiplier), _F32(base)
    allowed_length = int(allowed_length)
    last_n = len(history) if last_n == -1 else max(int(last_n), 0)
    if multiplier == 0 or base < 1 or last_n == 0:
        return

    processed: dict[int, list[tuple[int, ...]]] = {}
    for breaker in breakers:
        seq = (breaker,) if isinstance(breaker, int) else tuple(breaker)
        processed.setdefault(seq[0], []).append(seq[1:])

    tokens = list(history[len(history) - last_n:] if last_n < len(history) else history)
    last_n_repeat = len(tokens)
    if last_n_repeat <= allowed_length:
        return

    def rat(i: int) -> int:  # ring_buffer::rat: i-th token counting back from the newest
        return tokens[last_n_repeat - 1 - i]

    # Step 1: the most recent breaker limits how far back a repeat may reach.
    rep_limit = last_n_repeat
    for i in range(last_n_repeat):
        tails = processed.get(rat(i))
        if tails is None:
            continue
        longest_match = -1
        for tail in tails:
            seq_len = len(tail)
            if longest_match < seq_len <= i:
                if all(tail[offset] == rat(i - offset - 1) for offset in range(seq_len)):
                    longest_match = seq_len
        if longest_match >= 0:
            rep_limit = i - longest_match
            break
    if rep_limit < allowed_length:
        return

    # Step 2: Z-algorithm, run backwards: repeat_count[last - k] is the length of the
    # suffix of the context that also ends k tokens earlier (capped at rep_limit).
    repeat_count = [0] * last_n_repeat
    last = last_n_repeat - 1
    rt = lt = 0
    for k in range(1, last_n_repeat):
        if k > rt:
            n = 0
            while n + k < last_n_repeat and rat(n) == rat(n + k):
                n += 1
            repeat_count[last - k] = min(n, rep_limit)
            if n > 0:
                lt, rt = k, k + n - 1
        else:
            p = k - lt
            right_part_len = rt - k + 1
            if repeat_count[last - p] < right_part_len:
                repeat_count[last - k] = min(repeat_count[last - p], rep_limit)
            else:
                i = rt + 1
                while i < last_n_repeat and rat(i) == rat(i - k):
                    i += 1
                repeat_count[last - k] = min(i - k, rep_limit)
                lt, rt = k, i - 1

    # Step 3: the token after each repeat would extend it; keep the longest per token.
    max_token_repeat: dict[int, int] = {}
    for i in range(last_n_repeat - 1):
        repeat_len = repeat_count[i]
        if repeat_len >= allowed_length:
            token = rat(last_n_repeat - 2 - i)
            if max_token_repeat.get(token, -1) < repeat_len:
                max_token_repeat[token] = repeat_len

    # Step 4: penalise. max_exponent keeps pow(base, exp) below FLT_MAX.
    max_exponent = 0
    if base > _F32(1.000001):
        max_exponent = int(_F32(88.7228391) / _logf(base))  # float / std::log(float), truncated
    logits = c.logits.copy()
    for j, token in enumerate(c.ids.tolist()):
        length = max_token_repeat.get(token)
        if length is None:
            continue
        if any(len(tail) == 0 for tail in processed.get(token, ())):
            continue  # a single-token breaker is never penalised
        repeat_exp = length - allowed_length
        if max_exponent > 0 and repeat_exp > max_exponent:
            repeat_exp = max_exponent
        # std::pow(float, int) returns double; `float penalty` rounds the product.
        penalty = _F32(float(multiplier) * math.pow(float(base), repeat_exp))
        logits[j] = logits[j] - penalty
    c.logits = logits
    c.sorted = False


SAMPLERS = {
    "dry": dry,
    "min_p": min_p,
    "penalties": penalties,
    "temperature": temperature,
    "top_k": top_k,
    "top_n_sigma": top_n_sigma,
    "top_p": top_p,
    "typical": typical,
    "xtc": xtc,
}

# llama.cpp's default chain (common/common.h, common_params_sampling::samplers) with
# its default values: penalties and DRY are there but disabled by their defaults.
DEFAULT_CHAIN = (
    {"name": "penalties", "repeat": 1.0, "frequency": 0.0, "presence": 0.0, "last_n": 64},
    {"name": "dry", "multiplier": 0.0},
    {"name": "top_n_sigma", "n": 0.0},
    {"name": "top_k", "k": 40},
    {"name": "typical", "p": 1.0},
    {"name": "top_p", "p": 0.95},
    {"name": "min_p", "p": 0.05},
    {"name": "xtc", "probability": 0.0, "threshold": 0.1},
    {"name": "temperature", "t": 0.8},
)


# --- random numbers: std::mt19937 and libstdc++'s distributions -------------------------

class Mt19937:
    """std::mt19937 seeded with one 32-bit integer.

    numpy's legacy RandomState seeds MT19937 with the same init_genrand(seed) as
    std::mt19937(seed), and a full-range uint32 randint returns the raw outputs.
    """

    def __init__(self, seed: int, skip: int = 0):
        self._state = np.random.RandomState(seed)
        self.draws = 0
        if skip:
            self._state.randint(0, 2**32, size=skip, dtype=np.uint32)
            self.draws = skip

    def next_u32(self) -> int:
        self.draws += 1
        return int(self._state.randint(0, 2**32, dtype=np.uint32))


def uniform_float(rng: Mt19937) -> np.float32:
    """std::uniform_real_distribution<float>(0, 1) in libstdc++: one draw, float(x) / 2^32."""
    value = _F32(rng.next_u32()) / _F32(2**32)
    return value if value < 1 else np.nextafter(_F32(1), _F32(0))


def canonical_double(rng: Mt19937) -> float:
    """std::generate_canonical<double, 53> in libstdc++: two draws, (x1 + x2·2^32) / 2^64."""
    x1 = float(rng.next_u32())
    x2 = float(rng.next_u32())
    value = (x1 + x2 * 4294967296.0) / 18446744073709551616.0
    return value if value < 1 else math.nextafter(1.0, 0.0)


def discrete(rng: Mt19937, weights: np.ndarray) -> int:
    """std::discrete_distribution<int>(weights)(rng) in libstdc++ (bits/random.tcc)."""
    if weights.size < 2:
        return 0  # _M_cp is empty: returns 0 without drawing
    w = weights.astype(_F64)
    total = np.cumsum(w)[-1]  # std::accumulate, sequential
    cp = np.cumsum(w / total)  # __normalize, then std::partial_sum
    cp[-1] = 1.0
    return int(np.searchsorted(cp, canonical_double(rng), side="left"))  # lower_bound


# --- validation -------------------------------------------------------------------------

_REQUIRED = object()

# name -> {parameter: (default, kind, minimum, maximum)}; kind "number" or "int".
# "number" minimum "positive" means > 0. None: no bound.
PARAMETERS: dict[str, dict[str, tuple]] = {
    "temperature": {"t": (_REQUIRED, "number", 0, None), "range": (0.0, "number", 0, None),
                    "exponent": (1.0, "number", 0, None)},
    "top_k": {"k": (_REQUIRED, "int", 0, None)},
    "top_p": {"p": (_REQUIRED, "number", 0, None), "min_keep": (0, "int", 0, MAX_VOCAB)},
    "min_p": {"p": (_REQUIRED, "number", 0, None), "min_keep": (0, "int", 0, MAX_VOCAB)},
    "typical": {"p": (_REQUIRED, "number", 0, None), "min_keep": (0, "int", 0, MAX_VOCAB)},
    "top_n_sigma": {"n": (_REQUIRED, "number", 0, None)},
    "xtc": {"probability": (_REQUIRED, "number", 0, None), "threshold": (_REQUIRED, "number", 0, None),
            "min_keep": (0, "int", 0, MAX_VOCAB), "seed": (0, "int", 0, UINT32_MAX)},
    # common_sampler_init: penalty_repeat must be finite and > 0; freq/present finite
    # (negative values reward repetition, as OpenAI's API allows).
    "penalties": {"repeat": (1.0, "number", "positive", None), "frequency": (0.0, "number", None, None),
                  "presence": (0.0, "number", None, None), "last_n": (64, "int", -1, MAX_HISTORY)},
    "dry": {"multiplier": (_REQUIRED, "number", 0, None), "base": (1.75, "number", 0, None),
            "allowed_length": (2, "int", 0, MAX_HISTORY), "last_n": (-1, "int", -1, MAX_HISTORY),
            "breakers": ((), "breakers", None, None)},
}


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_number(field: str, value, kind: str, minimum, maximum):
    if not _is_number(value):
        raise SamplingError(field, "must be an integer" if kind == "int" else "must be a number")
    value = float(value) if isinstance(value, (float, np.floating)) else int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise SamplingError(field, "must be a finite number")
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise SamplingError(field, "must be an integer")
            value = int(value)
    elif abs(value) > FLT_MAX:
        raise SamplingError(field, "must fit in float32 (at most 3.4028235e38 in size)")
    if minimum == "positive":
        if not value > 0:
            raise SamplingError(field, "must be greater than 0")
    elif minimum is not None and value < minimum:
        raise SamplingError(field, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SamplingError(field, f"must be at most {maximum}")
    return value


def _check_token_id(field: str, value) -> int:
    return _check_number(field, value, "int", 0, UINT32_MAX)


def _check_breakers(field: str, value) -> list:
    if not isinstance(value, (list, tuple)):
        raise SamplingError(field, "must be a list")
    if len(value) > MAX_BREAKERS:
        raise SamplingError(field, f"at most {MAX_BREAKERS} breakers")
    out = []
    for i, breaker in enumerate(value):
        here = f"{field}[{i}]"
        if isinstance(breaker, (list, tuple)):
            if not 1 <= len(breaker) <= MAX_BREAKER_TOKENS + 1:
                raise SamplingError(here, f"must hold 1 to {MAX_BREAKER_TOKENS + 1} token ids")
            out.append(tuple(_check_token_id(f"{here}[{j}]", t) for j, t in enumerate(breaker)))
        elif _is_number(breaker):
            out.append(_check_token_id(here, breaker))
        else:
            raise SamplingError(here, "must be a token id or a list of token ids")
    return out


def _check_sampler(index: int, spec) -> tuple[str, dict]:
    field = f"samplers[{index}]"
    if not isinstance(spec, dict):
        raise SamplingError(field, "must be an object with a name")
    if "name" not in spec:
        raise SamplingError(f"{field}.name", "required")
    name = spec["name"]
    if not isinstance(name, str):
        raise SamplingError(f"{field}.name", "must be a string")
    if name not in PARAMETERS:
        raise SamplingError(f"{field}.name", f"unknown sampler '{name}'; expected one of {', '.join(sorted(PARAMETERS))}")
    table = PARAMETERS[name]
    unknown = sorted(key for key in spec if key != "name" and key not in table)
    if unknown:
        raise SamplingError(f"{field}.{unknown[0]}", f"unknown parameter for {name}")
    params = {}
    for key, (default, kind, minimum, maximum) in table.items():
        if key not in spec or spec[key] is None:
            if default is _REQUIRED:
                raise SamplingError(f"{field}.{key}", "required")
            params[key] = list(default) if kind == "breakers" else default
        elif kind == "breakers":
            params[key] = _check_breakers(f"{field}.{key}", spec[key])
        else:
            params[key] = _check_number(f"{field}.{key}", spec[key], kind, minimum, maximum)
    return name, params


def _check_samplers(samplers) -> list[tuple[str, dict]]:
    if not isinstance(samplers, (list, tuple)):
        raise SamplingError("samplers", "must be a list")
    if len(samplers) > MAX_SAMPLERS:
        raise SamplingError("samplers", f"at most {MAX_SAMPLERS} samplers")
    return [_check_sampler(i, spec) for i, spec in enumerate(samplers)]


def _check_history(history) -> list[int]:
    if not isinstance(history, (list, tuple, np.ndarray)):
        raise SamplingError("history", "must be a list of token ids")
    if len(history) > MAX_HISTORY:
        raise SamplingError("history", f"at most {MAX_HISTORY} tokens (got {len(history)})")
    return [_check_token_id(f"history[{i}]", t) for i, t in enumerate(history)]


def _check_vector(field: str, values) -> np.ndarray:
    """A list of numbers as float64, with the first bad entry named."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "iuf":
            raise SamplingError(field, "must be a list of numbers")
        array = values.astype(_F64)
    elif isinstance(values, (list, tuple)):
        for i, v in enumerate(values):
            if not _is_number(v):
                raise SamplingError(f"{field}[{i}]", "must be a number")
        array = np.asarray(values, dtype=_F64)
    else:
        raise SamplingError(field, "must be a list of numbers")
    if array.size == 0:
        raise SamplingError(field, "must not be empty")
    if array.size > MAX_VOCAB:
        raise SamplingError(field, f"at most {MAX_VOCAB} entries (got {array.size})")
    bad = np.flatnonzero(np.isnan(array))
    if bad.size:
        raise SamplingError(f"{field}[{bad[0]}]", "must not be NaN")
    return array


def _check_logits(logits) -> np.ndarray:
    array = _check_vector("logits", logits)
    # -inf is a masked token (what llama.cpp's logit bias writes); +inf and values
    # beyond float32 have no meaning in a float32 logit array.
    bad = np.flatnonzero((array > FLT_MAX) | ((array < -FLT_MAX) & np.isfinite(array)))
    if bad.size:
        raise SamplingError(f"logits[{bad[0]}]", "must fit in float32 (at most 3.4028235e38 in size, or -infinity)")
    if not np.isfinite(array).any():
        raise SamplingError("logits", "at least one entry must be finite")
    return array.astype(_F32)


def _check_probs(probs) -> np.ndarray:
    array = _check_vector("probs", probs)
    bad = np.flatnonzero((array < 0) | (array > 1))
    if bad.size:
        raise SamplingError(f"probs[{bad[0]}]", "must be between 0 and 1")
    # llama.cpp's tests turn probabilities into logits with logf(p) on float32 values.
    values = _logf(array.astype(_F32))
    if not np.isfinite(values).any():
        raise SamplingError("probs", "at least one entry must be greater than 0 in float32")
    return values


def _input_logits(logits, probs) -> np.ndarray:
    if (logits is None) == (probs is None):
        raise SamplingError("logits", "give either logits or probs")
    return _check_logits(logits) if probs is None else _check_probs(probs)


# --- the chain --------------------------------------------------------------------------

def _distribution(c: Candidates, n_vocab: int) -> tuple[np.ndarray, int]:
    """llama_sampler_dist_apply's probabilities, scattered back to token ids."""
    max_l = c.logits[0] if c.sorted else c.logits.max()
    p = _expf(c.logits - max_l).astype(_F64)
    probs = (p / np.cumsum(p)[-1]).astype(_F32)  # double sum_cum, float p /= sum_cum
    out = np.zeros(n_vocab, dtype=_F64)
    out[c.ids] = probs
    return out, int(np.count_nonzero(c.logits != _NEG_INF))


def entropy_nats(probs: np.ndarray) -> float:
    """Shannon entropy in nats (natural log), of the final distribution."""
    nonzero = probs[probs > 0]
    return float(-(nonzero * np.log(nonzero)).sum())


def _run(values: np.ndarray, chain: list[tuple[str, dict]], history: list[int], on_stage=None) -> Candidates:
    c = Candidates(ids=np.arange(values.size, dtype=np.int64), logits=values)
    if on_stage:
        on_stage("input", c)
    for index, (name, params) in enumerate(chain):
        SAMPLERS[name](c, history=history, **params)
        if np.isnan(c.logits).any() or (c.logits == np.inf).any():
            raise SamplingError(f"samplers[{index}]", "pushes logits beyond float32 range; llama.cpp would produce NaN")
        if not (c.logits != _NEG_INF).any():
            raise SamplingError(f"samplers[{index}]", "leaves no token with a finite logit")
        if on_stage:
            on_stage(name, c)
    return c


def run_chain(logits=None, samplers=(), history=(), *, probs=None) -> Candidates:
    """The candidate array llama.cpp holds after the chain: ids in its array order, float32
    logits (-inf for masked tokens still in the array), and its `sorted` flag."""
    return _run(_input_logits(logits, probs), _check_samplers(samplers), _check_history(history))


def apply_samplers(logits=None, samplers=(), history=(), *, probs=None, stages=True) -> dict:
    """Run a llama.cpp sampler chain on one next-token distribution.

    logits: one float per token id (or pass `probs=`: probabilities in [0, 1], taken
        through logf as llama.cpp's tests do; they need not sum to 1).
    samplers: ordered list of dicts, e.g. [{"name": "top_k", "k": 40},
        {"name": "temperature", "t": 0.8}]; see PARAMETERS for names and defaults.
    history: previous token ids, oldest first (for penalties and DRY).

    Returns {"probs": [...one per token id, 0 for removed...], "kept": int,
    "entropy": float (nats), "stages": [{"name", "probs", "kept"}, ...]}.
    `kept` counts candidates left with a finite logit. `stages` starts with the input
    ("input") and has one entry per sampler; stages=False leaves it out.
    Raises SamplingError (a ValueError) naming the bad field, e.g. "samplers[2].p".
    """
    values = _input_logits(logits, probs)
    history = _check_history(history)
    chain = _check_samplers(samplers)
    n_vocab = values.size
    snapshots = []

    def snapshot(name: str, c: Candidates) -> None:
        dist, kept = _distribution(c, n_vocab)
        snapshots.append({"name": name, "probs": dist.tolist(), "kept": kept})

    c = _run(values, chain, history, snapshot if stages else None)
    dist, kept = _distribution(c, n_vocab)
    result = {"probs": dist.tolist(), "kept": kept, "entropy": entropy_nats(dist)}
    if stages:
        result["stages"] = snapshots
    return result


def mirostat_v2(logits=None, tau=5.0, eta=0.1, mu=None, seed=0, draws=0, *, probs=None) -> dict:
    """One step of llama_sampler_mirostat_v2_apply (Basu et al. 2021, "Mirostat").

    Tokens whose surprise -log2 p exceeds mu are cut (at least one stays), the rest
    renormalised, one token drawn with std::discrete_distribution on std::mt19937(seed),
    and mu moves by eta * (tau - surprise of the drawn token).

    mu: the running target surprise in bits; None starts at 2·tau as llama.cpp does.
    draws: 32-bit outputs the generator has already given since seeding (0 for the
        first step); pass back the returned `draws` to continue the same sequence.
    Returns {"probs": [...per token id...], "kept": int, "token": int, "mu": float,
    "draws": int}.
    """
    values = _input_logits(logits, probs)
    tau = _check_number("tau", tau, "number", 0, None)
    eta = _check_number("eta", eta, "number", 0, None)
    mu = 2 * _F32(tau) if mu is None else _F32(_check_number("mu", mu, "number", None, None))
    seed = _check_number("seed", seed, "int", 0, UINT32_MAX)
    draws = _check_number("draws", draws, "int", 0, MAX_DRAWS)
    tau, eta = _F32(tau), _F32(eta)

    c = Candidates(ids=np.arange(values.size, dtype=np.int64), logits=values)
    p = _softmax(c, True)
    too_surprising = np.flatnonzero(-_log2f(p) > mu)
    c.take(slice(0, max(int(too_surprising[0]) if too_surprising.size else c.size, 1)))
    p = _softmax(c, True)
    rng = Mt19937(seed, skip=draws)
    idx = discrete(rng, p)
    surprise = -_log2f(p[idx])
    new_mu = mu - eta * (surprise - tau)

    out = np.zeros(values.size, dtype=_F64)
    out[c.ids] = p
    return {"probs": out.tolist(), "kept": c.size, "token": int(c.ids[idx]), "mu": float(new_mu),
            "draws": rng.draws}
