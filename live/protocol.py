"""How web processes, the supervisor and the model worker talk to each other.

Unix stream sockets in one directory (``LLM_WORKER_DIR``, by default ``DATA_DIR/llm``),
named after the worker's configuration, so that web processes configured alike share one
worker and a differently configured one (a test, another model) gets its own:

* ``worker-<id>.sock``: requests. The supervisor creates and listens on it and hands it
  to the worker, so it outlives a worker that dies: a request that arrives meanwhile
  waits in the socket's backlog for the next worker instead of being refused.
* ``worker-<id>.ctl``: the supervisor itself (attach, status, restart).
* ``worker-<id>.lock``: the file lock a web process holds while it starts the supervisor.
* ``worker-<id>.log``: what the supervisor and the worker write (llama.cpp's own
  messages on a crash included).

Messages are JSON objects, one per line, ASCII only (``json.dumps`` escapes the rest, so
text that is not valid UTF-8 cannot break the framing). A request connection carries one
request; the worker answers on it:

    → {"op": "generate", "args": {...}}
    ← {"type": "running", "pid": ...}      the request holds the model now
    ← {"type": "result", "value": {...}}   or, for "stream", token events and a "done"
    ← {"type": "error", "kind": ..., ...}  at any point instead

A connection that ends before "running" never reached the model (its worker died while
it waited); one that ends after "running" without an answer took its worker down.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live.llm import (
    BackendUnavailable,
    ClientGone,
    InputError,
    LLMError,
    OverTime,
    QueueFull,
    QueueTimeout,
    Unsupported,
)

#: Longest message accepted (a request carries at most a 32,000-character prompt and a
#: 20,000-character grammar, ≤ 6 bytes each once escaped).
MAX_LINE = 1 << 20
#: AF_UNIX paths are limited to 108 bytes on Linux.
MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class WorkerPaths:
    requests: str
    control: str
    lock: str
    log: str


#: The checkout this code runs from.
ROOT = Path(__file__).resolve().parent.parent


def _code_version() -> str:
    """This checkout's live/ code, by its files' names, sizes and times: a worker runs the
    code it was started from, so changed code (a deploy, runserver's reload) gets a new one."""
    live = Path(__file__).resolve().parent
    stats = [(path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in sorted(live.glob("*.py"))]
    return hashlib.sha256(json.dumps([str(ROOT), stats]).encode()).hexdigest()


CODE_VERSION = _code_version()


def paths_for(config) -> WorkerPaths:
    """The files of the worker for a live.service.ServiceConfig and this code."""
    return worker_paths(config.worker_dir, {**config.worker_identity(), "code": CODE_VERSION})


def worker_paths(directory: str | None, identity: dict[str, Any]) -> WorkerPaths:
    """The files of the worker configured by ``identity`` (the settings that make workers
    differ) in ``directory`` (None: a folder of this user's in the temporary directory)."""
    directory = directory or os.path.join(tempfile.gettempdir(), f"fieldguide-llm-{os.getuid()}")
    name = "worker-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    socket_dir = directory
    if len(os.path.join(directory, name + ".sock")) > MAX_SOCKET_PATH:
        # A deep DATA_DIR: the sockets go to a short folder named after it instead.
        digest = hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()[:12]
        socket_dir = os.path.join(tempfile.gettempdir(), f"fieldguide-llm-{digest}")
    return WorkerPaths(
        requests=os.path.join(socket_dir, name + ".sock"),
        control=os.path.join(socket_dir, name + ".ctl"),
        lock=os.path.join(directory, name + ".lock"),
        log=os.path.join(directory, name + ".log"),
    )


def listen(path: str, backlog: int = 128) -> socket.socket:
    """A listening Unix socket at ``path``, replacing a stale file left by a dead process
    (callers make sure no live one is listening there)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(backlog)
    return sock


def connect(path: str, timeout: float = 5.0) -> socket.socket:
    """Raises ConnectionRefusedError / FileNotFoundError when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode("ascii") + b"\n")


def closed(fd: int) -> bool:
    """Whether the other end of the stream socket ``fd`` has gone (closed or reset),
    without reading from it: POLLRDHUP/POLLHUP, or readable with nothing to read."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLRDHUP)
    events = poller.poll(0)
    if not events:
        return False
    flags = events[0][1]
    if flags & (select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL):
        return True
    return False  # readable: data is waiting (a pipelined request), the peer is still there


class Reader:
    """Messages from a socket, one per line; optionally watching a second socket (the HTTP
    client's, ``watch``) for its going away while waiting."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def read(self, timeout: float | None, watch: Any = None) -> dict[str, Any] | None:
        """The next message; None when the connection ends first. Raises TimeoutError
        after ``timeout`` seconds (None: wait as long as it takes) and ClientGone when
        ``watch`` (anything with fileno()) is closed meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        watched = None
        if watch is not None:
            watched = watch.fileno()
            poller.register(watched, select.POLLRDHUP)
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                return json.loads(line)
            if len(self.buffer) > MAX_LINE:
                raise LLMError("a message from the model worker is too long")
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                raise TimeoutError
            for fd, flags in poller.poll(None if wait is None else wait * 1000):
                if fd == watched and flags & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                    raise ClientGone("the client closed its connection")
            try:
                chunk = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            self.buffer += chunk


# --- errors as messages ------------------------------------------------------------------

def error_message(exc: LLMError) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "error", "message": str(exc)}
    if isinstance(exc, InputError):
        message.update(kind="input", field=exc.field, message=exc.message)
    elif isinstance(exc, QueueFull):
        message.update(kind="queue_full", retry_after=exc.retry_after, waiting=exc.waiting)
    elif isinstance(exc, QueueTimeout):
        message.update(kind="queue_timeout")
    elif isinstance(exc, OverTime):
        message.update(kind="over_time", retry_after=exc.retry_after)
    elif isinstance(exc, ClientGone):
        message.update(kind="gone")
    elif isinstance(exc, BackendUnavailable):
        message.update(kind="unavailable")
    elif isinstance(exc, Unsupported):
        message.update(kind="unsupported")
    else:
        message.update(kind="error")
    return message


def error_from(message: dict[str, Any]) -> LLMError:
    kind, text = message.get("kind"), str(message.get("message", ""))
    if kind == "input":
        return InputError(str(message.get("field")), text)
    if kind == "queue_full":
        return QueueFull(retry_after=int(message["retry_after"]), waiting=int(message["waiting"]))
    if kind == "queue_timeout":
        return QueueTimeout(text)
    if kind == "over_time":
        return OverTime(text, int(message["retry_after"]))
    if kind == "gone":
        return ClientGone(text)
    if kind == "unavailable":
        return BackendUnavailable(text)
    if kind == "unsupported":
        return Unsupported(text)
    return LLMError(text)
