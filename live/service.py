"""One model, many requests: the serialising front of ``live.llm``.

A llama context is not thread-safe, and on a small machine one generation
already uses every core, so requests take turns: one runs, at most
``queue_size`` wait, the rest are turned away at once with :class:`QueueFull`
(the web layer answers 503 with ``Retry-After: exc.retry_after``). A request
that waits longer than ``queue_timeout`` seconds gets :class:`QueueTimeout`.

Inputs are validated before a request joins the queue, so bad input never
waits. Streaming generation takes its turn when :meth:`LLMService.stream_generate`
is called (so a full queue is known before a response starts) and gives it back
when the stream is exhausted, closed (Django closes a StreamingHttpResponse's
iterator when the client goes away) or garbage-collected; ``should_stop`` is
checked between tokens as well.

Usage from a view::

    from live.service import get_service
    service = get_service(settings.LLM)        # built once per process
    result = service.next_token(prompt, top_n=10).to_dict()
"""

from __future__ import annotations

import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator, Mapping

from live.llm import (
    Backend,
    BackendUnavailable,
    Generation,
    InputError,
    LLMError,
    LocalBackend,
    ModelInfo,
    NextToken,
    Perplexity,
    RemoteBackend,
    SamplingParams,
    Tokenization,
    Unsupported,
    check_number,
    check_text,
    json_schema_to_grammar,
)

__all__ = [
    "BackendUnavailable",
    "InputError",
    "LLMError",
    "LLMService",
    "QueueFull",
    "QueueTimeout",
    "ServiceConfig",
    "TokenStream",
    "Unsupported",
    "build_backend",
    "get_service",
    "reset_service",
]


class QueueFull(LLMError):
    """Too many requests are already waiting for the model."""

    def __init__(self, retry_after: int, waiting: int):
        self.retry_after = retry_after
        self.waiting = waiting
        super().__init__(f"the model is busy ({waiting} requests waiting); retry in {retry_after} s")


class QueueTimeout(LLMError):
    """A request waited longer than the configured timeout for its turn."""


# ---------------------------------------------------------------------------
# Configuration.

#: setting name -> environment variable
ENV_NAMES = {
    "backend": "LLM_BACKEND",
    "model_path": "LLM_MODEL_PATH",
    "remote_url": "LLM_REMOTE_URL",
    "n_ctx": "LLM_N_CTX",
    "n_threads": "LLM_N_THREADS",
    "n_gpu_layers": "LLM_N_GPU_LAYERS",
    "queue_size": "LLM_QUEUE_SIZE",
    "queue_timeout": "LLM_QUEUE_TIMEOUT",
    "remote_timeout": "LLM_REMOTE_TIMEOUT",
    "reuse_prefix": "LLM_REUSE_PREFIX",
}


@dataclass(frozen=True)
class ServiceConfig:
    backend: str = "local"  # "local" or "remote"
    model_path: str | None = None  # None: the bundled Gemma 3 270M Q4_K_M
    remote_url: str | None = None  # e.g. http://127.0.0.1:8080
    n_ctx: int = 2048
    n_threads: int | None = None  # None: llama-cpp-python's default (half the cores)
    n_gpu_layers: int = 0  # -1: all layers (CUDA/Metal builds)
    queue_size: int = 4  # requests that may wait while one runs
    queue_timeout: float = 30.0  # seconds a request may wait for its turn
    remote_timeout: float = 120.0  # seconds for one HTTP call to the remote server
    reuse_prefix: bool = False  # keep the KV cache of a shared prompt prefix (see LocalBackend)

    def __post_init__(self):
        if self.backend not in ("local", "remote"):
            raise ValueError(f"{ENV_NAMES['backend']}: must be 'local' or 'remote', not {self.backend!r}")
        if self.backend == "remote" and not self.remote_url:
            raise ValueError(f"{ENV_NAMES['remote_url']}: required when {ENV_NAMES['backend']}=remote")
        for name, low in (("n_ctx", 16), ("queue_size", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{ENV_NAMES[name]}: must be at least {low}")
        if self.queue_timeout <= 0:
            raise ValueError(f"{ENV_NAMES['queue_timeout']}: must be positive")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ServiceConfig":
        """Build from a dict keyed by field name (``n_ctx``) or environment name
        (``LLM_N_CTX``); strings are converted, empty strings mean "default"."""
        by_env = {env: name for name, env in ENV_NAMES.items()}
        kwargs: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for key, raw in values.items():
            name = by_env.get(key, key.lower() if key.lower() in types else None)
            if name is None:
                raise ValueError(f"{key}: not an LLM setting (known: {', '.join(sorted(types))})")
            if raw is None or raw == "":
                continue
            kwargs[name] = _convert(name, raw, types[name])
        return cls(**kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServiceConfig":
        environ = os.environ if environ is None else environ
        return cls.from_mapping({env: environ[env] for env in ENV_NAMES.values() if env in environ})


def _convert(name: str, raw: Any, annotation: str) -> Any:
    if not isinstance(raw, str):
        return raw
    if annotation == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{ENV_NAMES[name]}: not a boolean: {raw!r}")
    try:
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float"):
            return float(raw)
    except ValueError:
        raise ValueError(f"{ENV_NAMES[name]}: not a number: {raw!r}") from None
    return raw


def build_backend(config: ServiceConfig) -> Backend:
    if config.backend == "remote":
        return RemoteBackend(config.remote_url or "", timeout=config.remote_timeout)
    return LocalBackend(
        model_path=config.model_path,
        n_ctx=config.n_ctx,
        n_threads=config.n_threads,
        n_gpu_layers=config.n_gpu_layers,
        reuse_prefix=config.reuse_prefix,
    )


# ---------------------------------------------------------------------------
# Streams that hold the model.


class TokenStream:
    """An iterator of generation events that holds the model's turn until it is
    exhausted, closed, or garbage-collected. Use it as a context manager or hand
    it to StreamingHttpResponse (which calls ``close()``)."""

    def __init__(self, events: Iterator[dict[str, Any]], release: Callable[[], None]):
        self._events = events
        self._release = release
        self._closed = False

    def __iter__(self) -> "TokenStream":
        return self

    def __next__(self) -> dict[str, Any]:
        if self._closed:
            raise StopIteration
        try:
            return next(self._events)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._events, "close", None)
            if close is not None:
                close()  # stops the backend loop where it is
        finally:
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "TokenStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


# ---------------------------------------------------------------------------
# The service.


class LLMService:
    """Serialised access to one backend. Every public method validates its input,
    waits for the model (or raises QueueFull / QueueTimeout), and returns the
    backend's dataclass."""

    def __init__(self, backend: Backend, queue_size: int = 4, queue_timeout: float = 30.0):
        self.backend = backend
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._model_lock = threading.Lock()  # a plain Lock: a stream may be closed from another thread
        self._counter_lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._mean_hold = 1.0  # seconds; moving average, for Retry-After

    @classmethod
    def from_config(cls, config: ServiceConfig | Mapping[str, Any] | None = None) -> "LLMService":
        if config is None:
            config = ServiceConfig.from_env()
        elif not isinstance(config, ServiceConfig):
            config = ServiceConfig.from_mapping(config)
        return cls(build_backend(config), queue_size=config.queue_size, queue_timeout=config.queue_timeout)

    # -- the queue ---------------------------------------------------------

    def _acquire(self) -> Callable[[], None]:
        """Wait for the model; return the function that gives it back."""
        with self._counter_lock:
            if self._admitted > self.queue_size:  # one running + queue_size waiting
                waiting = self._admitted - 1
                retry = max(1, math.ceil(self._mean_hold * self._admitted))
                raise QueueFull(retry_after=min(retry, 60), waiting=waiting)
            self._admitted += 1
        try:
            if not self._model_lock.acquire(timeout=self.queue_timeout):
                raise QueueTimeout(f"waited {self.queue_timeout:g} s for the model")
        except BaseException:
            with self._counter_lock:
                self._admitted -= 1
            raise
        started = time.monotonic()
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            held = time.monotonic() - started
            with self._counter_lock:
                self._admitted -= 1
                self._mean_hold = 0.8 * self._mean_hold + 0.2 * held
            self._model_lock.release()

        return release

    @contextmanager
    def _turn(self):
        release = self._acquire()
        try:
            yield
        finally:
            release()

    def status(self) -> dict[str, Any]:
        with self._counter_lock:
            admitted = self._admitted
        return {
            "backend": self.backend.name,
            "busy": self._model_lock.locked(),
            "waiting": max(0, admitted - 1),
            "queue_size": self.queue_size,
            "loaded": getattr(self.backend, "loaded", True),
        }

    # -- operations --------------------------------------------------------

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken:
        check_text("prompt", prompt)
        top_n = check_number("top_n", top_n)
        with self._turn():
            return self.backend.next_token(prompt, top_n)

    def generate(self, prompt: str, **settings: Any) -> Generation:
        """``settings``: max_tokens, temperature, top_k, top_p, min_p, typical_p,
        repeat_penalty, frequency_penalty, presence_penalty, seed, grammar."""
        check_text("prompt", prompt)
        params = SamplingParams.from_kwargs(**settings)
        with self._turn():
            return self.backend.generate(prompt, params)

    def stream_generate(
        self, prompt: str, should_stop: Callable[[], bool] | None = None, **settings: Any
    ) -> TokenStream:
        """Events: {"type": "token", "text", "id", "prob"} per token, then
        {"type": "done", "finish_reason", "text", "usage", "tokens_per_second",
        "time_to_first_token_ms", "took_ms", "seed"}. Raises InputError, QueueFull
        and QueueTimeout here, before the first event."""
        check_text("prompt", prompt)
        params = SamplingParams.from_kwargs(**settings)
        release = self._acquire()
        try:
            events = self.backend.stream_generate(prompt, params, should_stop)
        except BaseException:
            release()
            raise
        return TokenStream(events, release)

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        check_text("text", text)
        with self._turn():
            return self.backend.tokenize(text, add_bos=add_bos)

    def perplexity(self, text: str) -> Perplexity:
        check_text("text", text)
        with self._turn():
            return self.backend.perplexity(text)

    def models(self) -> list[ModelInfo]:
        # Reads the GGUF header (or asks the server); no need to wait for the model.
        return self.backend.models()

    def validate_grammar(self, grammar: str) -> None:
        with self._turn():
            self.backend.validate_grammar(grammar)

    def json_schema_to_grammar(self, schema: dict | str) -> str:
        """GBNF for a JSON schema, checked with llama.cpp's parser."""
        grammar = json_schema_to_grammar(schema)
        self.validate_grammar(grammar)
        return grammar

    def close(self) -> None:
        with self._turn():
            self.backend.close()


# ---------------------------------------------------------------------------
# One service per process.

_service: LLMService | None = None
_service_lock = threading.Lock()


def get_service(config: ServiceConfig | Mapping[str, Any] | None = None) -> LLMService:
    """The process's service, built on first call from ``config`` (a ServiceConfig,
    a dict such as Django's ``settings.LLM``, or None for the LLM_* environment
    variables). Later calls return the same service and ignore ``config``. The
    model itself loads on the first request that needs it."""
    global _service
    with _service_lock:
        if _service is None:
            _service = LLMService.from_config(config)
        return _service


def reset_service() -> None:
    """Close and forget the process's service (tests, settings changes)."""
    global _service
    with _service_lock:
        service, _service = _service, None
    if service is not None:
        service.close()
