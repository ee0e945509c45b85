"""One model, many requests: the front of every backend.

A llama context is not thread-safe, and on a small machine one generation
already uses every core, so requests take turns: one runs, at most
``queue_size`` wait, the rest are turned away at once with :class:`QueueFull`
(the web layer answers 503 with ``Retry-After: exc.retry_after``). A request
that waits longer than ``queue_timeout`` seconds gets :class:`QueueTimeout`.

Where the turns are taken depends on the backend. The local model runs in the model
worker (live/worker.py), one per host, which keeps this queue for every web process at
once; in a web process the service then only validates and passes requests on
(``live.client.WorkerBackend`` says so with ``queues_itself``). A remote server, or a
LocalBackend used directly (tests, benchmarks), is queued here.

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

from live import grammar as grammar_checks
from live.llm import (
    Backend,
    BackendUnavailable,
    Generation,
    InputError,
    LLMError,
    ModelInfo,
    NextToken,
    Perplexity,
    QueueFull,
    QueueTimeout,
    SamplingParams,
    StopCheck,
    Tokenization,
    Unsupported,
    check_number,
    check_text,
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
    "request_timeout": "LLM_REQUEST_TIMEOUT",
    "memory_mb": "LLM_WORKER_MEMORY_MB",
    "worker_dir": "LLM_WORKER_DIR",
}

#: The settings that make model workers differ: web processes that agree on them share
#: one worker (live.protocol.worker_paths).
WORKER_SETTINGS = ("model_path", "n_ctx", "n_threads", "n_gpu_layers", "queue_size", "queue_timeout",
                   "reuse_prefix", "request_timeout", "memory_mb")


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
    request_timeout: float = 60.0  # seconds one request may hold the model
    memory_mb: int | None = None  # the worker's address-space cap; None: automatic, 0: none
    worker_dir: str | None = None  # the worker's sockets and log; None: a temporary folder

    def __post_init__(self):
        if self.backend not in ("local", "remote"):
            raise ValueError(f"{ENV_NAMES['backend']}: must be 'local' or 'remote', not {self.backend!r}")
        if self.backend == "remote" and not self.remote_url:
            raise ValueError(f"{ENV_NAMES['remote_url']}: required when {ENV_NAMES['backend']}=remote")
        for name, low in (("n_ctx", 16), ("queue_size", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{ENV_NAMES[name]}: must be at least {low}")
        for name in ("queue_timeout", "request_timeout"):
            if not 0 < getattr(self, name) <= 24 * 3600:
                raise ValueError(f"{ENV_NAMES[name]}: must be more than 0 and at most a day (seconds)")
        if self.memory_mb is not None and self.memory_mb < 0:
            raise ValueError(f"{ENV_NAMES['memory_mb']}: must be 0 (no cap) or a number of MiB")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def worker_identity(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in WORKER_SETTINGS}

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
    """The backend a web process uses: the shared model worker, or the remote server."""
    if config.backend == "remote":
        from live.remote import RemoteBackend

        return RemoteBackend(config.remote_url or "", timeout=config.remote_timeout)
    from live.client import WorkerBackend

    return WorkerBackend(config)


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
    """Validated access to one backend. Every public method checks its input (so bad input
    never waits), takes the model's turn where this process keeps the queue (or raises
    QueueFull / QueueTimeout), and returns the backend's dataclass."""

    def __init__(self, backend: Backend, queue_size: int = 4, queue_timeout: float = 30.0):
        self.backend = backend
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        # The model worker keeps one queue for every web process; queueing here as well
        # would only make requests of the same process wait twice.
        self.queued = not getattr(backend, "queues_itself", False)
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

    def acquire(self) -> Callable[[], None]:
        """Wait for the model; return the function that gives it back."""
        if not self.queued:
            return _nothing
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
    def turn(self):
        release = self.acquire()
        try:
            yield
        finally:
            release()

    def status(self) -> dict[str, Any]:
        if not self.queued:
            return self.backend.status()
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
        with self.turn():
            return self.backend.next_token(prompt, top_n)

    def generate(self, prompt: str, should_stop: StopCheck | None = None, **settings: Any) -> Generation:
        """``settings``: max_tokens, temperature, top_k, top_p, min_p, typical_p,
        repeat_penalty, frequency_penalty, presence_penalty, seed, grammar.
        ``should_stop`` (e.g. the HTTP client's connection) is asked between tokens."""
        check_text("prompt", prompt)
        params = SamplingParams.from_kwargs(**settings)
        with self.turn():
            return self.backend.generate(prompt, params, should_stop)

    def stream_generate(
        self, prompt: str, should_stop: StopCheck | None = None, **settings: Any
    ) -> TokenStream:
        """Events: {"type": "token", "text", "id", "prob"} per token, then
        {"type": "done", "finish_reason", "text", "usage", "tokens_per_second",
        "time_to_first_token_ms", "took_ms", "seed"}. Raises InputError, QueueFull
        and QueueTimeout here, before the first event."""
        check_text("prompt", prompt)
        params = SamplingParams.from_kwargs(**settings)
        release = self.acquire()
        try:
            events = self.backend.stream_generate(prompt, params, should_stop)
        except BaseException:
            release()
            raise
        return TokenStream(events, release)

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        check_text("text", text)
        with self.turn():
            return self.backend.tokenize(text, add_bos=add_bos)

    def perplexity(self, text: str, should_stop: StopCheck | None = None) -> Perplexity:
        check_text("text", text)
        with self.turn():
            return self.backend.perplexity(text, should_stop)

    def models(self) -> list[ModelInfo]:
        # Reads the GGUF header (or asks the server); no need to wait for the model.
        return self.backend.models()

    def validate_grammar(self, grammar: str, field_name: str = "grammar") -> None:
        """live.grammar's static checks, then llama.cpp's own parser."""
        grammar_checks.check_grammar(grammar, field_name)
        try:
            with self.turn():
                self.backend.validate_grammar(grammar)
        except InputError as exc:
            raise InputError(field_name, exc.message) from exc

    def json_schema_to_grammar(self, schema: dict | str) -> str:
        """GBNF for a JSON schema, checked like a grammar; errors name ``json_schema``."""
        grammar = grammar_checks.grammar_for_schema(schema)
        self.validate_grammar(grammar, "json_schema")
        return grammar

    def close(self) -> None:
        with self.turn():
            self.backend.close()


def _nothing() -> None:
    pass


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
