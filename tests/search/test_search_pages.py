"""The search page, the header box and wiki-style entry addresses."""

import re

import pytest

pytestmark = pytest.mark.django_db


def header_value(html: str) -> str:
    box = re.search(r'<input id="header-q"[^>]*>', html).group(0)
    return re.search(r'value="([^"]*)"', box).group(1)


def test_the_header_box_is_not_filled_by_other_pages_filters(client, glossary):
    # /notes/ passes its own filter string as `query`; the header box must not show it.
    assert header_value(client.get("/notes/", {"author": "x"}).content.decode()) == ""
    assert header_value(client.get("/search/", {"q": "kv cache"}).content.decode()) == "kv cache"


def test_the_header_box_opens_an_exact_term_and_searches_anything_else(client, glossary):
    assert client.get("/search/", {"q": "KV cache", "go": "1"}).url == "/glossary/kv-cache/"
    response = client.get("/search/", {"q": "how big is the kv cache", "go": "1"})
    assert response.status_code == 200 and "KV cache" in response.content.decode()


def test_the_results_page_shows_corrections_and_no_scores(client, glossary):
    html = client.get("/search/", {"q": "flash atention", "mode": "keyword"}).content.decode()
    assert "Showing results for <strong>flash attention</strong>" in html
    assert "exact=1" in html
    assert 'class="score"' not in html and not re.search(r">\s*0\.0\d{3}\s*<", html)


def test_a_page_query_that_finds_nothing_lists_close_terms(client, glossary):
    html = client.get("/search/", {"q": "quantizaton zzqx", "exact": "1"}).content.decode()
    assert "Nothing matches" in html and 'href="/glossary/quantization/"' in html


def test_bad_page_input_is_shown_inline_with_a_400(client, glossary):
    response = client.get("/search/", {"q": "kv", "mode": "fuzzy"})
    assert response.status_code == 400 and "mode:" in response.content.decode()


@pytest.mark.parametrize("address, target", [
    ("/glossary/KV-Cache/", "/glossary/kv-cache/"),
    ("/glossary/llama.cpp/", "/glossary/llama-cpp/"),
    ("/glossary/LLAMA-CPP/", "/glossary/llama-cpp/"),
    ("/glossary/nucleus%20sampling/", "/glossary/top-p/"),
    ("/glossary/Q4_K_M/", "/glossary/q4-k-m/"),
])
def test_any_name_of_an_entry_redirects_to_it(client, glossary, address, target):
    response = client.get(address)
    assert response.status_code == 302 and response.url == target


def test_an_unknown_entry_is_a_404_listing_the_closest(client, glossary):
    response = client.get("/glossary/quantisaton/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "No entry called “quantisaton”" in html and 'href="/glossary/quantization/"' in html
    assert client.get("/glossary/zzzzzz/").status_code == 404
