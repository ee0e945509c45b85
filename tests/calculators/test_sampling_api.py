"""POST /api/v1/calculators/sampling/ and .../sampling/mirostat/, and the playground page.

The numbers are held to llama.cpp's published test vectors (tests/js/sampling_vectors.json,
transcribed from llama.cpp's tests/test-sampling.cpp) and to the pure engine,
calculators/sampling.py, whose own tests compare it with llama.cpp run through
llama-cpp-python. Bad input must be a 400 naming the field, whatever JSON arrives.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from calculators.sampling import DEFAULT_CHAIN, MAX_VOCAB, PARAMETERS, apply_samplers, mirostat_v2

pytestmark = pytest.mark.django_db

URL = "/api/v1/calculators/sampling/"
MIROSTAT_URL = "/api/v1/calculators/sampling/mirostat/"
VECTORS = json.loads((Path(__file__).parents[1] / "js" / "sampling_vectors.json").read_text())
LOGITS = [1.5, 3.0, 2.2, 0.1, -1.0, 2.9, 0.7]


def post(client, body, url=URL):
    """Send `body` as JSON text (so NaN and huge integers go through as written)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, text, content_type="application/json")


# --- shape -------------------------------------------------------------------------------

def test_answer_holds_probs_kept_and_entropy_only(api_client):
    response = post(api_client, {"logits": LOGITS, "samplers": [{"name": "top_k", "k": 3}]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"probs", "kept", "entropy"}
    assert len(body["probs"]) == len(LOGITS)
    assert body["kept"] == 3 == sum(p > 0 for p in body["probs"])
    assert abs(sum(body["probs"]) - 1) < 1e-6
    # Shannon entropy in nats of the answer's own probabilities.
    p = np.array([x for x in body["probs"] if x > 0])
    assert body["entropy"] == pytest.approx(-(p * np.log(p)).sum(), abs=1e-12)


def test_stages_come_only_when_asked_one_per_sampler_after_the_input(api_client):
    chain = [{"name": "top_k", "k": 4}, {"name": "temperature", "t": 0.5}, {"name": "min_p", "p": 0.2}]
    body = post(api_client, {"logits": LOGITS, "samplers": chain, "stages": True}).json()
    assert [s["name"] for s in body["stages"]] == ["input", "top_k", "temperature", "min_p"]
    assert [s["kept"] for s in body["stages"]][:2] == [7, 4]
    assert body["stages"][-1]["probs"] == body["probs"]
    assert body["stages"][-1]["kept"] == body["kept"]


def test_history_and_samplers_default_to_nothing(api_client):
    body = post(api_client, {"logits": LOGITS}).json()
    # No sampler: the softmax of the logits (float32 in llama.cpp, hence the tolerance).
    expected = np.exp(np.array(LOGITS) - max(LOGITS))
    assert np.allclose(body["probs"], expected / expected.sum(), atol=1e-7)
    assert body["kept"] == len(LOGITS)


# --- published vectors and the engine ---------------------------------------------------

@pytest.mark.parametrize("case", VECTORS["llama_cpp"], ids=lambda c: c["source"].split(": ", 1)[1])
def test_llama_cpp_published_vectors_hold_through_the_api(api_client, case):
    body = {"probs": case["probs"], "samplers": case["samplers"], "history": case.get("history", [])}
    response = post(api_client, body)
    assert response.status_code == 200, response.json()
    probs = np.array(response.json()["probs"])
    expected = np.array(case["expected"])
    if case.get("renormalize"):
        expected = expected / expected.sum()
    assert np.abs(probs[case["expected_ids"]] - expected).max() < 1e-5  # the C++ test's tolerance
    others = np.setdiff1d(np.arange(probs.size), case["expected_ids"])
    assert (probs[others] == 0).all()
    assert response.json()["kept"] == case["kept"]


def _random_case(rng):
    chain = [dict(spec) for spec in DEFAULT_CHAIN]
    chain[0].update(repeat=1.3, frequency=0.2, presence=0.1)
    chain[1].update(multiplier=0.8, allowed_length=2)
    chain[7].update(probability=1.0, threshold=0.05, seed=int(rng.integers(0, 2**32)))
    rng.shuffle(chain)
    logits = rng.normal(0, 3, 500).astype(np.float32).tolist()
    history = rng.integers(0, 20, 40).tolist()
    return logits, chain, history


@pytest.mark.parametrize("seed", range(4))
def test_api_equals_the_python_engine_number_for_number(api_client, seed):
    logits, chain, history = _random_case(np.random.default_rng(seed))
    body = post(api_client, {"logits": logits, "samplers": chain, "history": history, "stages": True}).json()
    assert body == apply_samplers(logits, chain, history, stages=True)


def test_probs_input_equals_the_engine_too(api_client):
    probs = [0.5, 0.2, 0.15, 0.1, 0.05]
    chain = [{"name": "top_p", "p": 0.8}, {"name": "temperature", "t": 1.5}]
    body = post(api_client, {"probs": probs, "samplers": chain}).json()
    assert body == apply_samplers(probs=probs, samplers=chain, stages=False)


def test_order_of_the_samplers_changes_the_answer(api_client):
    # Temperature first (transformers) sharpens the distribution before top-p cuts it.
    logits = np.linspace(0, 3, 12).tolist()
    late = post(api_client, {"logits": logits, "samplers": [{"name": "top_p", "p": 0.9}, {"name": "temperature", "t": 0.5}]})
    early = post(api_client, {"logits": logits, "samplers": [{"name": "temperature", "t": 0.5}, {"name": "top_p", "p": 0.9}]})
    assert late.json()["kept"] > early.json()["kept"]


def test_mirostat_steps_continue_exactly_like_the_engine(api_client):
    logits = np.random.default_rng(3).normal(0, 2, 300).astype(np.float32).tolist()
    mu, draws = None, 0
    for _ in range(5):
        request = {"logits": logits, "tau": 3.0, "eta": 0.2, "seed": 1234, "draws": draws}
        if mu is not None:
            request["mu"] = mu
        response = post(api_client, request, MIROSTAT_URL)
        assert response.status_code == 200, response.json()
        body = response.json()
        expected = mirostat_v2(logits, 3.0, 0.2, mu, 1234, draws)
        assert {k: body[k] for k in expected} == expected
        assert set(body) == {"probs", "kept", "token", "mu", "draws", "entropy"}
        mu, draws = body["mu"], body["draws"]
    assert draws == 10  # discrete_distribution takes two 32-bit draws per token


def test_mirostat_first_step_starts_mu_at_twice_tau(api_client):
    # mu starts at 2·tau (llama_sampler_init_mirostat_v2); with eta = 0 it never moves.
    body = post(api_client, {"logits": LOGITS, "tau": 2.5, "eta": 0}, MIROSTAT_URL).json()
    assert body["mu"] == 5.0
    # Tokens whose surprise -log2 p exceeds mu = 5 bits are cut.
    p = np.exp(np.array(LOGITS) - max(LOGITS))
    p /= p.sum()
    assert body["kept"] == int((-np.log2(p) <= 5.0).sum())


# --- bad input ---------------------------------------------------------------------------

BAD = [
    ({"logits": [1, 2], "probs": [0.5, 0.5], "samplers": []}, "logits"),
    ({"samplers": []}, "logits"),
    ({"logits": [], "samplers": []}, "logits"),
    ({"logits": [0.0] * (MAX_VOCAB + 1), "samplers": []}, "logits"),
    ({"logits": [1, "2"], "samplers": []}, "logits[1]"),
    ({"logits": [1, None], "samplers": []}, "logits[1]"),
    ({"logits": [1, True], "samplers": []}, "logits[1]"),
    ({"logits": [1, [2]], "samplers": []}, "logits[1]"),
    ({"logits": [1, "NaN"], "samplers": []}, "logits[1]"),
    ({"logits": {"a": 1}, "samplers": []}, "logits"),
    ({"logits": "1, 2", "samplers": []}, "logits"),
    ({"logits": [1, 1e39], "samplers": []}, "logits[1]"),
    ({"probs": [0.5, 1.5], "samplers": []}, "probs[1]"),
    ({"probs": [0.0, 0.0], "samplers": []}, "probs"),
    ({"logits": LOGITS, "samplers": {"name": "top_k"}}, "samplers"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k", "k": 40}] * 33}, "samplers"),
    ({"logits": LOGITS, "samplers": ["top_k"]}, "samplers[0]"),
    ({"logits": LOGITS, "samplers": [{"k": 3}]}, "samplers[0].name"),
    ({"logits": LOGITS, "samplers": [{"name": "top_z"}]}, "samplers[0].name"),
    ({"logits": LOGITS, "samplers": [{"name": 7}]}, "samplers[0].name"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k", "k": 3, "q": 1}]}, "samplers[0].q"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k"}]}, "samplers[0].k"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k", "k": 2.5}]}, "samplers[0].k"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k", "k": "3"}]}, "samplers[0].k"),
    ({"logits": LOGITS, "samplers": [{"name": "top_k", "k": 3}, {"name": "min_p", "p": 0.1},
                                     {"name": "top_p", "p": -0.5}]}, "samplers[2].p"),
    ({"logits": LOGITS, "samplers": [{"name": "temperature", "t": 1e39}]}, "samplers[0].t"),
    ({"logits": LOGITS, "samplers": [{"name": "temperature", "t": 1e-45}]}, "samplers[0]"),
    ({"logits": LOGITS, "samplers": [{"name": "penalties", "repeat": 0}]}, "samplers[0].repeat"),
    ({"logits": LOGITS, "samplers": [{"name": "xtc", "probability": 1, "threshold": 0.1, "seed": 2**32}]},
     "samplers[0].seed"),
    ({"logits": LOGITS, "samplers": [{"name": "dry", "multiplier": 1, "breakers": [[1, "x"]]}]},
     "samplers[0].breakers[0][1]"),
    ({"logits": LOGITS, "samplers": [], "history": [1, -2]}, "history[1]"),
    ({"logits": LOGITS, "samplers": [], "history": "1 2"}, "history"),
    ({"logits": LOGITS, "samplers": [], "stages": "yes"}, "stages"),
    ({"logits": LOGITS, "samplers": [], "sampler": []}, "sampler"),
    ({"logits": [0.0] * 100_000, "samplers": [{"name": "top_k", "k": 1}] * 20, "stages": True}, "stages"),
]


@pytest.mark.parametrize("body, field", BAD, ids=lambda x: x if isinstance(x, str) else None)
def test_bad_input_is_a_400_naming_the_field(api_client, body, field):
    response = post(api_client, body)
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field], errors
    assert isinstance(errors[field], list) and errors[field][0]


@pytest.mark.parametrize("text, field", [
    ('{"logits": [1, NaN], "samplers": []}', "detail"),  # not JSON: DRF's strict parser refuses it
    ('{"logits": [1, Infinity], "samplers": []}', "detail"),
    ('{"logits": [1, 1e999], "samplers": []}', "logits[1]"),  # valid JSON, parses to inf
    ('{"logits": [1, -1e999], "samplers": [{"name": "top_k", "k": 1}]}', None),  # -inf masks a token
    ('{"logits": [1, ' + "9" * 400 + '], "samplers": []}', "logits[1]"),  # beyond float64
    ('{"logits": [1, 2], "samplers": [{"name": "top_k", "k": ' + "9" * 400 + '}]}', None),
    ('{"probs": [0.5, ' + "9" * 400 + '], "samplers": []}', "probs[1]"),
    ('{"logits": [1, 2], "samplers": [], "history": [' + "9" * 400 + ']}', "history[0]"),
    ('{"logits": [1, 2], "samplers": [{"name": "temperature", "t": ' + "9" * 400 + '}]}', "samplers[0].t"),
    ("[1, 2, 3]", "non_field_errors"),
    ("null", "non_field_errors"),
    ('"logits"', "non_field_errors"),
    ("{not json", "detail"),
    ("[" * 100_000 + "]" * 100_000, "detail"),
    ('{"logits": ' + "[" * 50_000 + "]" * 50_000 + "}", "detail"),
])
def test_any_json_at_all_is_answered_without_a_500(api_client, text, field):
    response = post(api_client, text)
    if field is None:
        assert response.status_code == 200, response.json()
    else:
        assert response.status_code == 400
        assert list(response.json()) == [field], response.json()


def test_an_empty_body_asks_for_logits(api_client):
    response = api_client.post(URL, "", content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == ["logits"]


def test_only_json_is_accepted(api_client):
    response = api_client.post(URL, {"logits": "1"})  # multipart form
    assert response.status_code == 415


def test_junk_in_every_field_is_a_400_never_a_500(api_client):
    junk = [None, True, 0, -1, 1e308, "x", "", [], {}, [None], [[]], [{}], {"a": [1]}, 2**70, -(2**70)]
    base = {"logits": LOGITS, "samplers": [{"name": "top_p", "p": 0.9}], "history": [1]}
    seen = set()
    for key in ("logits", "probs", "samplers", "history", "stages"):
        for value in junk:
            body = {**base, key: value}
            response = post(api_client, body)
            assert response.status_code in (200, 400), (key, value)
            seen.add(response.status_code)
    for name, table in {"temperature": ["t", "range", "exponent"], "top_k": ["k"], "xtc": ["probability", "threshold", "seed"],
                        "penalties": ["repeat", "frequency", "presence", "last_n"],
                        "dry": ["multiplier", "base", "allowed_length", "last_n", "breakers"]}.items():
        for param in table:
            for value in junk:
                spec = {"name": name, "t": 1, "k": 1, "probability": 1, "threshold": 0.1, "multiplier": 1}
                spec = {k: v for k, v in spec.items() if k in PARAMETERS[name]}
                spec[param] = value
                response = post(api_client, {"logits": LOGITS, "samplers": [spec], "history": [1, 2, 1, 2, 1]})
                assert response.status_code in (200, 400), (name, param, value, response.content[:200])
                if response.status_code == 400:
                    assert list(response.json())[0].startswith("samplers[0]")
    assert seen == {200, 400}


@pytest.mark.parametrize("body, field", [
    ({"tau": 5}, "logits"),
    ({"logits": LOGITS, "probs": [0.5, 0.5]}, "logits"),
    ({"logits": LOGITS, "tau": -1}, "tau"),
    ({"logits": LOGITS, "tau": "5"}, "tau"),
    ({"logits": LOGITS, "eta": None}, "eta"),
    ({"logits": LOGITS, "mu": "x"}, "mu"),
    ({"logits": LOGITS, "seed": -1}, "seed"),
    ({"logits": LOGITS, "draws": 10**7}, "draws"),
    ({"logits": [1, "a"]}, "logits[1]"),
    ({"logits": LOGITS, "temperature": 0.8}, "temperature"),
    ({"logits": LOGITS, "tau": 3e38}, "tau"),  # mu = 2·tau overflows float32
    ({"logits": LOGITS, "tau": 3e38, "eta": 1, "mu": 3e38}, "eta"),  # mu - eta·(s - tau) overflows
    ([1], "non_field_errors"),
])
def test_mirostat_bad_input_is_a_400_naming_the_field(api_client, body, field):
    response = post(api_client, body, MIROSTAT_URL)
    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()


# --- documentation and the page ------------------------------------------------------------

def test_both_endpoints_are_in_the_openapi_schema(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "post" in paths[URL]
    assert "post" in paths[MIROSTAT_URL]


GLOSSARY_SLUGS = ["temperature", "top-k", "top-p", "min-p", "typical-sampling", "top-n-sigma", "xtc",
                  "repetition-penalty", "frequency-and-presence-penalties", "dry", "mirostat", "sampler-order",
                  "logits", "softmax", "greedy-decoding", "seed"]


def test_page_links_every_concept_to_its_glossary_entry(client):
    response = client.get("/calculators/sampling/")
    assert response.status_code == 200
    html = response.content.decode()
    for slug in GLOSSARY_SLUGS:
        assert f'href="/glossary/{slug}/"' in html, slug
        assert (Path(__file__).parents[2] / "fixtures" / "glossary" / f"{slug}.md").exists(), slug
    assert 'type="module" src="/static/js/sampling-page.js"' in html


def test_page_cards_follow_llama_cpp_default_order_with_its_values(client):
    html = client.get("/calculators/sampling/").content.decode()
    positions = [html.index(f'data-name="{spec["name"]}"') for spec in DEFAULT_CHAIN]
    assert positions == sorted(positions)
    # common/common.h defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05.
    for card, value in (("temperature-t", "0.8"), ("top_k-k", "40"), ("top_p-p", "0.95"), ("min_p-p", "0.05")):
        assert f'id="sp-{card}" type="number"' in html
        tag = html[html.index(f'id="sp-{card}"'):]
        assert f'value="{value}"' in tag[:tag.index(">")]
