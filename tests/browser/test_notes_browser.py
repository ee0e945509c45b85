import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.notes.xss_payloads import PAYLOADS

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _setup(monkeypatch, settings):
    # The embedding model is not what these tests look at; loading it would take most of
    # their time. The live server runs in this process, so the patch reaches it.
    monkeypatch.setattr("search.indexing.embed_after_edit", lambda document: None)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


@pytest.fixture
def two_members(transactional_db, django_user_model):
    return (django_user_model.objects.create_user("ada", password=PASSWORD),
            django_user_model.objects.create_user("grace", password=PASSWORD))


def sign_in(page, base, username):
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".account")).to_contain_text(username)


def test_write_preview_see_on_the_entry_edit_and_be_refused_as_another_member(
        live_server, page, make_entry, two_members):
    make_entry("lora", "LoRA", body="Low-rank adapters.")
    base = live_server.url
    sign_in(page, base, "ada")

    page.goto(base + "/notes/new/?entry=lora")
    expect(page.get_by_label("About entry")).to_have_value("lora")
    page.get_by_label("Title").fill("Rank 16 is plenty")
    page.get_by_label("Text").press_sequentially("For [[LoRA]] on 8B models, **rank 16** and $\\alpha = 2r$.",
                                                 delay=5)
    preview = page.locator("#preview")
    expect(preview.locator("strong")).to_have_text("rank 16")
    expect(preview.locator("a.wikilink[data-slug=lora]")).to_have_text("LoRA")
    expect(preview.locator("math")).to_have_count(1)
    expect(page.locator("#body-count")).to_contain_text("/ 20,000 characters")
    page.get_by_label("Team: signed-in members").check()
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Rank 16 is plenty")
    note_url = page.url
    assert re.search(r"/notes/\d+/$", note_url)
    expect(page.locator("[data-note-body] strong")).to_have_text("rank 16")

    # The note appears on its entry's page (notes/_entry_notes.html, included there).
    page.goto(base + "/glossary/lora/")
    notes = page.locator(".entry-notes")
    expect(notes.get_by_role("link", name="Rank 16 is plenty")).to_be_visible()
    expect(notes.locator("strong")).to_have_text("rank 16")

    page.goto(note_url)
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Text").fill("For [[LoRA]], rank 8 is often enough.")
    page.get_by_label("What changed").fill("lower rank")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-note-body]")).to_have_text("For LoRA, rank 8 is often enough.")
    expect(page.locator(".note-meta")).to_contain_text("revision 2")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, "grace")
    page.goto(note_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Rank 16 is plenty")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto(note_url + "edit/")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Only the author")


def test_the_edit_form_keeps_everything_after_a_validation_error(live_server, page, two_members):
    base = live_server.url
    sign_in(page, base, "ada")
    page.goto(base + "/notes/new/")
    page.get_by_label("Text").fill("Text I would hate to lose.")
    page.get_by_label("Public: everyone").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_have_text("Give the note a title.")
    expect(page.get_by_label("Text")).to_have_value("Text I would hate to lose.")
    expect(page.get_by_label("Public: everyone")).to_be_checked()


DOM_PROBLEMS = """
(body) => {
  const found = [];
  const forbidden = new Set(["SCRIPT", "IFRAME", "FRAME", "OBJECT", "EMBED", "FORM", "INPUT",
    "BUTTON", "TEXTAREA", "META", "BASE", "LINK", "STYLE", "SVG", "IMG", "VIDEO", "AUDIO",
    "SOURCE", "TEMPLATE", "NOSCRIPT", "MARQUEE", "MGLYPH", "MACTION", "ISINDEX"]);
  for (const el of body.querySelectorAll("*")) {
    if (forbidden.has(el.tagName.toUpperCase())) found.push("<" + el.tagName + ">");
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on") || name === "style" || name.startsWith("hx-") || name.startsWith("data-hx-"))
        found.push(el.tagName + " " + name);
      if (["href", "src", "action", "formaction", "xlink:href", "data", "background"].includes(name)) {
        const protocol = new URL(attr.value, document.baseURI).protocol;
        if (!["http:", "https:", "mailto:"].includes(protocol)) found.push(el.tagName + " " + name + "=" + attr.value);
      }
    }
  }
  return found;
}
"""


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "csp-bypassed"])
def test_viewing_a_note_with_every_payload_fires_no_dialog(live_server, browser, make_entry,
                                                           two_members, bypass_csp):
    """With the Content-Security-Policy bypassed too: the sanitiser alone must hold."""
    from notes.models import Note

    entry = make_entry("lora", "LoRA")
    note = Note(author=two_members[0])
    note.apply_edit({"title": "<img src=x onerror=alert('title')>", "visibility": "public", "entry": entry,
                     "body": "\n\n".join(sorted(PAYLOADS, key=lambda p: p.startswith("<")))})
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/notes/{note.pk}/", wait_until="load")
    body = page.locator("[data-note-body]")
    expect(body).to_contain_text("hover me")
    # Give onload/onerror/ontoggle/animation handlers their chance, and hover and focus
    # everything in the note, as a reader would.
    for element in body.locator("*").all()[:200]:
        if element.is_visible():
            element.hover(timeout=500, force=True)
    page.keyboard.press("Tab")
    page.wait_for_timeout(1500)
    assert dialogs == []
    assert body.evaluate(DOM_PROBLEMS) == []
    context.close()


def test_the_dialog_check_catches_a_payload_that_skipped_the_sanitiser(live_server, browser, two_members):
    """The control for the test above: the same harness sees a dialog when unsanitised HTML
    reaches the page and only the (bypassed) CSP could have stopped it; with the CSP on,
    the inline handler is blocked."""
    from notes.models import Note

    note = Note(author=two_members[0])
    note.apply_edit({"title": "Control", "visibility": "public", "body": "x"})
    Note.objects.filter(pk=note.pk).update(body_html="<img src=x onerror=\"alert('control')\">")
    seen = {}
    for bypass_csp in (True, False):
        context = browser.new_context(bypass_csp=bypass_csp)
        page = context.new_page()
        dialogs = seen.setdefault(bypass_csp, [])
        page.on("dialog", lambda dialog, dialogs=dialogs: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{live_server.url}/notes/{note.pk}/", wait_until="load")
        page.wait_for_timeout(1000)
        context.close()
    assert seen == {True: ["control"], False: []}
