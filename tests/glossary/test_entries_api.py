import pytest

from glossary.models import Entry, Revision

pytestmark = pytest.mark.django_db

NEW = {"term": "Speculative decoding", "aliases": ["spec decoding"], "category": "sampling",
       "summary": "A draft model proposes tokens the big model verifies in one pass.",
       "body": "Uses a [[Draft model]].", "sources": [{"title": "Leviathan et al. 2023",
                                                      "url": "https://arxiv.org/abs/2211.17192"}]}


@pytest.fixture
def sampling_category(db):
    from glossary.models import Category

    # Start from an empty glossary (inside the test's transaction), whichever test loaded the
    # real content before this one.
    Entry.objects.all().delete()
    return Category.objects.get_or_create(slug="sampling", defaults={"name": "Sampling"})[0]


def test_entry_detail_has_the_documented_shape(api_client, make_entry):
    make_entry("kv-cache", "KV cache", aliases=["KV-cache"])
    make_entry("gqa", "GQA", body="Shrinks the [[KV cache]].")
    body = api_client.get("/api/v1/entries/gqa/").json()
    assert set(body) == {"slug", "term", "aliases", "category", "summary", "body", "body_html",
                         "links_to", "linked_from", "sources", "revision", "updated_at"}
    assert body["links_to"] == [{"slug": "kv-cache", "term": "KV cache"}]
    assert set(body["category"]) >= {"slug", "name"}
    kv = api_client.get("/api/v1/entries/kv-cache/").json()
    assert kv["linked_from"] == [{"slug": "gqa", "term": "GQA", "sentence": "Shrinks the KV cache."}]


def test_entries_filter_by_category_and_search(api_client, make_entry):
    make_entry("kv-cache", "KV cache", body="cache of keys", category="runtime")
    make_entry("gqa", "GQA", body="grouped heads", category="architecture")
    assert [e["slug"] for e in api_client.get("/api/v1/entries/?category=runtime").json()["results"]] == ["kv-cache"]
    assert [e["slug"] for e in api_client.get("/api/v1/entries/?search=grouped").json()["results"]] == ["gqa"]


@pytest.mark.parametrize("text", ["kv cache", "KV-CACHE", "kv_cache", "  Kv   Cache "])
def test_lookup_matches_terms_and_aliases_loosely(api_client, make_entry, text):
    make_entry("kv-cache", "KV cache", aliases=["key-value cache"])
    assert api_client.get("/api/v1/lookup/", {"q": text}).json() == {
        "slug": "kv-cache", "term": "KV cache", "matched": "KV cache"}


def test_lookup_reports_the_alias_that_matched(api_client, make_entry):
    make_entry("kv-cache", "KV cache", aliases=["key-value cache"])
    assert api_client.get("/api/v1/lookup/", {"q": "key value cache"}).json()["matched"] == "key-value cache"


def test_lookup_of_an_unknown_term_is_404(api_client, make_entry):
    assert api_client.get("/api/v1/lookup/", {"q": "nothing like it"}).status_code == 404
    assert api_client.get("/api/v1/lookup/").status_code == 400


def test_anonymous_and_plain_members_cannot_write(api_client, member, sampling_category):
    assert api_client.post("/api/v1/entries/", NEW, format="json").status_code in (401, 403)
    api_client.force_authenticate(member)
    assert api_client.post("/api/v1/entries/", NEW, format="json").status_code == 403
    assert not Entry.objects.exists()


def test_an_editor_creates_an_entry_with_a_first_revision(api_client, editor, sampling_category):
    api_client.force_authenticate(editor)
    response = api_client.post("/api/v1/entries/", NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "speculative-decoding" and body["revision"] == 1
    assert "wikilink missing" in body["body_html"]
    revision = Revision.objects.get(entry__slug="speculative-decoding")
    assert revision.author == editor and revision.content["term"] == "Speculative decoding"


@pytest.mark.parametrize("change, field", [
    ({"term": ""}, "term"),
    ({"category": "no-such-category"}, "category"),
    ({"sources": []}, "sources"),
    ({"sources": [{"url": "https://x.org"}]}, "sources"),
    ({"aliases": "not a list"}, "aliases"),
    ({"body": 12}, None),
])
def test_bad_entry_input_is_a_400_naming_the_field(api_client, editor, sampling_category, change, field):
    api_client.force_authenticate(editor)
    response = api_client.post("/api/v1/entries/", {**NEW, **change}, format="json")
    if field is None:
        assert response.status_code in (201, 400)
        return
    assert response.status_code == 400
    assert field in response.json()


def test_a_name_another_entry_answers_to_is_refused(api_client, editor, make_entry, sampling_category):
    make_entry("draft-model", "Draft model", aliases=["spec decoding"])
    api_client.force_authenticate(editor)
    response = api_client.post("/api/v1/entries/", NEW, format="json")
    assert response.status_code == 400
    assert "already names" in response.json()["aliases"][0]


def test_patch_with_the_current_revision_succeeds_and_a_stale_one_is_409(api_client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="v1")
    api_client.force_authenticate(editor)
    first = api_client.patch("/api/v1/entries/gqa/", {"body": "v2", "revision": entry.revision}, format="json")
    assert first.status_code == 200 and first.json()["revision"] == entry.revision + 1
    stale = api_client.patch("/api/v1/entries/gqa/", {"body": "v3", "revision": entry.revision}, format="json")
    assert stale.status_code == 409
    assert stale.json()["current"]["body"] == "v2"
    assert Entry.objects.get(slug="gqa").body == "v2"
    missing = api_client.patch("/api/v1/entries/gqa/", {"body": "v4"}, format="json")
    assert missing.status_code == 400 and "revision" in missing.json()


def test_delete_removes_the_entry_and_its_backlinks(api_client, editor, make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "GQA", body="Shrinks the [[KV cache]].")
    api_client.force_authenticate(editor)
    assert api_client.delete("/api/v1/entries/kv-cache/").status_code == 204
    assert api_client.get("/api/v1/entries/gqa/").json()["links_to"] == []


def test_revisions_are_listed_newest_first_and_readable_one_by_one(api_client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="v1")
    entry.apply_edit({"body": "v2"}, author=editor, message="second")
    listing = api_client.get("/api/v1/entries/gqa/revisions/").json()
    assert [r["number"] for r in listing["results"]] == [2, 1]
    assert listing["results"][0]["author"] == "editor"
    one = api_client.get("/api/v1/entries/gqa/revisions/1/").json()
    assert one["content"]["body"] == "v1"
    assert api_client.get("/api/v1/entries/gqa/revisions/9/").status_code == 404
