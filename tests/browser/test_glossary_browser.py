import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_open_an_entry_follow_a_link_and_see_a_hover_preview(live_server, load_content, page):
    page.goto(live_server.url + "/glossary/gguf/")
    expect(page.get_by_role("heading", level=1)).to_have_text("GGUF")
    link = page.locator(".prose a.wikilink[data-slug]").first
    slug = link.get_attribute("data-slug")

    link.hover()
    card = page.locator("#preview-card")
    expect(card).to_be_visible()
    expect(card.locator("strong")).not_to_be_empty()
    preview_term = card.locator("strong").inner_text()

    # Keyboard users get the same card on focus, and Escape closes it.
    page.mouse.move(0, 0)
    expect(card).to_be_hidden()
    link.focus()
    expect(card).to_be_visible()
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()

    link.click()
    expect(page).to_have_url(re.compile(rf"/glossary/{slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(preview_term)
    expect(page.locator(".linked-from")).to_contain_text("GGUF")


def test_walk_the_history_of_an_entry(live_server, load_content, page, browser):
    from glossary.models import Entry

    entry = Entry.objects.get(slug="gguf")
    old_summary = entry.summary
    first_word, rest = old_summary.split(" ", 1)
    entry.apply_edit({"body": entry.body + "\n\nA line added later.",
                      "summary": f"{first_word} freshly {rest}"}, message="add a line")
    page.goto(live_server.url + "/glossary/gguf/")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("History")
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("compare from revision 1").check()
    page.get_by_label("compare to revision 2").check()
    page.get_by_role("button", name="Compare").click()
    # Side by side: the old line on the left, the new one on the right, the new words marked.
    expect(page.locator(".rdiff-cell.new ins", has_text="A line added later.")).to_be_visible()
    summary = page.locator("section.rdiff", has=page.get_by_role("heading", name="summary"))
    expect(summary.locator(".rdiff-cell.new ins")).to_have_text("freshly")
    old_box = summary.locator(".rdiff-cell.old").first.bounding_box()
    new_box = summary.locator(".rdiff-cell.new").first.bounding_box()
    assert new_box["x"] > old_box["x"] + old_box["width"] - 1  # two columns

    # Any old revision can be read as it was.
    page.get_by_label("view revision 1").click()
    expect(page.locator(".revision-banner")).to_contain_text("Revision 1 of 2")
    expect(page.locator(".summary")).to_have_text(old_summary)
    expect(page.locator(".prose")).not_to_contain_text("A line added later.")

    # On a phone the two sides stack, and nothing is wider than the screen.
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    small = phone.new_page()
    small.goto(live_server.url + "/glossary/gguf/history/?from=1&to=2")
    cells = small.locator("section.rdiff").first.locator(".rdiff-cell:not(.empty)")
    first, second = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
    assert second["y"] >= first["y"] + first["height"] - 1  # one above the other
    for diff in small.locator("section.rdiff").all():
        box = diff.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    phone.close()


def test_the_a_to_z_index_reads_in_order_with_one_heading_per_letter(live_server, load_content, page, browser):
    page.goto(live_server.url + "/glossary/")
    headings = page.locator(".az-group h2").all_inner_texts()
    letters = [h for h in headings if len(h) == 1]
    assert headings[0] == "0–9 and symbols" or headings[0] == "A"
    assert letters == sorted(set(letters)), headings  # once each, in order
    bar = page.locator("nav.az a").all_inner_texts()
    assert bar[-len(letters):] == letters
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))
    terms = page.locator("#letter-A dt").all_inner_texts()
    assert terms.index("Active parameters") < terms.index("AWQ")
    assert "bitsandbytes" in page.locator("#letter-B dt").all_inner_texts()
    assert "llama.cpp" in page.locator("#letter-L dt").all_inner_texts()

    page.locator("nav.az a", has_text="Q").click()
    expect(page).to_have_url(re.compile(r"#letter-Q$"))
    expect(page.locator("#letter-Q h2")).to_be_in_viewport()

    # The filter box narrows the list as one types, and the letter bar with it.
    box = page.get_by_label("Filter by name")
    box.fill("k m")
    expect(page.locator(".az-entry:visible dt")).to_contain_text(["Q4_K_M", "Q5_K_M"])
    shown = page.locator(".az-entry:visible").count()
    expect(page.locator("#az-filter-count")).to_have_text(re.compile(rf"^{shown} of \d+ entries$"))
    expect(page.locator("nav.az a:visible")).to_have_text(["Q"])
    box.fill("no such entry at all")
    expect(page.locator("[data-az-none]")).to_be_visible()
    box.fill("")
    assert page.locator(".az-entry:visible").count() > 100

    # Without script the same box filters on the server.
    plain = browser.new_context(java_script_enabled=False)
    static = plain.new_page()
    static.goto(live_server.url + "/glossary/")
    static.get_by_label("Filter by name").fill("cache")
    static.get_by_role("button", name="Filter").click()
    expect(static).to_have_url(re.compile(r"\?q=cache$"))
    visible = static.locator(".az-entry:visible dt").all_inner_texts()
    assert "KV cache" in visible and all("cache" in t.lower() or t for t in visible)
    assert len(visible) < 20
    plain.close()


def test_backlinks_show_their_sentence_and_fold_away_on_a_phone(live_server, load_content, page, browser):
    page.goto(live_server.url + "/glossary/quantization/")
    backlinks = page.locator("details.backlinks")
    expect(backlinks).to_have_attribute("open", "")
    first = page.locator(".linked-from li").first
    expect(first.locator("q.link-sentence mark")).to_be_visible()
    sources = page.locator(".linked-from li > a").all_inner_texts()
    assert [s.casefold() for s in sources] == sorted(s.casefold() for s in sources)

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    small = phone.new_page()
    small.goto(live_server.url + "/glossary/quantization/")
    folded = small.locator("details.backlinks")
    expect(folded).not_to_have_attribute("open", "")
    expect(small.locator(".linked-from")).to_be_hidden()
    summary = folded.locator("summary")
    expect(summary).to_contain_text(re.compile(r"Linked from \d+ entries"))
    summary.click()
    expect(small.locator(".linked-from li").first).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()


def test_a_missing_link_leads_an_editor_to_a_prefilled_new_entry(live_server, load_content, page, django_user_model):
    from django.contrib.auth.models import Permission

    from glossary.models import Entry

    # The Editors group comes from a migration, which the live-server flush empties; the
    # permission it grants is recreated after each flush.
    editor = django_user_model.objects.create_user("ed", password="correct horse battery")
    editor.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="glossary", codename__in=["add_entry", "change_entry"]))
    entry = Entry.objects.get(slug="gguf")
    entry.apply_edit({"body": entry.body + "\n\nCompare [[Quokka decoding]]."})
    page.goto(live_server.url + "/accounts/login/?next=/glossary/gguf/")
    page.get_by_label("Username").fill("ed")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name=re.compile("Sign in|Log in")).click()
    expect(page.locator(".account")).to_contain_text("ed")
    page.locator("a.wikilink.missing", has_text="Quokka decoding").click()
    page.get_by_role("link", name="Create this entry").first.click()
    expect(page.get_by_label("Term")).to_have_value("Quokka decoding")
    expect(page.locator(".notice")).to_contain_text("GGUF")


def test_decode_a_model_name_and_open_it_in_the_memory_calculator(live_server, load_content, page, browser):
    page.goto(live_server.url + "/calculators/model-name/")
    page.get_by_label("Model name").fill("TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF/mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf")
    expect(page.locator('[data-fact="parameters"]')).to_contain_text("46.703B")
    expect(page.locator('[data-fact="active"]')).to_contain_text("12.9B")
    expect(page.locator('[data-fact="quant"]')).to_have_text("Q4_K_M")
    expect(page.locator(".mn-notes")).to_contain_text("56B")
    expect(page).to_have_url(re.compile(r"name=TheBloke"))
    row = page.locator(".mn-parts tr", has=page.locator("code", has_text="8x7b"))
    expect(row.locator("a.wikilink")).to_have_attribute("href", "/glossary/mixture-of-experts/")
    page.get_by_role("link", name=re.compile("Open Mixtral in the memory calculator")).click()
    expect(page).to_have_url(re.compile(r"/calculators/memory/\?model=mixtral-8x7b-v0.1&quant=Q4_K_M"))
    expect(page.locator("#id_model")).to_have_value("mixtral-8x7b-v0.1")
    expect(page.locator("#id_quant")).to_have_value("Q4_K_M")

    page.goto(live_server.url + "/calculators/model-name/")
    page.get_by_label("Model name").fill("hello there")
    expect(page.locator("#mn-error")).to_contain_text("reads as a model name")

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    small = phone.new_page()
    small.goto(live_server.url + "/calculators/model-name/?name=unsloth/gemma-3-27b-it-GGUF/gemma-3-27b-it-UD-Q4_K_XL.gguf")
    expect(small.locator(".mn-chip").first).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()


def test_the_history_and_its_diff_fit_a_phone(live_server, load_content, page, django_user_model):
    # Issue 20.4: the history page was 528 px wide on a 390 px screen.
    from django.contrib.auth.models import Permission

    from glossary.models import Entry

    entry = Entry.objects.get(slug="gguf")
    entry.apply_edit({"body": entry.body + "\n\nA line added later: `--override-kv tokenizer.ggml.add_bos_token=bool:false`."},
                     message="add a line with a long command")
    editor = django_user_model.objects.create_user("editor", password="correct horse battery")
    # What the Editors group grants (the flush between live-server tests empties the group).
    editor.user_permissions.add(Permission.objects.get(codename="change_entry", content_type__app_label="glossary"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server.url + "/glossary/gguf/history/?from=1&to=2")
    expect(page.locator(".rdiff-cell.new ins", has_text="A line added later").first).to_be_visible()
    expect(page.get_by_role("button", name="Restore")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_label("compare from revision 2").check()
    page.get_by_label("compare to revision 1").check()
    expect(page.get_by_role("button", name="Compare")).to_be_visible()
