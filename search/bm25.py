"""BM25F, the keyword score: which words matter (IDF) and how much a document holds of them.

No Django imports; search.indexing computes the same term weight in SQL when it writes the
postings, and tests/search/test_bm25.py checks that both agree.

    score(document, query) = Σ over query lexemes t of  idf(t) · weight(t, document)
    weight(t, d) = tf~ · (K1 + 1) / (K1 + tf~)
    tf~ = Σ over fields f of  W_f · tf(t, f, d) / (1 − B_f + B_f · length(f, d) / average length(f))

(Robertson, Zaragoza and Taylor, "Simple BM25 extension to multiple weighted fields",
CIKM 2004; the IDF without negative values is Lucene's.) A word in a title counts W_names
times a word in the body; a long body dilutes its words, a long list of names barely.
"""

import math

K1 = 1.2
FIELDS = ("names", "summary", "text")
# PostgreSQL tsvector weight labels of the fields, as search.indexing writes them.
LABELS = {"names": "A", "summary": "B", "text": "C"}
FIELD_WEIGHTS = {"names": 4.0, "summary": 2.0, "text": 1.0}
LENGTH_NORMALISATION = {"names": 0.2, "summary": 0.5, "text": 0.75}


def idf(documents_with_term: int, documents: int) -> float:
    """ln(1 + (N − n + 0.5) / (n + 0.5)): rare words weigh more, and no word weighs less than 0."""
    n = min(max(documents_with_term, 0), documents)
    return math.log(1 + (documents - n + 0.5) / (n + 0.5))


def pseudo_frequency(frequencies: dict[str, int], lengths: dict[str, int],
                     averages: dict[str, float]) -> float:
    total = 0.0
    for field in FIELDS:
        tf = frequencies.get(field, 0)
        if not tf:
            continue
        b = LENGTH_NORMALISATION[field]
        ratio = lengths[field] / averages[field] if averages.get(field) else 1.0
        total += FIELD_WEIGHTS[field] * tf / (1 - b + b * ratio)
    return total


def term_weight(frequencies: dict[str, int], lengths: dict[str, int], averages: dict[str, float]) -> float:
    """weight(t, d): how much of the term the document holds, saturating at K1 + 1."""
    tf = pseudo_frequency(frequencies, lengths, averages)
    return tf * (K1 + 1) / (K1 + tf) if tf else 0.0
