import pytest

from glossary.models import Entry

pytestmark = pytest.mark.django_db


def form_data(entry, **changes):
    data = {"term": entry.term, "aliases": "\n".join(entry.aliases), "category": entry.category.slug,
            "summary": entry.summary, "body": entry.body, "sources": "Test source",
            "message": "", "base_revision": entry.revision}
    data.update(changes)
    return data


def test_entry_page_shows_body_sources_and_backlinks(client, make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "GQA", body="Shrinks the [[KV cache]].")
    html = client.get("/glossary/kv-cache/").content.decode()
    assert "Linked from" in html and 'href="/glossary/gqa/"' in html
    assert "Test source" in html


def test_readers_and_members_cannot_open_the_editor(client, member, make_entry):
    make_entry("gqa", "GQA")
    assert client.get("/glossary/gqa/edit/").status_code == 302  # to sign in
    client.force_login(member)
    assert client.get("/glossary/gqa/edit/").status_code == 403
    assert client.post("/glossary/gqa/edit/", {}).status_code == 403


def test_an_editor_saves_an_edit_with_a_message(client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="v1")
    client.force_login(editor)
    response = client.post("/glossary/gqa/edit/", form_data(entry, body="v2 with [[GQA]]", message="typo"))
    assert response.status_code == 302 and response["Location"] == "/glossary/gqa/"
    entry.refresh_from_db()
    assert entry.body == "v2 with [[GQA]]" and entry.revisions.first().message == "typo"


def test_invalid_input_keeps_what_was_typed_and_names_the_field(client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="v1")
    client.force_login(editor)
    response = client.post("/glossary/gqa/edit/", form_data(entry, term="", body="my long draft"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "my long draft" in html and "This field is required" in html
    assert Entry.objects.get(slug="gqa").body == "v1"


def test_a_stale_edit_shows_the_conflict_screen_with_both_versions(client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="original")
    stale = form_data(entry, body="my version")
    entry.apply_edit({"body": "their version"}, base_revision=entry.revision)
    client.force_login(editor)
    response = client.post("/glossary/gqa/edit/", stale)
    assert response.status_code == 409
    html = response.content.decode()
    assert "their version" in html and "my version" in html and "Edit conflict" in html
    assert Entry.objects.get(slug="gqa").body == "their version"


def test_history_diffs_any_two_revisions_and_restore_brings_one_back(client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="alpha")
    entry.apply_edit({"body": "beta"}, author=editor, message="b")
    entry.apply_edit({"body": "gamma"}, author=editor, message="c")
    html = client.get("/glossary/gqa/history/?from=1&to=3").content.decode()
    assert '<span class="diff-removed">- alpha</span>' in html
    assert '<span class="diff-added">+ gamma</span>' in html
    client.force_login(editor)
    response = client.post("/glossary/gqa/history/1/restore/")
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.body == "alpha" and entry.revision == 4
    assert entry.revisions.first().message == "Restored revision 1"


def test_live_preview_renders_markdown_with_links(client, editor, make_entry):
    make_entry("kv-cache", "KV cache")
    client.force_login(editor)
    response = client.post("/glossary/preview/", {"body": "The [[KV cache]] and $x^2$ <script>x</script>"})
    html = response.content.decode()
    assert 'href="/glossary/kv-cache/"' in html and "<msup>" in html and "<script" not in html


def test_missing_links_page_lists_targets_and_where_they_are(client, make_entry):
    make_entry("gqa", "GQA", body="See [[Paged attention]].")
    html = client.get("/glossary/missing/").content.decode()
    assert "Paged attention" in html and 'href="/glossary/gqa/"' in html


def test_index_and_category_pages_list_entries(client, make_entry):
    make_entry("gqa", "GQA", category="architecture")
    assert 'href="/glossary/gqa/"' in client.get("/glossary/").content.decode()
    assert 'href="/glossary/gqa/"' in client.get("/glossary/category/architecture/").content.decode()
