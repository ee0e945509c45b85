"""Migrations that rewrite search's own rows, run on rows written before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db

BEFORE_READER_COPIES = [("search", "0003_passage_hnsw_m32")]
READER_COPIES = [("search", "0004_reader_copies")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_reader_copies_are_taken_from_the_documents_already_there(member):
    # Runs inside the test's transaction: PostgreSQL rolls the schema back with it.
    old = migrate(BEFORE_READER_COPIES)
    Note = old.get_model("notes", "Note")
    Document = old.get_model("search", "Document")
    note = Note.objects.create(title="Our rig", body="Fans.", visibility="private", author_id=member.pk,
                               revision=1)
    document = Document.objects.create(kind="note", note_id=note.pk, title="Our rig", text="Fans loud",
                                       visibility="private", author_id=member.pk)
    with connection.cursor() as cursor:
        cursor.execute("insert into search_posting (lexeme, document_id, weight) values ('fan', %s, 1.0)",
                       [document.pk])
        cursor.execute("insert into search_passage (document_id, position, text, text_hash) "
                       "values (%s, 0, 'Our rig', 'x')", [document.pk])
        cursor.execute("set constraints all immediate")  # no pending checks before ALTER TABLE
    migrate(READER_COPIES)
    with connection.cursor() as cursor:
        for table in ("search_posting", "search_passage"):
            cursor.execute(f"select visibility, author_id from {table} where document_id = %s", [document.pk])
            assert cursor.fetchall() == [("private", member.pk)], table
        # Entries' rows stay readable by everyone.
        cursor.execute("select distinct p.visibility, p.author_id from search_posting p "
                       "join search_document d on d.id = p.document_id where d.kind <> 'note'")
        assert set(cursor.fetchall()) <= {("public", None)}
