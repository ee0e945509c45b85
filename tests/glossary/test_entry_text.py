"""Entries speak to the reader about the subject, never about how the glossary was written.

A reader has never seen the private documents the glossary was drafted from, so no entry may
cite them, quote them or correct them by name ("seed 001", "the handwritten notes",
"Corrections to claims in the source material"). Sources are public originals with a link.
"""

import re
from pathlib import Path

import pytest

from glossary import fixtures

ROOT = Path(__file__).resolve().parents[2]
FILES = fixtures.read_directory(ROOT / "fixtures" / "glossary")

# Talk of the glossary's own making. Each pattern names a way the drafts referred to their
# private sources; the random-seed sense of "seed" ("fix the seed", "--seed 42") stays legal.
SELF_TALK = re.compile(
    r"""
      (?<![-\w])seed\s*0\d\d\b                                  # "seed 000", "seed 004"
    | \bseed(?:'s)?\s+(?:notes?|material|documents?|glossar\w*|hand\s*notes|texts?|sources?|files?|list|wiki)\b
    | \bseed's\s+(?:learning|model-name|qlora|remark|description|example)\b
    | \b(?:hand-?written|hand|learning|study|personal|source|fine-tuning)\s+notes\b
    | \b(?:the|these|those|our|my)\s+notes\b
    | \bsource\s+(?:material|documents?|texts?)\b
    | \bcorrect(?:ion|ions|ing)\s+(?:to|the)\b                 # "Corrections to claims in ..."
    | \ba\s+correction:
    | \bran2323\b
    | \bLLM_Wiki(?:'s)?\s+(?:README|seed|note|remark)
    | \bkalomaze's\s+(?:glossary|gist)\b
    | \bthe\s+(?:explainer|GGUF\s+post)\b
    | \bauthor\s+not\s+named\b
    | \bthis\s+(?:site|glossary)'s\s+(?:seed|source)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def talk_of_its_own_making(text: str) -> list[str]:
    return [match.group(0) for match in SELF_TALK.finditer(text)]


def displayed_text(entry_file) -> dict[str, str]:
    """Everything a reader sees of an entry, field by field."""
    return {
        "term": entry_file.term,
        "aliases": "\n".join(entry_file.aliases),
        "summary": entry_file.summary,
        "body": entry_file.body,
        "sources": "\n".join(f"{s['title']} {s.get('url', '')}" for s in entry_file.sources),
    }


@pytest.mark.parametrize("text", [
    "AI-related learning notes (seed 000: 'MoE Structure (A4B, Active 4B)')",
    "GGUF (ran2323's blog, seed 001: outliers and the threshold of 6)",
    "Corrections to claims in the source material:",
    "A correction to the handwritten notes: they place LoRA under PTQ.",
    "The seed notes describe the tiling correctly.",
    "The LLM_Wiki README lists BLEU among the metrics to document.",
    "Kalomaze's glossary (February 2024) said so.",
    "as in the seed's model-name example",
    "(personal notes; author not named)",
    "the author of one of this site's seed glossaries",
])
def test_the_check_recognises_talk_of_the_glossarys_making(text):
    assert talk_of_its_own_making(text)


@pytest.mark.parametrize("text", [
    "Fix the seed and the output repeats: `--seed 42`.",
    "Outputs at a fixed [[Seed|seed]] can differ with batching.",
    "It rounds every weight to the closest level, with no data and no error correction.",
    "Qwen3 breaks the pattern: the\npost-trained model has no suffix.",
    "Min-p was proposed by the developer kalomaze in 2023.",
    "Check the release notes of your llama.cpp build.",
])
def test_the_check_leaves_ordinary_prose_alone(text):
    assert talk_of_its_own_making(text) == []


def test_no_entry_talks_about_how_it_was_written():
    offenders = {
        f"{entry_file.slug} ({field})": found
        for entry_file in FILES
        for field, text in displayed_text(entry_file).items()
        if (found := talk_of_its_own_making(text))
    }
    assert offenders == {}


def test_every_source_is_a_public_original_with_a_link():
    unlinked = [(entry_file.slug, source["title"]) for entry_file in FILES
                for source in entry_file.sources
                if not re.match(r"https?://\S+$", source.get("url", ""))]
    assert unlinked == []


def test_search_aliases_are_not_also_displayed():
    from glossary.links import lookup_key

    doubled = [(f.slug, alias) for f in FILES for alias in f.search_aliases
               if lookup_key(alias) in {lookup_key(name) for name in [f.term, *f.aliases]}]
    assert doubled == []
