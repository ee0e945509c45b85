"""Keeps the model worker running: one per host and configuration (``python -m live.supervisor``).

The first web process that needs the model starts this process (live.client, under a
file lock, so concurrent starters make one). It never loads llama.cpp itself:

* it creates the request socket and hands it to each worker it starts, so the socket
  outlives a worker: requests arriving while a worker restarts wait in the backlog;
* when the worker exits — a native abort (SIGABRT, exit 134), a segfault, an allocation
  failure under its memory cap, the watchdog's exit 75 — it starts the next one at once
  (with a growing pause if workers keep dying before they are ready), and records why the
  last one ended and how long the new one took to be ready;
* on its control socket, web processes *attach* (a connection each keeps open) and ask for
  the status, or for a stuck worker to be restarted. When the last attached process has
  gone (web servers stopped, a test run over) and IDLE_EXIT seconds have passed, it stops
  the worker and exits; so does a SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from live import protocol
from live.worker import EXIT_OVER_TIME

logger = logging.getLogger("live.supervisor")

#: Seconds without any attached web process before the supervisor and its worker exit
#: (long enough for runserver's autoreload or a gunicorn worker's replacement).
IDLE_EXIT = 30.0
#: Pauses before restarting a worker that died before it was ready (a model that cannot
#: load under the memory cap, say), doubling up to the last.
RESTART_PAUSES = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
#: The log is cut back to nothing at start once it is larger than this.
LOG_LIMIT = 8 * 2**20


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (a native abort)" if -code == signal.SIGABRT else "")
    if code == EXIT_OVER_TIME:
        return "ended by its watchdog: a request ran far past its budget"
    return f"exit status {code}"


class Supervisor:
    def __init__(self, config_json: str, paths: protocol.WorkerPaths):
        self.config_json = config_json
        self.paths = paths
        self.requests = protocol.listen(paths.requests)
        self.control = protocol.listen(paths.control)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.control, selectors.EVENT_READ, "accept")
        self.attached: set[socket.socket] = set()
        self.idle_since: float | None = time.monotonic()  # nobody attached yet
        self.worker: subprocess.Popen | None = None
        self.ready_pipe: int | None = None
        self.worker_ready = False
        self.started_at = 0.0
        self.restart_due: float | None = 0.0  # start one at once
        self.quick_deaths = 0
        self.restarts = 0
        self.last_exit: str | None = None
        self.died_at: float | None = None
        self.last_restart_s: float | None = None
        self.stopping = False

    # -- the worker ------------------------------------------------------------------

    def start_worker(self) -> None:
        read_end, write_end = os.pipe()
        log = open(self.paths.log, "ab")
        try:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "live.worker", "--config", self.config_json,
                 "--listen-fd", str(self.requests.fileno()), "--ready-fd", str(write_end)],
                pass_fds=(self.requests.fileno(), write_end), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # Two malloc arenas instead of eight per core: each reserves 64 MiB of the
                # address space that the worker's cap counts. GGML_NO_BACKTRACE: on an abort
                # ggml otherwise attaches gdb to print a backtrace, which takes seconds.
                env={**os.environ, "MALLOC_ARENA_MAX": "2", "GGML_NO_BACKTRACE": "1"})
        finally:
            log.close()
            os.close(write_end)
        self.ready_pipe = read_end
        self.selector.register(read_end, selectors.EVENT_READ, "ready")
        self.worker_ready = False
        self.started_at = time.monotonic()
        self.restart_due = None
        logger.info("worker %d started", self.worker.pid)

    def on_ready(self) -> None:
        data = os.read(self.ready_pipe, 1)
        self.selector.unregister(self.ready_pipe)
        os.close(self.ready_pipe)
        self.ready_pipe = None
        if data:
            self.worker_ready = True
            self.quick_deaths = 0
            if self.died_at is not None:
                self.last_restart_s = time.monotonic() - self.died_at
                self.died_at = None
                logger.info("worker %d ready %.2f s after the last one ended", self.worker.pid, self.last_restart_s)

    def check_worker(self) -> None:
        if self.worker is None or self.worker.poll() is None:
            return
        code = self.worker.returncode
        self.last_exit = describe_exit(code)
        logger.warning("worker %d %s", self.worker.pid, self.last_exit)
        if self.ready_pipe is not None:
            self.selector.unregister(self.ready_pipe)
            os.close(self.ready_pipe)
            self.ready_pipe = None
        if not self.worker_ready:
            self.quick_deaths += 1
        self.worker = None
        self.restarts += 1
        self.died_at = self.died_at or time.monotonic()
        pause = RESTART_PAUSES[min(self.quick_deaths, len(RESTART_PAUSES) - 1)]
        self.restart_due = time.monotonic() + pause

    def kill_worker(self, pid: int) -> bool:
        """End the worker ``pid`` (a web process found it stuck); False if it is not ours."""
        if self.worker is None or self.worker.pid != pid:
            return False
        logger.warning("killing worker %d at a client's request (a request ran past its limit)", pid)
        self.worker.kill()
        return True

    # -- the control socket ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "worker_pid": self.worker.pid if self.worker else None,
                "worker_ready": self.worker_ready, "restarts": self.restarts, "last_exit": self.last_exit,
                "last_restart_s": self.last_restart_s, "attached": len(self.attached)}

    def on_control(self, conn: socket.socket) -> None:
        try:
            message = protocol.Reader(conn).read(timeout=5)
        except (TimeoutError, ValueError, OSError, Exception):  # noqa: BLE001 - a bad client only
            message = None
        if message is None:
            conn.close()
            return
        op = message.get("op")
        if op == "attach":
            self.attached.add(conn)
            self.idle_since = None
            self.selector.register(conn, selectors.EVENT_READ, "attached")
            return
        try:
            if op == "status":
                protocol.send(conn, self.status())
            elif op == "kill":
                protocol.send(conn, {"killed": self.kill_worker(int(message.get("pid", -1)))})
        except OSError:
            pass
        conn.close()

    def on_detach(self, conn: socket.socket) -> None:
        # An attached process never writes again: readable means it closed (or died).
        self.selector.unregister(conn)
        self.attached.discard(conn)
        conn.close()
        if not self.attached:
            self.idle_since = time.monotonic()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        try:
            while not self.stopping:
                for key, _ in self.selector.select(timeout=0.1):
                    if key.data == "accept":
                        conn, _ = self.control.accept()
                        self.on_control(conn)
                    elif key.data == "ready":
                        self.on_ready()
                    else:
                        self.on_detach(key.fileobj)
                self.check_worker()
                now = time.monotonic()
                if self.worker is None and self.restart_due is not None and now >= self.restart_due:
                    self.start_worker()
                if self.idle_since is not None and now - self.idle_since > IDLE_EXIT:
                    logger.info("no web process attached for %.0f s; stopping", IDLE_EXIT)
                    break
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for path in (self.paths.requests, self.paths.control):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.requests.close()
        self.control.close()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(5)
            except subprocess.TimeoutExpired:
                self.worker.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Keeps the model worker running (started by live.client).")
    parser.add_argument("--config", required=True, help="the service settings, as JSON")
    parser.add_argument("--paths", required=True, help="its sockets, lock and log (live.protocol.WorkerPaths), "
                                                       "as JSON: those the web process that starts it uses")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s supervisor[{os.getpid()}] %(levelname)s %(message)s")
    paths = protocol.WorkerPaths(**json.loads(args.paths))
    try:
        if os.path.getsize(paths.log) > LOG_LIMIT:
            os.truncate(paths.log, 0)
    except OSError:
        pass
    Supervisor(args.config, paths).run()


if __name__ == "__main__":
    main()
