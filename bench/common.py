"""Shared plumbing for the benchmarks: Django set-up, a scratch database, timing, reports.

Every benchmark compares against a baseline measured in the same run, because absolute
times on shared 2-core machines are noise; the ratios are what to read.
"""

import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def django_setup():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


@contextlib.contextmanager
def scratch_database(name="fieldguide_bench"):
    """A freshly migrated database on the configured server, dropped afterwards."""
    from django.db import connection

    connection.settings_dict["TEST"]["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


# The question sets search latency can be timed on: the older set written beside the ranking,
# and the evaluation's dev and holdout sets (tests/search/eval, the holdout never read while
# tuning), so a latency figure can be checked on questions nobody tuned against.
QUESTION_SETS = {"older": ROOT / "tests/search/questions.yaml",
                 "dev": ROOT / "tests/search/eval/dev.yaml",
                 "holdout": ROOT / "tests/search/eval/holdout.yaml"}


def question_set(name: str = "older") -> list[str]:
    """The texts of question set `name` (QUESTION_SETS)."""
    import yaml

    loaded = yaml.safe_load(QUESTION_SETS[name].read_text())
    return [q["q"] for q in (loaded["questions"] if isinstance(loaded, dict) else loaded)]


def forget_query():
    """Forget what the site remembers of a question's text (its embedding, the tools it
    names), so that a timed search pays for them every time, as the baseline pays for its
    embedding: the benchmarks ask the same questions again and again, users mostly do not."""
    from search.embeddings import _embed_query
    from search.tools import _memory_prefill

    _embed_query.cache_clear()
    _memory_prefill.cache_clear()


def time_calls(function, repeat, warmup=3):
    """Seconds per call, after a few warm-up calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def embed_and_nearest(question: str) -> None:
    """The baseline of every search benchmark: the work a search cannot avoid, embedding the
    question and one pgvector nearest-neighbour query over all passages."""
    from django.db import connection

    from search.embeddings import encode

    vector = encode([question])[0]
    with connection.cursor() as cursor:
        cursor.execute("select document_id from search_passage order by embedding <=> %s::vector limit 90",
                       [str(list(map(float, vector)))])
        cursor.fetchall()


def time_alternately(functions: dict, repeat, warmup=3) -> dict:
    """Seconds per call of each function, called in turn (a, b, a, b, …) with the round's
    number, so that each compares with its baseline on the same question, under the same
    load and with the same things in the CPU's caches. Timed one block after the other, a
    baseline asked 100 times in a row keeps the embedding model's weights hot in the cache,
    which no request of a running service finds, and drift on a shared machine lands on one
    side only."""
    for number in range(warmup):
        for function in functions.values():
            function(number)
    samples = {name: [] for name in functions}
    for number in range(repeat):
        for name, function in functions.items():
            started = time.perf_counter()
            function(number)
            samples[name].append(time.perf_counter() - started)
    return samples


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary_ms(samples) -> dict:
    return {"p50_ms": round(statistics.median(samples) * 1000, 3),
            "p99_ms": round(percentile(samples, 99) * 1000, 3), "n": len(samples)}


def save(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))


def print_table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  " + "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
