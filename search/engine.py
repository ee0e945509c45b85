"""Search over glossary entries, the team notes a reader may read, and the site's tools.

- keyword:  BM25F over the postings (search.bm25): each query word stem weighs by its
            inverse document frequency, read from the maintained lexeme counts; only the
            best-weighted postings of each stem are read (champion lists, search.models).
- semantic: the query embedded with the passages' model; nearest passages through the one
            HNSW index over every document's passages, best passage per document.
- hybrid:   reciprocal rank fusion of the two (Cormack, Clarke and Büttcher, SIGIR 2009).
An entry whose term or alias equals the query comes first in every mode. A misspelt word
is corrected first when it is neither a glossary word nor an English one (search.spelling);
a query with no English or glossary word at all finds nothing.
"""

import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection
from pgvector import Vector

from glossary.links import lookup_key
from glossary.models import VERSION_SQL, Entry
from notes.models import Note, readable_by, reader_key
from search import tools
from search.embeddings import EmbeddingUnavailable, embed_query
from search.models import Document, Passage, Posting, visible_by_copy
from search.snippets import WORD, Candidate, snippet, words
from search.spelling import Speller
from search.text import html_blocks, sentences

MODES = ("hybrid", "semantic", "keyword")
MAX_QUERY_LENGTH = 300
# Reciprocal rank fusion: a document's score is Σ weight / (RRF_K + its rank) over the lists,
# each list cut at FUSION_DEPTH.
RRF_K = 60
FUSION_DEPTH = 30
KEYWORD_WEIGHT = 1.0
SEMANTIC_WEIGHT = 1.0
# A tool the question gives input for ("will llama 70b fit in 48gb": the memory calculator).
TOOL_WEIGHT = 1.0
# Cosine similarities: below SEMANTIC_CUT a passage is noise; when no document shares a word
# with the query, the nearest must reach SEMANTIC_FLOOR for anything to be shown.
SEMANTIC_CUT = 0.15
SEMANTIC_FLOOR = 0.3
# Postings read per query word stem: every document of a rare stem, the best-weighted of a
# common one (see keyword_side).
CHAMPIONS = 150


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
    ranks_keywords = mode in ("hybrid", "keyword")
    depth = max(limit * 3, FUSION_DEPTH)
    wants_vector = mode in ("hybrid", "semantic")
    side = keyword_side(text, user, depth, ranks_keywords)
    searched = text
    if correct and not side.exact:
        correction = speller(side.version).correct(text)
        if correction.changed:
            searched = answer.corrected = correction.text
            side = keyword_side(searched, user, depth, ranks_keywords)
    if not side.exact and not speller(side.version).recognises_any(searched):
        answer.close_terms = close_terms(searched, speller(side.version))  # "asdkjh qwepoi"
        answer.took_ms = (time.perf_counter() - started) * 1000
        return answer
    asked_tools = tools_asked_for(searched)
    similar = []
    if wants_vector:
        try:
            similar = semantic_ranking(embed_query(searched), user, depth)
        except EmbeddingUnavailable:
            if mode == "semantic":
                raise
    if not side.ranking and (not similar or similar[0][1] < SEMANTIC_FLOOR):
        similar = []  # nothing shares a word with the question, nor comes close in meaning
    rankings = [(KEYWORD_WEIGHT, [doc for doc, _ in side.ranking[:FUSION_DEPTH]]),
                (SEMANTIC_WEIGHT, [doc for doc, sim in similar if sim >= SEMANTIC_CUT][:FUSION_DEPTH])]
    scores = fuse(rankings)
    if scores:
        scores = fuse(rankings + [(TOOL_WEIGHT, asked_tools)])
    for document_id in side.exact:
        scores[document_id] = 10.0 + scores.get(document_id, 0.0)  # above any fused score
    ranked = sorted(scores, key=lambda doc: (-scores[doc], doc))[:limit]
    answer.results = results_for(ranked, user, side.terms, searched, side.version)
    if not answer.results:
        answer.close_terms = close_terms(searched, speller(side.version))
    answer.took_ms = (time.perf_counter() - started) * 1000
    return answer


# --- the rankings -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryTerm:
    lexeme: str
    idf: float


@dataclass
class KeywordSide:
    # The glossary's (version, category names): what the caches of the glossary's words and
    # rows are built again on (glossary.models.VERSION_SQL).
    version: tuple
    exact: list[int]  # documents of the entries whose term or alias is exactly the text
    terms: list[QueryTerm]  # the text's word stems that occur in any document
    ranking: list[tuple[int, float]]  # (document id, BM25F score), best first


def keyword_side(text: str, user, depth: int, rank: bool = True) -> KeywordSide:
    """Everything search needs from the words of `text`, in one statement: the glossary's
    version, exact names, the query terms with their IDF (search.bm25.idf, here in SQL), and
    the keyword ranking of the documents `user` may see.

    The ranking reads each term's CHAMPIONS best-weighted postings among those `user` may see
    (an index-only walk of search.models.Posting's champion index, which holds each posting's
    copy of who may read it) and sums idf · weight per document. A rare term's list is
    complete, so its part of every score is exact; a common term's list is cut, and a document
    below the cut misses at most that term's smallest listed weight, for a term that weighs
    little anyway (low IDF).
    """
    visible, visible_params = visibility_sql(user, Posting)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            with q as (
                select t.lexeme, ln(1 + (c.documents - least(l.documents, c.documents) + 0.5::float8)
                                        / (least(l.documents, c.documents) + 0.5::float8)) as idf
                from unnest(tsvector_to_array(to_tsvector('english', %s))) as t(lexeme)
                join search_lexeme l on l.lexeme = t.lexeme and l.documents > 0
                cross join search_corpus c where c.id = 1),
            ranked as (
                select best.document_id, sum(best.weight * q.idf) as score
                from q cross join lateral (
                    select document_id, weight from search_posting
                    where lexeme = q.lexeme and {visible}
                    order by weight desc limit %s) best
                where %s
                group by best.document_id order by score desc, best.document_id limit %s)
            select ({VERSION_SQL}),
                   (select string_agg(id || ':' || name, '|' order by id) from glossary_category),
                   (select coalesce(array_agg(d.id), '{{}}') from glossary_entry e
                    join search_document d on d.entry_id = e.id where e.lookup_keys @> %s),
                   (select coalesce(array_agg(lexeme order by lexeme), '{{}}') from q),
                   (select coalesce(array_agg(idf order by lexeme), '{{}}') from q),
                   (select coalesce(array_agg(document_id order by score desc, document_id), '{{}}') from ranked),
                   (select coalesce(array_agg(score order by score desc, document_id), '{{}}') from ranked)""",
            [text, *visible_params, CHAMPIONS, rank, depth, [lookup_key(text)]])
        version, categories, exact, lexemes, idfs, documents, scores = cursor.fetchone()
    return KeywordSide((version, categories), exact, [QueryTerm(lx, idf) for lx, idf in zip(lexemes, idfs)],
                       list(zip(documents, scores)))


_visibility: dict[tuple, tuple[str, tuple]] = {}


def visibility_sql(user, model) -> tuple[str, tuple]:
    """The condition for the rows of `model` (Passage or Posting) that `user` may see, as SQL
    over its table, compiled from the rule every other query uses (search.models.visible_by_copy)
    once per kind of reader: compiling it took longer than some of the queries it goes into."""
    key = (model._meta.db_table, *reader_key(user))
    if (compiled := _visibility.get(key)) is None:
        if len(_visibility) > 10_000:
            _visibility.clear()
        query = model.objects.filter(visible_by_copy(user)).query
        sql, params = query.where.as_sql(query.get_compiler(connection=connection), connection)
        compiled = _visibility[key] = (sql, tuple(params))
    return compiled


def semantic_ranking(vector, user, depth: int) -> list[tuple[int, float]]:
    """(document id, cosine similarity of its nearest passage to the query's `vector`),
    nearest first: one HNSW index scan over the passages `user` may see (each passage holds
    its copy of who may read it)."""
    visible, visible_params = visibility_sql(user, Passage)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            select document_id, embedding <=> %s::vector as distance
            from search_passage
            where embedding is not null and {visible}
            order by distance limit %s""", [Vector._to_db(vector), *visible_params, depth * 3])
        passages = cursor.fetchall()
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
    """The tools a question gives input to: the memory calculator when it names a model, a
    GPU or a GPU's memory; the name decoder when it quotes a model name."""
    keys = []
    if {"model", "gpu"} & tools.memory_prefill(text).keys():
        keys.append("memory")
    if tools.model_name_prefill(text):
        keys.append("model-name")
    by_key = tool_documents()
    return [by_key[key] for key in keys if key in by_key]


_tool_documents: dict[str, int] | None = None


def tool_documents() -> dict[str, int]:
    """Tool key → document id; tools are written once per migrate, so remembered."""
    global _tool_documents
    if not _tool_documents:
        _tool_documents = dict(Document.objects.filter(kind=Document.Kind.TOOL).values_list("tool", "id"))
    return _tool_documents


# --- spelling ---------------------------------------------------------------------------

_speller: tuple[tuple, Speller] | None = None
# Building the speller takes about a second of CPU. Under a burst of first searches one
# thread builds it while the others wait, instead of forty building it at once while each
# holds a database connection the rest of the burst is queueing for.
_speller_lock = threading.Lock()


def speller(version: tuple) -> Speller:
    """The speller over the glossary's words, built again when an entry changes (`version`)."""
    global _speller
    current = _speller
    if current is not None and current[0] == version:
        return current[1]
    with _speller_lock:
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
    missing = [w for w in {w.casefold() for w in words} if w not in _lexemes]
    if missing:
        if len(_lexemes) > 200_000:
            _lexemes.clear()
        with connection.cursor() as cursor:
            cursor.execute("select w, tsvector_to_array(to_tsvector('english', w)) "
                           "from unnest(%s::text[]) as w", [missing])
            _lexemes.update((word, frozenset(stems)) for word, stems in cursor.fetchall())
    return {w: _lexemes.get(w.casefold(), frozenset()) for w in words}


_sentence_stems: dict[str, frozenset] = {}


def sentence_stems(texts) -> dict[str, frozenset]:
    """Each sentence's word stems together, remembered: result pages show the same
    sentences again and again, and a snippet is chosen by the query terms each one holds."""
    missing = [text for text in texts if text not in _sentence_stems]
    if missing:
        if len(_sentence_stems) > 100_000:
            _sentence_stems.clear()
        stems = lexemes_of({word for text in missing for word in words(text)})
        for text in missing:
            _sentence_stems[text] = frozenset().union(*(stems[word] for word in words(text)))
    return {text: _sentence_stems[text] for text in texts}


@dataclass(frozen=True)
class Row:
    """What a result is made from: plain values, not model instances, because building the
    instances of every search's results cost more than the query that read them."""

    kind: str
    title: str
    summary: str
    body_html: str
    key: str = ""  # an entry's slug, a tool's key
    category: str = ""  # an entry's category, the entry a note is about
    note_id: int | None = None
    url: str = ""  # entries' and notes' pages; a tool's URL depends on the question

    def candidates(self) -> list[Candidate]:
        """The sentences a snippet may be cut from: summary first, then the body's prose."""
        tool_text = tools.TOOLS[self.key].text if self.kind == Document.Kind.TOOL and self.key in tools.TOOLS else ""
        return _candidates(self.summary, self.body_html, tool_text)


@lru_cache(maxsize=4096)  # result pages show the same documents again and again
def _candidates(summary: str, body_html: str, plain: str) -> list[Candidate]:
    blocks = [*html_blocks(body_html), *([plain] if plain else [])]
    return ([Candidate(s, -1, bonus=0.6) for s in sentences(summary)]
            + [Candidate(s, i) for i, block in enumerate(blocks) for s in sentences(block)])


_public_rows: tuple[tuple, dict[int, Row]] | None = None


def public_rows(version: tuple) -> dict[int, Row]:
    """Document id → row for every entry and tool: anyone may see them, result pages show
    them again and again, and they change only with the glossary (`version`).

    Their snippet sentences and the sentences' stems are worked out here too, once per
    glossary change (about 0.4 s for 261 entries, beside the speller's second at the same
    moment), instead of a little at a time in the searches that first show each entry."""
    global _public_rows
    current = _public_rows
    if current is None or current[0] != version:
        rows = {}
        for document_id, kind, tool, summary, slug, term, body_html, category in (
                Document.objects.exclude(kind=Document.Kind.NOTE).values_list(
                    "id", "kind", "tool", "summary", "entry__slug", "entry__term", "entry__body_html",
                    "entry__category__name")):
            if kind == Document.Kind.ENTRY:
                rows[document_id] = Row(kind, term, summary, body_html, slug, category,
                                        url=Entry(slug=slug).get_absolute_url())
            elif tool in tools.TOOLS:
                rows[document_id] = Row(kind, tools.TOOLS[tool].title, summary, "", tool, tools.TOOLS[tool].category)
        sentence_stems({candidate.text for row in rows.values() for candidate in row.candidates()})
        _public_rows = current = (version, rows)
    return current[1]


def note_rows(ids: list[int], user) -> dict[int, Row]:
    """Document id → row for the notes among `ids` that `user` may read, checked through
    the note itself (notes.models.readable_by), not the copy rankings filter on."""
    return {document_id: Row(Document.Kind.NOTE, title, "", body_html, category=about or "Team note", note_id=note_id,
                             url=Note(pk=note_id).get_absolute_url())
            for document_id, note_id, title, body_html, about in Note.objects.filter(
                readable_by(user), search_document__id__in=ids).values_list(
                    "search_document__id", "id", "title", "body_html", "entry__term")}


def results_for(ids: list[int], user, terms: list[QueryTerm], text: str, version: tuple) -> list[Result]:
    """Result rows for these document ids, in order. Notes are read again with their own
    visibility rule, so no caller can reveal a note the reader may not read."""
    public = public_rows(version)
    rows = {i: public[i] for i in ids if i in public}
    if notes := [i for i in ids if i not in public]:
        rows.update(note_rows(notes, user))
    wanted = frozenset(term.lexeme for term in terms if len(term.lexeme) > 1)
    candidates = {i: row.candidates() for i, row in rows.items()}
    stems_in = sentence_stems({c.text for cs in candidates.values() for c in cs})

    def matched_in(candidate: Candidate) -> frozenset:
        return stems_in[candidate.text] & wanted

    def match(word: str) -> frozenset:  # asked only of the chosen sentences' words
        stems = _lexemes.get(word.casefold())
        return (lexemes_of([word])[word] if stems is None else stems) & wanted

    results = []
    for document_id in ids:
        row = rows.get(document_id)
        if row is None:
            continue
        text_snippet = snippet(candidates[document_id], match, matched_in=matched_in)
        if row.kind == Document.Kind.ENTRY:
            results.append(Result("entry", row.title, row.url, text_snippet, row.category, slug=row.key))
        elif row.kind == Document.Kind.NOTE:
            results.append(Result("note", row.title, row.url, text_snippet, row.category, id=row.note_id))
        else:
            results.append(Result("tool", row.title, tools.url_for(row.key, text), text_snippet,
                                  row.category, slug=row.key))
    return results
