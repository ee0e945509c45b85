"""LocalBackend on the real bundled Gemma 3 270M Q4_K_M, checked against
llama-cpp-python itself: a second `Llama` with logits_all=True (the library's
own per-position logits, `Llama.scores`) and a plain `Llama` whose
create_completion is the reference for generated text.

The models load once per module; the whole file runs in well under a minute
on 2 cores.
"""

import json
import math
import os

import gguf
import llama_cpp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from live.engine import LocalBackend, softmax_stats, top_indices
from live.grammar import grammar_for_schema
from live.llm import InputError, SamplingParams, bundled_model_path

N_CTX = 512
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def backend():
    b = LocalBackend(n_ctx=N_CTX)
    yield b
    b.close()


@pytest.fixture(scope="module")
def reference():
    """llama-cpp-python keeping the logits of every position (test reference only:
    this is the slow path the service avoids)."""
    llm = llama_cpp.Llama(
        model_path=bundled_model_path(), n_ctx=256, n_batch=256, logits_all=True,
        verbose=False,
    )
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def plain():
    llm = llama_cpp.Llama(
        model_path=bundled_model_path(), n_ctx=N_CTX, verbose=False
    )
    yield llm
    llm.close()


def reference_logits(reference, tokens, cuts=()):
    """Logits of every position of ``tokens``, evaluated from an empty cache.

    ``cuts`` are the positions where a new llama_decode call starts. On some CPUs
    llama.cpp's kernels round differently for different batch shapes (the logits can
    move by a few tenths), so a comparison of values evaluates in the same batches.
    """
    reference.reset()
    for start, end in zip((0, *cuts), (*cuts, len(tokens))):
        reference.eval(tokens[start:end])
    return np.array(reference.scores[: len(tokens)], dtype=np.float64)


def prompt_tokens(llm, text):
    # What create_completion feeds the model: BOS + text with special tokens parsed.
    return llm.tokenize(text.encode(), add_bos=True, special=True)


# -- next_token -------------------------------------------------------------


def assert_next_token_matches_reference(result, reference, prompt, top_n):
    tokens = prompt_tokens(reference, prompt)
    logits = reference_logits(reference, tokens)[-1]
    expected = np.argsort(-logits, kind="stable")[:top_n]
    probs = scipy.special.softmax(logits)
    assert [t.id for t in result.tokens] == expected.tolist()
    for t in result.tokens:
        assert t.logit == pytest.approx(logits[t.id], abs=2e-3)
        assert t.prob == pytest.approx(probs[t.id], rel=2e-3)
        assert t.text == reference.detokenize([t.id], special=True).decode("utf-8", errors="replace")
    assert result.prompt_tokens == len(tokens)


def test_next_token_top_n_equals_llama_cpp_logits_all_reference(backend, reference):
    result = backend.next_token(PROMPT, top_n=10)
    assert_next_token_matches_reference(result, reference, PROMPT, 10)
    assert result.n_vocab == reference.n_vocab() == 262144


def test_next_token_entropy_is_scipy_entropy_of_the_softmax_in_nats(backend, reference):
    result = backend.next_token(PROMPT, top_n=1)
    logits = reference_logits(reference, prompt_tokens(reference, PROMPT))[-1]
    expected = scipy.stats.entropy(scipy.special.softmax(logits))  # natural log
    assert result.entropy == pytest.approx(expected, rel=1e-3)


def test_top_indices_equal_a_full_stable_sort():
    rng = np.random.default_rng(1)
    logits = (rng.normal(size=262144) * 3).astype(np.float32)
    logits[1000:1050] = logits.max()  # ties are ordered by id
    for n in (1, 10, 50, 100):
        assert top_indices(logits, n).tolist() == np.argsort(-logits, kind="stable")[:n].tolist()


def test_softmax_stats_agree_with_scipy_in_float64():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=262144) * 3 + 20).astype(np.float32)
    lse, entropy = softmax_stats(logits)
    x = logits.astype(np.float64)
    assert lse == pytest.approx(scipy.special.logsumexp(x), abs=1e-6)
    assert entropy == pytest.approx(scipy.stats.entropy(scipy.special.softmax(x)), abs=1e-5)


def test_next_token_probabilities_are_sorted_and_log_consistent(backend):
    result = backend.next_token("Water boils at", top_n=100)
    probs = [t.prob for t in result.tokens]
    assert len(probs) == 100
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) < 1.0
    for t in result.tokens:
        assert math.exp(t.logprob) == pytest.approx(t.prob)


def test_next_token_does_not_depend_on_what_ran_before(backend, reference):
    # A continuation, a prefix, something unrelated, then the first prompt again
    # (served from the memo of the last logits): each matches a fresh evaluation.
    for prompt in [PROMPT, PROMPT + " a city", PROMPT + " a", "Bonjour", "Bonjour", PROMPT]:
        assert_next_token_matches_reference(backend.next_token(prompt, top_n=5), reference, prompt, 5)


def test_reuse_prefix_evaluates_only_the_new_suffix(reference, monkeypatch):
    b = LocalBackend(n_ctx=N_CTX, reuse_prefix=True)
    try:
        b.next_token(PROMPT, top_n=1)
        evaluated = []
        real_eval = b.llama.eval
        monkeypatch.setattr(b.llama, "eval", lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens)))
        result = b.next_token(PROMPT + " a city in", top_n=3)
        new = len(prompt_tokens(reference, PROMPT + " a city in")) - len(prompt_tokens(reference, PROMPT))
        assert evaluated == [new]
        # Cached and fresh K/V differ in rounding, not in what the model predicts.
        logits = reference_logits(reference, prompt_tokens(reference, PROMPT + " a city in"))[-1]
        assert result.tokens[0].id == int(np.argmax(logits))
    finally:
        b.close()


def test_next_token_after_generation_still_matches_the_reference(backend, reference):
    backend.generate(PROMPT, SamplingParams(max_tokens=8, temperature=0))
    assert_next_token_matches_reference(backend.next_token(PROMPT, top_n=5), reference, PROMPT, 5)


# -- generation -------------------------------------------------------------


@pytest.mark.parametrize("prompt", [PROMPT, "def fibonacci(n):", "Once upon a time"])
def test_greedy_text_equals_llama_cpp_create_completion_at_temperature_zero(backend, plain, prompt):
    plain.reset()  # a fresh evaluation, as llama-cli or a new process would do
    expected = plain.create_completion(prompt, max_tokens=24, temperature=0)
    result = backend.generate(prompt, SamplingParams(max_tokens=24, temperature=0))
    assert result.text == expected["choices"][0]["text"]
    assert result.finish_reason == expected["choices"][0]["finish_reason"]
    assert result.usage == expected["usage"]


def test_greedy_text_does_not_depend_on_what_ran_before(backend, plain):
    # Found while writing this: with llama-cpp-python's prefix reuse, "Once upon a
    # time" continued with "a little girl named Lily" after "one one one one" had
    # run, and with "a man named John" from a fresh context.
    plain.reset()
    expected = plain.create_completion("Once upon a time", max_tokens=12, temperature=0)["choices"][0]["text"]
    params = SamplingParams(max_tokens=12, temperature=0)
    for before in ["one one one one", "Once upon a time", "Once upon"]:
        backend.generate(before, params)
        assert backend.generate("Once upon a time", params).text == expected


def test_greedy_tokens_equal_a_hand_written_argmax_loop_over_raw_logits(backend, reference):
    tokens = prompt_tokens(reference, PROMPT)
    reference.reset()
    reference.eval(tokens)
    expected_ids, expected_probs = [], []
    for _ in range(12):
        logits = np.array(reference.scores[reference.n_tokens - 1], dtype=np.float64)
        token = int(np.argmax(logits))
        if llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(reference.model), token):
            break
        expected_ids.append(token)
        expected_probs.append(scipy.special.softmax(logits)[token])
        reference.eval([token])
    result = backend.generate(PROMPT, SamplingParams(max_tokens=12, temperature=0))
    assert [t.id for t in result.tokens] == expected_ids
    assert [t.prob for t in result.tokens] == pytest.approx(expected_probs, rel=2e-3)


def test_seeded_sampling_equals_create_completion_with_the_same_seed(backend, plain):
    settings = dict(temperature=0.9, top_k=40, top_p=0.95, min_p=0.05, seed=1234)
    plain.reset()
    expected = plain.create_completion("My favourite animal is", max_tokens=16, **settings)
    result = backend.generate("My favourite animal is", SamplingParams(max_tokens=16, **settings))
    assert result.text == expected["choices"][0]["text"]
    assert result.seed == 1234


def test_penalties_are_applied_like_create_completion(backend, plain):
    settings = dict(temperature=0, repeat_penalty=1.3, frequency_penalty=0.5, presence_penalty=0.5)
    plain.reset()
    expected = plain.create_completion("one one one one", max_tokens=16, **settings)
    result = backend.generate("one one one one", SamplingParams(max_tokens=16, **settings))
    plain_greedy = backend.generate("one one one one", SamplingParams(max_tokens=16, temperature=0))
    assert result.text == expected["choices"][0]["text"]
    assert result.text != plain_greedy.text  # the penalties did something


def test_stream_events_join_to_the_generated_text(backend):
    params = SamplingParams(max_tokens=16, temperature=0)
    generated = backend.generate("Once upon a time", params)
    events = list(backend.stream_generate("Once upon a time", params))
    tokens, done = events[:-1], events[-1]
    assert all(e["type"] == "token" for e in tokens)
    assert done["type"] == "done"
    assert "".join(e["text"] for e in tokens) == done["text"] == generated.text
    assert [e["id"] for e in tokens] == [t.id for t in generated.tokens]
    assert done["usage"]["completion_tokens"] == len(tokens)
    assert done["time_to_first_token_ms"] > 0


def test_should_stop_ends_the_stream_between_tokens(backend):
    seen = []
    events = backend.stream_generate(
        "Once upon a time", SamplingParams(max_tokens=50, temperature=0), should_stop=lambda: len(seen) >= 3
    )
    for event in events:
        seen.append(event)
    assert [e["type"] for e in seen] == ["token"] * 3 + ["done"]
    assert seen[-1]["finish_reason"] == "cancelled"


def test_json_schema_grammar_output_parses_as_json(backend):
    schema = {
        "type": "object",
        "properties": {
            "city": {"enum": ["Paris", "Lyon", "Marseille"]},
            "is_capital": {"type": "boolean"},
        },
        "required": ["city", "is_capital"],
    }
    grammar = grammar_for_schema(schema)
    backend.validate_grammar(grammar)
    result = backend.generate(
        "The capital of France as JSON:", SamplingParams(max_tokens=64, temperature=0, grammar=grammar)
    )
    assert result.finish_reason == "stop"
    data = json.loads(result.text)
    assert data["city"] in schema["properties"]["city"]["enum"]
    assert isinstance(data["is_capital"], bool)


@pytest.mark.parametrize(
    "grammar, reason",
    [
        ("root ::= ((", "expecting ')'"),
        ("root ::= foo", "Undefined rule identifier 'foo'"),
        ('root ::= root "a"', "left recursion"),
        ('item ::= "a"', "'root'"),
    ],
)
def test_invalid_grammar_raises_input_error_and_the_process_keeps_answering(backend, grammar, reason):
    with pytest.raises(InputError) as excinfo:
        backend.validate_grammar(grammar)
    assert excinfo.value.field == "grammar"
    assert reason in excinfo.value.message
    # LlamaGrammar.from_string would accept this and the next completion would
    # segfault (DESIGN.md); generate() must refuse it instead.
    with pytest.raises(InputError):
        backend.generate(PROMPT, SamplingParams(max_tokens=4, temperature=0, grammar=grammar))
    assert backend.next_token(PROMPT, top_n=1).tokens[0].text == " the"


def test_a_valid_grammar_constrains_the_answer(backend):
    result = backend.generate(
        "Is Paris in France? Answer:",
        SamplingParams(max_tokens=8, temperature=0, grammar='root ::= " yes" | " no"'),
    )
    assert result.text in (" yes", " no")
    assert result.finish_reason == "stop"


# -- tokenize -----------------------------------------------------------------


def test_tokenize_ids_equal_llama_cpp_and_pieces_join_to_the_text(backend, plain):
    text = "héllo 🦙 wörld <start_of_turn>"
    result = backend.tokenize(text)
    assert [t.id for t in result.tokens] == prompt_tokens(plain, text)
    assert result.count == len(result.tokens)
    assert result.tokens[0].text == "<bos>"
    joined = b"".join(bytes(t.bytes) for t in result.tokens[1:])
    assert joined == text.encode("utf-8")


def test_tokenize_marks_pieces_that_are_not_whole_utf8(backend):
    # Gemma's vocabulary has no token for the llama emoji: it falls back to its
    # four UTF-8 bytes (F0 9F A6 99), one token each.
    result = backend.tokenize("🦙", add_bos=False)
    assert [t.bytes for t in result.tokens] == [[0xF0], [0x9F], [0xA6], [0x99]]
    assert all(t.partial and t.text == "\ufffd" for t in result.tokens)


# -- perplexity -----------------------------------------------------------------

PPL_TEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
    "It is named after the engineer Gustave Eiffel, whose company designed and built the tower "
    "from 1887 to 1889. Locally nicknamed the Iron Lady, it was constructed as the centrepiece "
    "of the 1889 World's Fair, and to crown the centennial anniversary of the French Revolution. "
    "Although initially criticised by some of France's leading artists and intellectuals for its "
    "design, it has since become a global cultural icon of France and one of the most recognisable "
    "structures in the world."
)


def test_perplexity_scores_the_second_half_like_llama_perplexity(backend, reference, monkeypatch):
    # Fewer logits per decode than scored positions: several decodes are needed.
    monkeypatch.setattr(backend, "PPL_OUTPUTS_PER_DECODE", 16)
    result = backend.perplexity(PPL_TEXT)
    # llama-perplexity: BOS + text tokenised without parsing special tokens.
    tokens = reference.tokenize(PPL_TEXT.encode(), add_bos=True, special=False)
    n = len(tokens)
    first = n // 2
    # The reference evaluates in the service's batches (at most 16 positions with logits each).
    decodes = backend.perplexity_decodes(n, first)
    assert len(decodes) > 3 and all(end - start <= 64 for start, end in decodes)
    logits = reference_logits(reference, tokens, [start for start, _ in decodes[1:]])
    logprobs = scipy.special.log_softmax(logits, axis=-1)
    nll = [-logprobs[i, tokens[i + 1]] for i in range(first, n - 1)]
    assert result.n_tokens == n
    assert result.first == first
    assert result.n_scored == n - first - 1 == len(nll)
    assert result.n_scored > 3 * backend.PPL_OUTPUTS_PER_DECODE
    assert [t.id for t in result.tokens] == tokens[first + 1 :]
    assert [t.nll for t in result.tokens] == pytest.approx(nll, rel=1e-3, abs=1e-3)
    assert result.nll_per_token == pytest.approx(np.mean(nll), rel=1e-4)
    assert result.perplexity == pytest.approx(math.exp(np.mean(nll)), rel=1e-4)


def test_perplexity_leaves_the_model_ready_for_the_next_request(backend, reference):
    backend.perplexity(PPL_TEXT)
    assert_next_token_matches_reference(backend.next_token(PROMPT, top_n=5), reference, PROMPT, 5)


def test_perplexity_rejects_text_that_does_not_fit_one_window(backend):
    with pytest.raises(InputError) as excinfo:
        backend.perplexity("word " * (N_CTX + 10))
    assert excinfo.value.field == "text"


# -- models ---------------------------------------------------------------------


def test_models_reports_the_gguf_metadata_llama_cpp_reads(backend, plain):
    (info,) = backend.models()
    assert info.architecture == plain.metadata["general.architecture"] == "gemma3"
    assert info.parameters == llama_cpp.llama_model_n_params(plain.model)
    assert info.context_length == int(plain.metadata["gemma3.context_length"])
    assert int(plain.metadata["general.file_type"]) == gguf.LlamaFileType.MOSTLY_Q4_K_M
    assert info.file_type == "Q4_K_M"
    assert info.file_size == os.path.getsize(bundled_model_path())
    # llama_model_size: bytes of all tensors. DESIGN.md: this "Q4_K_M" file is
    # 7.36 bits per weight because llama.cpp mixes tensor types.
    expected_bpw = llama_cpp.llama_model_size(plain.model) * 8 / info.parameters
    assert info.bits_per_weight == pytest.approx(expected_bpw, abs=1e-3)
    assert info.bits_per_weight == pytest.approx(7.36, abs=0.005)
    # Q4_K_M keeps output/attn_v/ffn_down tensors in Q6_K (llama.cpp
    # src/llama-quant.cpp, llama_tensor_get_type); rows not a multiple of 256 fall back.
    assert {"Q4_K", "Q6_K"} <= set(info.tensor_types)


# -- input validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1025}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 5.01}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": True}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"min_p": -0.1}, "min_p"),
        ({"repeat_penalty": 0}, "repeat_penalty"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"seed": -1}, "seed"),
        ({"grammar": ""}, "grammar"),
        ({"stop": "\n"}, "stop"),
    ],
)
def test_out_of_range_settings_raise_input_error_naming_the_field(settings, field):
    with pytest.raises(InputError) as excinfo:
        SamplingParams.from_kwargs(**settings)
    assert excinfo.value.field == field


# llama.cpp's own sampling defaults (common/common.h, struct common_params_sampling:
# temp 0.80, top_k 40, top_p 0.95, min_p 0.05, typ_p 1.00, penalty_repeat/freq/present
# 1.00/0.00/0.00), written out so that a library release cannot move what we promise.
LLAMA_CPP_DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "typical_p": 1.0,
                      "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


def test_defaults_are_llama_cpp_defaults():
    params = SamplingParams()
    for name, value in LLAMA_CPP_DEFAULTS.items():
        assert getattr(params, name) == value, name


@pytest.mark.parametrize("top_n", [0, 101, "5", None])
def test_top_n_out_of_range_raises_input_error(backend, top_n):
    with pytest.raises(InputError) as excinfo:
        backend.next_token(PROMPT, top_n=top_n)
    assert excinfo.value.field == "top_n"


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_missing_prompt_raises_input_error(backend, prompt):
    with pytest.raises(InputError) as excinfo:
        backend.next_token(prompt)
    assert excinfo.value.field == "prompt"


def test_prompt_longer_than_the_context_raises_input_error(backend):
    with pytest.raises(InputError) as excinfo:
        backend.next_token("word " * (N_CTX + 10))
    assert excinfo.value.field == "prompt"
    assert str(N_CTX) in excinfo.value.message


def test_prompt_plus_max_tokens_beyond_the_context_blames_max_tokens(backend):
    prompt = "word " * (N_CTX - 100)
    with pytest.raises(InputError) as excinfo:
        backend.generate(prompt, SamplingParams(max_tokens=200))
    assert excinfo.value.field == "max_tokens"


def test_bad_json_schema_raises_input_error():
    with pytest.raises(InputError) as excinfo:
        grammar_for_schema("{not json")
    assert excinfo.value.field == "json_schema"
