"""The model, seen from a web process: requests go to the model worker over a Unix socket.

:class:`WorkerBackend` offers the same operations as the other backends. The first request
of the host starts the supervisor (live/supervisor.py), which starts the worker
(live/worker.py); a file lock makes sure that concurrent web processes (gunicorn's
workers) start one, and every one of them then shares it — the model is loaded once per
host. Each web process stays *attached* to the supervisor while it lives.

What a request sees when the worker fails (see live/protocol.py for the messages):

* its connection ends before the worker took it ("running"): the worker died while the
  request waited; it is sent again to the next worker, once;
* its connection ends after "running": the request was running when the worker died. If
  the request carried a grammar, the grammar did it — llama.cpp aborts on grammars it
  cannot apply — and the answer is InputError naming ``grammar`` (400); otherwise
  WorkerRestarting (503 with Retry-After). Either way the worker is back within seconds;
* no answer by the request's hard limit: the worker is stuck; the supervisor is asked to
  end it and the answer is OverTime (503 with Retry-After);
* the HTTP client goes away (``should_stop`` with a fileno(), see live.web): the
  connection to the worker is closed, which stops the generation there between tokens.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

from live import protocol
from live.llm import (
    BackendUnavailable,
    GeneratedToken,
    Generation,
    InputError,
    LLMError,
    ModelInfo,
    NextToken,
    OverTime,
    Perplexity,
    QueueTimeout,
    SamplingParams,
    ScoredToken,
    StopCheck,
    TokenPiece,
    Tokenization,
    TokenProb,
    WorkerRestarting,
    bundled_model_path,
    read_model_info,
)
from live.worker import hard_limit

#: Seconds to wait for a new supervisor to listen.
START_TIMEOUT = 20.0
#: Seconds a request may wait, beyond the queue timeout, for the worker to take it: a
#: worker that is starting loads the model first.
LOAD_ALLOWANCE = 30.0
#: Retry-After for a request whose worker died: a new one is ready in about this time
#: (the bundled model loads in 1-3 s here).
RESTART_RETRY_AFTER = 5

GRAMMAR_CRASH = ("llama.cpp failed fatally while applying this grammar (its process ran out of memory, or "
                 "found no text the model can write that satisfies it); the process was restarted")


class WorkerBackend:
    """The shared model worker, for one web process. Thread-safe: each call has its own
    connection."""

    name = "local"
    #: live.service.LLMService: the worker keeps the queue for every web process.
    queues_itself = True

    def __init__(self, config):
        self.config = config
        self.n_ctx = config.n_ctx
        self.paths = protocol.paths_for(config)
        self._attach_lock = threading.Lock()
        self._attached: socket.socket | None = None
        self._attached_pid: int | None = None

    @property
    def model_path(self) -> str:
        return self.config.model_path or bundled_model_path()

    # -- the supervisor ------------------------------------------------------------------

    def _ensure_supervisor(self) -> None:
        """Attach to the supervisor, starting it if there is none. Checks the model file
        first: a missing or unreadable one is reported without starting anything."""
        read_model_info(self.model_path)  # raises BackendUnavailable naming the file
        with self._attach_lock:
            if (self._attached is not None and self._attached_pid == os.getpid()
                    and not protocol.closed(self._attached.fileno())):
                return
            if self._attached is not None and self._attached_pid == os.getpid():
                self._attached.close()
            self._attached = None
            try:
                sock = self._attach()
            except (FileNotFoundError, ConnectionRefusedError):
                self._start_supervisor()
                sock = self._attach()
            self._attached, self._attached_pid = sock, os.getpid()

    def _attach(self) -> socket.socket:
        sock = protocol.connect(self.paths.control)
        protocol.send(sock, {"op": "attach", "pid": os.getpid()})
        return sock

    def _start_supervisor(self) -> None:
        os.makedirs(os.path.dirname(self.paths.lock), mode=0o700, exist_ok=True)
        with open(self.paths.lock, "a") as lock:
            deadline = time.monotonic() + START_TIMEOUT
            while True:  # flock with a deadline: another process may be starting it
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise BackendUnavailable("the model worker is starting elsewhere and did not come up")
                    time.sleep(0.05)
            try:
                if self._control_answers():
                    return  # started by the process that held the lock
                with open(self.paths.log, "ab") as log:
                    subprocess.Popen(
                        [sys.executable, "-m", "live.supervisor", "--config", json.dumps(self.config.to_dict()),
                         "--paths", json.dumps(dataclasses.asdict(self.paths))],
                        cwd=protocol.ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True)  # not this process's child: it serves the whole host
                while not self._control_answers():
                    if time.monotonic() > deadline:
                        raise BackendUnavailable(
                            f"the model worker did not start; see {os.path.basename(self.paths.log)} "
                            "in the worker folder")
                    time.sleep(0.05)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _control_answers(self) -> bool:
        try:
            protocol.connect(self.paths.control, timeout=1).close()
            return True
        except OSError:
            return False

    def supervisor_status(self) -> dict[str, Any] | None:
        """The supervisor's own figures (worker pid, restarts, why the last worker ended,
        how long the last restart took), or None when it is not running."""
        try:
            sock = protocol.connect(self.paths.control, timeout=2)
        except OSError:
            return None
        with sock:
            protocol.send(sock, {"op": "status"})
            return protocol.Reader(sock).read(timeout=5)

    def _kill_worker(self, pid: int) -> None:
        try:
            with protocol.connect(self.paths.control, timeout=2) as sock:
                protocol.send(sock, {"op": "kill", "pid": pid})
                protocol.Reader(sock).read(timeout=5)
        except (OSError, TimeoutError):
            pass

    # -- one request ---------------------------------------------------------------------

    def _open(self, op: str, args: dict[str, Any], watch: Any) -> tuple[protocol.Reader, dict[str, Any]]:
        """Send a request; return its reader once the worker runs it, with the "running"
        message. Raises what the worker answers instead (QueueFull, ...)."""
        wait = self.config.queue_timeout + LOAD_ALLOWANCE
        for attempt in range(2):
            self._ensure_supervisor()
            try:
                sock = protocol.connect(self.paths.requests)
            except (FileNotFoundError, ConnectionRefusedError):
                self.close()  # the supervisor is gone; attach to (or start) a new one
                continue
            reader = protocol.Reader(sock)
            try:
                protocol.send(sock, {"op": op, "args": args})
                message = reader.read(timeout=wait, watch=watch)
            except TimeoutError:
                sock.close()
                raise QueueTimeout(f"the model worker did not take the request within {wait:g} s") from None
            except BaseException:
                sock.close()
                raise
            if message is None:  # the worker ended while this request waited: try the next one
                sock.close()
                continue
            if message.get("type") == "error":
                sock.close()
                raise protocol.error_from(message)
            return reader, message
        raise WorkerRestarting("the model worker is restarting", RESTART_RETRY_AFTER)

    def _failure(self, running: dict[str, Any], started: float, grammar: str | None) -> LLMError:
        """What to answer when the worker ended while running this request."""
        if time.monotonic() - started > self.config.request_timeout:
            return OverTime(f"the request took longer than its limit of {self.config.request_timeout:g} s "
                            "(LLM_REQUEST_TIMEOUT)", RESTART_RETRY_AFTER)
        if grammar is not None:
            return InputError("grammar", GRAMMAR_CRASH)
        return WorkerRestarting("the model worker stopped during this request and is restarting",
                                RESTART_RETRY_AFTER)

    def _next(self, reader: protocol.Reader, running: dict[str, Any], started: float, watch: Any,
              grammar: str | None = None) -> dict[str, Any]:
        """The next message of a running request; raises for an error message, the
        worker's end, and a hard timeout."""
        limit = hard_limit(self.config.request_timeout) + 5.0  # the worker's watchdog acts first
        try:
            message = reader.read(timeout=max(0.1, started + limit - time.monotonic()), watch=watch)
        except TimeoutError:
            self._kill_worker(running["pid"])
            raise OverTime(f"the request took longer than its limit of {self.config.request_timeout:g} s "
                           "(LLM_REQUEST_TIMEOUT)", RESTART_RETRY_AFTER) from None
        if message is None:
            raise self._failure(running, started, grammar)
        if message.get("type") == "error":
            raise protocol.error_from(message)
        return message

    def _call(self, op: str, args: dict[str, Any], watch: Any = None, grammar: str | None = None) -> Any:
        reader, running = self._open(op, args, watch)
        started = time.monotonic()
        try:
            return self._next(reader, running, started, watch, grammar)["value"]
        finally:
            reader.sock.close()

    # -- operations ----------------------------------------------------------------------

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken:
        value = self._call("next_token", {"prompt": prompt, "top_n": top_n})
        return NextToken(**{**value, "tokens": [TokenProb(**t) for t in value["tokens"]]})

    def generate(self, prompt: str, params: SamplingParams, should_stop: StopCheck | None = None) -> Generation:
        """``should_stop`` is watched while waiting when it has a fileno() (the HTTP
        client's connection); a plain callable cannot be asked before the answer comes."""
        watch = should_stop if hasattr(should_stop, "fileno") else None
        value = self._call("generate", {"prompt": prompt, "params": _params(params)}, watch, params.grammar)
        return Generation(**{**value, "tokens": [GeneratedToken(**t) for t in value["tokens"]]})

    def stream_generate(
        self, prompt: str, params: SamplingParams, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]:
        """Waits for the first event before returning, so that an error before it (a
        grammar llama.cpp refuses, a prompt too long) is raised here, before a response
        starts."""
        watch = should_stop if hasattr(should_stop, "fileno") else None
        reader, running = self._open("stream", {"prompt": prompt, "params": _params(params)}, watch)
        started = time.monotonic()
        try:
            first = self._next(reader, running, started, watch, params.grammar)
        except BaseException:
            reader.sock.close()
            raise
        return self._events(reader, running, started, watch, params.grammar, first, should_stop)

    def _events(self, reader, running, started, watch, grammar, event, should_stop) -> Iterator[dict[str, Any]]:
        try:
            while True:
                yield event
                if event["type"] == "done":
                    return
                if watch is None and should_stop is not None and should_stop():
                    return  # closing the connection below stops the worker's loop
                event = self._next(reader, running, started, watch, grammar)
        finally:
            reader.sock.close()

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        value = self._call("tokenize", {"text": text, "add_bos": add_bos})
        return Tokenization(tokens=[TokenPiece(**t) for t in value["tokens"]], count=value["count"])

    def perplexity(self, text: str, should_stop: StopCheck | None = None) -> Perplexity:
        watch = should_stop if hasattr(should_stop, "fileno") else None
        value = self._call("perplexity", {"text": text}, watch)
        return Perplexity(**{**value, "tokens": [ScoredToken(**t) for t in value["tokens"]]})

    def validate_grammar(self, grammar: str) -> None:
        self._call("validate_grammar", {"grammar": grammar}, grammar=grammar)

    def models(self) -> list[ModelInfo]:
        info = read_model_info(self.model_path)
        return [ModelInfo(**{**info.to_dict(), "loaded": bool(self.status()["loaded"])})]

    def status(self) -> dict[str, Any]:
        """The worker's queue, without starting it: a worker that is not running is idle
        and has no model loaded."""
        idle = {"backend": self.name, "busy": False, "waiting": 0, "queue_size": self.config.queue_size,
                "loaded": False}
        try:
            sock = protocol.connect(self.paths.requests, timeout=1)
        except OSError:
            return idle
        with sock:
            try:
                protocol.send(sock, {"op": "status"})
                message = protocol.Reader(sock).read(timeout=2)
            except (OSError, TimeoutError, ValueError):
                return idle
        if not message or message.get("type") != "result":
            return idle
        value = message["value"]
        return {"backend": self.name, **{key: value[key] for key in ("busy", "waiting", "queue_size", "loaded")}}

    def close(self) -> None:
        """Detach from the supervisor (it exits once no web process is attached)."""
        with self._attach_lock:
            if self._attached is not None and self._attached_pid == os.getpid():
                self._attached.close()
            self._attached = None


def _params(params: SamplingParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in SamplingParams.__dataclass_fields__}
