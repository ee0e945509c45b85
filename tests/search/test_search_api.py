"""GET /api/v1/search/ and /api/v1/search/suggestions/: results, corrections, bad input."""

import pytest

pytestmark = pytest.mark.django_db


def search(api_client, **params):
    response = api_client.get("/api/v1/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_results_are_entries_and_tools_without_raw_scores(api_client, glossary):
    body = search(api_client, q="will a 70B model fit on two 3090s", limit=10)
    assert body["corrected"] == "" and body["close_terms"] == []
    for result in body["results"]:
        assert set(result) == {"type", "title", "url", "snippet", "category", "slug"}
        assert "score" not in result
    tool = next(r for r in body["results"] if r["type"] == "tool")
    assert tool["url"] == "/calculators/memory/?model=llama-3.3-70b&gpu=rtx-3090&gpu_count=2"
    assert tool["category"] == "Calculator" and tool["slug"] == "memory"


def test_an_exact_term_or_alias_comes_first_in_every_mode(api_client, glossary):
    for text, slug in [("nucleus sampling", "top-p"), ("q4-k-m", "q4-k-m"), ("bfloat16", "bf16"),
                       ("KV cache", "kv-cache")]:
        for mode in ("hybrid", "semantic", "keyword"):
            assert search(api_client, q=text, mode=mode)["results"][0]["slug"] == slug, (text, mode)


def test_a_misspelt_word_is_corrected_unless_asked_not_to(api_client, glossary):
    body = search(api_client, q="falsh atention", mode="keyword")
    assert body["corrected"] == "flash attention"
    assert body["results"][0]["slug"] == "flash-attention"
    exact = search(api_client, q="falsh atention", mode="keyword", exact="true")
    assert exact["corrected"] == ""


def test_snippets_are_text_with_marked_query_words(api_client, glossary):
    for result in search(api_client, q="what does min-p do")["results"]:
        snippet = result["snippet"]
        for markup in ("[[", "]]", "$", "**", "`", "|"):
            assert markup not in snippet, (result["title"], snippet)
    top = search(api_client, q="min-p threshold", mode="keyword")["results"][0]
    assert "<mark>" in top["snippet"] and top["snippet"].count("<mark>") == top["snippet"].count("</mark>")


def test_nonsense_finds_nothing_and_offers_close_terms(api_client, glossary):
    body = search(api_client, q="asdkjh qwepoi")
    assert body["results"] == []
    body = search(api_client, q="quantizaton zzqx", exact="true")
    assert body["results"] == []
    assert "quantization" in [t["slug"] for t in body["close_terms"]]
    assert body["close_terms"][0]["url"].startswith("/glossary/")


@pytest.mark.parametrize("params, field", [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 301}, "q"), ({"q": "kv", "mode": "fuzzy"}, "mode"),
    ({"q": "kv", "limit": "0"}, "limit"), ({"q": "kv", "limit": "51"}, "limit"), ({"q": "kv", "exact": "maybe"}, "exact"),
])
def test_bad_input_is_a_400_naming_the_field(api_client, params, field):
    response = api_client.get("/api/v1/search/", params)
    assert response.status_code == 400 and field in response.json()


def test_suggestions_start_with_what_was_typed_titles_first(api_client, glossary):
    body = api_client.get("/api/v1/search/suggestions/", {"q": "kv c"}).json()
    titles = [s["title"] for s in body["suggestions"]]
    assert titles[0] == "KV cache" and "KV cache quantization" in titles
    assert all(s["url"].startswith("/glossary/") for s in body["suggestions"])


def test_suggestions_name_the_alias_that_matched_and_include_tools(api_client, glossary):
    nucleus = api_client.get("/api/v1/search/suggestions/", {"q": "nucleus"}).json()["suggestions"][0]
    assert (nucleus["title"], nucleus["url"], nucleus["type"]) == ("Top-p (nucleus sampling)", "/glossary/top-p/", "entry")
    assert nucleus["matched"].startswith("nucleus")
    vram = api_client.get("/api/v1/search/suggestions/", {"q": "vram calc"}).json()["suggestions"]
    assert vram[0]["type"] == "tool" and vram[0]["url"] == "/calculators/memory/"


@pytest.mark.parametrize("params, field", [({}, "q"), ({"q": " "}, "q"), ({"q": "kv", "limit": "21"}, "limit")])
def test_suggestions_refuse_bad_input(api_client, params, field):
    response = api_client.get("/api/v1/search/suggestions/", params)
    assert response.status_code == 400 and field in response.json()


def test_results_show_entries_as_they_are_now(api_client, glossary):
    """Entries' result rows are kept between searches; an edit or a renamed category shows
    in the next search all the same."""
    from glossary.models import Category

    def min_p():
        return next(r for r in search(api_client, q="min-p threshold", mode="keyword")["results"]
                    if r["slug"] == "min-p")

    before = min_p()
    entry = glossary.get(slug="min-p")
    entry.apply_edit({"summary": "Min-p keeps the tokens above a threshold scaled by the likeliest one, quokka."})
    assert "quokka" in min_p()["snippet"] and "quokka" not in before["snippet"]
    Category.objects.filter(pk=entry.category_id).update(name="Renamed category")
    assert min_p()["category"] == "Renamed category"


def test_a_glossary_change_that_leaves_updated_at_alone_still_renews_the_cached_rows(glossary):
    """A queryset's update() writes no updated_at (glossary.links.refresh_links re-renders other
    entries' bodies that way): the cached rows and names are built again all the same."""
    from glossary.models import Entry, glossary_version
    from search import engine

    entry = Entry.objects.get(slug="gguf")
    document_id = entry.search_document.id
    before = engine.keyword_side("gguf", None, 10).version
    names_before = glossary_version()
    assert engine.public_rows(before)[document_id].body_html == entry.body_html
    Entry.objects.filter(pk=entry.pk).update(body_html="<p>A file format, changed in place.</p>")
    after = engine.keyword_side("gguf", None, 10).version
    assert after != before and glossary_version() != names_before
    assert engine.public_rows(after)[document_id].body_html == "<p>A file format, changed in place.</p>"
