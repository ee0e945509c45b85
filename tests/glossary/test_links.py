"""Backlinks stay exact as entries are created, edited and deleted."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from glossary.models import Entry, Link, MissingLink

pytestmark = pytest.mark.django_db


def backlinks(slug):
    return sorted(Entry.objects.get(slug=slug).incoming.values_list("source__slug", flat=True))


def test_explicit_and_automatic_links_become_backlinks(make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "Grouped-query attention", aliases=["GQA"], body="GQA shrinks the KV cache.")
    make_entry("mqa", "Multi-query attention", body="The extreme of [[GQA]].")
    assert backlinks("kv-cache") == ["gqa"]
    assert backlinks("gqa") == ["mqa"]
    assert Link.objects.get(source__slug="mqa").automatic is False
    assert Link.objects.get(source__slug="gqa").automatic is True


def test_a_new_entry_picks_up_mentions_that_already_exist(make_entry):
    make_entry("gqa", "Grouped-query attention", body="GQA shrinks the KV cache.")
    assert backlinks("gqa") == []
    make_entry("kv-cache", "KV cache")
    assert backlinks("kv-cache") == ["gqa"]
    assert 'href="/glossary/kv-cache/"' in Entry.objects.get(slug="gqa").body_html


def test_editing_a_body_updates_its_outgoing_links(make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("mmap", "Memory mapping")
    gqa = make_entry("gqa", "GQA", body="Smaller KV cache.")
    gqa.apply_edit({"body": "Loads with [[Memory mapping]]."}, message="rewrite")
    assert backlinks("kv-cache") == []
    assert backlinks("mmap") == ["gqa"]


def test_renaming_a_term_relinks_other_entries(make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "GQA", body="Smaller attention cache.")
    assert backlinks("kv-cache") == []
    kv = Entry.objects.get(slug="kv-cache")
    kv.apply_edit({"aliases": ["attention cache"]})
    assert backlinks("kv-cache") == ["gqa"]


def test_deleting_an_entry_turns_explicit_links_to_it_into_missing_links(make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "GQA", body="See [[KV cache]].")
    Entry.objects.get(slug="kv-cache").delete_with_links()
    gqa = Entry.objects.get(slug="gqa")
    assert gqa.outgoing.count() == 0
    assert list(MissingLink.objects.filter(source=gqa).values_list("target_text", flat=True)) == ["KV cache"]
    assert "wikilink missing" in gqa.body_html


def test_stale_edits_are_refused(make_entry):
    from glossary.models import StaleRevision

    entry = make_entry("gqa", "GQA", body="v1")
    base = entry.revision
    entry.apply_edit({"body": "v2"}, base_revision=base)
    with pytest.raises(StaleRevision):
        Entry.objects.get(slug="gqa").apply_edit({"body": "v3"}, base_revision=base)
    assert Entry.objects.get(slug="gqa").body == "v2"


def test_entry_page_query_count_does_not_grow_with_links(client, make_entry):
    make_entry("hub", "Hub")
    for i in range(3):
        make_entry(f"spoke-{i}", f"Spoke {i}", body="Back to [[Hub]].")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/glossary/hub/").status_code == 200
    for i in range(3, 12):
        make_entry(f"spoke-{i}", f"Spoke {i}", body="Back to [[Hub]].")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/glossary/hub/")
    assert response.content.decode().count("Spoke ") >= 12
    assert len(many) == len(few)
