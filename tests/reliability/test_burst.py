"""A burst of concurrent searches queues for database connections instead of failing.

Real servers (runserver, then gunicorn with several workers) on their own embedded
PostgreSQL in a scratch data directory. Before the connection pool, runserver's thread per
request each opened a connection that outlived its thread: bursts left dozens idle and,
at PostgreSQL's 100 connections, answered 503 "database unavailable".
"""

import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.reliability.test_database_outage import ROOT, free_port, pg_ctl, wait_until

pytestmark = pytest.mark.slow

BURST = 40
POOL_SIZE = 10  # DB_POOL_SIZE's default: the burst has to queue for these
WORDS = ["gguf", "kv cache", "lora rank", "quantisation", "min-p", "sampling", "attention", "experts"]


@pytest.fixture(scope="module")
def data_dir():
    # Not under pytest's tmp_path: as root, PostgreSQL runs as its own user, and another
    # pytest session starting meanwhile makes pytest's shared temporary root private again.
    with tempfile.TemporaryDirectory(prefix="fieldguide-burst-") as scratch:
        path = Path(scratch) / "data"
        env = server_env(path)
        for command in (["migrate", "--noinput"], ["load_glossary"]):
            subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=env, check=True,
                           timeout=600)
        yield path
        pg_ctl(path / "postgres", "-w", "-m", "fast", "stop")


def server_env(data_dir):
    env = {**os.environ, "DATA_DIR": str(data_dir), "DEBUG": "0"}
    for name in ("DATABASE_URL", "DB_POOL_SIZE", "DB_POOL_TIMEOUT"):  # the defaults, as shipped
        env.pop(name, None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def start(command, data_dir):
    port = free_port()
    process = subprocess.Popen([*command, f"127.0.0.1:{port}"], cwd=ROOT, env=server_env(data_dir),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: httpx.get(url + "/api/v1/health/").status_code == 200, seconds=120)
    return process, url


def burst(url) -> Counter:
    def search(i):
        response = httpx.get(url + "/api/v1/search/", timeout=120,
                             params={"q": f"{WORDS[i % len(WORDS)]} {i}", "mode": "keyword"})
        return response.status_code

    with ThreadPoolExecutor(BURST) as pool:
        return Counter(pool.map(search, range(BURST)))


def server_connections(data_dir) -> int:
    """Connections to the service's database, not counting the one asking."""
    result = subprocess.run(
        [sys.executable, "manage.py", "dbshell", "--", "-At", "-c",
         "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"],
        cwd=ROOT, env=server_env(data_dir), capture_output=True, text=True, check=True, timeout=60)
    return int(result.stdout.strip())


@pytest.mark.parametrize("server, processes", [
    ([sys.executable, "manage.py", "runserver", "--noreload"], 1),
    ([sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--threads", "8", "--bind"], 2),
], ids=["runserver", "gunicorn"])
def test_forty_concurrent_searches_all_succeed_on_a_few_connections(data_dir, server, processes):
    process, url = start(server, data_dir)
    try:
        for _ in range(3):
            assert burst(url) == Counter({200: BURST})
        # The burst queued for the pool's connections: no more than DB_POOL_SIZE per process.
        assert server_connections(data_dir) <= POOL_SIZE * processes
    finally:
        process.terminate()
        process.wait(timeout=30)
