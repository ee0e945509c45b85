"""Search in Chromium: readable results, suggestions as you type, phone widths."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_search_page_fits_a_phone_screen(live_server, load_content, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live_server.url + "/search/?q=kv+cache&mode=keyword")
    expect(page.locator("ol.results .result-title").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.get_by_role("button", name="Search").bounding_box()
    assert button["x"] >= 0 and button["x"] + button["width"] <= 390
    context.close()


def test_results_read_as_text_with_the_query_words_marked(live_server, load_content, page):
    page.goto(live_server.url + "/search/?q=min-p+threshold&mode=keyword")
    results = page.locator("ol.results li.result")
    expect(results.first).to_be_visible()
    snippets = results.locator(".snippet").all_inner_texts()
    for text in snippets:
        assert not re.search(r"\[\[|\]\]|\$|\*\*|\|", text), text
    assert results.locator(".snippet mark").count() > 0
    assert page.locator(".score").count() == 0  # no raw fused scores
    assert not re.search(r"\b0\.0\d{3}\b", page.locator("#results").inner_text())


def test_a_misspelt_query_says_what_it_searched_for(live_server, load_content, page):
    page.goto(live_server.url + "/search/?q=flash+atention&mode=keyword")
    expect(page.locator(".corrected")).to_contain_text("Showing results for flash attention")
    expect(page.locator("ol.results .result-title").first).to_have_text(re.compile("Flash attention", re.I))
    page.locator(".corrected a").click()
    expect(page).to_have_url(re.compile(r"exact=1"))
    expect(page.locator(".corrected")).to_have_count(0)


def test_a_query_that_matches_nothing_offers_close_terms(live_server, load_content, page):
    page.goto(live_server.url + "/search/?q=quantizaton+zzqx&mode=keyword&exact=1")
    expect(page.locator(".no-results")).to_contain_text("Nothing matches")
    expect(page.locator(".close-terms a").first).to_be_visible()
    expect(page.locator("ol.results")).to_have_count(0)


def test_the_header_box_suggests_terms_and_the_keyboard_picks_one(live_server, load_content, page):
    page.goto(live_server.url + "/calculators/")
    box = page.locator("#header-q")
    box.press_sequentially("kv ca", delay=40)
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options.first).to_be_visible()
    expect(options.first).to_contain_text("KV cache")
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    box.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    box.press("ArrowDown")  # opens the list again on the first option
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    second = options.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    href = second.locator("a").get_attribute("href")
    box.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))


def test_enter_on_an_exact_term_in_the_header_box_opens_the_entry(live_server, load_content, page):
    page.goto(live_server.url + "/")
    box = page.locator("#header-q")
    box.fill("llama.cpp")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/glossary/llama-cpp/$"))
    box = page.locator("#header-q")
    box.fill("how do I fit a bigger model")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=how"))
