"""Search over team notes, always limited to the notes the asking user may read.

- keyword:  the generated `search_vector` (title A, body C) against a websearch-syntax
            query, ranked by ts_rank; when nothing matches, trigram word similarity on titles
            catches typos — the same shape as glossary/search.py.
- semantic: the query embedded with the glossary's model, nearest note passages by cosine
            distance, best passage per note.
The glossary search fuses these rankings with its own (reciprocal rank fusion); `note_results`
turns note ids into the same `Result` rows it shows.
"""

from django.contrib.postgres.search import SearchHeadline, SearchRank
from django.db.models import F
from pgvector.django import CosineDistance

from glossary.embeddings import chunk_texts, embed_query, sync_passages
from glossary.search import HIGHLIGHT_START, HIGHLIGHT_STOP, Result, highlight, typo_matches, websearch_query
from notes.models import Note, NoteChunk


def keyword_ranking(text: str, user, limit: int) -> list[int]:
    """Ids of notes visible to `user` that match `text`, best first."""
    query = websearch_query(text)
    notes = Note.objects.visible_to(user)
    ids = list(
        notes.filter(search_vector=query)
        .annotate(rank=SearchRank(F("search_vector"), query, normalization=1))
        .order_by("-rank", "title", "id")
        .values_list("id", flat=True)[:limit]
    )
    if ids:
        return ids
    return typo_matches(notes, "title", text, limit)


def semantic_ranking(text: str, user, limit: int) -> list[int]:
    """Ids of notes visible to `user` whose passages are nearest in meaning to `text`."""
    vector = embed_query(text)
    passages = (
        NoteChunk.objects.filter(note__in=Note.objects.visible_to(user), embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values_list("note_id", flat=True)[: limit * 4]
    )
    ranking: list[int] = []
    for note_id in passages:
        if note_id not in ranking:
            ranking.append(note_id)
    return ranking[:limit]


def note_results(ids: list[int], text: str, user, scores: dict[int, float] | None = None) -> list[Result]:
    """Search result rows for these note ids, in the given order, with highlighted snippets.

    Visibility is checked again here, so a caller that passes ids from elsewhere cannot
    reveal a note the user may not read.
    """
    scores = scores or {}
    query = websearch_query(text)
    notes = Note.objects.visible_to(user).filter(id__in=ids).select_related("entry").annotate(
        headline=SearchHeadline("body", query, config="english", start_sel=HIGHLIGHT_START,
                                stop_sel=HIGHLIGHT_STOP, max_words=28, min_words=12, max_fragments=1))
    by_id = {note.id: note for note in notes}
    return [
        Result(type="note", slug=None, id=note_id, title=by_id[note_id].title,
               snippet=highlight(by_id[note_id].headline, by_id[note_id].body[:200]),
               score=round(scores.get(note_id, 0.0), 6), url=by_id[note_id].get_absolute_url(),
               category=by_id[note_id].entry.term if by_id[note_id].entry_id else "")
        for note_id in ids if note_id in by_id
    ]


def note_chunk_texts(note: Note) -> list[str]:
    """What is embedded for a note: the glossary's chunking, with the title as the "term" and
    the entry it belongs to as an alias, so every passage says what it is about."""
    aliases = [note.entry.term] if note.entry_id else []
    return chunk_texts(note.title, aliases, "", note.body)


def sync_note_chunks(notes, progress=None) -> dict:
    """Bring the notes' passages up to date (glossary.embeddings.sync_passages)."""
    wanted = {}  # (note_id, position) -> text
    for note in notes:
        for position, text in enumerate(note_chunk_texts(note)):
            wanted[(note.id, position)] = text
    return sync_passages(NoteChunk, "note_id", wanted, {note.id for note in notes}, progress)
