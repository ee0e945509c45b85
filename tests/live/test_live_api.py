"""The live-model API under /api/v1/llm/ (live/api.py) on the real bundled model.

References: llama-cpp-python itself (a plain `llama_cpp.Llama` on the same GGUF, loaded
once for this module: its last-position logits, `create_completion`, `tokenize`, and the
library's own json-schema-to-grammar). The service is built once for the module from
settings.LLM, as the views build it; bad input must be a 400 naming the field and a
busy or missing model a 503, never a 500.
"""

import io
import json
import math
import os
import threading
import time
from wsgiref.util import setup_testing_defaults

import gguf
import llama_cpp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from django.conf import settings as django_settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from llama_cpp.llama_grammar import json_schema_to_gbnf

import live.service
from live import web
from live.api import error_response
from live.llm import (
    BackendUnavailable,
    LLMError,
    OverTime,
    QueueFull,
    QueueTimeout,
    Unsupported,
    WorkerRestarting,
    bundled_model_path,
)
from live.service import reset_service
from tests.live.http import post, read_sse, wait_until_idle

N_CTX = 512
PROMPT = "The capital of France is"
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


@pytest.fixture(scope="module")
def svc():
    """The process's service, built from settings.LLM through live.web.service() (one model
    load for the module; one thread, so that other work on a 2-core host cannot stall it)."""
    reset_service()
    with override_settings(LLM={**django_settings.LLM, "model_path": "", "n_ctx": N_CTX, "n_threads": 1,
                                "queue_size": 4, "queue_timeout": 30}):
        service = web.service()
    yield service
    reset_service()


@pytest.fixture(scope="module")
def plain():
    llm = llama_cpp.Llama(model_path=bundled_model_path(), n_ctx=N_CTX, verbose=False)
    yield llm
    llm.close()


def last_logits(plain, prompt):
    """The last position's logits of a fresh evaluation of what create_completion feeds the
    model (BOS + the prompt with special tokens parsed), read from llama.cpp directly
    (without logits_all, Llama.eval keeps no scores)."""
    tokens = plain.tokenize(prompt.encode(), add_bos=True, special=True)
    plain.reset()
    plain.eval(tokens)
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(plain.ctx, -1), shape=(plain.n_vocab(),))
    return logits.astype(np.float64), tokens


# --- next token --------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, top_n", [(PROMPT, 10), ("def fibonacci(n):\n    if n", 25)])
def test_next_token_top_n_equals_the_softmax_of_llama_cpp_logits(api_client, svc, plain, prompt, top_n):
    response = post(api_client, "next-token/", {"prompt": prompt, "top_n": top_n})
    assert response.status_code == 200, response.json()
    body = response.json()
    logits, tokens = last_logits(plain, prompt)
    probs = scipy.special.softmax(logits)
    assert [t["id"] for t in body["tokens"]] == np.argsort(-logits, kind="stable")[:top_n].tolist()
    for t in body["tokens"]:
        assert t["logit"] == pytest.approx(logits[t["id"]], abs=2e-3)
        assert t["prob"] == pytest.approx(probs[t["id"]], rel=2e-3)
        assert t["text"] == plain.detokenize([t["id"]], special=True).decode("utf-8", errors="replace")
        assert bytes(t["bytes"]) == plain.detokenize([t["id"]], special=True)
    assert body["entropy"] == pytest.approx(scipy.stats.entropy(probs), rel=1e-3)  # nats
    assert body["n_vocab"] == plain.n_vocab() == 262144
    assert body["prompt_tokens"] == len(tokens)


def test_top_n_defaults_to_ten(api_client, svc):
    body = post(api_client, "next-token/", {"prompt": PROMPT}).json()
    assert len(body["tokens"]) == 10


# --- generation --------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", [PROMPT, "Once upon a time"])
def test_greedy_text_equals_llama_cpp_create_completion_at_temperature_zero(api_client, svc, plain, prompt):
    plain.reset()  # a fresh evaluation, as a new process would do
    expected = plain.create_completion(prompt, max_tokens=24, temperature=0)
    response = post(api_client, "generate/", {"prompt": prompt, "max_tokens": 24, "temperature": 0})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["text"] == expected["choices"][0]["text"]
    assert body["finish_reason"] == expected["choices"][0]["finish_reason"]
    assert body["usage"] == expected["usage"]
    assert "".join(t["text"] for t in body["tokens"]) == body["text"]
    assert body["tokens_per_second"] > 0


def test_every_sampler_setting_reaches_llama_cpp(api_client, svc, plain):
    # Seeded sampling with every setting away from its default: the same text as
    # create_completion with the same settings only if each one is passed through.
    sampling = dict(temperature=0.9, top_k=30, top_p=0.9, min_p=0.02, typical_p=0.95, repeat_penalty=1.1,
                    frequency_penalty=0.2, presence_penalty=0.1, seed=1234)
    plain.reset()
    expected = plain.create_completion("My favourite animal is", max_tokens=20, **sampling)
    body = post(api_client, "generate/", {"prompt": "My favourite animal is", "max_tokens": 20, **sampling}).json()
    assert body["text"] == expected["choices"][0]["text"]
    assert body["seed"] == 1234


def test_streamed_events_join_to_the_json_text(api_client, svc):
    request = {"prompt": "Once upon a time", "max_tokens": 20, "temperature": 0}
    whole = post(api_client, "generate/", request).json()
    response = post(api_client, "generate/", {**request, "stream": True})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    events = read_sse(response)
    names = [name for name, _ in events]
    assert names == ["token"] * whole["usage"]["completion_tokens"] + ["done"]
    tokens = [data for name, data in events if name == "token"]
    done = events[-1][1]
    assert "".join(t["text"] for t in tokens) == done["text"] == whole["text"]
    assert [t["id"] for t in tokens] == [t["id"] for t in whole["tokens"]]
    assert [t["prob"] for t in tokens] == pytest.approx([t["prob"] for t in whole["tokens"]], rel=1e-6)
    assert done["usage"] == whole["usage"]
    assert done["finish_reason"] == whole["finish_reason"]
    assert done["tokens_per_second"] > 0
    assert not svc.status()["busy"]


@pytest.fixture
def wsgi_app():
    """The WSGI application, called the way a server calls it. Its request_started and
    request_finished handlers would touch the database (close_old_connections), which these
    tests do not use; they are disconnected meanwhile, as tests/api/test_fuzz.py does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_closing_the_streamed_response_stops_generation_and_frees_the_model(api_client, svc, wsgi_app):
    # A WSGI server calls close() on the response when the client goes away (a write
    # fails); Django then closes the TokenStream.
    body = json.dumps({"prompt": PROMPT, "max_tokens": 500, "temperature": 0, "stream": True}).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/llm/generate/", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    started = []
    result = wsgi_app(environ, lambda status, headers, exc_info=None: started.append(status))
    chunks = iter(result)
    assert next(chunks).startswith(b":")  # the opening comment
    assert next(chunks).startswith(b"event: token")
    assert started == ["200 OK"]
    assert svc.status()["busy"]
    closed_at = time.monotonic()
    result.close()
    # The model worker sees the connection close before its next token.
    wait_until_idle(svc)
    assert time.monotonic() - closed_at < 2  # 500 tokens take a good deal longer
    assert post(api_client, "next-token/", {"prompt": PROMPT, "top_n": 1}).status_code == 200


def test_a_client_that_accepts_only_event_streams_gets_the_stream_and_json_errors(api_client, svc):
    body = json.dumps({"prompt": PROMPT, "max_tokens": 3, "temperature": 0, "stream": True})
    ok = api_client.post("/api/v1/llm/generate/", body, content_type="application/json",
                         HTTP_ACCEPT="text/event-stream")
    assert ok.status_code == 200 and [name for name, _ in read_sse(ok)] == ["token"] * 3 + ["done"]
    bad = api_client.post("/api/v1/llm/generate/", json.dumps({"prompt": PROMPT, "top_k": -1, "stream": True}),
                          content_type="application/json", HTTP_ACCEPT="text/event-stream")
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/json"
    assert "top_k" in bad.json()


def test_a_json_schema_generation_parses_as_json(api_client, svc):
    body = post(api_client, "generate/", {"prompt": "JSON for Alice, who is 30 years old:", "max_tokens": 96,
                                          "temperature": 0, "json_schema": PERSON}).json()
    assert body["finish_reason"] == "stop"
    data = json.loads(body["text"])
    assert set(data) == {"name", "age"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_a_json_schema_given_as_text_works_the_same(api_client, svc):
    request = {"prompt": "JSON for Alice, who is 30 years old:", "max_tokens": 96, "temperature": 0}
    as_object = post(api_client, "generate/", {**request, "json_schema": PERSON}).json()
    as_text = post(api_client, "generate/", {**request, "json_schema": json.dumps(PERSON)}).json()
    assert as_text["text"] == as_object["text"]


def test_grammar_endpoint_turns_a_schema_into_llama_cpp_s_own_gbnf(api_client, svc):
    response = post(api_client, "grammar/", {"json_schema": PERSON})
    assert response.status_code == 200
    assert response.json() == {"valid": True, "grammar": json_schema_to_gbnf(json.dumps(PERSON))}
    assert post(api_client, "grammar/", {"grammar": 'root ::= "yes" | "no"'}).json()["valid"] is True


def test_a_grammar_constrains_the_streamed_answer_too(api_client, svc):
    response = post(api_client, "generate/", {"prompt": "Is Paris in France? Answer:", "max_tokens": 8,
                                              "temperature": 0, "grammar": 'root ::= " yes" | " no"',
                                              "stream": True})
    done = read_sse(response)[-1]
    assert done[0] == "done"
    assert done[1]["text"] in (" yes", " no")
    assert done[1]["finish_reason"] == "stop"


@pytest.mark.parametrize("grammar, reason", [("root ::= ((", "expecting ')'"),
                                             ("root ::= foo", "undefined rule identifier 'foo'")])
def test_an_invalid_grammar_is_a_400_and_the_model_keeps_answering(api_client, svc, grammar, reason):
    # LlamaGrammar.from_string would accept it and the next completion would crash the
    # process (DESIGN.md); the API must refuse it, streamed or not.
    for stream in (False, True):
        response = post(api_client, "generate/", {"prompt": PROMPT, "max_tokens": 4, "grammar": grammar,
                                                  "stream": stream})
        assert response.status_code == 400
        assert reason in response.json()["grammar"][0]
    response = post(api_client, "grammar/", {"grammar": grammar})
    assert response.status_code == 400 and reason in response.json()["grammar"][0]
    assert not svc.status()["busy"]
    after = post(api_client, "next-token/", {"prompt": PROMPT, "top_n": 1})
    assert after.status_code == 200 and after.json()["tokens"][0]["text"] == " the"


@pytest.mark.parametrize("schema", ["{not json", {"$ref": "#"}, {"type": 5}])
def test_an_unusable_json_schema_is_a_400_naming_json_schema(api_client, svc, schema):
    response = post(api_client, "generate/", {"prompt": PROMPT, "json_schema": schema})
    assert response.status_code == 400
    assert list(response.json()) == ["json_schema"]


def test_a_schema_that_expands_into_a_huge_grammar_is_refused_by_size(api_client, svc):
    # 1,000 strings of up to 1,000 characters: small numbers, a long grammar.
    schema = {"type": "array", "items": {"type": "string", "maxLength": 1000}, "maxItems": 1000}
    response = post(api_client, "generate/", {"prompt": PROMPT, "json_schema": schema})
    assert response.status_code == 400
    assert "characters" in response.json()["json_schema"][0]


def test_a_schema_asking_for_a_billion_repeats_is_refused_before_conversion(api_client, svc):
    # llama.cpp's converter would write out 10**9 copies of a rule name.
    started = time.monotonic()
    response = post(api_client, "generate/", {"prompt": PROMPT, "json_schema": {"type": "array",
                                                                                "minItems": 10**9}})
    assert response.status_code == 400
    assert "minItems" in response.json()["json_schema"][0]
    assert time.monotonic() - started < 2


# --- tokenize and perplexity ---------------------------------------------------------------

def test_tokenize_gives_llama_cpp_s_ids_and_the_bytes_of_the_text(api_client, svc, plain):
    text = "héllo 🦙 wörld <start_of_turn>"
    body = post(api_client, "tokenize/", {"text": text}).json()
    assert [t["id"] for t in body["tokens"]] == plain.tokenize(text.encode(), add_bos=True, special=True)
    assert body["count"] == len(body["tokens"])
    assert b"".join(bytes(t["bytes"]) for t in body["tokens"][1:]) == text.encode()
    without = post(api_client, "tokenize/", {"text": text, "add_bos": False}).json()
    assert [t["id"] for t in without["tokens"]] == plain.tokenize(text.encode(), add_bos=False, special=True)
    # The llama emoji has no token of its own: four byte tokens, each marked partial.
    assert [t["partial"] for t in without["tokens"] if t["text"] == "\ufffd"] == [True] * 4


def test_perplexity_is_exp_of_the_mean_of_the_listed_nlls(api_client, svc, plain):
    text = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
            "It is named after the engineer Gustave Eiffel, whose company designed and built the tower.")
    body = post(api_client, "perplexity/", {"text": text}).json()
    # llama-perplexity's tokenization: BOS + text, special tokens not parsed; the second
    # half is scored.
    tokens = plain.tokenize(text.encode(), add_bos=True, special=False)
    first = len(tokens) // 2
    assert body["n_tokens"] == len(tokens) and body["first"] == first
    assert [t["id"] for t in body["tokens"]] == tokens[first + 1:]
    assert body["nll_per_token"] == [t["nll"] for t in body["tokens"]]
    assert len(body["nll_per_token"]) == body["n_scored"] == len(tokens) - first - 1
    assert body["mean_nll"] == pytest.approx(np.mean(body["nll_per_token"]), rel=1e-9)
    assert body["perplexity"] == pytest.approx(math.exp(np.mean(body["nll_per_token"])), rel=1e-9)
    assert [t["prob"] for t in body["tokens"]] == pytest.approx([math.exp(-x) for x in body["nll_per_token"]])
    # The service's numbers are held to llama.cpp's logits in tests/live/test_llm.py; the
    # API hands them on unchanged.
    direct = svc.perplexity(text)
    assert body["perplexity"] == pytest.approx(direct.perplexity, rel=1e-6)
    assert body["tokens_per_second"] == pytest.approx(body["n_tokens"] / (body["took_ms"] / 1000))


# --- models ------------------------------------------------------------------------------

def test_models_lists_the_bundled_gguf_with_llama_cpp_s_metadata(api_client, svc, plain):
    response = api_client.get("/api/v1/llm/models/")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    (model,) = body["results"]
    assert model["architecture"] == plain.metadata["general.architecture"] == "gemma3"
    assert gguf.LlamaFileType(int(plain.metadata["general.file_type"])).name == "MOSTLY_" + model["file_type"]
    assert model["file_type"] == "Q4_K_M"
    assert model["parameters"] == llama_cpp.llama_model_n_params(plain.model)
    assert model["context_length"] == int(plain.metadata["gemma3.context_length"])
    assert model["file_size"] == os.path.getsize(bundled_model_path())
    assert model["bits_per_weight"] == pytest.approx(llama_cpp.llama_model_size(plain.model) * 8
                                                     / model["parameters"], abs=1e-3)
    # The file's name, never the folder it is in on the server.
    assert model["file_name"] == os.path.basename(bundled_model_path()) == "gemma-3-270m-q4_k_m.gguf"
    assert "path" not in model
    assert os.path.dirname(bundled_model_path()) not in response.content.decode()
    assert body["status"]["backend"] == "local" and body["status"]["queue_size"] == 4


# --- bad input: always a 400 naming the field -------------------------------------------------

BAD = [
    ("next-token/", {}, "prompt"),
    ("next-token/", {"prompt": None}, "prompt"),
    ("next-token/", {"prompt": ["x"]}, "prompt"),
    ("next-token/", {"prompt": {"a": 1}}, "prompt"),
    ("next-token/", {"prompt": True}, "prompt"),
    ("next-token/", {"prompt": ""}, "prompt"),
    ("next-token/", {"prompt": "   "}, "prompt"),
    ("next-token/", {"prompt": "a\x00b"}, "prompt"),
    ("next-token/", {"prompt": "x" * 32001}, "prompt"),
    ("next-token/", {"prompt": "word " * (N_CTX + 10)}, "prompt"),
    ("next-token/", {"prompt": PROMPT, "top_n": 0}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": 101}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": 2.5}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": "five"}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": True}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": None}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": 10**40}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "top_n": [3]}, "top_n"),
    ("next-token/", {"prompt": PROMPT, "temperature": 0}, "temperature"),
    ("generate/", {"prompt": PROMPT, "max_tokens": 0}, "max_tokens"),
    ("generate/", {"prompt": PROMPT, "max_tokens": 1025}, "max_tokens"),
    ("generate/", {"prompt": "word " * (N_CTX - 20), "max_tokens": 100}, "max_tokens"),
    ("generate/", {"prompt": PROMPT, "temperature": -0.1}, "temperature"),
    ("generate/", {"prompt": PROMPT, "temperature": 5.5}, "temperature"),
    ("generate/", {"prompt": PROMPT, "temperature": "hot"}, "temperature"),
    ("generate/", {"prompt": PROMPT, "temperature": "NaN"}, "temperature"),
    ("generate/", {"prompt": PROMPT, "temperature": True}, "temperature"),
    ("generate/", {"prompt": PROMPT, "temperature": {"t": 1}}, "temperature"),
    ("generate/", {"prompt": PROMPT, "top_k": -1}, "top_k"),
    ("generate/", {"prompt": PROMPT, "top_p": 1.5}, "top_p"),
    ("generate/", {"prompt": PROMPT, "min_p": -1}, "min_p"),
    ("generate/", {"prompt": PROMPT, "typical_p": 2}, "typical_p"),
    ("generate/", {"prompt": PROMPT, "repeat_penalty": 0}, "repeat_penalty"),
    ("generate/", {"prompt": PROMPT, "frequency_penalty": 3}, "frequency_penalty"),
    ("generate/", {"prompt": PROMPT, "presence_penalty": -3}, "presence_penalty"),
    ("generate/", {"prompt": PROMPT, "seed": -1}, "seed"),
    ("generate/", {"prompt": PROMPT, "seed": 2**32}, "seed"),
    ("generate/", {"prompt": PROMPT, "stream": "maybe"}, "stream"),
    ("generate/", {"prompt": PROMPT, "grammar": ""}, "grammar"),
    ("generate/", {"prompt": PROMPT, "grammar": ["root ::= x"]}, "grammar"),
    ("generate/", {"prompt": PROMPT, "json_schema": 5}, "json_schema"),
    ("generate/", {"prompt": PROMPT, "json_schema": [PERSON]}, "json_schema"),
    ("generate/", {"prompt": PROMPT, "grammar": 'root ::= "a"', "json_schema": PERSON}, "json_schema"),
    ("generate/", {"prompt": PROMPT, "temp": 0.5}, "temp"),
    # Lone surrogates: JSON can carry them, UTF-8 cannot (issue 15, item 7).
    ("generate/", {"prompt": PROMPT, "\ud800": 1}, "\\ud800"),
    ("generate/", {"prompt": "\ud800"}, "prompt"),
    ("generate/", {"prompt": PROMPT, "grammar": 'root ::= "\udfff"'}, "grammar"),
    ("grammar/", {"json_schema": {"type": "array", "minItems": 10**9}}, "json_schema"),
    ("tokenize/", {"text": "a\ud800"}, "text"),
    ("tokenize/", {"text": None}, "text"),
    ("tokenize/", {"text": "hi", "add_bos": "sometimes"}, "add_bos"),
    ("perplexity/", {"text": "a"}, "text"),
    ("perplexity/", {"text": "word " * (N_CTX + 10)}, "text"),
    ("grammar/", {}, "grammar"),
    ("grammar/", {"grammar": 'root ::= "a"', "json_schema": PERSON}, "grammar"),
]


@pytest.mark.parametrize("path, body, field", BAD, ids=[f"{p}{f}-{i}" for i, (p, _, f) in enumerate(BAD)])
def test_bad_input_is_a_400_naming_the_field(api_client, svc, path, body, field):
    response = post(api_client, path, body)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert isinstance(response.json()[field], list)


@pytest.mark.parametrize("text", ["[]", '"prompt"', "5", "null", "{not json", "[" * 100000 + "]" * 100000,
                                  '{"prompt": NaN}', '{"prompt": "x", "top_n": 1e999}'])
def test_malformed_bodies_are_a_400(api_client, svc, text):
    response = post(api_client, "next-token/", text)
    assert response.status_code == 400
    assert response.json()


def test_the_endpoints_need_no_account_and_no_csrf_token(svc):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/llm/tokenize/", json.dumps({"text": "hi"}), content_type="application/json")
    assert response.status_code == 200


# --- a busy or missing model: 503, never 500 ----------------------------------------------------

@pytest.fixture
def model_held(service_with):
    """The model taken by a stream that has produced one token; no request may wait."""
    service = service_with(n_ctx=N_CTX, queue_size=0)
    stream = service.stream_generate(PROMPT, max_tokens=300, temperature=0)
    assert next(stream)["type"] == "token"
    yield service
    stream.close()


def test_a_full_queue_is_a_503_with_retry_after(api_client, model_held):
    for path, body in [("next-token/", {"prompt": PROMPT}), ("tokenize/", {"text": "hi"}),
                       ("generate/", {"prompt": PROMPT, "stream": True})]:
        started = time.monotonic()
        response = post(api_client, path, body)
        assert time.monotonic() - started < 2  # refused at once, not after a wait
        assert response.status_code == 503
        assert int(response["Retry-After"]) >= 1
        assert response.json()["detail"].startswith("The model is busy")


def test_a_request_that_waits_too_long_is_a_503_saying_so(api_client, service_with):
    service = service_with(n_ctx=N_CTX, queue_size=1, queue_timeout=0.3)
    stream = service.stream_generate(PROMPT, max_tokens=300, temperature=0)
    next(stream)
    response = post(api_client, "perplexity/", {"text": "one two three four five six"})
    stream.close()
    assert response.status_code == 503
    assert "stayed busy" in response.json()["detail"]
    assert response["Retry-After"]


def test_a_waiting_request_is_served_when_the_model_is_free(api_client, svc):
    stream = svc.stream_generate(PROMPT, max_tokens=300, temperature=0)
    next(stream)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(post(api_client, "next-token/", {"prompt": PROMPT,
                                                                                            "top_n": 1})))
    waiter.start()
    deadline = time.monotonic() + 10
    while svc.status()["waiting"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stream.close()
    waiter.join(30)
    assert answers[0].status_code == 200


@pytest.mark.parametrize("error, status, start", [
    (BackendUnavailable("model file not found: /x.gguf"), 503, "The model is unavailable: model file not found"),
    (Unsupported("perplexity: needs per-position logits"), 501, "Not supported by this model server: perplexity"),
    (QueueTimeout("waited 30 s for the model"), 503, "The model stayed busy"),
    (LLMError("llama_decode returned 1"), 503, "The model could not answer: llama_decode"),
    (WorkerRestarting("the model worker stopped", 5), 503, "The model could not answer: the model worker"),
    (OverTime("the request took longer than its limit", 5), 503, "The model could not answer: the request took"),
])
def test_service_errors_map_to_statuses_with_a_detail(error, status, start):
    response = error_response(error)
    assert response.status_code == status
    assert response.data["detail"].startswith(start)


def test_queue_full_maps_to_503_with_its_retry_after():
    response = error_response(QueueFull(retry_after=7, waiting=3))
    assert (response.status_code, response["Retry-After"]) == (503, "7")


@pytest.mark.parametrize("error", [WorkerRestarting("restarting", 4), OverTime("too long", 4)])
def test_a_worker_failure_maps_to_503_with_retry_after(error):
    response = error_response(error)
    assert (response.status_code, response["Retry-After"]) == (503, "4")


@pytest.fixture
def other_service(monkeypatch, settings):
    """Build the process's service afresh from settings.LLM for one test, and put the
    module's (loaded) service back afterwards, so the model is not loaded twice."""
    monkeypatch.setattr(live.service, "_service", None)

    def configure(**llm):
        settings.LLM = {**django_settings.LLM, **llm}
    return configure


def test_a_missing_model_file_is_a_503_naming_it_without_its_folder(api_client, svc, other_service, tmp_path):
    missing = tmp_path / "nowhere.gguf"
    other_service(model_path=str(missing))
    for path, body in [("next-token/", {"prompt": PROMPT}), ("generate/", {"prompt": PROMPT, "stream": True}),
                       ("tokenize/", {"text": "hi"}), ("perplexity/", {"text": "one two three"})]:
        response = post(api_client, path, body)
        assert response.status_code == 503, path
        assert response.json()["detail"] == "The model is unavailable: model file not found: nowhere.gguf"
    response = api_client.get("/api/v1/llm/models/")
    assert response.status_code == 503
    assert response.json()["detail"] == "The model is unavailable: model file not found: nowhere.gguf"
    assert str(tmp_path) not in response.content.decode()


def test_a_corrupt_model_file_is_a_503(api_client, svc, other_service, tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    other_service(model_path=str(corrupt))
    response = post(api_client, "next-token/", {"prompt": PROMPT})
    assert response.status_code == 503
    # Read by the header reader before any worker is started for it.
    assert response.json()["detail"].startswith("The model is unavailable: cannot read GGUF file corrupt.gguf")
    assert api_client.get("/api/v1/llm/models/").status_code == 503


def test_an_unreachable_remote_server_is_a_503(api_client, svc, other_service):
    other_service(backend="remote", remote_url="http://127.0.0.1:9")  # port 9: discard, nothing listens
    response = post(api_client, "next-token/", {"prompt": PROMPT})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The model is unavailable: cannot reach http://127.0.0.1:9")


def test_wrong_llm_settings_are_a_503_naming_the_setting(api_client, svc, other_service):
    other_service(n_ctx=4)
    response = post(api_client, "tokenize/", {"text": "hi"})
    assert response.status_code == 503
    assert response.json()["detail"] == ("The model is unavailable: the LLM settings are wrong: "
                                         "LLM_N_CTX: must be at least 16")


def test_the_module_service_is_back_after_those_tests(api_client, svc):
    assert web.service() is svc
    assert post(api_client, "next-token/", {"prompt": PROMPT, "top_n": 1}).status_code == 200
