"""calculators/sampling.py against llama.cpp's and transformers' published test vectors,
libstdc++'s random distributions, and llama.cpp's own samplers run through llama-cpp-python.

The vectors live in tests/js/sampling_vectors.json so the JavaScript engine is held to the
same numbers (tests/js/sampling.test.mjs).
"""

import ctypes
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from calculators.sampling import (
    SamplingError,
    Mt19937,
    apply_samplers,
    canonical_double,
    discrete,
    mirostat_v2,
    run_chain,
    sort_order_all_equivalent,
    uniform_float,
)

VECTORS = json.loads((Path(__file__).parents[1] / "js" / "sampling_vectors.json").read_text())
REFERENCE_CPP = Path(__file__).parents[1] / "js" / "libstdcxx_reference.cpp"


def _f32(x):
    return float(np.float32(x))


# --- llama.cpp tests/test-sampling.cpp --------------------------------------------------

@pytest.mark.parametrize("case", VECTORS["llama_cpp"], ids=lambda c: c["source"].split(": ", 1)[1])
def test_llama_cpp_test_sampling_vectors_hold(case):
    result = apply_samplers(probs=case["probs"], samplers=case["samplers"], history=case.get("history", ()))
    expected = np.array(case["expected"])
    if case.get("renormalize"):
        expected = expected / expected.sum()
    probs = np.array(result["probs"])
    assert np.abs(probs[case["expected_ids"]] - expected).max() < 1e-5  # the test's own tolerance
    others = np.setdiff1d(np.arange(probs.size), case["expected_ids"])
    assert (probs[others] == 0).all()
    assert result["kept"] == case["kept"]


def _expected_queue_step(s, n_vocab, size, min_token_id, top_k, top_p, min_p):
    """test_sampler_queue's bookkeeping for one sampler, ported line by line (float
    expressions in float32 as in the C++). Returns (expected_size, min_token_id)."""
    if s == "k":
        expected_size = min(size, top_k)
        min_token_id = max(min_token_id, n_vocab - top_k)
    elif s == "p":
        softmax_divisor = n_vocab * (n_vocab - 1) // 2 - min_token_id * (min_token_id - 1) // 2
        target = math.ceil(np.float32(top_p) * np.float32(softmax_divisor))
        min_token_id, expected_size, cumsum = n_vocab, 0, 0
        while True:  # do-while: at least one token
            min_token_id -= 1
            expected_size += 1
            cumsum += min_token_id
            if not cumsum < target:
                break
        if min_token_id == 1:  # token 0 has p == 0 and rides along
            min_token_id -= 1
            expected_size += 1
    else:
        expected_size = math.ceil((np.float32(1) - np.float32(min_p)) * np.float32(n_vocab))
        expected_size = min(max(expected_size, 1), size)
        min_token_id = math.floor(np.float32(min_p) * np.float32(n_vocab))
        min_token_id = min(max(min_token_id, 1, n_vocab - size), n_vocab - 1)
    return expected_size, min_token_id


@pytest.mark.parametrize("case", VECTORS["llama_cpp_sampler_queue"]["cases"], ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_llama_cpp_sampler_queue_sizes_and_ends_hold(case):
    seq, top_k, top_p, min_p = case
    n_vocab = VECTORS["llama_cpp_sampler_queue"]["n_vocab"]
    with np.errstate(divide="ignore"):
        logits = np.log(np.arange(n_vocab, dtype=np.float64))  # logf(token_id): token 0 is -inf
    builders = {"k": {"name": "top_k", "k": top_k}, "p": {"name": "top_p", "p": top_p, "min_keep": 1},
                "m": {"name": "min_p", "p": min_p, "min_keep": 1}}
    min_token_id = 0
    for step in range(1, len(seq) + 1):
        c = run_chain(logits.tolist(), [builders[s] for s in seq[:step]])
        s = seq[step - 1]
        expected_size, min_token_id = _expected_queue_step(s, n_vocab, c.size, min_token_id, top_k, top_p, min_p)
        assert c.size == expected_size
        if c.sorted or s == "k":
            assert c.ids[0] == n_vocab - 1
            assert c.ids[expected_size - 1] == min_token_id


# --- transformers tests/generation/test_logits_process.py -------------------------------

def _softmax(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.mark.parametrize("case", VECTORS["transformers"], ids=lambda c: c["source"].split(": ", 1)[1])
def test_transformers_logits_process_vectors_hold(case):
    inputs = {"probs": case["probs"]} if "probs" in case else {"logits": case["logits"]}
    result = apply_samplers(samplers=case["samplers"], history=case.get("history", ()), **inputs)
    probs = np.array(result["probs"])
    if "expected_probs" in case:
        assert np.allclose(probs, case["expected_probs"], atol=case["tolerance"], rtol=case["tolerance"])
    if "expected_logits" in case:
        assert np.abs(probs - _softmax(case["expected_logits"])).max() < case["tolerance"]
    if "expected_kept_ids" in case:
        assert np.flatnonzero(probs > 0).tolist() == case["expected_kept_ids"]
    if "expected_kept" in case:
        assert result["kept"] == case["expected_kept"]
    if "expect" in case:
        before = _softmax(case["logits"])
        sharper = probs.max() > before.max() and probs.min() < before.min()
        smoother = probs.max() < before.max() and probs.min() > before.min()
        assert sharper if case["expect"] == "sharper" else smoother


# --- libstdc++: std::mt19937, its distributions, std::sort --------------------------------

LIBSTDCXX = VECTORS["libstdcxx"]


def test_mt19937_matches_the_cxx_standard_10000th_output():
    # [rand.predef]: "the 10000th consecutive invocation of a default-constructed object
    # of type mt19937 shall produce the value 4123659995" (default seed 5489).
    rng = Mt19937(5489)
    for _ in range(9999):
        rng.next_u32()
    assert rng.next_u32() == 4123659995


@pytest.mark.parametrize("case", LIBSTDCXX["mt19937"], ids=lambda c: f"seed{c['seed']}")
def test_random_draws_match_libstdcxx(case):
    rng = Mt19937(case["seed"])
    assert [rng.next_u32() for _ in range(6)] == case["raw"]
    rng = Mt19937(case["seed"])
    assert [float(uniform_float(rng)) for _ in range(6)] == [_f32(x) for x in case["uniform_float"]]
    rng = Mt19937(case["seed"])
    assert [canonical_double(rng) for _ in range(6)] == case["uniform_double"]


@pytest.mark.parametrize("case", LIBSTDCXX["discrete"], ids=lambda c: f"seed{c['seed']}-{len(c['weights'])}")
def test_discrete_distribution_matches_libstdcxx(case):
    rng = Mt19937(case["seed"])
    weights = np.array(case["weights"], dtype=np.float32)
    assert [discrete(rng, weights) for _ in range(12)] == case["draws"]


@pytest.mark.parametrize("case", LIBSTDCXX["sort_all_equivalent"], ids=lambda c: f"n{c['n']}")
def test_sort_order_with_nan_scores_matches_libstdcxx(case):
    assert sort_order_all_equivalent(case["n"]) == case["order"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to rebuild the libstdc++ reference")
def test_stored_libstdcxx_reference_is_what_gxx_prints_today(tmp_path):
    binary = tmp_path / "reference"
    subprocess.run(["g++", "-std=c++17", "-O2", str(REFERENCE_CPP), "-o", str(binary)], check=True, timeout=120)
    printed = json.loads(subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout)
    assert printed == LIBSTDCXX


# --- llama.cpp itself, through llama-cpp-python's bindings --------------------------------
# A test oracle only: the application talks to llama.cpp through its service layer.

def _llama_sampler(L, spec):
    name = spec["name"]
    if name == "temperature":
        return L.llama_sampler_init_temp_ext(spec["t"], spec.get("range", 0.0), spec.get("exponent", 1.0))
    if name == "top_k":
        return L.llama_sampler_init_top_k(spec["k"])
    if name in ("top_p", "min_p", "typical"):
        return getattr(L, f"llama_sampler_init_{name}")(spec["p"], spec.get("min_keep", 0))
    if name == "top_n_sigma":
        return L.llama_sampler_init_top_n_sigma(spec["n"])
    if name == "xtc":
        return L.llama_sampler_init_xtc(spec["probability"], spec["threshold"], spec.get("min_keep", 0), spec.get("seed", 0))
    if name == "penalties":
        return L.llama_sampler_init_penalties(0, spec.get("last_n", 64), spec.get("repeat", 1.0),
                                              spec.get("frequency", 0.0), spec.get("presence", 0.0))
    if name == "dry":  # no breakers: llama.cpp needs a vocabulary to tokenize them
        return L.llama_sampler_init_dry(None, spec["multiplier"], spec.get("base", 1.75),
                                        spec.get("allowed_length", 2), spec.get("last_n", -1), None, 0)
    raise KeyError(name)


def _llama_cpp_probs(L, logits32, samplers, history):
    """Run the chain in llama.cpp, then its dist sampler; return p per token id."""
    n = len(logits32)
    data = (L.llama_token_data * n)()
    for i, logit in enumerate(logits32.tolist()):
        data[i].id, data[i].logit, data[i].p = i, logit, 0.0
    cur = L.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    for spec in samplers:
        L.llama_sampler_chain_add(chain, _llama_sampler(L, spec))
    for token in history:
        L.llama_sampler_accept(chain, token)
    L.llama_sampler_apply(chain, ctypes.byref(cur))
    dist = L.llama_sampler_init_dist(0)
    L.llama_sampler_apply(dist, ctypes.byref(cur))
    out = np.zeros(n)
    for i in range(cur.size):
        out[cur.data[i].id] = cur.data[i].p
    L.llama_sampler_free(dist)
    L.llama_sampler_free(chain)
    return out


def _random_sampler(rng, n):
    name = str(rng.choice(["temperature", "dynatemp", "top_k", "top_p", "min_p", "typical", "top_n_sigma",
                           "xtc", "penalties", "dry"]))
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    i = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
    return {
        "temperature": {"name": "temperature", "t": u(0.1, 2.0) if rng.random() < 0.85 else 0.0},
        "dynatemp": {"name": "temperature", "t": u(0.2, 1.5), "range": u(0, 1), "exponent": u(0.5, 2)},
        "top_k": {"name": "top_k", "k": i(0, n + 3)},
        "top_p": {"name": "top_p", "p": u(0, 1.05), "min_keep": i(0, 4)},
        "min_p": {"name": "min_p", "p": u(0, 0.6), "min_keep": i(0, 4)},
        "typical": {"name": "typical", "p": u(0.1, 1.0), "min_keep": i(0, 4)},
        "top_n_sigma": {"name": "top_n_sigma", "n": u(0, 3)},
        "xtc": {"name": "xtc", "probability": u(0, 1), "threshold": u(0, 0.6), "min_keep": i(0, 3), "seed": i(0, 2**32)},
        "penalties": {"name": "penalties", "repeat": u(0.5, 2), "frequency": u(-1, 1), "presence": u(-1, 1), "last_n": i(0, 40)},
        "dry": {"name": "dry", "multiplier": u(0, 3), "base": u(1, 3), "allowed_length": i(0, 4), "last_n": i(0, 40)},
    }[name]


def test_random_chains_match_llama_cpp_run_through_llama_cpp_python():
    L = pytest.importorskip("llama_cpp")
    rng = np.random.default_rng(20240610)
    worst = 0.0
    for _ in range(150):
        n = int(rng.choice([2, 5, 40, 300, 1500]))  # 1500 takes top-p's >1024 path
        logits32 = (rng.normal(0, rng.uniform(0.5, 5), n)).astype(np.float32)
        assert np.unique(logits32).size == n  # no ties: tie order is implementation-defined
        chain = [_random_sampler(rng, n) for _ in range(int(rng.integers(1, 6)))]
        history = rng.integers(0, min(n, 8), int(rng.integers(0, 60))).tolist()
        ours = np.array(apply_samplers(logits32.tolist(), chain, history, stages=False)["probs"])
        theirs = _llama_cpp_probs(L, logits32, chain, history)
        assert np.array_equal(ours > 0, theirs > 0), chain
        worst = max(worst, float(np.abs(ours - theirs).max()))
    # glibc's expf/logf/powf are not correctly rounded; ours are: the last float32 bit may differ.
    assert worst < 1e-6


def test_typical_after_top_n_sigma_keeps_what_llama_cpp_keeps():
    # top-n-sigma leaves masked tokens at -inf, so typical's entropy is NaN in llama.cpp
    # and std::sort's handling of "nothing is less" decides what stays (n > 16 here).
    L = pytest.importorskip("llama_cpp")
    rng = np.random.default_rng(7)
    logits32 = rng.normal(0, 3, 200).astype(np.float32)
    chain = [{"name": "top_n_sigma", "n": 1.5}, {"name": "typical", "p": 0.5}]
    ours = np.array(apply_samplers(logits32.tolist(), chain, stages=False)["probs"])
    theirs = _llama_cpp_probs(L, logits32, chain, [])
    assert np.array_equal(ours > 0, theirs > 0)
    assert np.abs(ours - theirs).max() < 1e-6


def test_top_p_sums_in_float32_as_llama_cpp_does():
    # Find a cut-off p where a float32 running sum (llama.cpp's `float cum_sum`) and a
    # float64 one stop at different tokens; llama.cpp must agree with the float32 count.
    L = pytest.importorskip("llama_cpp")
    rng = np.random.default_rng(0)
    while True:
        logits32 = rng.normal(0, 1, 343).astype(np.float32)
        p = np.exp((logits32 - logits32.max()).astype(np.float64)).astype(np.float32)
        p = np.sort(p / np.cumsum(p, dtype=np.float32)[-1])[::-1]
        cum32, cum64 = np.cumsum(p, dtype=np.float32), np.cumsum(p.astype(np.float64))
        k = int(rng.integers(1, p.size - 1))
        lo, hi = sorted((float(cum32[k]), float(cum64[k])))
        cut = np.nextafter(np.float32(lo), np.float32(1))
        if lo < float(cut) <= hi and np.argmax(cum32 >= cut) != np.argmax(cum64 >= cut):
            break
    spec = [{"name": "top_p", "p": float(cut)}]
    theirs = _llama_cpp_probs(L, logits32, spec, [])
    ours = apply_samplers(logits32.tolist(), spec, stages=False)
    assert ours["kept"] == np.count_nonzero(theirs) == int(np.argmax(cum32 >= cut)) + 1


def test_top_p_stops_at_p_but_typical_only_beyond_it():
    # llama.cpp: top-p keeps tokens while `cum_sum >= p` is false; typical while `cum_sum > p`
    # is false. Two equal tokens (0.5 each, exact in float32) with p = 0.5 split them.
    assert apply_samplers([0.0, 0.0], [{"name": "top_p", "p": 0.5}])["kept"] == 1
    assert apply_samplers([0.0, 0.0], [{"name": "typical", "p": 0.5}])["kept"] == 2


def test_mirostat_v2_steps_match_llama_cpp_token_for_token():
    L = pytest.importorskip("llama_cpp")
    rng = np.random.default_rng(11)
    for _ in range(6):
        seed, tau, eta, n = int(rng.integers(0, 2**32)), float(rng.uniform(1, 8)), float(rng.uniform(0.05, 0.5)), 300
        sampler = L.llama_sampler_init_mirostat_v2(seed, tau, eta)
        mu, draws = None, 0
        for _ in range(10):
            logits32 = rng.normal(0, 3, n).astype(np.float32)
            data = (L.llama_token_data * n)()
            for i, logit in enumerate(logits32.tolist()):
                data[i].id, data[i].logit = i, logit
            cur = L.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
            L.llama_sampler_apply(sampler, ctypes.byref(cur))
            step = mirostat_v2(logits32.tolist(), tau, eta, mu, seed, draws)
            assert step["token"] == cur.data[cur.selected].id
            assert step["kept"] == cur.size
            mu, draws = step["mu"], step["draws"]
        L.llama_sampler_free(sampler)


# --- behaviour worth pinning down -------------------------------------------------------

def test_temperature_zero_is_greedy_and_keeps_the_first_of_tied_maxima():
    # llama_sampler_temp_impl only replaces the running maximum on a strictly greater logit.
    result = apply_samplers([1.0, 3.0, 2.0, 3.0], [{"name": "temperature", "t": 0}])
    assert result["probs"] == [0.0, 1.0, 0.0, 0.0]
    assert result["kept"] == 1


def test_top_k_breaks_ties_by_position():
    result = apply_samplers([0.5, 0.5, 0.5, 0.1], [{"name": "top_k", "k": 2}])
    assert [p > 0 for p in result["probs"]] == [True, True, False, False]


@pytest.mark.parametrize("spec", [
    {"name": "top_p", "p": 1.0}, {"name": "top_p", "p": 1.5}, {"name": "min_p", "p": 0.0},
    {"name": "typical", "p": 1.0}, {"name": "top_k", "k": 0}, {"name": "top_n_sigma", "n": 0},
    {"name": "xtc", "probability": 0.0, "threshold": 0.1}, {"name": "xtc", "probability": 1.0, "threshold": 0.51},
    {"name": "penalties"}, {"name": "dry", "multiplier": 0.0}, {"name": "temperature", "t": 1.0},
])
def test_disabled_values_leave_the_distribution_alone(spec):
    probs = [0.1, 0.2, 0.3, 0.4]
    result = apply_samplers(probs=probs, samplers=[spec], history=[0, 1, 2, 3, 0, 1, 2, 3])
    assert np.allclose(result["probs"], probs, atol=1e-7)
    assert result["kept"] == 4


def test_min_keep_overrides_top_p():
    result = apply_samplers(probs=[0.7, 0.1, 0.1, 0.1], samplers=[{"name": "top_p", "p": 0.5, "min_keep": 3}])
    assert result["kept"] == 3


def test_min_p_compares_in_float32():
    # A token exactly at max + logf(p) stays (`logit >= min_logit`); in float64 the
    # rounded logf(0.5) would sit below log(0.5) and drop it. llama.cpp keeps both.
    logits = [0.0, float(np.float32(math.log(0.5)))]
    assert apply_samplers(logits, [{"name": "min_p", "p": 0.5}])["kept"] == 2


def test_typical_breaks_score_ties_by_position():
    # Four equal tokens have equal scores; p = 0.3 needs two of them: the first two.
    result = apply_samplers([0.0] * 4, [{"name": "typical", "p": 0.3}])
    assert result["probs"] == [0.5, 0.5, 0.0, 0.0]


def test_penalties_only_look_at_the_last_n_tokens():
    logits = [1.0, 1.0, 1.0]
    window = apply_samplers(logits, [{"name": "penalties", "presence": 1.0, "last_n": 2}], history=[0, 1, 2])
    # Token 0 fell out of the 2-token window: it and nothing else keeps logit 1.
    e = math.exp(-1)
    assert window["probs"] == pytest.approx([1 / (1 + 2 * e), e / (1 + 2 * e), e / (1 + 2 * e)], rel=1e-6)


def test_a_single_token_dry_breaker_is_never_penalised():
    # History a b X a b: "a b" repeats, so the token after it (X) would extend it, but X
    # is itself a breaker; llama.cpp skips single-token breakers in step 4.
    history = [0, 1, 2, 0, 1]
    spec = {"name": "dry", "multiplier": 5.0, "base": 1.75, "allowed_length": 2, "last_n": 5}
    penalised = apply_samplers([0.0] * 4, [spec], history)["probs"]
    spared = apply_samplers([0.0] * 4, [{**spec, "breakers": [2]}], history)["probs"]
    assert penalised[2] < 0.01
    assert spared == pytest.approx([0.25] * 4)


def test_dynamic_temperature_stays_inside_its_range():
    # Near-uniform logits have normalised entropy ~1: the temperature goes to t + range.
    logits = [0.0, 0.01, 0.02, 0.03]
    hot = apply_samplers(logits, [{"name": "temperature", "t": 1.0, "range": 0.5}])["probs"]
    assert hot == pytest.approx(_softmax(np.array(logits) / 1.5), rel=1e-4)


def test_entropy_is_in_nats():
    result = apply_samplers([0.0] * 8, [])
    assert result["entropy"] == pytest.approx(math.log(8))


def test_probs_input_is_logf_of_the_probabilities():
    a = apply_samplers(probs=[0.1, 0.2, 0.3, 0.4], samplers=[{"name": "min_p", "p": 0.3}])
    b = apply_samplers([math.log(0.1), math.log(0.2), math.log(0.3), math.log(0.4)], [{"name": "min_p", "p": 0.3}])
    assert a["probs"] == pytest.approx(b["probs"], abs=1e-7)


def test_stages_show_each_sampler_in_order():
    chain = [{"name": "top_k", "k": 3}, {"name": "temperature", "t": 0}]
    result = apply_samplers(probs=[0.1, 0.2, 0.3, 0.4], samplers=chain)
    assert [s["name"] for s in result["stages"]] == ["input", "top_k", "temperature"]
    assert [s["kept"] for s in result["stages"]] == [4, 3, 1]
    assert result["stages"][-1]["probs"] == result["probs"]
    assert "stages" not in apply_samplers(probs=[0.5, 0.5], samplers=chain, stages=False)


def test_order_matters_temperature_first_or_last():
    # llama.cpp applies temperature last by default, transformers first: with min-p the
    # kept set changes (min-p compares to the top probability, which temperature moves).
    probs = [0.5, 0.3, 0.15, 0.05]
    last = apply_samplers(probs=probs, samplers=[{"name": "min_p", "p": 0.2}, {"name": "temperature", "t": 2.0}])
    first = apply_samplers(probs=probs, samplers=[{"name": "temperature", "t": 2.0}, {"name": "min_p", "p": 0.2}])
    assert last["kept"] == 3  # 0.05 < 0.2 * 0.5 <= 0.15
    assert first["kept"] == 4  # at t = 2, p ∝ sqrt(p): sqrt(0.05 / 0.5) = 0.32 >= 0.2


def test_xtc_with_the_same_seed_makes_the_same_decision():
    probs = [0.4, 0.3, 0.2, 0.1]
    spec = {"name": "xtc", "probability": 0.5, "threshold": 0.15, "seed": 12345}
    assert apply_samplers(probs=probs, samplers=[spec]) == apply_samplers(probs=probs, samplers=[spec])
    fired = [apply_samplers(probs=probs, samplers=[{**spec, "seed": s}])["kept"] < 4 for s in range(200)]
    assert 60 < sum(fired) < 140  # a fair coin at probability 0.5


def test_mirostat_v2_starts_mu_at_twice_tau_and_continues_with_draws():
    first = mirostat_v2([0.0, 1.0, 2.0, 3.0], tau=5.0, eta=0.1, seed=1)
    assert first["draws"] == 2  # one generate_canonical<double>: two 32-bit outputs
    again = mirostat_v2([0.0, 1.0, 2.0, 3.0], tau=5.0, eta=0.1, mu=10.0, seed=1)
    assert again == first


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"logits": [], "samplers": []}, "logits"),
    ({"logits": [1.0, float("nan")], "samplers": []}, "logits[1]"),
    ({"logits": [1.0, float("inf")], "samplers": []}, "logits[1]"),
    ({"logits": [1.0, "x"], "samplers": []}, "logits[1]"),
    ({"logits": [1.0, True], "samplers": []}, "logits[1]"),
    ({"logits": [float("-inf")] * 3, "samplers": []}, "logits"),
    ({"logits": [0.0] * 300_001, "samplers": []}, "logits"),
    ({"logits": "1,2", "samplers": []}, "logits"),
    ({"probs": [0.5, 1.5], "samplers": []}, "probs[1]"),
    ({"probs": [0.0, 0.0], "samplers": []}, "probs"),
    ({"samplers": []}, "logits"),
    ({"logits": [1.0], "probs": [1.0], "samplers": []}, "logits"),
    ({"logits": [1.0], "samplers": {"name": "top_k"}}, "samplers"),
    ({"logits": [1.0], "samplers": ["top_k"]}, "samplers[0]"),
    ({"logits": [1.0], "samplers": [{"k": 3}]}, "samplers[0].name"),
    ({"logits": [1.0], "samplers": [{"name": "top_q"}]}, "samplers[0].name"),
    ({"logits": [1.0], "samplers": [{"name": "top_k", "k": 40}, {"name": "top_p"}]}, "samplers[1].p"),
    ({"logits": [1.0], "samplers": [{"name": "top_k", "k": 2.5}]}, "samplers[0].k"),
    ({"logits": [1.0], "samplers": [{"name": "top_k", "k": -1}]}, "samplers[0].k"),
    ({"logits": [1.0], "samplers": [{"name": "top_p", "p": "0.9"}]}, "samplers[0].p"),
    ({"logits": [1.0], "samplers": [{"name": "top_p", "p": float("nan")}]}, "samplers[0].p"),
    ({"logits": [1.0], "samplers": [{"name": "top_p", "p": 0.9, "q": 1}]}, "samplers[0].q"),
    ({"logits": [1.0], "samplers": [{"name": "temperature", "t": -0.5}]}, "samplers[0].t"),
    ({"logits": [1.0], "samplers": [{"name": "penalties", "repeat": 0}]}, "samplers[0].repeat"),
    ({"logits": [1.0], "samplers": [{"name": "xtc", "probability": 1, "threshold": 0.1, "seed": 2**32}]}, "samplers[0].seed"),
    ({"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[]]}]}, "samplers[0].breakers[0]"),
    ({"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[1, -2]]}]}, "samplers[0].breakers[0][1]"),
    ({"logits": [1.0], "samplers": [], "history": [0, -1]}, "history[1]"),
    ({"logits": [1.0], "samplers": [{"name": "temperature", "t": 1e-44}]}, "samplers[0]"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(SamplingError) as caught:
        apply_samplers(**kwargs)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(field + ": ")


def test_unknown_sampler_message_lists_the_names():
    with pytest.raises(ValueError, match=r"^samplers\[0\]\.name: unknown sampler 'top_q'; expected one of dry, min_p, "):
        apply_samplers([1.0], [{"name": "top_q"}])


@pytest.mark.parametrize("kwargs, field", [
    ({"tau": -1}, "tau"), ({"eta": "x"}, "eta"), ({"mu": float("inf")}, "mu"), ({"seed": -1}, "seed"),
    ({"draws": 1.5}, "draws"),
])
def test_mirostat_bad_input_names_the_field(kwargs, field):
    with pytest.raises(SamplingError) as caught:
        mirostat_v2([1.0, 2.0], **kwargs)
    assert caught.value.field == field
