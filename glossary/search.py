"""Glossary search: PostgreSQL full text, pgvector similarity, and their fusion.

- keyword:  the weighted `search_vector` (term/aliases A, summary B, body C) against a
            websearch-syntax query, ranked by ts_rank; when it finds nothing, trigram word
            similarity on terms catches typos ("lamma.cpp", "quantisation").
- semantic: the query embedded with the same model as the passages, nearest passages by
            cosine distance through the HNSW index, best passage per entry.
- hybrid:   reciprocal rank fusion of the two lists (Cormack et al., SIGIR 2009, k = 60).
An entry whose term or alias equals the query always comes first, in every mode.
"""

import html
import time
from dataclasses import asdict, dataclass

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramWordSimilarity
from django.db.models import F
from pgvector.django import CosineDistance

from glossary.embeddings import EmbeddingUnavailable
from glossary.models import Chunk, Entry

MODES = ("hybrid", "semantic", "keyword")
MAX_QUERY_LENGTH = 300
RRF_K = 60
# Typos matter in names ("lamma.cpp", "quantisation"), not in questions: the trigram
# fallback runs only for short queries. Its threshold, pg_trgm.word_similarity_threshold,
# is 0.3 in every session (config/database.py), and GIN trigram indexes serve it.
TYPO_FALLBACK_MAX_WORDS = 3
# Markers that cannot occur in entry text, replaced by <mark> after HTML-escaping.
HIGHLIGHT_START, HIGHLIGHT_STOP = "\u2e3a\u2e3b", "\u2e3b\u2e3a"


@dataclass
class Result:
    type: str
    slug: str | None
    id: int | None
    title: str
    snippet: str
    score: float
    url: str
    category: str = ""


def highlight(raw: str | None, fallback: str) -> str:
    text = raw if raw and HIGHLIGHT_START in raw else fallback
    escaped = html.escape(text)
    return escaped.replace(html.escape(HIGHLIGHT_START), "<mark>").replace(html.escape(HIGHLIGHT_STOP), "</mark>")


def websearch_query(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config="english")


class AnyWordQuery(SearchQuery):
    """The websearch query with its ANDs turned into ORs.

    A question in plain words ("my model doesn't fit on my 24 GB card") rarely has every
    word in one entry; ranking entries by how many of the words they hold works better.
    websearch_to_tsquery never fails on user input, and its output stays a valid tsquery
    when & becomes |.
    """

    def __init__(self, text):
        super().__init__(text, search_type="websearch", config="english")

    def as_sql(self, compiler, connection, function=None, template=None):
        sql, params = super().as_sql(compiler, connection, function, template)
        return f"to_tsquery('english'::regconfig, replace(({sql})::text, ' & ', ' | '))", params


def keyword_ranking(text: str, limit: int) -> list[int]:
    ids = []
    for query in (websearch_query(text), AnyWordQuery(text)):
        ids += [
            entry_id for entry_id in
            Entry.objects.filter(search_vector=query).exclude(id__in=ids)
            .annotate(rank=SearchRank(F("search_vector"), query, normalization=1))
            .order_by("-rank", "term")
            .values_list("id", flat=True)[: limit - len(ids)]
        ]
        if len(ids) >= limit:
            break
    if ids:
        return ids
    return typo_matches(Entry.objects.all(), "term", text, limit)


def typo_matches(queryset, field: str, text: str, limit: int) -> list[int]:
    """Ids whose `field` holds a word close to `text` (pg_trgm word similarity), best first."""
    if len(text.split()) > TYPO_FALLBACK_MAX_WORDS:
        return []
    return list(
        queryset.filter(**{f"{field}__trigram_word_similar": text})
        .annotate(similarity=TrigramWordSimilarity(text, field))
        .order_by("-similarity", field, "id")
        .values_list("id", flat=True)[:limit]
    )


def semantic_ranking(text: str, limit: int) -> list[int]:
    from glossary.embeddings import embed_query

    vector = embed_query(text)
    # Several passages may belong to one entry; fetch enough to fill `limit` entries.
    passages = (
        Chunk.objects.annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values_list("entry_id", flat=True)[: limit * 4]
    )
    ranking: list[int] = []
    for entry_id in passages:
        if entry_id not in ranking:
            ranking.append(entry_id)
    return ranking[:limit]


def fuse(rankings: list[list[int]]) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for position, entry_id in enumerate(ranking, start=1):
            scores[entry_id] = scores.get(entry_id, 0.0) + 1.0 / (RRF_K + position)
    return scores


def fused_scores(mode: str, keyword, semantic) -> dict[int, float]:
    """RRF over the rankings the mode asks for; `keyword`/`semantic` are callables.

    Without the embedding model, hybrid falls back to keywords alone and semantic mode
    raises EmbeddingUnavailable for the caller to report.
    """
    rankings = []
    if mode in ("hybrid", "keyword"):
        rankings.append(keyword())
    if mode in ("hybrid", "semantic"):
        try:
            rankings.append(semantic())
        except EmbeddingUnavailable:
            if mode == "semantic":
                raise
    return fuse(rankings)


def search(text: str, mode: str = "hybrid", limit: int = 10, user=None) -> tuple[list[Result], float]:
    """Entries, and the team notes `user` may read, for `text`: (results, took_ms).

    `text` must already be validated (non-empty, not too long). Entries and notes are
    ranked on the same RRF scale and merged; an exact term or alias match comes first.
    """
    started = time.perf_counter()
    depth = max(limit * 3, 30)
    scores = fused_scores(mode, lambda: keyword_ranking(text, depth),
                          lambda: semantic_ranking(text, depth))
    for entry_id in Entry.objects.matching(text).values_list("id", flat=True):
        scores[entry_id] = 1.0 + scores.get(entry_id, 0.0)  # above any fused score (< 1)
    note_scores = {}
    if user is not None:
        from notes import search as note_search  # notes build on the glossary, not the reverse

        note_scores = fused_scores(mode, lambda: note_search.keyword_ranking(text, user, depth),
                                   lambda: note_search.semantic_ranking(text, user, depth))
    ranked = sorted([(score, "entry", i) for i, score in scores.items()]
                    + [(score, "note", i) for i, score in note_scores.items()],
                    key=lambda item: -item[0])[:limit]

    entry_ids = [i for _, kind, i in ranked if kind == "entry"]
    rows = {("entry", r.id): r for r in entry_results(entry_ids, text, scores)}
    if user is not None:
        note_ids = [i for _, kind, i in ranked if kind == "note"]
        rows.update({("note", r.id): r for r in note_search.note_results(note_ids, text, user, note_scores)})
    results = [rows[(kind, i)] for _, kind, i in ranked if (kind, i) in rows]
    return results, (time.perf_counter() - started) * 1000


def entry_results(ids: list[int], text: str, scores: dict[int, float]) -> list[Result]:
    """Result rows for these entry ids, in order, with highlighted snippets."""
    entries = Entry.objects.filter(id__in=ids).select_related("category").annotate(
        headline=SearchHeadline(
            "body", websearch_query(text), config="english", start_sel=HIGHLIGHT_START,
            stop_sel=HIGHLIGHT_STOP, max_words=28, min_words=12, max_fragments=1,
        )
    )
    by_id = {entry.id: entry for entry in entries}
    return [
        Result(type="entry", slug=by_id[i].slug, id=i, title=by_id[i].term,
               snippet=highlight(by_id[i].headline, by_id[i].summary),
               score=round(scores[i], 6), url=by_id[i].get_absolute_url(),
               category=by_id[i].category.name)
        for i in ids if i in by_id
    ]


def as_dicts(results: list[Result]) -> list[dict]:
    out = []
    for result in results:
        item = asdict(result)
        item.pop("id" if result.type == "entry" else "slug")
        out.append(item)
    return out
