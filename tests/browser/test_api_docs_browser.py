"""The API docs pages in Chromium, under the site's Content-Security-Policy (issue 20.3)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def problems_of(page):
    found = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.append(str(e)))
    page.on("requestfailed", lambda r: found.append("failed " + r.url))
    return found


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_redoc_renders_offline_within_the_csp(live_server, page, width, height):
    problems = problems_of(page)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server.url + "/api/redoc/")
    # Redoc lists every area as a section and each operation under it.
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page.locator("#tag\\/search")).to_be_attached(timeout=20_000)
    expect(page.locator("h2", has_text="Search entries, the notes you may read, and the site's tools").first).to_be_attached()
    # Its styles applied (a CSP block leaves the page unstyled): the menu is laid out as a column.
    assert page.evaluate("getComputedStyle(document.querySelector('.menu-content')).display") != "inline"
    # The one thing refused is Redoc's "by Redocly" logo from its CDN: nothing leaves the site.
    refused = [p for p in problems if "cdn.redoc.ly" not in p]
    assert not [p for p in refused if "Content Security Policy" in p or "failed" in p], refused
    if width > 800:  # on a phone the menu, and its search box, sit behind a button
        # Search works (it runs in a worker).
        page.get_by_placeholder("Search...").fill("perplexity")
        results = page.locator("[data-role='search:results']")
        expect(results.get_by_role("menuitem", name="Perplexity of a text under the model")).to_be_visible()
    page.get_by_role("link", name="◆ Field Guide").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_swagger_groups_operations_by_area_and_leads_back(live_server, page):
    problems = problems_of(page)
    page.goto(live_server.url + "/api/docs/")
    sections = page.locator(".opblock-tag-section h3")
    expect(sections.first).to_be_visible(timeout=20_000)
    names = [name.split("\n")[0].strip() for name in sections.all_inner_texts()]
    assert names[:6] == ["glossary", "search", "notes", "calculators", "live", "accounts"], names
    # Public reads carry no padlock demand: the search operation says no authorisation is needed.
    assert not [p for p in problems if "Content Security Policy" in p], problems
    page.get_by_role("link", name="Redoc").click()
    expect(page).to_have_url(re.compile(r"/api/redoc/$"))
    page.get_by_role("link", name="◆ Field Guide").click()
    expect(page.get_by_role("heading", name="Field Guide", level=1)).to_be_visible()
