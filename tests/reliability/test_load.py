"""A bounded load test on loopback: a real gunicorn server, its own embedded database.

The full 10,000-request run is `bench/load_test.py`; this one sends fewer requests so
`make test` stays quick, with the same rules: no errors except 503s from the live queue,
and the server's memory does not keep growing.
"""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
pytestmark = pytest.mark.slow

MEMORY_GROWTH_BOUND_MB = 64


def test_mixed_load_gives_no_errors_and_no_memory_growth(tmp_path):
    from load_test import measure

    env = {"DATA_DIR": str(tmp_path / "data"), "DEBUG": "0", "LLM_QUEUE_SIZE": "2"}
    full_env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}, **env}
    for command in (["migrate", "--noinput"], ["load_glossary"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=full_env,
                       check=True, timeout=600)
    # In a thread of its own: Playwright's fixtures keep an event loop running in this one,
    # and the load client needs asyncio.run().
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(measure, total=800, concurrency=8, time_limit=300, env=env).result()

    endpoints = result["endpoints"]
    assert set(endpoints) >= {"search", "entry page", "memory", "lora", "bit-layout", "next-token"}
    for name, figures in endpoints.items():
        assert figures["errors"] == 0, (name, figures["statuses"])
    assert endpoints["next-token"]["requests"] > endpoints["next-token"]["busy_503"]  # some answered
    assert result["total"] == 800
    assert result["rss_growth_mb"] < MEMORY_GROWTH_BOUND_MB, result
