import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_home_page_search_box_finds_an_entry_and_opens_it(live_server, load_content, page):
    page.goto(live_server.url + "/")
    expect(page).to_have_title(re.compile("Field Guide"))
    expect(page.get_by_role("heading", name="Field Guide", level=1)).to_be_visible()

    box = page.locator("#header-q")
    box.fill("GGUF file format")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=GGUF"))
    first = page.locator("ol.results a.result-link").first
    expect(first.locator(".result-title")).to_have_text("GGUF")

    first.click()
    expect(page).to_have_url(re.compile(r"/glossary/gguf/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("GGUF")


def test_search_page_updates_results_as_you_type(live_server, load_content, page):
    page.goto(live_server.url + "/search/")
    page.locator("#search-q").press_sequentially("kv cache", delay=30)
    expect(page.locator("ol.results .result-title").first).to_be_visible()
    assert "q=kv+cache" in page.url or "q=kv%20cache" in page.url
    # Keyboard navigation: ArrowDown focuses the first result, Enter opens it.
    page.locator("#search-q").press("ArrowDown")
    title = page.locator("ol.results a.result-link").first.locator(".result-title").inner_text()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
