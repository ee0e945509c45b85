"""Search quality on questions people type: recall@1, recall@5 and MRR per set and per mode.

    .venv/bin/python bench/bench_search_quality.py [--modes hybrid keyword semantic]

The questions are tests/search/eval/dev.yaml (the set to tune on) and holdout.yaml (never
read while tuning). Each question lists the pages that count as a right answer, glossary
entries and tools alike, as URL paths. Every question goes through the public search API
(GET /api/v1/search/) with Django's test client, and a result counts by its `url` alone, so
the figures stay comparable whatever the ranking does inside.

Questions whose answers include a tool (a calculator or live demo) are also scored on the
tools alone: "tool@5" is the share of them with a tool page in the first 5 results.

Per-question ranks are printed and saved for the dev set only: the holdout set shows
aggregates (overall and per kind of question), so that tuning cannot look at its questions.

Runs in a scratch database with the real glossary loaded and embedded, so it never touches
your data. MRR is over the first 10 results (a question answered lower down scores 0).
"""

import argparse
import io
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from common import django_setup, print_table, save, scratch_database

EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "search" / "eval"
SETS = ("dev", "holdout")
MODES = ("hybrid", "keyword", "semantic")
LIMIT = 10
TOOL_PREFIXES = ("/calculators/", "/live/")


def load_questions(name: str) -> list[dict]:
    return yaml.safe_load((EVAL_DIR / f"{name}.yaml").read_text())["questions"]


def page_path(url: str) -> str:
    """The page a result leads to: '/calculators/memory/?model=x#kv' -> '/calculators/memory/'."""
    path = urlsplit(url).path or "/"
    return path if path.endswith("/") else path + "/"


def first_hit(result_urls: list[str], answers: list[str]) -> int | None:
    """1-based position of the first result that is one of the answers, None if none is."""
    wanted = {page_path(answer) for answer in answers}
    for position, url in enumerate(result_urls, start=1):
        if page_path(url) in wanted:
            return position
    return None


def scores(ranks: list[int | None]) -> dict:
    """recall@1, recall@5 and MRR (a miss counts 0) over one rank per question."""
    n = len(ranks)
    return {
        "n": n,
        "recall@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "recall@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r is not None) / n, 3),
    }


def tool_answers(question: dict) -> list[str]:
    return [answer for answer in question["answers"] if answer.startswith(TOOL_PREFIXES)]


def tool_recall_at_5(questions: list[dict], urls_per_question: list[list[str]]) -> dict:
    """Among questions with a tool answer, the share with one of those tools in the first 5."""
    ranks = [first_hit(urls, tool_answers(q)) for q, urls in zip(questions, urls_per_question) if tool_answers(q)]
    return {"n": len(ranks), "recall@5": scores(ranks)["recall@5"]}


def by_kind(questions: list[dict], ranks: list[int | None]) -> dict:
    kinds = sorted({q["kind"] for q in questions})
    return {kind: scores([r for q, r in zip(questions, ranks) if q["kind"] == kind]) for kind in kinds}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args(argv)
    django_setup()

    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in
    from django.test import Client

    questions = {name: load_questions(name) for name in SETS}
    result = {"limit": LIMIT, "sets": {}}
    with scratch_database():
        call_command("load_glossary", verbosity=0, stdout=io.StringIO())
        call_command("reindex", verbosity=0, stdout=io.StringIO())
        client = Client()

        def result_urls(query, mode):
            response = client.get("/api/v1/search/", {"q": query, "mode": mode, "limit": LIMIT})
            assert response.status_code == 200, (query, mode, response.status_code, response.content[:300])
            body = response.json()
            results = body["results"] if isinstance(body, dict) else body
            return [item["url"] for item in results]

        for name in SETS:
            result["sets"][name] = {}
            for mode in args.modes:
                urls = [result_urls(q["q"], mode) for q in questions[name]]
                ranks = [first_hit(u, q["answers"]) for q, u in zip(questions[name], urls)]
                entry = {**scores(ranks), "tool@5": tool_recall_at_5(questions[name], urls),
                         "by_kind": by_kind(questions[name], ranks)}
                if name == "dev":
                    entry["ranks"] = {q["q"]: r for q, r in zip(questions[name], ranks)}
                result["sets"][name][mode] = entry

    rows = [("set", "mode", "n", "recall@1", "recall@5", "MRR", "tool@5")]
    for name in SETS:
        for mode in args.modes:
            s = result["sets"][name][mode]
            rows.append((name, mode, s["n"], f'{s["recall@1"]:.3f}', f'{s["recall@5"]:.3f}', f'{s["mrr"]:.3f}',
                         f'{s["tool@5"]["recall@5"]:.2f} (n={s["tool@5"]["n"]})'))
    print_table(f"Search quality (MRR over the first {LIMIT} results)", rows)

    for name in SETS:
        rows = [("kind", "n", *(f"{mode} r@5 / MRR" for mode in args.modes))]
        kinds = result["sets"][name][args.modes[0]]["by_kind"]
        for kind in kinds:
            cells = [f'{result["sets"][name][m]["by_kind"][kind]["recall@5"]:.2f} / '
                     f'{result["sets"][name][m]["by_kind"][kind]["mrr"]:.2f}' for m in args.modes]
            rows.append((kind, kinds[kind]["n"], *cells))
        print_table(f"{name} set by kind of question", rows)

    mode = args.modes[0]
    misses = [(q, r) for q, r in result["sets"]["dev"][mode]["ranks"].items() if r is None or r > 5]
    print(f"\ndev questions not answered in the first 5 ({mode}): {len(misses)}")
    for query, rank in misses:
        print(f"  {'-' if rank is None else rank:>2}  {query}")
    save("search_quality", result)


if __name__ == "__main__":
    main()
