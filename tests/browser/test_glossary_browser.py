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


def test_walk_the_history_of_an_entry(live_server, load_content, page, django_user_model):
    from glossary.models import Entry

    entry = Entry.objects.get(slug="gguf")
    entry.apply_edit({"body": entry.body + "\n\nA line added later."}, message="add a line")
    page.goto(live_server.url + "/glossary/gguf/")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("History")
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("compare from revision 1").check()
    page.get_by_label("compare to revision 2").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator(".diff-added", has_text="A line added later.")).to_be_visible()


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
    expect(page.locator(".diff-added").first).to_be_visible()
    expect(page.get_by_role("button", name="Restore")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_label("compare from revision 2").check()
    page.get_by_label("compare to revision 1").check()
    expect(page.get_by_role("button", name="Compare")).to_be_visible()
