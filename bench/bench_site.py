"""Site benchmarks, each a ratio against a baseline measured in the same run.

    .venv/bin/python bench/bench_site.py [--repeat 200] [--questions older|dev|holdout]

* entry page render vs a static page (the calculators hub: same layout, no database work);
* search (hybrid, through the API view) vs the bare work it cannot avoid: embedding the
  query plus one pgvector nearest-neighbour query;
* reindex throughput (passages/s through embed_passages: chunking, hashing, encoding, writing)
  vs raw SentenceTransformer.encode of the same passages;
* header suggestions (GET /api/v1/search/suggestions/ per typed prefix) vs the static page.

Runs in a scratch database with the real glossary loaded, so it never touches your data.
"""

import argparse
import time

from common import (QUESTION_SETS, django_setup, embed_and_nearest, forget_query, print_table, question_set, save,
                    scratch_database, summary_ms, time_alternately, time_calls)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--questions", choices=QUESTION_SETS, default="older",
                        help="the question set search is timed on (bench/common.py)")
    args = parser.parse_args(argv)
    django_setup()

    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in
    from django.test import Client

    from search.embeddings import encode, get_model
    from search.indexing import embed_passages, passages_of
    from search.models import Document, Passage

    result = {}
    with scratch_database():
        call_command("load_glossary", verbosity=0)
        documents = list(Document.objects.all())
        texts = [t for d in documents for t in passages_of(d)]
        get_model()
        encode(texts[:128])  # warm-up: the first batches pay for lazy initialisation

        # Reindex: the real path (chunk, hash, encode, write) between two baseline runs.
        started = time.perf_counter()
        encode(texts)
        raw_seconds = time.perf_counter() - started
        started = time.perf_counter()
        embed_passages(documents)
        sync_seconds = time.perf_counter() - started
        started = time.perf_counter()
        encode(texts)
        raw_seconds = min(raw_seconds, time.perf_counter() - started)
        result["reindex"] = {
            "passages": len(texts),
            "raw_encode_per_s": round(len(texts) / raw_seconds, 1),
            "reindex_per_s": round(len(texts) / sync_seconds, 1),
            "ratio": round(raw_seconds / sync_seconds, 3),
        }

        client = Client()

        def get(url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        # The baseline is a page with the same layout and no database work: the calculators
        # hub (a template render through every middleware).
        pages = time_alternately({"entry": lambda number: get("/glossary/kv-cache/"),
                                  "static": lambda number: get("/calculators/")}, args.repeat)
        page, static = summary_ms(pages["entry"]), summary_ms(pages["static"])
        result["entry_page"] = {"entry": page, "static": static,
                                "ratio_p50": round(page["p50_ms"] / static["p50_ms"], 2)}

        questions = question_set(args.questions)

        def api_search(number):
            forget_query()  # every search pays for its query embedding, as the baseline does
            response = client.get("/api/v1/search/", {"q": questions[number % len(questions)]})
            assert response.status_code == 200 and response.json()["results"]

        def bare(number):
            embed_and_nearest(questions[number % len(questions)])

        timed = time_alternately({"search": api_search, "bare": bare}, args.repeat // 2)
        search, baseline = summary_ms(timed["search"]), summary_ms(timed["bare"])
        result["search"] = {"hybrid_api": search, "embed_plus_pgvector": baseline,
                            "ratio_p50": round(search["p50_ms"] / baseline["p50_ms"], 2)}
        assert Passage.objects.count() == len(texts)

        # What people type into the header box, one keystroke at a time.
        prefixes = [word[:n] for word in ("kv cache", "llama.cpp", "quantization", "min-p", "lora rank",
                                          "gguf", "temperature", "flash attention") for n in range(1, len(word) + 1)]

        rotating = iter(range(10**9))

        def suggestions():
            response = client.get("/api/v1/search/suggestions/", {"q": prefixes[next(rotating) % len(prefixes)]})
            assert response.status_code == 200

        suggest = summary_ms(time_calls(suggestions, args.repeat))
        result["suggestions"] = {"api": suggest, "static": static,
                                 "ratio_p50": round(suggest["p50_ms"] / static["p50_ms"], 2)}

    r = result
    print_table("Site benchmarks (ratio = ours / baseline; lower is better except throughput)", [
        ("measure", "ours", "baseline", "ratio"),
        ("entry page p50 (ms) vs static page", r["entry_page"]["entry"]["p50_ms"], r["entry_page"]["static"]["p50_ms"], r["entry_page"]["ratio_p50"]),
        ("search p50 (ms) vs embed + pgvector", r["search"]["hybrid_api"]["p50_ms"], r["search"]["embed_plus_pgvector"]["p50_ms"], r["search"]["ratio_p50"]),
        ("reindex passages/s vs raw encode", r["reindex"]["reindex_per_s"], r["reindex"]["raw_encode_per_s"], r["reindex"]["ratio"]),
        ("suggestions p50 (ms) vs static page", r["suggestions"]["api"]["p50_ms"], r["suggestions"]["static"]["p50_ms"], r["suggestions"]["ratio_p50"]),
    ])
    save("site" if args.questions == "older" else f"site_{args.questions}", result)
    return result


if __name__ == "__main__":
    main()
