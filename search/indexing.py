"""Keeping search's documents, keyword index and passages in step with what they describe.

- Every save of an entry or a note rewrites its `Document` and postings (keyword search),
  on Django's post_save, so that every path that writes content keeps keyword search right.
- An edit through `apply_edit` (entry_edited, note_edited) also embeds the passages whose
  text changed; loading fixtures leaves that to `manage.py reindex`, which does it in bulk.
- Tools (search.tools) are documents too, written after every migrate and by `reindex`.
"""

import hashlib
import logging

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import prefetch_related_objects

from search import bm25, tools
from search.models import Document, Passage
from search.text import passage_texts, plain_text, word_count

logger = logging.getLogger(__name__)
ENCODE_BATCH_SIZE = 64

# The postings of documents, BM25F weights computed from the database's own stemming
# (to_tsvector 'english') and the corpus averages; search.bm25.term_weight in SQL.
_POSTINGS_SQL = """
insert into search_posting (lexeme, document_id, weight)
select u.lexeme, d.id, f.tf * (%(k1)s + 1) / (%(k1)s + f.tf)
from search_document d
cross join (
    select greatest(names_words::float / greatest(documents, 1), 1) as names,
           greatest(summary_words::float / greatest(documents, 1), 1) as summary,
           greatest(text_words::float / greatest(documents, 1), 1) as text
    from search_corpus where id = 1
) average
cross join lateral unnest(
    setweight(to_tsvector('english', d.title || ' ' || array_to_string(d.aliases, ' ')), 'A')
    || setweight(to_tsvector('english', d.summary), 'B')
    || setweight(to_tsvector('english', d.text), 'C')
) u
cross join lateral (select
      %(w_names)s * cardinality(array_positions(u.weights, 'A'))
        / (1 - %(b_names)s + %(b_names)s * d.names_words / average.names)
    + %(w_summary)s * cardinality(array_positions(u.weights, 'B'))
        / (1 - %(b_summary)s + %(b_summary)s * d.summary_words / average.summary)
    + %(w_text)s * cardinality(array_positions(u.weights, 'C'))
        / (1 - %(b_text)s + %(b_text)s * d.text_words / average.text) as tf
) f
where d.id = any(%(ids)s) and f.tf > 0
"""


def _postings_params(ids) -> dict:
    params = {"k1": bm25.K1, "ids": list(ids)}
    for field in bm25.FIELDS:
        params[f"w_{field}"] = bm25.FIELD_WEIGHTS[field]
        params[f"b_{field}"] = bm25.LENGTH_NORMALISATION[field]
    return params


def write_postings(document_ids) -> None:
    """Replace the postings of these documents (the triggers update the lexeme counts)."""
    ids = list(document_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("delete from search_posting where document_id = any(%s)", [ids])
        cursor.execute(_POSTINGS_SQL, _postings_params(ids))


def rewrite_all_postings() -> None:
    """Every document's postings again, with today's corpus averages (`reindex --all`)."""
    ids = list(Document.objects.values_list("id", flat=True))
    for start in range(0, len(ids), 5000):
        write_postings(ids[start:start + 5000])


# --- documents ---------------------------------------------------------------------------


def entry_fields(entry) -> dict:
    # Search aliases (spellings people type, never shown) are names to find the entry by.
    return {"kind": Document.Kind.ENTRY, "title": entry.term,
            "aliases": [*entry.aliases, *entry.search_aliases],
            "summary": entry.summary, "text": plain_text(entry.body)}


def note_fields(note) -> dict:
    # The entry a note is about names its subject; it is the note's other name.
    return {"kind": Document.Kind.NOTE, "title": note.title,
            "aliases": [note.entry.term] if note.entry_id else [],
            "summary": "", "text": plain_text(note.body),
            "visibility": note.visibility, "author_id": note.author_id, "deleted_at": note.deleted_at,
            "hidden_at": note.hidden_at}


def tool_fields(tool: tools.Tool) -> dict:
    return {"kind": Document.Kind.TOOL, "title": tool.title, "aliases": list(tool.aliases),
            "summary": tool.summary, "text": tool.text}


def save_document(owner: dict, fields: dict) -> Document:
    """Create or update the document of `owner` ({"entry": …}, {"note": …} or {"tool": key});
    postings are rewritten only when the text changed."""
    fields = {**fields, "names_words": word_count(" ".join([fields["title"], *fields["aliases"]])),
              "summary_words": word_count(fields["summary"]), "text_words": word_count(fields["text"])}
    document = Document.objects.filter(**owner).first()
    if document is None:
        document = Document.objects.create(**owner, **fields)
        write_postings([document.id])
        return document
    changed = {k: v for k, v in fields.items() if getattr(document, k) != v}
    if changed:
        for name, value in changed.items():
            setattr(document, name, value)
        document.save()
        if changed.keys() & INDEXED_FIELDS:
            write_postings([document.id])
    return document


INDEXED_FIELDS = {"title", "aliases", "summary", "text"}


def index_entry(entry) -> Document:
    return save_document({"entry": entry}, entry_fields(entry))


def index_note(note) -> Document:
    return save_document({"note": note}, note_fields(note))


@transaction.atomic
def index_tools() -> list[Document]:
    """The tools' documents as search.tools describes them; tools no longer listed go."""
    Document.objects.filter(kind=Document.Kind.TOOL).exclude(tool__in=list(tools.TOOLS)).delete()
    return [save_document({"tool": key}, tool_fields(tool)) for key, tool in tools.TOOLS.items()]


# --- passages ----------------------------------------------------------------------------


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def passages_of(document: Document) -> list[str]:
    """The texts `document` is embedded as: search.text.passage_texts, with an entry's hidden
    search aliases as descriptions."""
    descriptions = document.entry.search_aliases if document.entry_id else []
    return passage_texts(document.title, document.aliases, document.summary, document.text, descriptions)


def embed_passages(documents, progress=None) -> dict:
    """Bring the documents' passages up to date, encoding only passages whose text changed.

    `progress` is a tqdm bar (the reindex command's), reset to the number of passages that
    need encoding. Returns counts: {"passages", "encoded", "deleted"}.
    """
    from search.embeddings import encode

    documents = list(documents)
    prefetch_related_objects([d for d in documents if d.entry_id], "entry")  # their search aliases
    wanted = {}  # (document id, position) -> text
    for document in documents:
        for position, text in enumerate(passages_of(document)):
            wanted[(document.id, position)] = text
    existing = {(p.document_id, p.position): p for p in
                Passage.objects.filter(document__in=documents).defer("embedding")}
    stale = [key for key, text in wanted.items()
             if key not in existing or existing[key].text_hash != text_hash(text)]
    if progress is not None:
        progress.reset(total=len(stale))
    for start in range(0, len(stale), ENCODE_BATCH_SIZE * 4):
        batch = stale[start:start + ENCODE_BATCH_SIZE * 4]
        vectors = encode([wanted[key] for key in batch])
        with transaction.atomic():
            for (document_id, position), vector in zip(batch, vectors):
                text = wanted[(document_id, position)]
                Passage.objects.update_or_create(
                    document_id=document_id, position=position,
                    defaults={"text": text, "text_hash": text_hash(text), "embedding": vector})
        if progress is not None:
            progress.update(len(batch))
    gone = [p.pk for key, p in existing.items() if key not in wanted]
    Passage.objects.filter(pk__in=gone).delete()
    return {"passages": len(wanted), "encoded": len(stale), "deleted": len(gone)}


def embed_after_edit(document: Document) -> None:
    """Embed an edited document's passages; without the model, keyword search still works and
    `reindex` catches up later."""
    try:
        # A savepoint: a database error while storing vectors must not poison the edit.
        with transaction.atomic():
            embed_passages([document])
    except Exception as error:  # noqa: BLE001 - any model failure (missing folder, bad file, …)
        logger.warning("passages not embedded for %s: %s", document, error)


# --- signal receivers (connected in search/apps.py) ------------------------------------------


def entry_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        index_entry(instance)


def note_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        index_note(instance)


def entry_edited(sender, entry, **kwargs):
    embed_after_edit(index_entry(entry))


def note_edited(sender, note, **kwargs):
    embed_after_edit(index_note(note))


def migrated(sender, apps=None, **kwargs):
    """After every migrate: the tools' documents, and postings for documents that have none
    (those a data migration created). Nothing when search's tables were just unapplied.
    `flush` sends the same signal without `apps` (the tables are all there, emptied): the
    tools come back then too."""
    try:
        (apps or global_apps).get_model("search", "Posting")
    except LookupError:
        return
    index_tools()
    write_postings(Document.objects.filter(postings__isnull=True).values_list("id", flat=True))
