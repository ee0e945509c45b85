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
# Contractions typed without their apostrophe are English too, not typos of glossary words.
CONTRACTIONS = frozenset("""arent cant couldnt didnt doesnt dont hadnt hasnt havent isnt shouldnt
    thats theres wasnt werent whats wont wouldnt youre youve ive""".split())
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._\-+][A-Za-z0-9]+)*")


def max_edits(word: str) -> int:
    return 1 if len(word) <= 5 else 2


# Typing slips are not all alike: a swapped pair of letters or a doubled letter typed once
# ("olama", "falsh") is a smaller mistake than a wrong letter, so it wins a tie.
SWAP_COST = 0.6
DOUBLE_COST = 0.5


def edit_distance(a: str, b: str) -> float:
    """Weighted optimal string alignment distance from a typed word `a` to a word `b`:
    insertions, deletions and substitutions cost 1, adjacent swaps SWAP_COST, and adding or
    dropping one letter of a double letter DOUBLE_COST."""
    previous2, previous = None, [float(j) for j in range(len(b) + 1)]
    for j in range(1, len(b) + 1):
        if j > 1 and b[j - 1] == b[j - 2]:
            previous[j] = previous[j - 1] + DOUBLE_COST
    for i in range(1, len(a) + 1):
        delete = DOUBLE_COST if i > 1 and a[i - 1] == a[i - 2] else 1.0
        current = [previous[0] + delete] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            insert = DOUBLE_COST if j > 1 and b[j - 1] == b[j - 2] else 1.0
            delete = DOUBLE_COST if i > 1 and a[i - 1] == a[i - 2] else 1.0
            current[j] = min(previous[j] + delete, current[j - 1] + insert,
                             previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1] and a[i - 1] != a[i - 2]:
                current[j] = min(current[j], previous2[j - 2] + SWAP_COST)
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
    """`names` are the glossary's terms and aliases: a word of a name wins a tie."""

    def __init__(self, texts, names=(), english: frozenset | None = None):
        self.counts = Counter(word.casefold() for text in [*texts, *names] for word in TOKEN.findall(text))
        self.name_words = {word.casefold() for name in names for word in TOKEN.findall(name)}
        self.english = english_words() if english is None else english
        self.index: dict[str, list[str]] = {}
        for word in self.counts:
            if len(word) >= MIN_LENGTH:
                for deleted in _deletions(word, max_edits(word)):
                    self.index.setdefault(deleted, []).append(word)

    def known(self, word: str) -> bool:
        word = word.casefold()
        parts = re.split(r"[._\-+]", word)
        return (word in self.counts or word in self.english or word in CONTRACTIONS
                or all(p in self.counts or p in self.english or p.isdigit() for p in parts))

    def recognises_any(self, text: str) -> bool:
        """Whether `text` holds at least one English or glossary word (else it is noise)."""
        return any(self.known(word) for word in TOKEN.findall(text))

    def suggest(self, word: str) -> str | None:
        """The glossary word `word` is most likely a typo of, or None."""
        lowered = word.casefold()
        if len(lowered) < MIN_LENGTH or self.known(lowered):
            return None
        if compound := self._compound(lowered):
            return compound
        limit = max_edits(lowered)
        candidates = {c for d in _deletions(lowered, limit) for c in self.index.get(d, ())}
        scored = [(edit_distance(lowered, c), c not in self.name_words, -self.counts[c], c) for c in candidates]
        scored = [s for s in scored if s[0] <= min(limit, max_edits(s[-1]))]
        return min(scored)[-1] if scored else None

    def _compound(self, word: str) -> str | None:
        """"finetune" → "fine-tune": a word written solid that the glossary hyphenates."""
        for cut in range(2, len(word) - 1):
            hyphenated = f"{word[:cut]}-{word[cut:]}"
            if hyphenated in self.counts:
                return hyphenated
        return None

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
