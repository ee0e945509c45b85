"""Search aliases: spellings that find an entry (a common misspelling, say) but are never shown."""

import pytest

from glossary.models import Entry

pytestmark = pytest.mark.django_db

TYPO = "Kkama factory"


@pytest.fixture
def factory_entry(make_entry):
    make_entry("unsloth", "Unsloth", body="Often compared with [[LLaMA-Factory]].")
    entry = make_entry("llama-factory", "LLaMA-Factory", aliases=["LlamaFactory"],
                       body="A fine-tuning framework.", category="tools-and-models")
    entry.apply_edit({"search_aliases": [TYPO]}, message="add a hidden spelling")
    return entry


def test_lookup_finds_an_entry_by_its_search_alias_and_reports_the_term(api_client, factory_entry):
    response = api_client.get("/api/v1/lookup/", {"q": "kkama-FACTORY"})
    assert response.status_code == 200
    assert response.json() == {"slug": "llama-factory", "term": "LLaMA-Factory", "matched": "LLaMA-Factory"}


def test_keyword_search_ranks_the_entry_first_for_its_search_alias(api_client, factory_entry):
    response = api_client.get("/api/v1/search/", {"q": "kkama", "mode": "keyword"})
    assert response.status_code == 200
    assert response.json()["results"][0]["slug"] == "llama-factory"


def test_no_page_or_api_answer_shows_a_search_alias(client, api_client, factory_entry):
    shown = [
        client.get("/glossary/llama-factory/").content.decode(),
        client.get("/glossary/llama-factory/history/").content.decode(),
        client.get("/glossary/").content.decode(),
        api_client.get("/api/v1/entries/llama-factory/").content.decode(),
        api_client.get("/api/v1/entries/", {"search": "LLaMA"}).content.decode(),
        api_client.get("/api/v1/entries/llama-factory/revisions/").content.decode(),
        api_client.get(f"/api/v1/entries/llama-factory/revisions/{factory_entry.revision}/").content.decode(),
    ]
    assert all("Kkama" not in text for text in shown)
    assert "LlamaFactory" in shown[0]  # displayed aliases still are


def test_a_search_alias_does_not_become_a_wiki_link_or_an_auto_link(make_entry, factory_entry):
    entry = make_entry("notes-entry", "Other", body="Typed as Kkama factory, or [[Kkama factory]].")
    assert not entry.outgoing.filter(target=factory_entry).exists()
    assert entry.missing_links.filter(target_text=TYPO).exists()


def test_editing_through_the_form_keeps_the_search_aliases(client, editor, factory_entry):
    client.force_login(editor)
    response = client.post("/glossary/llama-factory/edit/", {
        "term": "LLaMA-Factory", "aliases": "LlamaFactory", "category": "tools-and-models",
        "summary": "A fine-tuning framework.", "body": "Edited.", "sources": "Test source",
        "message": "", "base_revision": factory_entry.revision})
    assert response.status_code == 302
    factory_entry.refresh_from_db()
    assert factory_entry.body == "Edited." and factory_entry.search_aliases == [TYPO]


def test_restoring_an_old_revision_restores_its_search_aliases(factory_entry):
    with_typo = factory_entry.revision
    factory_entry.apply_edit({"search_aliases": []})
    assert not Entry.objects.matching(TYPO).exists()
    content = factory_entry.revisions.get(number=with_typo).content
    factory_entry.apply_edit(content, message=f"Restored revision {with_typo}")
    assert Entry.objects.matching(TYPO).get() == factory_entry


def test_a_displayed_alias_may_not_take_another_entrys_search_alias(api_client, editor, factory_entry):
    api_client.force_authenticate(editor)
    unsloth = Entry.objects.get(slug="unsloth")
    response = api_client.patch("/api/v1/entries/unsloth/",
                                {"aliases": ["kkama factory"], "revision": unsloth.revision}, format="json")
    assert response.status_code == 400
    assert "aliases" in response.json()
