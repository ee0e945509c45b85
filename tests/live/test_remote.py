"""RemoteBackend against a real `python -m llama_cpp.server` serving the bundled
model on loopback, compared with the in-process LocalBackend on the same file."""

import math
import socket
import subprocess
import sys
import time

import httpx
import pytest

from live.engine import LocalBackend
from live.llm import BackendUnavailable, InputError, SamplingParams, Unsupported, bundled_model_path
from live.remote import RemoteBackend
from live.service import LLMService

PROMPT = "The capital of France is"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", bundled_model_path(),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def remote(server_url):
    b = RemoteBackend(server_url, timeout=120)
    yield b
    b.close()


@pytest.fixture(scope="module")
def local():
    b = LocalBackend(n_ctx=512)
    yield b
    b.close()


def test_flavour_is_detected_as_llama_cpp_python(remote):
    assert remote.flavour == "llama-cpp-python"  # GET /props is llama-server only


def test_remote_next_token_top_n_matches_local(remote, local):
    got = remote.next_token(PROMPT, top_n=5)
    want = local.next_token(PROMPT, top_n=5)
    # The server keys its top_logprobs by token text: ids and logits are not sent.
    assert [t.text for t in got.tokens] == [t.text for t in want.tokens]
    assert [t.prob for t in got.tokens] == pytest.approx([t.prob for t in want.tokens], rel=1e-3)
    assert all(t.id is None and t.logit is None for t in got.tokens)
    assert got.entropy is None and got.n_vocab is None
    assert got.prompt_tokens == want.prompt_tokens
    for t in got.tokens:
        assert math.exp(t.logprob) == pytest.approx(t.prob)


def test_remote_greedy_text_equals_local(remote, local):
    # llama_cpp.server always reuses the KV cache of the prompt prefix it shares
    # with the previous request, which shifts logits slightly (see LocalBackend);
    # a prompt without near-ties in its greedy path gives the same text anyway.
    params = SamplingParams(max_tokens=16, temperature=0)
    got = remote.generate(PROMPT, params)
    want = local.generate(PROMPT, params)
    assert got.text == want.text
    assert got.finish_reason == want.finish_reason
    assert got.usage == want.usage


def test_remote_stream_joins_to_the_greedy_text(remote, local):
    params = SamplingParams(max_tokens=12, temperature=0)
    events = list(remote.stream_generate(PROMPT, params))
    assert events[-1]["type"] == "done"
    joined = "".join(e["text"] for e in events[:-1])
    assert joined == events[-1]["text"] == local.generate(PROMPT, params).text
    assert events[-1]["finish_reason"] == "length"


def test_remote_stream_stops_when_asked(remote):
    seen = []
    events = remote.stream_generate(
        PROMPT, SamplingParams(max_tokens=100, temperature=0), should_stop=lambda: len(seen) >= 2
    )
    for event in events:
        seen.append(event)
    assert [e["type"] for e in seen] == ["token", "token", "done"]
    assert seen[-1]["finish_reason"] == "cancelled"
    # The server noticed the disconnect and is free for the next request.
    assert remote.next_token(PROMPT, top_n=1).tokens[0].text == " the"


def test_remote_tokenize_ids_equal_local(remote, local):
    text = "héllo wörld <start_of_turn>"
    got = remote.tokenize(text)
    want = local.tokenize(text)
    assert [t.id for t in got.tokens] == [t.id for t in want.tokens]
    assert got.count == want.count
    # /extras/detokenize renders special tokens (<bos>, <start_of_turn>) as "".
    assert [t.text for t in got.tokens[1:-1]] == [t.text for t in want.tokens[1:-1]]
    assert (got.tokens[-1].text, want.tokens[-1].text) == ("", "<start_of_turn>")


def test_remote_tokenize_marks_pieces_the_server_cannot_decode(remote):
    # /extras/detokenize decodes strictly: the byte-fallback pieces of an emoji
    # cannot be shown one by one.
    got = remote.tokenize("🦙", add_bos=False)
    assert got.count == 4
    assert all(t.partial and t.bytes is None for t in got.tokens)


def test_remote_seeded_sampling_equals_local(remote, local):
    params = SamplingParams(max_tokens=12, temperature=0.9, seed=99)
    assert remote.generate("My favourite animal is", params).text == local.generate(
        "My favourite animal is", params
    ).text


def test_remote_invalid_grammar_is_refused_before_the_server_sees_it(remote):
    # llama_cpp.server would build LlamaGrammar.from_string("root ::= ((") and
    # crash on the next completion; the grammar must never reach it.
    with pytest.raises(InputError) as excinfo:
        remote.generate(PROMPT, SamplingParams(max_tokens=4, grammar="root ::= (("))
    assert excinfo.value.field == "grammar"
    assert remote.next_token(PROMPT, top_n=1).tokens  # the server is still alive


def test_remote_valid_grammar_constrains_the_answer(remote):
    result = remote.generate(
        "Is Paris in France? Answer:",
        SamplingParams(max_tokens=8, temperature=0, grammar='root ::= " yes" | " no"'),
    )
    assert result.text in (" yes", " no")


def test_remote_typical_p_is_unsupported_on_llama_cpp_python(remote):
    with pytest.raises(Unsupported):
        remote.generate(PROMPT, SamplingParams(max_tokens=4, typical_p=0.5))


def test_remote_perplexity_is_unsupported(remote):
    with pytest.raises(Unsupported):
        remote.perplexity("Some text to score.")


def test_remote_prompt_longer_than_the_server_context_is_an_input_error(remote):
    with pytest.raises(InputError) as excinfo:
        remote.generate("word " * 600, SamplingParams(max_tokens=4))
    assert excinfo.value.field == "prompt"


def test_remote_models_lists_the_served_model(remote):
    (model,) = remote.models()
    assert model.name == bundled_model_path()


def test_remote_backend_works_behind_the_service(remote, local):
    service = LLMService(remote, queue_size=2, queue_timeout=60)
    got = service.next_token(PROMPT, top_n=3)
    assert [t.text for t in got.tokens] == [t.text for t in local.next_token(PROMPT, top_n=3).tokens]


def test_an_unreachable_server_raises_backend_unavailable():
    backend = RemoteBackend(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(BackendUnavailable):
        backend.next_token(PROMPT)
    with pytest.raises(BackendUnavailable):
        backend.generate(PROMPT, SamplingParams(max_tokens=2))
    backend.close()
