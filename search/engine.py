"""Search over glossary entries, the team notes a reader may read, and the site's tools.

- keyword:  BM25F over the postings (search.bm25): each query word stem weighs by its
            inverse document frequency, read from the maintained lexeme counts; only the
            best-weighted postings of each stem are read (champion lists, search.models).
- semantic: the query embedded with the passages' model; nearest passages through the one
            HNSW index over every document's passages, best passage per document. A passage
            less similar than SEMANTIC_FLOOR is no answer on its own.
- hybrid:   reciprocal rank fusion of the two (Cormack, Clarke and Büttcher, SIGIR 2009).
An entry whose term or alias equals the query comes first in every mode. A misspelt word
is corrected first when it is neither a glossary word nor an English one (search.spelling).
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connection
from pgvector.django import CosineDistance

from glossary.links import lookup_key
from glossary.models import Entry
from search import bm25, tools
from search.embeddings import EmbeddingUnavailable, embed_query
from search.models import Document, Passage, visible_to
from search.snippets import WORD, Candidate, snippet
from search.spelling import Speller
from search.text import html_blocks, sentences

MODES = ("hybrid", "semantic", "keyword")
MAX_QUERY_LENGTH = 300
# Reciprocal rank fusion: a document's score is Σ weight / (RRF_K + its rank) over the lists.
RRF_K = 60
KEYWORD_WEIGHT = 1.0
SEMANTIC_WEIGHT = 1.0
# A tool the question gives input for ("will llama 70b fit in 48gb": the memory calculator).
TOOL_WEIGHT = 1.0
FUSION_DEPTH = 30
SEMANTIC_CUT = 0.15
# Postings read per query word stem: every document of a rare stem, the best-weighted of a
# common one (a document that holds only common query words cannot outrank these).
CHAMPIONS = 300
SEMANTIC_FLOOR = 0.3


@dataclass
class Result:
    type: str  # "entry", "note" or "tool"
    title: str
    url: str
    snippet: str  # HTML: escaped text with <mark> around query words
    category: str = ""
    slug: str | None = None  # entries and tools
    id: int | None = None  # notes

    def as_dict(self) -> dict:
        item = {"type": self.type, "title": self.title, "url": self.url, "snippet": self.snippet,
                "category": self.category}
        if self.type == "note":
            item["id"] = self.id
        else:
            item["slug"] = self.slug
        return item


@dataclass
class Answer:
    query: str
    mode: str
    results: list[Result] = field(default_factory=list)
    corrected: str = ""  # the query as searched, when a misspelling was corrected
    close_terms: list[Entry] = field(default_factory=list)  # when nothing was found
    took_ms: float = 0.0


def search(text: str, mode: str = "hybrid", limit: int = 10, user=None, correct: bool = True) -> Answer:
    """What answers `text` for `user` (None: an anonymous reader).

    `text` must already be validated (non-empty, at most MAX_QUERY_LENGTH characters).
    Raises EmbeddingUnavailable in semantic mode when the model cannot be loaded; hybrid
    mode then ranks by keywords alone.
    """
    started = time.perf_counter()
    answer = Answer(query=text, mode=mode)
    version, exact = glossary_state(text)
    searched = text
    if correct and not exact:
        correction = speller(version).correct(text)
        if correction.changed:
            searched = answer.corrected = correction.text
            exact = glossary_state(searched)[1]
    if not exact and not speller(version).recognises_any(searched):
        answer.close_terms = close_terms(searched, speller(version))  # "asdkjh qwepoi"
        answer.took_ms = (time.perf_counter() - started) * 1000
        return answer
    # The query embedding (CPU-bound, outside the GIL) runs while the keyword ranking does.
    vector = _encoder.submit(embed_query, searched) if mode in ("hybrid", "semantic") else None
    terms = query_terms(searched)
    depth = max(limit * 3, 30)
    keyword, similar = [], []
    if mode in ("hybrid", "keyword"):
        keyword = keyword_ranking(terms, user, depth)[:FUSION_DEPTH]
    if vector is not None:
        try:
            similar = semantic_ranking(vector.result(), user, depth)
        except EmbeddingUnavailable:
            if mode == "semantic":
                raise
    if not keyword and (not similar or similar[0][1] < SEMANTIC_FLOOR):
        similar = []  # nothing shares a word with the question, nor comes close in meaning
    similar = [(doc, sim) for doc, sim in similar if sim >= SEMANTIC_CUT][:FUSION_DEPTH]
    rankings = [(KEYWORD_WEIGHT, [d for d, _ in keyword]), (SEMANTIC_WEIGHT, [d for d, _ in similar])]
    scores = fuse(rankings)
    if scores:
        scores = fuse(rankings + [(TOOL_WEIGHT, tools_asked_for(searched))])
    for document_id in exact:
        scores[document_id] = 10.0 + scores.get(document_id, 0.0)  # above any fused score
    ranked = sorted(scores, key=lambda doc: (-scores[doc], doc))[:limit]
    answer.results = results_for(ranked, user, terms, searched)
    if not answer.results:
        answer.close_terms = close_terms(searched, speller(version))
    answer.took_ms = (time.perf_counter() - started) * 1000
    return answer


_encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-embed")


def glossary_state(text: str) -> tuple[tuple, list[int]]:
    """In one query: the glossary's version (search.suggest.glossary_version) and the
    documents of the entries whose term or alias is exactly `text`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*), max(e.updated_at), "
            "coalesce(array_agg(d.id) filter (where d.id is not null and e.lookup_keys @> %s), '{}') "
            "from glossary_entry e left join search_document d on d.entry_id = e.id", [[lookup_key(text)]])
        count, updated, exact = cursor.fetchone()
    return (count, updated), exact


# --- the rankings -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryTerm:
    lexeme: str
    idf: float


def query_terms(text: str) -> list[QueryTerm]:
    """The query's word stems (the database's English stemming) that occur in any document."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select q.lexeme, l.documents, (select documents from search_corpus where id = 1) "
            "from unnest(tsvector_to_array(to_tsvector('english', %s))) as q(lexeme) "
            "join search_lexeme l on l.lexeme = q.lexeme where l.documents > 0", [text])
        rows = cursor.fetchall()
    return [QueryTerm(lexeme, bm25.idf(documents, total or 0)) for lexeme, documents, total in rows]


def keyword_ranking(terms: list[QueryTerm], user, depth: int) -> list[tuple[int, float]]:
    """(document id, BM25F score) of the documents `user` may see, best first.

    One statement: each term's best CHAMPIONS postings among visible documents are the
    candidates, then every candidate is scored over all the terms.
    """
    if not terms:
        return []
    visible, visible_params = visibility_sql(user)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            with q(lexeme, idf) as (select * from unnest(%s::text[], %s::float8[])),
            candidates as (
                select distinct best.document_id from q cross join lateral (
                    select p.document_id from search_posting p
                    join search_document on search_document.id = p.document_id
                    left join notes_note on notes_note.id = search_document.note_id
                    where p.lexeme = q.lexeme and {visible}
                    order by p.weight desc limit %s) best)
            select p.document_id, sum(p.weight * q.idf) as score
            from search_posting p join q on q.lexeme = p.lexeme
            where p.document_id in (select document_id from candidates)
            group by p.document_id order by score desc, p.document_id limit %s""",
            [[t.lexeme for t in terms], [t.idf for t in terms], *visible_params, CHAMPIONS, depth])
        return cursor.fetchall()


def visibility_sql(user) -> tuple[str, list]:
    """The condition for documents `user` may see, as SQL over the tables search_document and
    notes_note, compiled from the same Q every other query uses (notes.models.readable_by)."""
    query = Document.objects.filter(visible_to(user)).query
    return query.where.as_sql(query.get_compiler(connection=connection), connection)


def semantic_ranking(vector, user, depth: int) -> list[tuple[int, float]]:
    """(document id, cosine similarity of its nearest passage to the query's `vector`),
    nearest first."""
    passages = (Passage.objects.filter(visible_to(user, prefix="document__"), embedding__isnull=False)
                .annotate(distance=CosineDistance("embedding", vector)).order_by("distance")
                .values_list("document_id", "distance")[:depth * 3])
    ranking: dict[int, float] = {}
    for document_id, distance in passages:
        ranking.setdefault(document_id, 1.0 - distance)
    return list(ranking.items())[:depth]


def fuse(rankings: list[tuple[float, list[int]]]) -> dict[int, float]:
    scores: dict[int, float] = {}
    for weight, ranking in rankings:
        for position, document_id in enumerate(ranking, start=1):
            scores[document_id] = scores.get(document_id, 0.0) + weight / (RRF_K + position)
    return scores


def close_terms(text: str, speller: Speller, limit: int = 5) -> list[Entry]:
    """Entries named like the words of `text` that are neither English nor the glossary's:
    what a misspelt name probably meant."""
    unknown = [word for word in dict.fromkeys(WORD.findall(text)) if not speller.known(word)]
    found: dict[int, Entry] = {}
    for word in sorted(unknown, key=len, reverse=True)[:4]:
        for entry in Entry.objects.closest(word, limit):
            found.setdefault(entry.id, entry)
    return sorted(found.values(), key=lambda e: -e.similarity)[:limit]


def tools_asked_for(text: str) -> list[int]:
    """The memory calculator when the question names a model or a GPU to size."""
    params = tools.memory_prefill(text)
    if "model" not in params and "gpu" not in params:
        return []
    return list(Document.objects.filter(tool="memory").values_list("id", flat=True))


# --- spelling ---------------------------------------------------------------------------

_speller: tuple[tuple, Speller] | None = None


def speller(version: tuple) -> Speller:
    """The speller over the glossary's words, built again when an entry changes (`version`)."""
    global _speller
    if _speller is None or _speller[0] != version:
        texts = [f"{tool.summary} {tool.text}" for tool in tools.TOOLS.values()]
        names = [name for tool in tools.TOOLS.values() for name in (tool.title, *tool.aliases)]
        for document in Document.objects.filter(kind=Document.Kind.ENTRY).only(
                "title", "aliases", "summary", "text"):
            texts += [document.summary, document.text]
            names += [document.title, *document.aliases]
        _speller = (version, Speller(texts, names))
    return _speller[1]


# --- result rows ------------------------------------------------------------------------

_lexemes: dict[str, frozenset] = {}


def lexemes_of(words) -> dict[str, frozenset]:
    """Each word's stems as the database makes them, remembered (the vocabulary is bounded)."""
    missing = list({w.casefold() for w in words} - _lexemes.keys())
    if missing:
        if len(_lexemes) > 200_000:
            _lexemes.clear()
        with connection.cursor() as cursor:
            cursor.execute("select w, tsvector_to_array(to_tsvector('english', w)) "
                           "from unnest(%s::text[]) as w", [missing])
            _lexemes.update((word, frozenset(stems)) for word, stems in cursor.fetchall())
    return {w: _lexemes.get(w.casefold(), frozenset()) for w in words}


def candidates_of(document: Document) -> list[Candidate]:
    """The sentences a snippet may be cut from: summary first, then the body's prose."""
    summary = [Candidate(s, -1, bonus=0.6) for s in sentences(document.summary)]
    if document.kind == Document.Kind.ENTRY:
        blocks = html_blocks(document.entry.body_html)
    elif document.kind == Document.Kind.NOTE:
        blocks = html_blocks(document.note.body_html)
    else:
        blocks = [document.text]
    return summary + [Candidate(s, i) for i, block in enumerate(blocks) for s in sentences(block)]


def results_for(ids: list[int], user, terms: list[QueryTerm], text: str) -> list[Result]:
    """Result rows for these document ids, in order; visibility is checked again here, so no
    caller can reveal a note the reader may not read."""
    documents = {d.id: d for d in Document.objects.filter(visible_to(user), id__in=ids)
                 .select_related("entry__category", "note__entry")}
    wanted = {term.lexeme for term in terms if len(term.lexeme) > 1}
    candidates = {i: candidates_of(d) for i, d in documents.items()}
    stems = lexemes_of({w for cs in candidates.values() for c in cs for w in WORD.findall(c.text)})

    def match(word: str) -> frozenset:
        return stems.get(word, frozenset()) & wanted

    results = []
    for document_id in ids:
        document = documents.get(document_id)
        if document is None:
            continue
        text_snippet = snippet(candidates[document_id], match)
        if document.kind == Document.Kind.ENTRY:
            entry = document.entry
            results.append(Result("entry", entry.term, entry.get_absolute_url(), text_snippet,
                                  entry.category.name, slug=entry.slug))
        elif document.kind == Document.Kind.NOTE:
            note = document.note
            results.append(Result("note", note.title, note.get_absolute_url(), text_snippet,
                                  note.entry.term if note.entry_id else "Team note", id=note.id))
        else:
            tool = tools.TOOLS[document.tool]
            results.append(Result("tool", tool.title, tools.url_for(document.tool, text), text_snippet,
                                  tool.category, slug=document.tool))
    return results
