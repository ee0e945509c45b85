"""llama-cpp-python in this process: the only module that imports ``llama_cpp``.

:class:`LocalBackend` runs the model here. In the service it runs inside the model worker
(live/worker.py), a process of its own with its memory capped, so that a native crash
costs that process and not a web server; tests and benchmarks also use it directly.
``llama_cpp`` is imported lazily, so importing this module loads no native code.

Facts this module relies on (llama-cpp-python 0.3.36, checked on this machine):

* ``Llama.create_completion(logprobs=N)`` needs ``logits_all=True``, which makes
  generation ~40x slower and allocates n_ctx x n_vocab floats (DESIGN.md). We never
  set it: the last position's logits are read with ``llama_get_logits_ith(ctx, -1)``
  after each decode, and positions we need for perplexity are flagged one by one
  in a ``llama_batch``.
* ``LlamaGrammar.from_string`` accepts any text; an invalid grammar then crashes
  the process inside ``llama_sampler_init_grammar`` + sampling (DESIGN.md: exit 139).
  ``llama_sampler_init_grammar`` itself returns NULL for a bad grammar, so every
  grammar is parsed with it first (:func:`_check_grammar`), after live.grammar's static
  checks; some grammars it parses still abort the process while sampling (live.grammar
  lists them), which is why it runs in the worker.
* llama.cpp's logits depend on how a sequence was split into decode batches
  (measured on the bundled model: up to 0.94 in a logit; greedy text changed).
  llama-cpp-python reuses the cached prompt prefix, so its output depends on the
  previous request. LocalBackend evaluates each prompt afresh by default, which
  makes every answer equal a fresh ``create_completion`` (see ``reuse_prefix``).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import json
import logging
import math
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from typing import Any, Iterator

import numpy as np

from live.llm import (
    BackendUnavailable,
    ClientGone,
    GeneratedToken,
    Generation,
    InputError,
    LLMError,
    ModelInfo,
    NextToken,
    OverTime,
    Perplexity,
    SamplingParams,
    ScoredToken,
    StopCheck,
    TokenPiece,
    Tokenization,
    TokenProb,
    bundled_model_path,
    check_number,
    check_text,
    piece_text,
    read_model_info,
    stop_reason,
)

logger = logging.getLogger(__name__)


def softmax_stats(logits: np.ndarray) -> tuple[float, float]:
    """(log-sum-exp, entropy in nats) of a float32 logit vector.

    Hand-written rather than scipy.special.logsumexp/entropy: one pass gives both
    numbers without building the probability vector twice (262,144 entries for
    Gemma 3). exp runs in float32 on logits shifted by their maximum and the sums
    accumulate in float64 (np.dot of the shifted values keeps cancellation small):
    ~0.3 ms per vector here, 10x faster than float64 throughout, and within
    1e-6 nats of it (checked against scipy in tests/live/test_llm.py).
    """
    m = logits.max()
    y = logits - m
    z = np.exp(y)
    s = float(z.sum(dtype=np.float64))
    # H = -sum p log p = log s - sum z*y / s, with p = z / s
    return float(m) + math.log(s), math.log(s) - float(np.dot(z, y)) / s


def top_indices(logits: np.ndarray, n: int) -> np.ndarray:
    """Ids of the n largest logits, by logit descending, then id ascending.

    numpy.partition finds the n-th largest value in O(n_vocab); only the n
    winners are sorted. Ties at the cut go to the smaller ids (argpartition alone
    would pick among them arbitrarily), so the answer equals a stable full sort.
    """
    kth = np.partition(logits, logits.size - n)[logits.size - n]
    above = np.flatnonzero(logits > kth)
    tied = np.flatnonzero(logits == kth)[: n - above.size]
    part = np.concatenate([above, tied])
    return part[np.lexsort((part, -logits[part]))]


# ---------------------------------------------------------------------------
# llama_cpp, loaded lazily, and what we install around it.


_log_capture = threading.local()


_lib_lock = threading.Lock()
_lib_state: dict[str, Any] = {}


def _lib():
    """Import llama_cpp once and route llama.cpp's log through Python logging.

    llama-cpp-python's own callback prints ERROR lines straight to stderr even with
    verbose=False. Ours sends warnings and errors to the ``live.llm`` logger, and —
    when a thread is validating a grammar — collects them so the parser's message
    can be shown to the user instead. The callback runs on the thread that called
    into llama.cpp, so a thread-local capture list is enough.
    """
    module = _lib_state.get("module")
    if module is not None:
        return module
    with _lib_lock:
        if "module" in _lib_state:
            return _lib_state["module"]
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailable(f"llama-cpp-python is not installed: {exc}") from exc

        @llama_cpp.llama_log_callback
        def on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            message = text.decode("utf-8", errors="replace")
            sink = getattr(_log_capture, "lines", None)
            if sink is not None:
                sink.append(message)
                return
            # ggml_log_level (ggml/include/ggml.h): 1 DEBUG, 2 INFO, 3 WARN, 4 ERROR,
            # 5 CONT. Model-loading chatter is INFO; keep warnings and errors.
            if level == 4:
                logger.error("llama.cpp: %s", message.rstrip())
            elif level == 3:
                logger.warning("llama.cpp: %s", message.rstrip())

        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        _lib_state["on_log"] = on_log  # the ctypes callback must live as long as the process
        _lib_state["module"] = llama_cpp
        return llama_cpp


def _token_piece(llama_cpp, vocab, token: int, special: bool) -> bytes:
    """llama_token_to_piece with a buffer that grows; llama-cpp-python's own
    helper uses a fixed 32-byte buffer and asserts on longer pieces."""
    size = 64
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, special)
        if n >= 0:
            return buf.raw[:n]
        size = -n


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _capture_fd2(lines: list[str]):
    """Collect what native code writes to file descriptor 2 meanwhile.

    llama.cpp's GBNF parser reports its errors with fprintf(stderr, ...)
    (src/llama-grammar.cpp, llama_grammar_parser::parse), not through the log
    callback. The window is one parse (well under a millisecond); anything else
    written to stderr in it is passed back to the real stderr afterwards.
    """
    with _stderr_lock, tempfile.TemporaryFile() as tmp:
        if sys.stderr is not None:
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to capture
            yield
            return
        try:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                if sys.stderr is not None:
                    sys.stderr.flush()
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        tmp.seek(0)
        captured = tmp.read().decode("utf-8", errors="replace")
    ours = "error parsing grammar" in captured
    if captured and not ours and sys.stderr is not None:
        sys.stderr.write(captured)
    elif ours:
        lines.append(captured)


def _check_grammar(llama_cpp, vocab, grammar: str) -> None:
    """Parse ``grammar`` with llama.cpp's own parser; raise InputError if it fails.

    ``llama_sampler_init_grammar`` returns NULL for a grammar it cannot parse
    (unbalanced parentheses, undefined rules, left recursion...) where
    ``LlamaGrammar.from_string`` would accept it and crash the process later.
    The sampler is freed at once: this is only a parse.
    """
    if not isinstance(grammar, str) or not grammar.strip():
        raise InputError("grammar", "must not be empty")
    if "\x00" in grammar:
        raise InputError("grammar", "must not contain NUL characters")
    lines: list[str] = []
    _log_capture.lines = lines
    try:
        with _capture_fd2(lines):
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    finally:
        _log_capture.lines = None
    # The binding returns a ctypes pointer: NULL is falsy, not None.
    if not sampler:
        raise InputError("grammar", _grammar_message(lines))
    llama_cpp.llama_sampler_free(sampler)


def _grammar_message(lines: list[str]) -> str:
    """The useful line of llama.cpp's complaint: the parser prints
    "parse: error parsing grammar: <reason>" and then echoes the grammar;
    llama_grammar_init_impl logs e.g. "left recursion detected for rule ..."."""
    text = "".join(lines)
    for line in text.splitlines():
        if "error parsing grammar:" in line:
            reason = line.split("error parsing grammar:", 1)[1].strip()
            if reason.endswith(" at"):  # the parser names the rest of the text; nothing is left
                reason += " the end of the grammar"
            return "invalid GBNF: " + reason
    for line in text.splitlines():
        line = line.strip()
        if line and "failed to parse grammar" not in line:
            return "invalid GBNF: " + line.split(": ", 1)[-1]
    return "invalid GBNF grammar (llama.cpp could not parse it)"


def json_schema_to_grammar(schema: dict) -> str:
    """GBNF for a JSON schema, by llama-cpp-python's port of llama.cpp's
    json-schema-to-grammar (llama_cpp/llama_grammar.py ``json_schema_to_gbnf``). Pure
    Python; use it through live.grammar.grammar_for_schema, which bounds the schema before
    and checks the grammar after."""
    _lib()  # importing any llama_cpp module loads the native library; set up logging first
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises bare ValueError/KeyError/AssertionError...
        raise InputError("json_schema", f"cannot be turned into a grammar: {exc}") from exc


class _Vocabulary:
    """A vocabulary-only load of the bundled model, for checking grammars and naming the
    BOS token when the model itself runs elsewhere (RemoteBackend). GBNF syntax does not
    depend on the vocabulary, but llama_sampler_init_grammar needs one."""

    def __init__(self, llama_cpp, model):
        self.lib = llama_cpp
        self.model = model
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.bos = llama_cpp.llama_vocab_bos(self.vocab)


_vocabulary_lock = threading.Lock()
_vocabulary: list[_Vocabulary] = []


def bundled_vocabulary() -> _Vocabulary:
    llama_cpp = _lib()
    with _vocabulary_lock:
        if not _vocabulary:
            llama_cpp.llama_backend_init()
            params = llama_cpp.llama_model_default_params()
            params.vocab_only = True
            model = llama_cpp.llama_model_load_from_file(bundled_model_path().encode(), params)
            if model is None:
                raise BackendUnavailable("cannot load the bundled model's vocabulary")
            _vocabulary.append(_Vocabulary(llama_cpp, model))
        return _vocabulary[0]


def validate_grammar_offline(grammar: str) -> None:
    """llama.cpp's parse of ``grammar`` with the bundled vocabulary, in this process. Only
    for grammars live.grammar has passed: the parse itself is safe for those."""
    vocabulary = bundled_vocabulary()
    _check_grammar(vocabulary.lib, vocabulary.vocab, grammar)


# ---------------------------------------------------------------------------
# In-process backend.


class LocalBackend:
    """llama-cpp-python in this process. The model is loaded on first use, warmed
    up, and reused; call :meth:`close` to free it."""

    name = "local"

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        n_batch: int = 512,
        reuse_prefix: bool = False,
    ):
        self.model_path = model_path
        self.n_ctx = n_ctx
        # None keeps llama-cpp-python's default: cpu_count // 2 threads for
        # generation, all cores for prompt batches. llama.cpp's threads spin while
        # they wait for each other, so one thread per core is fragile on a shared
        # host: measured here, 2 threads on 2 cores fell to 3 tokens/s while
        # another process used one core; 1 thread kept 47 tokens/s.
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.n_batch = n_batch
        # Off by default: llama.cpp's numbers depend on how a sequence was split
        # into batches. Measured here on the bundled model: the last logits of a
        # 9-token prompt moved by up to 0.94 when part of it came from the cache,
        # and greedy text changed with what the previous request had left cached.
        # A fresh evaluation gives what a fresh `create_completion` (or llama-cli)
        # gives, every time; it costs one batched prompt pass (tens of ms for a
        # short prompt on 2 cores). On, the shared prefix is kept as
        # llama-cpp-python's `generate` does.
        self.reuse_prefix = reuse_prefix
        self._memo: tuple[tuple[int, ...], np.ndarray] | None = None
        self._llama = None
        self._load_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    @property
    def llama(self):
        """The loaded ``llama_cpp.Llama`` (loads it on first access)."""
        if self._llama is None:
            with self._load_lock:
                if self._llama is None:
                    self._llama = self._load()
        return self._llama

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def _load(self):
        llama_cpp = _lib()
        path = self.model_path or bundled_model_path()
        name = os.path.basename(path)  # messages reach API clients: no server paths
        if not os.path.isfile(path):
            raise BackendUnavailable(f"model file not found: {name}")
        try:
            llm = llama_cpp.Llama(
                model_path=path,
                n_ctx=self.n_ctx,
                n_batch=self.n_batch,
                n_threads=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                # Gemma 3 uses sliding-window attention on most layers, and by
                # default llama.cpp keeps only about one window of cells for them.
                # Cutting the cache back to a shared prefix then needs cells that
                # may be gone (llama-server re-evaluates in that case; Llama.generate
                # does not check), so prefix reuse gets a full-size cache. Without
                # reuse, llama.cpp's default applies.
                swa_full=self.reuse_prefix,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendUnavailable(f"cannot load model {name}: {exc}") from exc
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._n_vocab = llm.n_vocab()
        self._bos = llama_cpp.llama_vocab_bos(self._vocab)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        # Warm-up: the first decode builds the compute graph and touches the
        # weights; do it now rather than in the first user's request.
        llm.eval([self._bos])
        llm.reset()
        return llm

    def close(self) -> None:
        with self._load_lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    # -- helpers -----------------------------------------------------------

    def _tokens(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        # Same as Llama.create_completion: BOS (if the model wants one) + the text
        # tokenised with special tokens parsed, so "<start_of_turn>" is one token.
        llm = self.llama
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos and self._add_bos, special=special)

    def _piece(self, token: int, special: bool = False) -> bytes:
        return _token_piece(self._lib, self._vocab, token, special)

    def _check_prompt_fits(self, tokens: list[int], room: int, field_name: str = "prompt") -> None:
        if len(tokens) + room > self.n_ctx:
            raise InputError(
                field_name,
                f"is {len(tokens)} tokens; the context holds {self.n_ctx}"
                + (f" and {room} must stay free for the answer" if room > 1 else ""),
            )

    def _eval_prompt(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` so that the context's last logits are for the last
        token: from an empty cache, or (reuse_prefix) keeping the prefix shared
        with the previous call.

        ``Llama.eval`` first drops every cached cell at or after ``n_tokens``
        (kv_cache_seq_rm), so lowering ``n_tokens`` to the shared prefix length is
        how llama-cpp-python's own ``generate`` reuses a prefix. At least the last
        token is always re-evaluated so its logits are fresh.
        """
        llm = self.llama
        if not self.reuse_prefix:
            llm.reset()
            llm.eval(tokens)
            return
        cached = llm.input_ids[: llm.n_tokens]
        n = min(len(cached), len(tokens) - 1)
        same = 0
        if n > 0:
            diff = np.nonzero(cached[:n] != np.asarray(tokens[:n], dtype=cached.dtype))[0]
            same = int(diff[0]) if diff.size else n
        llm.n_tokens = same
        llm.eval(tokens[same:])

    def _last_logits(self) -> np.ndarray:
        """A view (no copy) of the n_vocab logits of the last decoded position;
        valid until the next decode."""
        ptr = self._lib.llama_get_logits_ith(self.llama.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    # -- operations --------------------------------------------------------

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken:
        check_text("prompt", prompt)
        top_n = check_number("top_n", top_n)
        started = time.perf_counter()
        tokens = self._tokens(prompt)
        self._check_prompt_fits(tokens, 1)
        key = tuple(tokens)
        if self._memo is not None and self._memo[0] == key:
            # The same prompt again (e.g. another top_n): the logits are a copy
            # kept from last time, exact whatever ran in between.
            logits = self._memo[1]
        else:
            self._eval_prompt(tokens)
            logits = self._last_logits().copy()
            self._memo = (key, logits)
        lse, entropy = softmax_stats(logits)
        top = top_indices(logits, top_n)
        out = []
        for tid in top.tolist():
            piece = self._piece(tid, special=True)
            text, _ = piece_text(piece)
            logprob = float(logits[tid]) - lse
            out.append(
                TokenProb(
                    id=tid,
                    text=text,
                    bytes=list(piece),
                    logit=float(logits[tid]),
                    prob=math.exp(logprob),
                    logprob=logprob,
                )
            )
        return NextToken(
            tokens=out,
            entropy=entropy,
            n_vocab=self._n_vocab,
            prompt_tokens=len(tokens),
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def validate_grammar(self, grammar: str) -> None:
        self.llama  # the vocabulary comes with the model
        _check_grammar(self._lib, self._vocab, grammar)

    def _prepare(self, prompt: str, params: SamplingParams) -> dict[str, Any]:
        """Check everything about a generation request before any token is made,
        so that stream_generate raises InputError before a response starts."""
        check_text("prompt", prompt)
        grammar = None
        if params.grammar is not None:
            self.validate_grammar(params.grammar)  # never hand llama.cpp a bad grammar
            grammar = self._lib.LlamaGrammar.from_string(params.grammar, verbose=False)
        tokens = self._tokens(prompt)
        self._check_prompt_fits(tokens, 1)
        if len(tokens) + params.max_tokens > self.n_ctx:
            raise InputError(
                "max_tokens",
                f"the prompt uses {len(tokens)} of {self.n_ctx} context tokens; "
                f"at most {self.n_ctx - len(tokens)} can be generated",
            )
        return {"tokens": tokens, "grammar": grammar}

    def _iter_tokens(
        self, prepared: dict[str, Any], params: SamplingParams, should_stop: StopCheck | None
    ) -> Iterator[dict[str, Any]]:
        """The generation loop shared by generate() and stream_generate().

        Drives ``Llama.generate`` — the same loop and sampler chain that
        ``create_completion`` uses (penalties -> grammar -> top-k -> typical ->
        top-p -> min-p -> temperature -> dist, or greedy at temperature 0), with the
        same prompt tokens and seed handling — so the text is llama-cpp-python's.
        After each yielded token the context still holds the logits it was sampled
        from, which gives its probability without logits_all.

        Yields {"type": "token", ...} events and finally one {"type": "done", ...}.
        """
        llm = self.llama
        tokens, grammar = prepared["tokens"], prepared["grammar"]
        started = time.perf_counter()
        # create_completion: an explicit seed, else a fresh random one per call.
        seed = params.seed if params.seed is not None else random.randint(0, 2**32 - 2)
        llm.set_seed(seed)
        if not self.reuse_prefix:
            llm.reset()  # Llama.generate then evaluates the whole prompt afresh

        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        completion: list[int] = []
        text_parts: list[str] = []
        first_token_at = None
        finish = "length"
        generator = llm.generate(
            tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            typical_p=params.typical_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
            grammar=grammar,
        )
        try:
            for token in generator:
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if self._lib.llama_vocab_is_eog(self._vocab, token):
                    finish = "stop"
                    break
                logits = self._last_logits()
                # p = exp(l_tok - logsumexp(l)); one float32 pass over the
                # vocabulary, a small part of a step (see bench/bench_live.py).
                m = logits.max()
                prob = float(np.exp(logits[token] - m)) / float(np.exp(logits - m).sum(dtype=np.float64))
                completion.append(token)
                piece = self._piece(token)
                text = decoder.decode(piece)
                text_parts.append(text)
                yield {"type": "token", "text": text, "id": token, "prob": prob}
                if len(completion) >= params.max_tokens:
                    break
                reason = stop_reason(should_stop)
                if reason:
                    finish = reason
                    break
        finally:
            generator.close()
        tail = decoder.decode(b"", final=True)
        if tail:
            text_parts.append(tail)
        took = time.perf_counter() - started
        yield {
            "type": "done",
            "finish_reason": finish,
            "text": "".join(text_parts),
            "usage": {
                "prompt_tokens": len(tokens),
                "completion_tokens": len(completion),
                "total_tokens": len(tokens) + len(completion),
            },
            "tokens_per_second": len(completion) / took if took > 0 else None,
            "time_to_first_token_ms": (first_token_at - started) * 1000 if first_token_at else None,
            "took_ms": took * 1000,
            "seed": seed,
        }

    def generate(
        self, prompt: str, params: SamplingParams | None = None, should_stop: StopCheck | None = None
    ) -> Generation:
        params = params or SamplingParams()
        tokens: list[GeneratedToken] = []
        prepared = self._prepare(prompt, params)
        for event in self._iter_tokens(prepared, params, should_stop):
            if event["type"] == "token":
                tokens.append(GeneratedToken(event["id"], event["text"], event["prob"]))
            else:
                done = event
        return Generation(
            text=done["text"],
            tokens=tokens,
            finish_reason=done["finish_reason"],
            usage=done["usage"],
            tokens_per_second=done["tokens_per_second"],
            time_to_first_token_ms=done["time_to_first_token_ms"],
            took_ms=done["took_ms"],
            seed=done["seed"],
        )

    def stream_generate(
        self, prompt: str, params: SamplingParams | None = None, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]:
        params = params or SamplingParams()
        prepared = self._prepare(prompt, params)  # raises now, not at the first next()
        return self._iter_tokens(prepared, params, should_stop)

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        check_text("text", text)
        ids = self._tokens(text, add_bos=add_bos)
        if len(ids) > self.n_ctx * 4:
            raise InputError("text", f"is {len(ids)} tokens; at most {self.n_ctx * 4} are shown")
        pieces = []
        for tid in ids:
            piece = self._piece(tid, special=True)
            shown, partial = piece_text(piece)
            pieces.append(TokenPiece(id=tid, text=shown, bytes=list(piece), partial=partial))
        return Tokenization(tokens=pieces, count=len(ids))

    #: Most positions with logits requested per llama_decode in perplexity(). The
    #: context's output buffer grows to (outputs per decode) x n_vocab floats and
    #: never shrinks: 64 x 262,144 x 4 B = 64 MiB for Gemma 3, instead of 512 MiB
    #: for a full 512-token batch.
    PPL_OUTPUTS_PER_DECODE = 64
    #: Most tokens per llama_decode in perplexity(): small steps, so that a request past its
    #: time budget (or whose client left) stops within one of them — a 512-token decode took
    #: over 10 s on this 2-core host when it was busy.
    PPL_TOKENS_PER_DECODE = 64

    def perplexity_decodes(self, n: int, first: int) -> list[tuple[int, int]]:
        """The llama_decode calls perplexity() makes for ``n`` tokens scored from ``first``:
        (start, end) spans of at most PPL_TOKENS_PER_DECODE tokens, of which at most
        PPL_OUTPUTS_PER_DECODE (positions first .. n-2) ask for logits."""
        spans, pos = [], 0
        while pos < n:
            end = min(n, pos + self.PPL_TOKENS_PER_DECODE)
            if end > first:
                end = min(end, max(pos, first) + self.PPL_OUTPUTS_PER_DECODE)
            spans.append((pos, end))
            pos = end
        return spans

    def perplexity(self, text: str, should_stop: StopCheck | None = None) -> Perplexity:
        """Perplexity of ``text`` as one window, the way llama-perplexity scores a
        window (llama.cpp tools/perplexity/perplexity.cpp, ``perplexity()``):

        * tokens = BOS (when the vocabulary adds one, ``llama_vocab_get_add_bos``)
          + the text tokenised without parsing special tokens (``common_tokenize(ctx,
          text, true)``);
        * the KV cache is cleared and the window decoded from position 0;
        * ``first = n/2``; the logits at positions first .. n-2 score the tokens at
          first+1 .. n-1 (``n_ctx - first - 1`` tokens), each as
          nll = logsumexp(logits) - logits[token];
        * perplexity = exp(mean nll).

        ``should_stop`` is asked between decodes (PPL_TOKENS_PER_DECODE tokens each): a time
        limit ends the call with OverTime, anything else with ClientGone.

        Differences: llama-perplexity cuts the text into windows of exactly n_ctx
        tokens and needs at least 2*n_ctx tokens; here the window is the whole text
        (at most this context's n_ctx tokens). Logits are requested only for the
        positions that are scored (llama_batch.logits flags), never logits_all.
        """
        check_text("text", text)
        started = time.perf_counter()
        lib = _lib()
        llm = self.llama
        tokens = self._tokens(text, special=False)
        n = len(tokens)
        if n > self.n_ctx:
            raise InputError("text", f"is {n} tokens; one window holds at most {self.n_ctx}")
        first = n // 2
        if n - first - 1 < 1:
            raise InputError("text", "is too short: at least 2 tokens are needed")
        wanted = range(first, n - 1)  # positions whose logits score the next token

        batch = lib.llama_batch_init(self.n_batch, 0, 1)
        nll = np.empty(n - 1 - first, dtype=np.float64)
        try:
            lib.llama_memory_clear(lib.llama_get_memory(llm.ctx), True)
            llm.reset()  # Llama's own bookkeeping: nothing cached any more
            for pos, end in self.perplexity_decodes(n, first):
                batch.n_tokens = end - pos
                outputs = []
                for i, p in enumerate(range(pos, end)):
                    batch.token[i] = tokens[p]
                    batch.pos[i] = p
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    flag = p in wanted
                    batch.logits[i] = flag
                    if flag:
                        outputs.append(p)
                if outputs == [] and end == n:
                    # llama_decode wants at least one output in the last batch.
                    batch.logits[end - pos - 1] = True
                rc = lib.llama_decode(llm.ctx, batch)
                if rc != 0:
                    raise LLMError(f"llama_decode returned {rc}")
                if outputs:
                    # Outputs are stored contiguously in batch order (llama.h,
                    # llama_get_logits).
                    ptr = lib.llama_get_logits(llm.ctx)
                    block = np.ctypeslib.as_array(ptr, shape=(len(outputs), self._n_vocab))
                    for row, p in enumerate(outputs):
                        lse, _ = softmax_stats(block[row])
                        nll[p - first] = lse - float(block[row, tokens[p + 1]])
                reason = stop_reason(should_stop) if end < n else None
                if reason == "time_limit":
                    raise OverTime("scoring this text took longer than the request's time limit "
                                   "(LLM_REQUEST_TIMEOUT)", retry_after=5)
                if reason:
                    raise ClientGone("the client went away")
        finally:
            lib.llama_batch_free(batch)
            # The cache now holds this text, not what Llama.input_ids says; make the
            # next eval start from scratch.
            llm.reset()
        mean = float(nll.mean())
        scored = []
        for k, value in enumerate(nll.tolist()):
            p = first + 1 + k
            shown, _ = piece_text(self._piece(tokens[p], special=True))
            scored.append(ScoredToken(position=p, id=tokens[p], text=shown, nll=value, prob=math.exp(-value)))
        return Perplexity(
            perplexity=math.exp(mean),
            nll_per_token=mean,
            n_tokens=n,
            n_scored=len(scored),
            first=first,
            tokens=scored,
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def models(self) -> list[ModelInfo]:
        path = self.model_path or bundled_model_path()
        info = read_model_info(path)
        return [
            ModelInfo(**{**asdict(info), "loaded": self.loaded, "tensor_types": dict(info.tensor_types)})
        ]


