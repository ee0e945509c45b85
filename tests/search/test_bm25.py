"""BM25F (search.bm25) and the keyword index the database keeps (search.indexing, triggers)."""

import math

import pytest
from django.db import connection

from search import bm25
from search.indexing import index_tools, write_postings
from search.models import Corpus, Document, Lexeme, Posting


def test_idf_is_high_for_rare_words_and_never_negative():
    assert bm25.idf(1, 10) == pytest.approx(math.log(1 + 9.5 / 1.5))
    assert bm25.idf(10, 10) > 0 and bm25.idf(10, 10) < bm25.idf(5, 10) < bm25.idf(1, 10)


def test_term_weight_grows_with_frequency_and_saturates():
    lengths, averages = {"names": 2, "summary": 10, "text": 100}, {"names": 2, "summary": 10, "text": 100}
    weights = [bm25.term_weight({"text": n}, lengths, averages) for n in (1, 2, 5, 50)]
    assert weights == sorted(weights) and weights[-1] < bm25.K1 + 1
    in_name = bm25.term_weight({"names": 1}, lengths, averages)
    assert in_name > bm25.term_weight({"summary": 1}, lengths, averages) > weights[0]
    longer = bm25.term_weight({"text": 1}, {**lengths, "text": 400}, averages)
    assert longer < weights[0]


def field_frequencies(text: str) -> dict[str, int]:
    """Stem → occurrences, from PostgreSQL's own English stemming of one field alone."""
    with connection.cursor() as cursor:
        cursor.execute("select lexeme, cardinality(positions) from unnest(to_tsvector('english', %s))", [text])
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_stored_weights_are_bm25f_of_each_field(make_entry):
    entry = make_entry("kv-cache", "KV cache", aliases=["attention cache"],
                       summary="Keys and values kept for every token of the cache.",
                       body="The cache grows with context. Each token adds keys and values to the cache.")
    make_entry("gqa", "Grouped-query attention", summary="Fewer key heads.", body="Saves cache memory.")
    document = entry.search_document
    write_postings([document.id])  # weights use the corpus averages of when they are written
    corpus = Corpus.current()
    fields = {"names": document.names(), "summary": document.summary, "text": document.text}
    per_field = {field: field_frequencies(text) for field, text in fields.items()}
    lengths = {"names": document.names_words, "summary": document.summary_words, "text": document.text_words}
    averages = {field: max(corpus.average(field), 1) for field in bm25.FIELDS}
    stored = dict(Posting.objects.filter(document=document).values_list("lexeme", "weight"))
    lexemes = set().union(*per_field.values())
    assert set(stored) == lexemes
    for lexeme in lexemes:
        frequencies = {field: per_field[field].get(lexeme, 0) for field in bm25.FIELDS}
        assert stored[lexeme] == pytest.approx(bm25.term_weight(frequencies, lengths, averages)), lexeme


def recount():
    with connection.cursor() as cursor:
        cursor.execute("select lexeme, count(*) from search_posting group by lexeme")
        postings = dict(cursor.fetchall())
        cursor.execute("select count(*), coalesce(sum(names_words), 0), coalesce(sum(summary_words), 0), "
                       "coalesce(sum(text_words), 0) from search_document")
        documents = cursor.fetchone()
    return postings, documents


def assert_counts_are_exact():
    postings, documents = recount()
    kept = {lexeme: n for lexeme, n in Lexeme.objects.values_list("lexeme", "documents") if n}
    assert kept == postings
    corpus = Corpus.current()
    assert (corpus.documents, corpus.names_words, corpus.summary_words, corpus.text_words) == documents


@pytest.mark.django_db
def test_lexeme_and_corpus_counts_follow_every_write(make_entry, member):
    from notes.models import Note

    index_tools()
    entry = make_entry("kv-cache", "KV cache", body="Keys and values kept per token.")
    assert_counts_are_exact()
    entry.apply_edit({"body": "Completely different words about rotary embeddings."})
    assert_counts_are_exact()
    note = Note(author=member)
    note.apply_edit({"title": "Our tokens per second", "body": "Rotary and more.", "visibility": "team"})
    assert_counts_are_exact()
    note.delete()  # cascades to its document and postings
    entry.delete_with_links()
    assert_counts_are_exact()
    assert not Document.objects.filter(kind__in=["entry", "note"]).exists()
    assert Posting.objects.filter(document__kind="tool").exists()


@pytest.mark.django_db
def test_the_query_idf_computed_in_sql_is_bm25_idf(make_entry):
    from search.engine import keyword_side

    make_entry("kv-cache", "KV cache", body="Keys and values kept per token.")
    make_entry("gqa", "Grouped-query attention", body="Fewer key and value heads.")
    terms = keyword_side("keys values heads", None, 10).terms
    documents = dict(Lexeme.objects.values_list("lexeme", "documents"))
    assert {t.lexeme for t in terms} == {"key", "valu", "head"}
    for term in terms:
        assert term.idf == pytest.approx(bm25.idf(documents[term.lexeme], Corpus.current().documents))
