"""The model worker: the one process per host that runs the model (``python -m live.worker``).

live.supervisor starts it with the listening request socket already open (so requests
that arrive while a worker starts simply wait), and starts another when it dies. It loads
the model once (LocalBackend) and serves every web process over that socket, keeping one
queue for all of them (live.service.LLMService). Each connection gets a thread; one
request at a time holds the model.

What a hostile request can do here is bounded:

* memory: the address space is capped (``LLM_WORKER_MEMORY_MB``, RLIMIT_AS), so a blow-up
  ends as an allocation failure — llama.cpp's grammar parser reports it as a parse error,
  anything else aborts this process — long before the host runs out;
* time: generation stops between tokens once the request's budget
  (``LLM_REQUEST_TIMEOUT``) is spent, with finish_reason "time_limit"; a step that cannot
  stop (one prompt evaluation, a parse) and runs far past it makes the watchdog end the
  process (exit 75), and the supervisor starts a fresh one;
* a vanished client: its connection is checked between tokens, and generation stops
  ("cancelled") when the web process closes it — which it does when its own HTTP client
  goes away.

A native crash (SIGABRT from an exception inside llama.cpp, SIGSEGV) ends only this
process: the web process that sent the request sees its connection end after "running"
and answers for that request alone.

Every call into llama.cpp runs on one long-lived thread, the *model thread*, which loads the
model and has thrown and caught one C++ exception before the first request. Why: glibc
allocates a thread's copy of a library's thread-local data on first use, and libstdc++'s
exception state is such data. On a fresh thread, the bad_alloc that llama.cpp's grammar
parser would catch at the memory cap could not even be thrown ("cannot allocate memory for
thread-local data", exit 127, seen here); on the model thread it is caught and answered.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from live import protocol
from live.llm import BackendUnavailable, InputError, LLMError, QueueFull, SamplingParams

logger = logging.getLogger("live.worker")

#: Exit status when the watchdog ends a request that ran far past its budget.
EXIT_OVER_TIME = 75
#: Seconds a web process has to send its request once connected.
REQUEST_READ_TIMEOUT = 10.0
#: Connections served at once; the queue refuses more long before this (QueueFull).
MAX_CONNECTIONS = 64
#: Address space on top of the model file when LLM_WORKER_MEMORY_MB is not set. Measured
#: on the bundled model: about 1.9 GiB of address space after a generation and a
#: perplexity (logit buffers for 262,144 tokens, thread stacks, libraries).
DEFAULT_HEADROOM_MB = 3072


def hard_limit(request_timeout: float) -> float:
    """Seconds after which a request is ended by force: its budget plus a margin for the
    last token or step, which cannot be interrupted (a prompt evaluation can take seconds on
    a busy host: llama.cpp's threads wait for each other by spinning)."""
    return request_timeout + max(10.0, request_timeout / 4)


def memory_cap_mb(config, model_path: str) -> int | None:
    """The address-space cap for the worker: the setting, or the model file plus
    DEFAULT_HEADROOM_MB. None for no cap: LLM_WORKER_MEMORY_MB=0, or layers offloaded to
    a GPU (CUDA and Metal reserve far more address space than they use)."""
    if config.memory_mb is not None:
        return config.memory_mb or None
    if config.n_gpu_layers:
        return None
    try:
        size_mb = os.path.getsize(model_path) // 2**20
    except OSError:
        size_mb = 0
    return size_mb + DEFAULT_HEADROOM_MB


class WorkerServer:
    def __init__(self, config, listener: socket.socket):
        from live.engine import LocalBackend
        from live.service import LLMService

        self.config = config
        self.listener = listener
        backend = LocalBackend(model_path=config.model_path, n_ctx=config.n_ctx, n_threads=config.n_threads,
                               n_gpu_layers=config.n_gpu_layers, reuse_prefix=config.reuse_prefix)
        self.service = LLMService(backend, queue_size=config.queue_size, queue_timeout=config.queue_timeout)
        self.connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.deadline: float | None = None  # when the request holding the model must be over
        self.parent = os.getppid()

    # -- life ------------------------------------------------------------------------

    def load(self) -> None:
        self.model_thread.submit(self._load_on_model_thread).result()

    def _load_on_model_thread(self) -> None:
        backend = self.service.backend
        try:
            backend.llama
        except BackendUnavailable as exc:
            # Every request will say so (and retry the load: the file may appear later).
            logger.error("the model did not load: %s", exc)
            return
        try:  # one C++ exception thrown and caught here sets up this thread's exception state
            backend.validate_grammar("root ::= (")
        except InputError:
            pass

    def serve_forever(self) -> None:
        threading.Thread(target=self.watchdog, name="watchdog", daemon=True).start()
        while True:
            conn, _ = self.listener.accept()
            if not self.connections.acquire(blocking=False):
                with conn:
                    self.reply_error(conn, QueueFull(retry_after=5, waiting=MAX_CONNECTIONS))
                continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def watchdog(self) -> None:
        # It must keep running when the model thread has used up the memory cap: a failed
        # allocation here is tried again next time, and the log line is not required to exit.
        while True:
            try:
                time.sleep(0.25)
                if os.getppid() != self.parent:  # the supervisor is gone: so is everyone who knew us
                    os._exit(0)
                deadline = self.deadline
                if deadline is not None and time.monotonic() > deadline:
                    try:
                        logger.error("a request held the model for %.0f s (its budget: %g s); ending the worker",
                                     hard_limit(self.config.request_timeout), self.config.request_timeout)
                    finally:
                        os._exit(EXIT_OVER_TIME)
            except MemoryError:
                continue

    # -- one connection ----------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                try:
                    request = protocol.Reader(conn).read(timeout=REQUEST_READ_TIMEOUT)
                    if request is not None:
                        self.answer(conn, request)
                except LLMError as exc:
                    self.reply_error(conn, exc)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the web process went away; nothing to tell it
                except (TimeoutError, json.JSONDecodeError, KeyError) as exc:
                    logger.warning("a malformed request: %r", exc)
                    self.reply_error(conn, LLMError("the model worker could not read the request"))
                except Exception as exc:  # noqa: BLE001 - answered, not lost: the web process says 503
                    logger.exception("a request failed")
                    self.reply_error(conn, LLMError(f"the model failed ({type(exc).__name__})"))
        finally:
            self.connections.release()

    def reply_error(self, conn: socket.socket, exc: LLMError) -> None:
        try:
            protocol.send(conn, protocol.error_message(exc))
        except OSError:
            pass

    def answer(self, conn: socket.socket, request: dict[str, Any]) -> None:
        op, args = request["op"], request.get("args") or {}
        if op == "status":
            protocol.send(conn, {"type": "result", "value": {
                **self.service.status(), "loaded": self.service.backend.loaded, "pid": os.getpid()}})
            return
        budget = self.config.request_timeout
        with self.service.turn():
            started = time.monotonic()
            self.deadline = started + hard_limit(budget)
            try:
                protocol.send(conn, {"type": "running", "pid": os.getpid()})
                final = self.model_thread.submit(self.run, conn, op, args, started, budget).result()
            finally:
                self.deadline = None
        # Sent once the model is free again: a client that has the answer can be sure the
        # next request does not wait for this one.
        protocol.send(conn, final)

    def run(self, conn: socket.socket, op: str, args: dict[str, Any], started: float,
            budget: float) -> dict[str, Any]:
        """Run one operation while it holds the model; return the last message to send."""
        backend = self.service.backend

        def should_stop() -> str | None:
            if protocol.closed(conn.fileno()):
                return "cancelled"
            if time.monotonic() - started > budget:
                return "time_limit"
            return None

        if op == "stream":
            events = backend.stream_generate(args["prompt"], SamplingParams(**args["params"]), should_stop)
            try:
                for event in events:
                    if event["type"] == "done":
                        return event
                    protocol.send(conn, event)
            finally:
                events.close()
            raise LLMError("the generation ended without its summary")
        if op == "generate":
            value = backend.generate(args["prompt"], SamplingParams(**args["params"]), should_stop)
        elif op == "next_token":
            value = backend.next_token(args["prompt"], args["top_n"])
        elif op == "tokenize":
            value = backend.tokenize(args["text"], add_bos=args["add_bos"])
        elif op == "perplexity":
            value = backend.perplexity(args["text"], should_stop)
        elif op == "validate_grammar":
            backend.validate_grammar(args["grammar"])
            value = None
        else:
            raise InputError("op", f"unknown operation {op!r}")
        return {"type": "result", "value": value.to_dict() if value is not None else None}


def main(argv: list[str] | None = None) -> None:
    from live.llm import bundled_model_path
    from live.service import ServiceConfig

    parser = argparse.ArgumentParser(description="The model worker (started by live.supervisor).")
    parser.add_argument("--config", required=True, help="the service settings, as JSON")
    parser.add_argument("--listen-fd", type=int, required=True, help="the listening request socket")
    parser.add_argument("--ready-fd", type=int, required=True, help="a pipe to write one byte to when ready")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(message)s")
    config = ServiceConfig.from_mapping(json.loads(args.config))
    cap = memory_cap_mb(config, config.model_path or bundled_model_path())
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap * 2**20, cap * 2**20))
    listener = socket.socket(fileno=args.listen_fd)
    server = WorkerServer(config, listener)
    started = time.monotonic()
    server.load()
    logger.info("ready in %.2f s (memory cap %s)", time.monotonic() - started, f"{cap} MiB" if cap else "none")
    os.write(args.ready_fd, b"1")
    os.close(args.ready_fd)
    server.serve_forever()


if __name__ == "__main__":
    main()
