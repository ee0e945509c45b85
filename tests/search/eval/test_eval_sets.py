"""The search evaluation sets are well-formed, and the benchmark scores ranks correctly.

The questions themselves are scored by bench/bench_search_quality.py; these tests only check
that every listed answer is a real page, that dev and holdout stay apart and both cover
every kind of question, and that the scoring arithmetic is right.
"""

import sys
from pathlib import Path

import pytest
import yaml
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import bench_search_quality as quality  # noqa: E402

KINDS = {"symptom", "howto", "comparison", "description", "misspelling", "short", "non-native", "tool"}


def load(name):
    return yaml.safe_load((ROOT / "tests/search/eval" / f"{name}.yaml").read_text())["questions"]


SETS = {name: load(name) for name in ("dev", "holdout")}
ALL = [q for questions in SETS.values() for q in questions]


def test_each_question_is_well_formed():
    for question in ALL:
        assert set(question) == {"q", "kind", "answers"}, question
        assert 0 < len(question["q"].strip()) <= 300, question  # the API's limit on q
        assert question["kind"] in KINDS, question
        assert question["answers"] and len(set(question["answers"])) == len(question["answers"]), question


def test_every_answer_is_a_real_page():
    slugs = {path.stem for path in (ROOT / "fixtures/glossary").glob("*.md")}
    for question in ALL:
        for answer in question["answers"]:
            assert answer.startswith("/") and answer.endswith("/"), answer
            if answer.startswith("/glossary/"):
                assert answer.split("/")[2] in slugs, (question["q"], answer)
            else:
                try:
                    match = resolve(answer)
                except Resolver404:
                    pytest.fail(f"{answer} (for {question['q']!r}) is not a page")
                assert match.namespace in {"calculators", "live"}, answer


def test_dev_and_holdout_are_disjoint_and_both_cover_every_kind():
    texts = [q["q"].casefold() for q in ALL]
    assert len(texts) == len(set(texts)) >= 150
    for questions in SETS.values():
        assert {q["kind"] for q in questions} == KINDS
    assert 0.3 <= len(SETS["holdout"]) / len(ALL) <= 0.5


def test_page_path_ignores_host_query_and_fragment():
    assert quality.page_path("/calculators/memory/?model=llama-3-70b#kv") == "/calculators/memory/"
    assert quality.page_path("http://testserver/glossary/kv-cache/") == "/glossary/kv-cache/"
    assert quality.page_path("/glossary/kv-cache") == "/glossary/kv-cache/"


def test_first_hit_is_the_position_of_the_first_accepted_page():
    results = ["/glossary/seed/", "/calculators/sampling/?t=1", "/glossary/temperature/"]
    assert quality.first_hit(results, ["/glossary/temperature/", "/calculators/sampling/"]) == 2
    assert quality.first_hit(results, ["/glossary/min-p/"]) is None
    assert quality.first_hit([], ["/glossary/min-p/"]) is None


def test_scores():
    assert quality.scores([1, 2, None, 6]) == {"n": 4, "recall@1": 0.25, "recall@5": 0.5,
                                               "mrr": round((1 + 1 / 2 + 1 / 6) / 4, 3)}


def test_tool_recall_counts_only_questions_with_a_tool_and_only_tool_answers():
    questions = [{"q": "a", "kind": "tool", "answers": ["/calculators/memory/", "/glossary/kv-cache/"]},
                 {"q": "b", "kind": "tool", "answers": ["/live/tokenizer/"]},
                 {"q": "c", "kind": "short", "answers": ["/glossary/rope/"]}]
    urls = [["/glossary/kv-cache/", "/calculators/memory/?model=x"],  # tool at 2: a hit
            ["/glossary/token/"] * 5 + ["/live/tokenizer/"],  # tool at 6: a miss
            ["/glossary/rope/"]]
    assert quality.tool_recall_at_5(questions, urls) == {"n": 2, "recall@5": 0.5}
