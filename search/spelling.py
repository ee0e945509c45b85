"""Typo correction for queries, guarded by an English word list. No Django imports.

A word is corrected only when it is neither a word of the glossary nor an English word
(pyspellchecker's frequency list): unguarded, a corrector "fixes" ordinary words into
glossary terms. A correction is the glossary word closest in edit distance (adjacent
transpositions count as one edit), the more frequent one on a tie.

Candidates are found the SymSpell way (Wolf Garbe, 2012, github.com/wolfgarbe/SymSpell):
every glossary word is stored under each string it becomes with up to two letters deleted,
and a query word looks up its own deletions; only those few candidates are compared in full.
pyspellchecker itself finds candidates by generating every string within two edits, which
takes a tenth of a second for a long word; that is too slow for a search box.
"""

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

# Words shorter than this are left alone: too many real words lie one edit apart.
MIN_LENGTH = 4
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._\-+][A-Za-z0-9]+)*")


def max_edits(word: str) -> int:
    return 1 if len(word) <= 5 else 2


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _deletions(word: str, edits: int) -> set[str]:
    out = {word}
    for n in range(1, min(edits, len(word) - 1) + 1):
        for positions in combinations(range(len(word)), n):
            out.add("".join(c for i, c in enumerate(word) if i not in positions))
    return out


@lru_cache(maxsize=1)
def english_words() -> frozenset:
    from spellchecker import SpellChecker

    return frozenset(SpellChecker().word_frequency.dictionary)


@dataclass
class Correction:
    text: str  # the query with its corrected words
    changed: bool


class Speller:
    def __init__(self, texts, english: frozenset | None = None):
        self.counts = Counter(word.casefold() for text in texts for word in TOKEN.findall(text))
        self.english = english_words() if english is None else english
        self.index: dict[str, list[str]] = {}
        for word in self.counts:
            if len(word) >= MIN_LENGTH:
                for deleted in _deletions(word, max_edits(word)):
                    self.index.setdefault(deleted, []).append(word)

    def known(self, word: str) -> bool:
        word = word.casefold()
        parts = re.split(r"[._\-+]", word)
        return (word in self.counts or word in self.english
                or all(p in self.counts or p in self.english or p.isdigit() for p in parts))

    def suggest(self, word: str) -> str | None:
        """The glossary word `word` is most likely a typo of, or None."""
        lowered = word.casefold()
        if len(lowered) < MIN_LENGTH or self.known(lowered):
            return None
        limit = max_edits(lowered)
        candidates = {c for d in _deletions(lowered, limit) for c in self.index.get(d, ())}
        scored = [(edit_distance(lowered, c), -self.counts[c], c) for c in candidates]
        scored = [s for s in scored if s[0] <= min(limit, max_edits(s[2]))]
        return min(scored)[2] if scored else None

    def correct(self, text: str) -> Correction:
        changed = False

        def replace(match):
            nonlocal changed
            suggestion = self.suggest(match.group(0))
            if suggestion is None:
                return match.group(0)
            changed = True
            return suggestion

        corrected = TOKEN.sub(replace, text)
        return Correction(corrected, changed)
