"""Loading fixtures is idempotent and exporting them back is lossless."""

from pathlib import Path

import pytest
from django.core.management import call_command

from glossary import fixtures
from glossary.models import Entry, Revision
from search.models import Passage

ROOT = Path(__file__).resolve().parents[2]


def test_every_fixture_file_parses_and_names_a_known_category():
    categories = {c["slug"] for c in fixtures.read_categories(ROOT / "fixtures" / "categories.yaml")}
    files = fixtures.read_directory(ROOT / "fixtures" / "glossary")
    assert len(files) >= 20
    for entry_file in files:
        assert entry_file.category in categories, entry_file.slug
        assert entry_file.sources and all(s["title"] for s in entry_file.sources)


def test_a_fixture_with_no_sources_is_rejected():
    with pytest.raises(fixtures.FixtureError, match="missing sources"):
        fixtures.parse("x", "---\nterm: X\ncategory: formats\nsummary: s\n---\nbody")


def test_dump_then_parse_gives_back_the_same_content():
    for entry_file in fixtures.read_directory(ROOT / "fixtures" / "glossary"):
        again = fixtures.parse(entry_file.slug, fixtures.dump(entry_file.content()))
        assert again == entry_file


@pytest.mark.django_db
def test_loading_twice_changes_nothing_the_second_time(glossary):
    revisions = Revision.objects.count()
    passages = dict(Passage.objects.values_list("id", "text_hash"))
    call_command("load_glossary", verbosity=0)
    call_command("reindex", verbosity=0)
    assert Revision.objects.count() == revisions
    assert dict(Passage.objects.values_list("id", "text_hash")) == passages


@pytest.mark.django_db
def test_export_then_load_round_trips_losslessly(glossary, tmp_path):
    before = {e.slug: e.content() for e in Entry.objects.select_related("category")}
    call_command("export_glossary", directory=str(tmp_path / "glossary"), verbosity=0)
    (tmp_path / "categories.yaml").write_text((ROOT / "fixtures" / "categories.yaml").read_text())
    exported = {p.stem: p.read_text() for p in (tmp_path / "glossary").glob("*.md")}
    assert set(exported) == set(before)

    Entry.objects.all().delete()
    call_command("load_glossary", directory=str(tmp_path), verbosity=0)
    after = {e.slug: e.content() for e in Entry.objects.select_related("category")}
    assert after == before

    call_command("export_glossary", directory=str(tmp_path / "again"), verbosity=0)
    assert {p.stem: p.read_text() for p in (tmp_path / "again").glob("*.md")} == exported


@pytest.mark.django_db
def test_a_changed_fixture_updates_only_that_entry(glossary, tmp_path):
    call_command("export_glossary", directory=str(tmp_path / "glossary"), verbosity=0)
    (tmp_path / "categories.yaml").write_text((ROOT / "fixtures" / "categories.yaml").read_text())
    path = tmp_path / "glossary" / "gguf.md"
    path.write_text(path.read_text().replace("\n---\n", "\n---\nA new first paragraph.\n\n", 1))
    revisions = Revision.objects.count()
    call_command("load_glossary", directory=str(tmp_path), verbosity=0)
    assert Revision.objects.count() == revisions + 1
    assert Entry.objects.get(slug="gguf").body.startswith("A new first paragraph.")


def test_no_two_entries_answer_to_the_same_name():
    assert fixtures.name_clashes(fixtures.read_directory(ROOT / "fixtures" / "glossary")) == {}


def test_the_loader_refuses_names_that_two_entries_share():
    files = [fixtures.parse("a", "---\nterm: A\naliases: [shared]\ncategory: formats\nsummary: s\nsources: [{title: t}]\n---\n"),
             fixtures.parse("b", "---\nterm: B\naliases: [Shared]\ncategory: formats\nsummary: s\nsources: [{title: t}]\n---\n")]
    assert fixtures.name_clashes(files) == {"shared": {"a", "b"}}


def test_search_aliases_round_trip_and_stay_out_of_the_displayed_aliases():
    text = ("---\nterm: LLaMA-Factory\naliases: [LlamaFactory]\nsearch_aliases: [Kkama factory]\n"
            "category: tools-and-models\nsummary: s\nsources: [{title: t, url: 'https://example.org'}]\n---\nBody\n")
    entry_file = fixtures.parse("llama-factory", text)
    assert entry_file.aliases == ["LlamaFactory"] and entry_file.search_aliases == ["Kkama factory"]
    dumped = fixtures.dump(entry_file.content())
    assert "search_aliases:\n- Kkama factory\n" in dumped
    assert fixtures.parse("llama-factory", dumped) == entry_file


def test_an_entry_without_search_aliases_is_written_without_the_field():
    entry_file = fixtures.parse("x", "---\nterm: X\ncategory: formats\nsummary: s\nsources: [{title: t}]\n---\n")
    assert entry_file.search_aliases == []
    assert "search_aliases" not in fixtures.dump(entry_file.content())


def test_search_aliases_must_be_a_list():
    with pytest.raises(fixtures.FixtureError, match="search_aliases must be a list"):
        fixtures.parse("x", "---\nterm: X\nsearch_aliases: typo\ncategory: formats\nsummary: s\n"
                            "sources: [{title: t}]\n---\n")


def test_a_search_alias_clashes_with_another_entrys_name():
    files = [fixtures.parse("a", "---\nterm: A\nsearch_aliases: [Shared]\ncategory: formats\nsummary: s\nsources: [{title: t}]\n---\n"),
             fixtures.parse("b", "---\nterm: B\naliases: [shared]\ncategory: formats\nsummary: s\nsources: [{title: t}]\n---\n")]
    assert fixtures.name_clashes(files) == {"shared": {"a", "b"}}


@pytest.mark.django_db
def test_loaded_search_aliases_answer_lookups(glossary):
    assert glossary.matching("Kkama factory").get().slug == "llama-factory"
    assert glossary.get(slug="llama-factory").search_aliases == ["Kkama factory"]


@pytest.mark.django_db
def test_every_wiki_link_in_the_loaded_glossary_resolves(glossary):
    from glossary.models import MissingLink

    assert list(MissingLink.objects.values_list("source__slug", "target_text")) == []
