"""Search at scale: 10,000 and 100,000 synthetic team notes.

    .venv/bin/python bench/bench_search_scale.py [--sizes 10000 100000] [--queries 50]
                                                 [--questions older|dev|holdout]

Reports, per size and in the same run: hybrid search latency p50/p99 (entries, tools and
notes, as a signed-in member sees them), the cost of the query embedding alone, a bare
embed + one pgvector HNSW query as the baseline, and HNSW recall@10 against exact search
over all passages.

The notes are synthetic: text stitched from glossary summaries, one passage each, whose
vector is a real glossary passage's vector plus noise (so the vectors cluster the way real
text does; encoding 100,000 texts would take most of an hour on 2 cores). Their documents
and keyword postings are written the way the site writes them (search.indexing).
"""

import argparse
import random
import time

import numpy as np

from common import (QUESTION_SETS, django_setup, embed_and_nearest, forget_query, print_table, question_set, save,
                    scratch_database, summary_ms, time_alternately)


def insert_notes(count, start, entries, vectors, users, rng):
    from notes.models import Note
    from search.indexing import note_fields, write_postings
    from search.models import Document, Passage
    from search.text import word_count

    batch_size = 5000
    for offset in range(0, count, batch_size):
        size = min(batch_size, count - offset)
        notes = []
        for i in range(start + offset, start + offset + size):
            entry = entries[rng.randrange(len(entries))]
            other = entries[rng.randrange(len(entries))]
            visibility = rng.choices(["team", "public", "private"], weights=[7, 2, 1])[0]
            notes.append(Note(
                title=f"Note {i}: {entry.term} on our machines",
                body=f"{entry.summary} {other.summary} Measured {rng.randint(5, 120)} tokens/s.",
                visibility=visibility, entry=entry if rng.random() < 0.5 else None,
                author=users[0] if visibility != "private" else users[1], revision=1))
        notes = Note.objects.bulk_create(notes)  # no post_save: documents are written below
        documents = []
        for note in notes:
            fields = note_fields(note)
            documents.append(Document(note=note, **fields,
                                      names_words=word_count(" ".join([fields["title"], *fields["aliases"]])),
                                      summary_words=0, text_words=word_count(fields["text"])))
        documents = Document.objects.bulk_create(documents)
        write_postings([d.id for d in documents])
        noise = np.random.default_rng(start + offset).normal(0, 0.06, (size, vectors.shape[1]))
        picked = vectors[np.random.default_rng(offset).integers(0, len(vectors), size)] + noise
        picked /= np.linalg.norm(picked, axis=1, keepdims=True)
        Passage.objects.bulk_create(
            Passage(document=document, position=0, text=document.title, text_hash="synthetic", embedding=vector)
            for document, vector in zip(documents, picked))


def drop_index():
    """Without the HNSW index while notes are inserted: adding tens of thousands of passages
    to the graph one at a time took most of an hour on 2 cores, building it once afterwards
    (build_index) takes minutes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("drop index if exists passage_embedding_hnsw")


def build_index():
    """The HNSW index built over every passage, as a fresh deployment would have it."""
    from django.db import connection

    from search.models import Passage

    index = next(i for i in Passage._meta.indexes if i.name == "passage_embedding_hnsw")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("set maintenance_work_mem = '1GB'")
        cursor.execute(f"create index passage_embedding_hnsw on search_passage using hnsw "
                       f"(embedding vector_cosine_ops) with (m = {index.m}, ef_construction = {index.ef_construction})")
    build_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        # What autovacuum does on a running server within a minute of a bulk insert; here at
        # once, so that whether the keyword walk is index-only does not depend on its timing.
        cursor.execute("vacuum analyze")
    return build_seconds


def nearest(cursor, vector, exact):
    cursor.execute("begin")
    if exact:
        cursor.execute("set local enable_indexscan = off")
    cursor.execute("select id from search_passage order by embedding <=> %s::vector limit 10",
                   [str(list(map(float, vector)))])
    ids = [row[0] for row in cursor.fetchall()]
    cursor.execute("commit")
    return ids


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--questions", choices=QUESTION_SETS, default="older",
                        help="the question set search is timed on (bench/common.py)")
    args = parser.parse_args(argv)
    django_setup()

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from glossary.models import Entry
    from search.embeddings import encode
    from search.engine import search
    from search.models import Passage

    questions = question_set(args.questions)[: args.queries]
    rng = random.Random(7)
    rows, result = [("notes", "search p50/p99 ms", "embed only p50 ms", "embed+HNSW p50 ms",
                     "ratio p50", "HNSW recall@10", "passages", "index build s")], {}
    with scratch_database():
        call_command("load_glossary", verbosity=0)
        call_command("reindex", verbosity=0)
        entries = list(Entry.objects.all())
        vectors = np.array([p.embedding for p in Passage.objects.filter(document__kind="entry")], dtype=np.float32)
        reader = User.objects.create_user("bench-reader", password="bench-password-1")
        other = User.objects.create_user("bench-other", password="bench-password-1")
        query_vectors = encode(questions)
        inserted = 0
        for size in sorted(args.sizes):
            drop_index()
            insert_notes(size - inserted, inserted, entries, vectors, [reader, other], rng)
            inserted = size
            build_seconds = build_index()

            def one_search(number):
                forget_query()  # every search pays for its query embedding, as the baseline does
                search(questions[number % len(questions)], "hybrid", 10, user=reader)

            def bare(number):
                embed_and_nearest(questions[number % len(questions)])

            timed = time_alternately({"search": one_search, "bare": bare,
                                      "embed": lambda number: encode([questions[number % len(questions)]])},
                                     len(questions) * 2)
            searches, baseline, embed_only = timed["search"], timed["bare"], timed["embed"]
            with connection.cursor() as cursor:
                recalls = [len(set(nearest(cursor, v, False)) & set(nearest(cursor, v, True))) / 10
                           for v in query_vectors]
            passages = Passage.objects.count()
            entry = {"search": summary_ms(searches), "embed_only": summary_ms(embed_only),
                     "embed_plus_hnsw": summary_ms(baseline), "passages": passages,
                     "hnsw_recall_at_10": round(float(np.mean(recalls)), 4),
                     "index_build_s": round(build_seconds, 1)}
            entry["ratio_p50"] = round(entry["search"]["p50_ms"] / entry["embed_plus_hnsw"]["p50_ms"], 2)
            result[str(size)] = entry
            rows.append((f"{size:,}", f"{entry['search']['p50_ms']:.1f} / {entry['search']['p99_ms']:.1f}",
                         entry["embed_only"]["p50_ms"], entry["embed_plus_hnsw"]["p50_ms"],
                         entry["ratio_p50"], entry["hnsw_recall_at_10"], f"{passages:,}", entry["index_build_s"]))
            print(f"  {size:,} notes done", flush=True)
    print_table("Search with synthetic team notes", rows)
    save("search_scale" if args.questions == "older" else f"search_scale_{args.questions}", result)
    return result


if __name__ == "__main__":
    main()
