"""Notes appear in the site's search (API and page) only for those who may read them."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_entry, make_note, member, other_member, embeddings):
    entry = make_entry("kv-cache", "KV cache", body="Keys and values kept for every token.")
    make_note(member, title="Our 3090 benchmark", body="Q4_K_M gave 41 tokens per second on the RTX 3090.",
              visibility="private", entry=entry)
    make_note(member, title="Team lunch rota", body="Pizza on Fridays near the RTX 3090 rack.",
              visibility="team")
    make_note(member, title="Public tip", body="Flash attention saves memory on the RTX 3090.",
              visibility="public")
    return entry


def titles(response):
    return [r["title"] for r in response.json()["results"] if r["type"] == "note"]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_search_shows_each_reader_only_the_notes_they_may_read(api_client, world, member, other_member, mode):
    params = {"q": "RTX 3090", "mode": mode, "limit": 20}
    assert set(titles(api_client.get("/api/v1/search/", params))) == {"Public tip"}
    api_client.force_authenticate(other_member)
    assert set(titles(api_client.get("/api/v1/search/", params))) == {"Public tip", "Team lunch rota"}
    api_client.force_authenticate(member)
    assert set(titles(api_client.get("/api/v1/search/", params))) == {
        "Public tip", "Team lunch rota", "Our 3090 benchmark"}


def test_note_results_carry_an_id_not_a_slug(api_client, world, member):
    api_client.force_authenticate(member)
    results = api_client.get("/api/v1/search/", {"q": "41 tokens per second"}).json()["results"]
    note = next(r for r in results if r["type"] == "note")
    assert isinstance(note["id"], int) and "slug" not in note
    assert note["title"] == "Our 3090 benchmark"
    entry = next(r for r in results if r["type"] == "entry")
    assert entry["slug"] and "id" not in entry


def test_the_search_page_lists_notes_for_signed_in_members(client, world, member):
    client.force_login(member)
    html = client.get("/search/", {"q": "RTX 3090"}).content.decode()
    assert "Our 3090 benchmark" in html and "Team lunch rota" in html


def test_renaming_an_entry_relinks_the_notes_that_mention_it(make_entry, make_note, member):
    entry = make_entry("kv-cache", "KV cache")
    note = make_note(member, body="The attention cache grows.")
    assert "/glossary/kv-cache/" not in note.body_html
    entry.apply_edit({"aliases": ["attention cache"]})
    note.refresh_from_db()
    assert 'href="/glossary/kv-cache/"' in note.body_html
