import re

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
    assert '<div class="rdiff-cell old changed"><del>alpha</del></div>' in html
    assert '<div class="rdiff-cell new changed"><ins>gamma</ins></div>' in html
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


def test_a_diff_marks_the_changed_words_side_by_side(client, editor, make_entry):
    entry = make_entry("gqa", "GQA", body="Keys and values are shared by groups of heads.\nUnchanged line.")
    entry.apply_edit({"body": "Keys and values are shared by small groups of query heads.\nUnchanged line."},
                     author=editor)
    html = client.get("/glossary/gqa/history/?from=1&to=2").content.decode()
    assert ('<div class="rdiff-cell old changed">Keys and values are shared by groups of heads.</div>'
            in html)
    assert ('<div class="rdiff-cell new changed">Keys and values are shared by <ins>small</ins> '
            'groups of <ins>query</ins> heads.</div>') in html
    assert '<div class="rdiff-head">Revision 1</div><div class="rdiff-head">Revision 2</div>' in html


def test_any_old_revision_can_be_viewed(client, editor, make_entry):
    make_entry("kv-cache", "KV cache")
    entry = make_entry("gqa", "GQA", body="Shares the [[KV cache]] in the first version.")
    entry.apply_edit({"body": "Rewritten.", "summary": "Newer summary."}, author=editor, message="rewrite")
    response = client.get("/glossary/gqa/history/1/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Revision 1 of 2" in html and "This is not the current version." in html
    assert 'href="/glossary/kv-cache/"' in html and "in the first version" in html
    assert "Rewritten." not in html and "Newer summary." not in html
    assert 'href="/glossary/gqa/history/?from=1&amp;to=2"' in html
    assert client.get("/glossary/gqa/history/9/").status_code == 404
    assert 'href="/glossary/gqa/history/1/"' in client.get("/glossary/gqa/history/").content.decode()


def test_a_missing_link_offers_editors_to_create_the_entry(client, editor, member, make_entry):
    make_entry("gqa", "GQA", body="See [[Paged attention]].")
    assert "Create this entry" not in client.get("/glossary/missing/?term=Paged%20attention").content.decode()
    client.force_login(member)
    assert "Create this entry" not in client.get("/glossary/missing/?term=Paged%20attention").content.decode()
    client.force_login(editor)
    html = client.get("/glossary/missing/?term=Paged%20attention").content.decode()
    assert 'href="/glossary/new/?term=Paged%20attention">Create this entry</a>' in html
    form = client.get("/glossary/new/?term=Paged%20attention").content.decode()
    assert 'name="term" value="Paged attention"' in form
    assert 'href="/glossary/gqa/">GQA</a> point at “Paged attention”' in form


def test_each_backlink_shows_the_sentence_that_links(client, make_entry):
    make_entry("kv-cache", "KV cache")
    make_entry("gqa", "GQA", body="Intro sentence. GQA shrinks the [[KV cache]] by sharing heads. Later text.")
    make_entry("mla", "MLA", body="MLA compresses the KV cache instead.")
    html = client.get("/glossary/kv-cache/").content.decode()
    assert ('<q class="link-sentence">GQA shrinks the <mark>KV cache</mark> by sharing heads.</q>'
            in html)
    assert '<q class="link-sentence">MLA compresses the <mark>KV cache</mark> instead.</q>' in html
    assert "Linked from 2 entries" in html


def test_index_sorts_as_a_reader_expects_with_one_heading_per_letter(client, make_entry):
    for slug, term in [("awq", "AWQ"), ("active", "Active parameters"), ("vllm", "vLLM"),
                       ("llama-cpp", "llama.cpp"), ("lora", "LoRA"), ("bnb", "bitsandbytes"),
                       ("bf16", "BF16"), ("eleuther", "Éval harness"), ("ternary", "1.58-bit"),
                       ("zeta", "Zeta"), ("gpt-oss", "gpt-oss")]:
        make_entry(slug, term)
    html = client.get("/glossary/").content.decode()
    headings = re.findall(r'<section id="letter-(\w+)"', html)
    assert headings == ["digits", "A", "B", "E", "G", "L", "V", "Z"]
    terms = re.findall(r'<dt><a class="wikilink" data-slug="[^"]+" href="[^"]+">([^<]+)</a>', html)
    assert terms == ["1.58-bit", "Active parameters", "AWQ", "BF16", "bitsandbytes", "Éval harness",
                     "gpt-oss", "llama.cpp", "LoRA", "vLLM", "Zeta"]


def test_backlinks_and_lists_sort_the_same_way(client, make_entry):
    make_entry("hub", "Hub")
    for slug, term in [("b1", "bitsandbytes"), ("b2", "BF16"), ("a1", "AWQ"), ("a2", "Active parameters")]:
        make_entry(slug, term, body="Links to [[Hub]].")
    html = client.get("/glossary/hub/").content.decode()
    backlinks = html[html.index('class="linked-from"'):]
    order = [backlinks.index(f">{term}</a>") for term in ["Active parameters", "AWQ", "BF16", "bitsandbytes"]]
    assert order == sorted(order)
    api = client.get("/api/v1/entries/?page_size=100").json()["results"]
    assert [e["term"] for e in api] == ["Active parameters", "AWQ", "BF16", "bitsandbytes", "Hub"]


def test_the_index_filter_works_without_script(client, make_entry):
    make_entry("kv-cache", "KV cache", aliases=["key-value cache"])
    make_entry("q4-k-m", "Q4_K_M")
    make_entry("lora", "LoRA")
    html = client.get("/glossary/?q=q4 k m").content.decode()
    assert "1 of 3 entries" in html
    assert re.search(r'<div class="az-entry" data-names="Q4_K_M">', html)
    assert re.search(r'<div class="az-entry" data-names="LoRA" hidden>', html)
    assert '<section id="letter-L" class="az-group" data-az-group="L" hidden>' in html
    assert "1 of 3" in client.get("/glossary/?q=VALUE-cache").content.decode()
    nothing = client.get("/glossary/?q=" + "zzz" * 100).content.decode()
    assert "0 of 3 entries" in nothing and 'data-az-none>' in nothing
