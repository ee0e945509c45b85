"""Snippets a person can read: whole sentences from a document's prose, query words marked.

No Django imports. The caller supplies the candidate sentences (summary first, then the
body's prose, see search.text) and `match(word)`, which says which query terms a word
stands for (the database's stemming decides that, so "repeats" matches "repeating").
"""

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from search.text import FORMULA

MAX_CHARS = 240
# A short sentence is followed by the next one from the same block, up to this length.
MIN_CHARS = 110
# Technical words keep their inner dots, hyphens and underscores: llama.cpp, min-p, Q4_K_M.
WORD = re.compile(r"\w(?:[\w'’]|[.\-+](?=\w))*")
_CLAUSE_END = re.compile(r"(?<=[,;:)])\s+|\s+(?=[(–—])")


@dataclass(frozen=True)
class Candidate:
    text: str
    block: int  # sentences of one block may be joined
    bonus: float = 0.0  # the summary reads best out of context

    @property
    def words(self) -> tuple[str, ...]:
        return words(self.text)


@lru_cache(maxsize=65536)  # the same sentences come back with every search that shows them
def words(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text))


Matcher = Callable[[str], frozenset]


def snippet(candidates: Iterable[Candidate], match: Matcher, max_chars: int = MAX_CHARS,
            matched_in: Callable[[Candidate], frozenset] | None = None) -> str:
    """HTML: the best passage of whole sentences (or clauses), with <mark> around matches.

    `matched_in(candidate)`, when given, says which query terms a whole sentence matches
    (what `match` says of its words, together): a caller that knows it already spares
    asking `match` about every word of every sentence.
    """
    candidates = [c for c in candidates if c.text.strip()]
    if not candidates:
        return ""
    matched_in = matched_in or (lambda candidate: terms_matched(candidate, match))
    scored = [(_score(c, matched_in(c)), -i, i) for i, c in enumerate(candidates)]
    best = max(scored)[2]
    chosen = candidates[best].text
    following = best + 1
    while (len(chosen) < MIN_CHARS and following < len(candidates)
           and candidates[following].block == candidates[best].block
           and len(chosen) + len(candidates[following].text) < max_chars):
        chosen += " " + candidates[following].text
        following += 1
    return mark(_fit(chosen, match, max_chars), match)


def terms_matched(candidate: Candidate, match: Matcher) -> frozenset:
    matched = set()
    for word in candidate.words:
        if found := match(word):
            matched |= found
    return frozenset(matched)


def _score(candidate: Candidate, matched: frozenset) -> float:
    score = len(matched) + candidate.bonus
    if FORMULA in candidate.text:
        score -= 0.75  # a sentence with a gap where a formula was reads badly
    if len(candidate.text) < 25:
        score -= 0.5  # a heading or a fragment
    return score


def _fit(text: str, match: Matcher, max_chars: int) -> str:
    """Whole clauses around the matches when the sentence is too long, with … at each cut."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    clauses = _CLAUSE_END.split(text)
    hits = [sum(1 for w in WORD.findall(c) if match(w)) for c in clauses]
    best, best_hits = (0, 1), -1
    for start in range(len(clauses)):
        length, end = 0, start
        while end < len(clauses) and length + len(clauses[end]) + 1 <= max_chars - 2:
            length += len(clauses[end]) + 1
            end += 1
        if end == start:
            continue
        window_hits = sum(hits[start:end])
        if window_hits > best_hits:
            best, best_hits = (start, end), window_hits
    start, end = best
    if best_hits < 0:  # not even one clause fits: cut at a word
        words, kept = text.split(), []
        first_hit = next((i for i, w in enumerate(words) if match(w.strip(".,;:()"))), 0)
        for word in words[max(0, first_hit - 8):]:
            if sum(len(w) + 1 for w in kept) + len(word) > max_chars - 2:
                break
            kept.append(word)
        prefix = "… " if first_hit > 8 else ""
        return prefix + " ".join(kept) + " …"
    piece = " ".join(clauses[start:end])
    return ("… " if start > 0 else "") + piece + (" …" if end < len(clauses) else "")


def mark(text: str, match: Matcher) -> str:
    """HTML-escape `text`, wrapping each word that matches a query term in <mark>."""
    out, position = [], 0
    for found in WORD.finditer(text):
        if match(found.group(0)):
            out.append(html.escape(text[position:found.start()]))
            out.append(f"<mark>{html.escape(found.group(0))}</mark>")
            position = found.end()
    out.append(html.escape(text[position:]))
    return "".join(out)
