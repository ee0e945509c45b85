"""Search quality on questions people ask in their own words (tests/search/questions.yaml)."""

from pathlib import Path

import pytest
import yaml

from search.engine import search

QUESTIONS = yaml.safe_load((Path(__file__).parent / "questions.yaml").read_text())


def measure(mode):
    hits, reciprocal_ranks, misses = 0, [], []
    for item in QUESTIONS:
        slugs = [r.slug for r in search(item["q"], mode=mode, limit=10).results]
        rank = next((i for i, slug in enumerate(slugs, 1) if slug in item["expect"]), None)
        reciprocal_ranks.append(1 / rank if rank else 0.0)
        if rank and rank <= 5:
            hits += 1
        else:
            misses.append((item["q"], slugs[:5]))
    return hits / len(QUESTIONS), sum(reciprocal_ranks) / len(QUESTIONS), misses


def test_the_question_set_is_big_enough_and_points_at_real_entries(glossary):
    assert len(QUESTIONS) >= 40
    known = set(glossary.values_list("slug", flat=True))
    for item in QUESTIONS:
        assert set(item["expect"]) & known, item["q"]


@pytest.mark.parametrize("mode, floor", [("hybrid", 0.9), ("semantic", 0.8), ("keyword", 0.8)])
def test_recall_at_5(glossary, mode, floor, capsys):
    recall, mrr, misses = measure(mode)
    with capsys.disabled():
        print(f"\n[search quality] mode={mode:8s} recall@5={recall:.3f} MRR={mrr:.3f} "
              f"({len(QUESTIONS)} questions)")
        for question, top in misses:
            print(f"    miss: {question!r} -> {top}")
    assert recall >= floor


@pytest.mark.parametrize("typo, slug", [("lamma.cpp", "llama-cpp"), ("quantisation", "quantization"),
                                        ("flash atention", "flash-attention")])
def test_typos_in_names_still_find_the_entry(glossary, typo, slug):
    assert search(typo, mode="keyword", limit=5).results[0].slug == slug


def test_an_exact_alias_always_ranks_first(glossary):
    for text, slug in [("nucleus sampling", "top-p"), ("q4-k-m", "q4-k-m"), ("bfloat16", "bf16")]:
        for mode in ("hybrid", "semantic", "keyword"):
            assert search(text, mode=mode, limit=5).results[0].slug == slug, (text, mode)
