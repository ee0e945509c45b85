"""Entries' and notes' passages move from glossary.Chunk and notes.NoteChunk into Passage,
vectors included, so that nothing needs encoding again. Each entry and note gets its
Document; their postings are written after the migration (search.indexing.migrated)."""

from django.db import migrations

from search.text import plain_text, word_count


def documents_from(owner, fields):
    names = " ".join([fields["title"], *fields["aliases"]])
    return {**owner, **fields, "names_words": word_count(names),
            "summary_words": word_count(fields["summary"]), "text_words": word_count(fields["text"])}


def forward(apps, schema_editor):
    Document = apps.get_model("search", "Document")
    Entry = apps.get_model("glossary", "Entry")
    Note = apps.get_model("notes", "Note")
    Document.objects.bulk_create(
        Document(**documents_from({"kind": "entry", "entry_id": entry.id}, {
            "title": entry.term, "aliases": [*entry.aliases, *entry.search_aliases], "summary": entry.summary,
            "text": plain_text(entry.body)}))
        for entry in Entry.objects.all())
    Document.objects.bulk_create(
        Document(**documents_from({"kind": "note", "note_id": note.id}, {
            "title": note.title, "aliases": [note.entry.term] if note.entry_id else [], "summary": "",
            "text": plain_text(note.body), "visibility": note.visibility, "author_id": note.author_id,
            "deleted_at": note.deleted_at, "hidden_at": note.hidden_at}))
        for note in Note.objects.select_related("entry"))
    schema_editor.execute("""
        insert into search_passage (document_id, position, text, text_hash, embedding)
        select d.id, c.position, c.text, c.text_hash, c.embedding
        from glossary_chunk c join search_document d on d.entry_id = c.entry_id""")
    schema_editor.execute("""
        insert into search_passage (document_id, position, text, text_hash, embedding)
        select d.id, c.position, c.text, c.text_hash, c.embedding
        from notes_notechunk c join search_document d on d.note_id = c.note_id""")


def backward(apps, schema_editor):
    schema_editor.execute("""
        insert into glossary_chunk (entry_id, position, text, text_hash, embedding)
        select d.entry_id, p.position, p.text, p.text_hash, p.embedding
        from search_passage p join search_document d on d.id = p.document_id where d.kind = 'entry'""")
    schema_editor.execute("""
        insert into notes_notechunk (note_id, position, text, text_hash, embedding)
        select d.note_id, p.position, p.text, p.text_hash, p.embedding
        from search_passage p join search_document d on d.id = p.document_id where d.kind = 'note'""")
    apps.get_model("search", "Document").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("search", "0001_initial"),
        ("glossary", "0005_reader_order_and_link_sentences"),
        ("notes", "0003_moderation"),
    ]

    operations = [migrations.RunPython(forward, backward)]
