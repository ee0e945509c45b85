"""static/js/sampling.js: its own node test suite, and agreement with calculators/sampling.py.

Both engines run the same random distributions and sampler chains (orders shuffled,
ties, masked tokens, every sampler) through tests/js/run_sampling.mjs; they must agree
to 1e-9 and fail on bad input with the same message.
"""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from calculators.sampling import DEFAULT_CHAIN, SamplingError, apply_samplers, mirostat_v2

ROOT = Path(__file__).parents[2]
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (v20) on PATH")


def _encode(value):
    """JSON cannot carry inf/NaN: write them as {"$num": ...} for run_sampling.mjs."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$num": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == {"$num"}:
            return float(value["$num"].replace("Infinity", "inf"))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def run_js(cases):
    done = subprocess.run(
        [NODE, str(ROOT / "tests" / "js" / "run_sampling.mjs")],
        input=json.dumps({"cases": _encode(cases)}), capture_output=True, text=True, timeout=300, check=True,
    )
    return _decode(json.loads(done.stdout))


def run_py(case):
    try:
        if case["kind"] == "mirostat":
            return {"ok": mirostat_v2(case.get("logits"), case["tau"], case["eta"], case.get("mu"), case["seed"],
                                      case["draws"], probs=case.get("probs"))}
        return {"ok": apply_samplers(case.get("logits"), case["samplers"], case.get("history", ()),
                                     probs=case.get("probs"), stages=case.get("stages", True))}
    except SamplingError as e:
        return {"error": {"field": e.field, "message": str(e)}}


def assert_same(py, js, where):
    assert py.keys() == js.keys(), where
    if "error" in py:
        assert py == js, where
        return
    a, b = py["ok"], js["ok"]
    assert a.keys() == b.keys(), where
    for key in a:
        if key == "stages":
            assert [s["name"] for s in a[key]] == [s["name"] for s in b[key]], where
            for sa, sb in zip(a[key], b[key]):
                assert sa["kept"] == sb["kept"], where
                assert np.abs(np.array(sa["probs"]) - np.array(sb["probs"])).max() <= 1e-9, where
        elif key == "probs":
            assert np.abs(np.array(a[key]) - np.array(b[key])).max() <= 1e-9, where
        elif isinstance(a[key], float):
            assert abs(a[key] - b[key]) <= 1e-9, (where, key)
        else:
            assert a[key] == b[key], (where, key)


def test_node_test_suite_passes():
    done = subprocess.run([NODE, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout


def _random_sampler(rng, n):
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    i = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
    return [
        lambda: {"name": "temperature", "t": u(0.05, 2.5) if rng.random() < 0.8 else 0.0},
        lambda: {"name": "temperature", "t": u(0.0, 1.5), "range": u(0, 1.5), "exponent": u(0, 3)},
        lambda: {"name": "top_k", "k": i(0, n + 3)},
        lambda: {"name": "top_p", "p": u(0, 1.1), "min_keep": i(0, 5)},
        lambda: {"name": "min_p", "p": u(0, 1.1), "min_keep": i(0, 5)},
        lambda: {"name": "typical", "p": u(0, 1.05), "min_keep": i(0, 5)},
        lambda: {"name": "top_n_sigma", "n": u(0, 3)},
        lambda: {"name": "xtc", "probability": u(0, 1), "threshold": u(0, 0.6), "min_keep": i(0, 3),
                 "seed": i(0, 2**32)},
        lambda: {"name": "penalties", "repeat": u(0.3, 3), "frequency": u(-2, 2), "presence": u(-2, 2),
                 "last_n": i(-1, 50)},
        lambda: {"name": "dry", "multiplier": u(0, 3), "base": u(0.5, 3), "allowed_length": i(0, 5),
                 "last_n": i(-1, 50), "breakers": [i(0, 8) if rng.random() < 0.5 else [i(0, 8), i(0, 8)]
                                                   for _ in range(i(0, 3))]},
    ][i(0, 10)]()


def _random_logits(rng, n):
    kind = int(rng.integers(0, 4))
    if kind == 0:
        logits = rng.normal(0, rng.uniform(0.3, 6), n)
    elif kind == 1:
        logits = np.round(rng.normal(0, 2, n))  # many exact ties
    elif kind == 2:
        logits = rng.standard_cauchy(n) * 5  # heavy tails
    else:
        logits = rng.normal(0, 3, n)
        logits[rng.random(n) < 0.3] = -np.inf  # masked tokens
        logits[0] = 1.0
    return logits.tolist()


def test_js_and_python_agree_on_random_chains():
    rng = np.random.default_rng(123)
    cases = []
    for _ in range(300):
        n = int(rng.choice([1, 2, 3, 5, 10, 40, 200, 1500]))
        case = {"kind": "apply", "samplers": [_random_sampler(rng, n) for _ in range(int(rng.integers(0, 7)))],
                "history": rng.integers(0, min(n, 8), int(rng.integers(0, 80))).tolist(),
                "stages": bool(rng.random() < 0.3)}
        if rng.random() < 0.2:
            case["probs"] = rng.dirichlet(np.ones(n)).tolist()
        else:
            case["logits"] = _random_logits(rng, n)
        cases.append(case)
    # llama.cpp's default chain, then the same samplers shuffled.
    live = [dict(s) for s in DEFAULT_CHAIN]
    live[1] = {"name": "dry", "multiplier": 0.8}
    live[2] = {"name": "top_n_sigma", "n": 1.0}
    live[4] = {"name": "typical", "p": 0.9}
    live[7] = {"name": "xtc", "probability": 0.5, "threshold": 0.1, "seed": 3}
    for _ in range(40):
        n = int(rng.choice([50, 500]))
        order = rng.permutation(len(live))
        cases.append({"kind": "apply", "logits": rng.normal(0, 3, n).tolist(), "samplers": [live[j] for j in order],
                      "history": rng.integers(0, 10, 60).tolist(), "stages": True})
    for _ in range(40):
        cases.append({"kind": "mirostat", "logits": _random_logits(rng, int(rng.choice([1, 4, 300]))),
                      "tau": float(rng.uniform(0, 8)), "eta": float(rng.uniform(0, 1)),
                      "mu": None if rng.random() < 0.5 else float(rng.uniform(0, 16)),
                      "seed": int(rng.integers(0, 2**32)), "draws": int(rng.integers(0, 2000))})
    results = run_js(cases)
    assert len(results) == len(cases)
    errors = 0
    for index, (case, js) in enumerate(zip(cases, results)):
        py = run_py(case)
        errors += "error" in py
        assert_same(py, js, f"case {index}: {case.get('samplers')}")
    assert errors < len(cases) // 10  # the chains mostly run, they do not mostly fail


def test_js_and_python_agree_on_a_gemma_sized_vocabulary():
    rng = np.random.default_rng(5)
    case = {"kind": "apply", "logits": rng.normal(0, 3, 262_144).astype(np.float32).tolist(),
            "samplers": [dict(s) for s in DEFAULT_CHAIN], "history": rng.integers(0, 262_144, 64).tolist(),
            "stages": False}
    (js,) = run_js([case])
    assert_same(run_py(case), js, "gemma-sized")
    assert js["ok"]["kept"] <= 40


BAD_CASES = [
    {"logits": [], "samplers": []},
    {"logits": [1.0, float("nan")], "samplers": []},
    {"logits": [1.0, float("inf")], "samplers": []},
    {"logits": [1.0, 4e38], "samplers": []},
    {"logits": [1.0, "x"], "samplers": []},
    {"logits": [float("-inf")] * 3, "samplers": []},
    {"logits": "1,2", "samplers": []},
    {"probs": [0.5, 1.5], "samplers": []},
    {"probs": [0.0, 1e-50], "samplers": []},
    {"samplers": []},
    {"logits": [1.0], "probs": [1.0], "samplers": []},
    {"logits": [1.0], "samplers": {"name": "top_k"}},
    {"logits": [1.0], "samplers": ["top_k"]},
    {"logits": [1.0], "samplers": [None]},
    {"logits": [1.0], "samplers": [{"k": 3}]},
    {"logits": [1.0], "samplers": [{"name": 3}]},
    {"logits": [1.0], "samplers": [{"name": "top_q"}]},
    {"logits": [1.0], "samplers": [{"name": "top_k", "k": 40}, {"name": "top_p"}]},
    {"logits": [1.0], "samplers": [{"name": "top_k", "k": 2.5}]},
    {"logits": [1.0], "samplers": [{"name": "top_k", "k": -1}]},
    {"logits": [1.0], "samplers": [{"name": "top_k", "k": True}]},
    {"logits": [1.0], "samplers": [{"name": "top_p", "p": "0.9"}]},
    {"logits": [1.0], "samplers": [{"name": "top_p", "p": float("nan")}]},
    {"logits": [1.0], "samplers": [{"name": "top_p", "p": 1e39}]},
    {"logits": [1.0], "samplers": [{"name": "top_p", "p": 0.9, "zz": 1, "q": 2}]},
    {"logits": [1.0], "samplers": [{"name": "min_p", "p": 0.1, "min_keep": 300_001}]},
    {"logits": [1.0], "samplers": [{"name": "temperature", "t": -0.5}]},
    {"logits": [1.0], "samplers": [{"name": "temperature", "t": 1.0, "range": -1}]},
    {"logits": [1.0], "samplers": [{"name": "penalties", "repeat": 0}]},
    {"logits": [1.0], "samplers": [{"name": "penalties", "last_n": -2}]},
    {"logits": [1.0], "samplers": [{"name": "xtc", "probability": 1, "threshold": 0.1, "seed": 2**32}]},
    {"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": 3}]},
    {"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[]]}]},
    {"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": ["\n"]}]},
    {"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[1, -2]]}]},
    {"logits": [1.0], "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[1] * 22]}]},
    {"logits": [1.0], "samplers": [{"name": "top_k", "k": 1}] * 33},
    {"logits": [1.0], "samplers": [], "history": "0 1"},
    {"logits": [1.0], "samplers": [], "history": [0, -1]},
    {"logits": [1.0], "samplers": [], "history": [0, 1.5]},
    {"logits": [1.0, 2.0], "samplers": [{"name": "temperature", "t": 1e-44}]},
    {"logits": [-3e38, -3e38], "samplers": [{"name": "penalties", "repeat": 10}], "history": [0, 1]},
]


def test_js_and_python_fail_on_bad_input_with_the_same_message():
    cases = [{"kind": "apply", **bad} for bad in BAD_CASES]
    cases += [{"kind": "mirostat", "logits": [1.0, 2.0], "tau": tau, "eta": eta, "mu": mu, "seed": seed, "draws": draws}
              for tau, eta, mu, seed, draws in [(-1, 0.1, None, 0, 0), (5, "x", None, 0, 0), (5, 0.1, float("inf"), 0, 0),
                                                (5, 0.1, None, -1, 0), (5, 0.1, None, 0, 1.5), (5, 0.1, None, 0, 10**7)]]
    for index, (case, js) in enumerate(zip(cases, run_js(cases))):
        py = run_py(case)
        assert "error" in py, f"case {index} should fail: {case}"
        assert py == js, f"case {index}: {case}"
