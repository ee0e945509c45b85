import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from notes.models import Note
from notes.views import notes_for_entry

pytestmark = pytest.mark.django_db


def test_an_empty_title_is_reported_and_nothing_typed_is_lost(client, member):
    client.force_login(member)
    body = "A body worth keeping: <b>bold</b> & [[Something]]"
    response = client.post("/notes/new/", {"title": "  ", "body": body, "visibility": "team"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Give the note a title." in html
    # The textarea holds the text exactly (escaped once), and the choice stays selected.
    assert "A body worth keeping: &lt;b&gt;bold&lt;/b&gt; &amp; [[Something]]</textarea>" in html
    assert re.search(r'<input[^>]*value="team"[^>]*checked', html)
    assert not Note.objects.exists()


def test_a_body_over_20000_characters_says_by_how_much_and_keeps_the_text(client, member):
    client.force_login(member)
    body = "word " * 4001  # 20,005 characters
    response = client.post("/notes/new/", {"title": "Long one", "body": body, "visibility": "private"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "limited to 20,000 characters; this one has 20,005" in html
    assert "Shorten it by 5" in html
    assert body in html and 'value="Long one"' in html
    assert not Note.objects.exists()


def test_browser_line_breaks_count_as_one_character(client, member):
    # Browsers submit CRLF; 10,000 lines of "x" are 20,000 characters, not 30,000.
    client.force_login(member)
    body = "\r\n".join(["x"] * 10_000)
    response = client.post("/notes/new/", {"title": "Lines", "body": body, "visibility": "private"})
    assert response.status_code == 302
    assert Note.objects.get().body == "\n".join(["x"] * 10_000)


def test_the_preview_renders_markdown_wiki_links_and_math(client, member, make_entry):
    make_entry("lora", "LoRA")
    client.force_login(member)
    response = client.post("/notes/preview/", {"body": "**Bold** [[LoRA]] and [[Nothing yet]] $a^2$"},
                           HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Bold</strong>" in html
    assert 'href="/glossary/lora/"' in html and "wikilink missing" in html
    assert "<msup>" in html


def test_the_preview_warns_about_a_body_that_is_too_long(client, member):
    client.force_login(member)
    html = client.post("/notes/preview/", {"body": "x" * 20_001}).content.decode()
    assert "Too long to save: 20,001 characters" in html


def test_the_preview_is_for_members_and_posts_only(client, member):
    assert client.post("/notes/preview/", {"body": "x"}).status_code == 302
    client.force_login(member)
    assert client.get("/notes/preview/").status_code == 405


def test_the_new_note_form_preselects_the_entry_from_the_link(client, member, make_entry):
    make_entry("lora", "LoRA")
    client.force_login(member)
    html = client.get("/notes/new/?entry=lora").content.decode()
    assert re.search(r'<option value="lora" selected>LoRA</option>', html)


def test_editing_from_a_stale_revision_shows_the_conflict_and_keeps_the_text(client, member, make_note):
    note = make_note(member, "Shared", body="line one")
    note.apply_edit({"body": "line one\nline from elsewhere"}, author=member)  # now revision 2
    client.force_login(member)
    response = client.post(f"/notes/{note.pk}/edit/", {
        "title": "Shared", "body": "line one\nmy line", "visibility": "team", "base_revision": 1})
    assert response.status_code == 409
    html = response.content.decode()
    assert "it is at revision 2 now" in html
    assert "my line</textarea>" in html
    assert '<span class="diff-added">+ my line</span>' in html
    assert '<span class="diff-removed">- line from elsewhere</span>' in html
    assert 'name="base_revision" value="2"' in html
    note.refresh_from_db()
    assert note.body == "line one\nline from elsewhere"
    # Saving again from the conflict page, now based on revision 2, goes through.
    again = client.post(f"/notes/{note.pk}/edit/", {
        "title": "Shared", "body": "line one\nmy line", "visibility": "team", "base_revision": 2})
    assert again.status_code == 302
    note.refresh_from_db()
    assert note.body == "line one\nmy line" and note.revision == 3


def test_the_history_shows_what_each_revision_changed(client, member, make_note):
    note = make_note(member, "Tracked", body="alpha")
    note.apply_edit({"body": "alpha\nbeta"}, author=member, message="add beta")
    client.force_login(member)
    html = client.get(f"/notes/{note.pk}/history/").content.decode()
    assert "Revision 2" in html and "add beta" in html
    assert '<span class="diff-added">+ beta</span>' in html


def test_deleting_asks_first_then_moves_the_note_to_the_trash(client, member, make_note):
    note = make_note(member, "Doomed")
    client.force_login(member)
    confirm = client.get(f"/notes/{note.pk}/delete/")
    assert confirm.status_code == 200 and "Move to the trash" in confirm.content.decode()
    note.refresh_from_db()
    assert not note.is_deleted  # a GET never deletes
    response = client.post(f"/notes/{note.pk}/delete/", follow=True)
    assert "was moved to the trash" in response.content.decode()
    note.refresh_from_db()
    assert note.deleted_at is not None and note.deleted_by == member
    assert client.get(f"/notes/{note.pk}/").status_code == 404


def test_staff_see_the_trash_and_restore_a_note(client, member, staff, make_note):
    note = make_note(member, "Recoverable", visibility="private")
    note.soft_delete(by=member)
    client.force_login(member)
    assert client.get("/notes/trash/").status_code == 403
    assert client.post(f"/notes/{note.pk}/restore/").status_code == 403
    client.force_login(staff)
    trash = client.get("/notes/trash/").content.decode()
    assert "Recoverable" in trash
    assert (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d") in trash  # purge date shown
    assert client.get(f"/notes/{note.pk}/restore/").status_code == 405
    response = client.post(f"/notes/{note.pk}/restore/")
    assert response.status_code == 302 and response["Location"] == f"/notes/{note.pk}/"
    note.refresh_from_db()
    assert not note.is_deleted
    client.force_login(member)
    assert client.get(f"/notes/{note.pk}/").status_code == 200


def test_purge_notes_removes_only_notes_deleted_more_than_30_days_ago(member, make_note):
    kept_alive = make_note(member, "Alive")
    recent = make_note(member, "Deleted 29 days ago")
    old = make_note(member, "Deleted 31 days ago")
    Note.objects.filter(pk=recent.pk).update(deleted_at=timezone.now() - timedelta(days=29))
    Note.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - timedelta(days=31))

    out = StringIO()
    call_command("purge_notes", "--dry-run", stdout=out)
    assert "would purge 1 note " in out.getvalue()
    assert Note.objects.count() == 3

    call_command("purge_notes", stdout=out)
    assert set(Note.objects.values_list("title", flat=True)) == {"Alive", "Deleted 29 days ago"}
    assert not old.revisions.exists()  # history goes with it
    assert kept_alive.revisions.exists()


def test_forms_refuse_posts_without_a_csrf_token(member, make_note):
    note = make_note(member)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    for url, data in [("/notes/new/", {"title": "t", "visibility": "team"}),
                      (f"/notes/{note.pk}/edit/", {"title": "t", "visibility": "team", "base_revision": 1}),
                      (f"/notes/{note.pk}/delete/", {}),
                      ("/notes/preview/", {"body": "x"})]:
        assert client.post(url, data).status_code == 403, url
    note.refresh_from_db()
    assert note.title == "A note" and not note.is_deleted and Note.objects.count() == 1

    # The same form with the token from the page goes through.
    page = client.get("/notes/new/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/notes/new/", {"title": "t", "visibility": "team", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_the_entry_partial_lists_the_notes_the_viewer_may_see(member, other_member, make_entry, make_note):
    from django.contrib.auth.models import AnonymousUser

    entry = make_entry("lora", "LoRA")
    make_note(member, "Public tip", body="Use **rank** 16.", visibility="public", entry=entry)
    make_note(member, "Team tip", visibility="team", entry=entry)
    make_note(member, "My secret", visibility="private", entry=entry)
    make_note(member, "Elsewhere", visibility="public")

    def shown(user):
        html = render_to_string("notes/_entry_notes.html",
                                {"entry": entry, "entry_notes": notes_for_entry(entry, user), "user": user})
        return html, {t for t in ("Public tip", "Team tip", "My secret", "Elsewhere") if t in html}

    html, titles = shown(AnonymousUser())
    assert titles == {"Public tip"} and "Add a note" not in html
    assert "<strong>rank</strong>" in html  # the rendered body, not the Markdown
    assert shown(other_member)[1] == {"Public tip", "Team tip"}
    html, titles = shown(member)
    assert titles == {"Public tip", "Team tip", "My secret"}
    assert 'href="/notes/new/?entry=lora"' in html


def test_the_notes_list_filters_and_answers_htmx_with_the_results_only(client, member, make_entry, make_note):
    entry = make_entry("lora", "LoRA")
    make_note(member, "Rank advice", body="rank sixteen", visibility="public", entry=entry)
    make_note(member, "Unrelated", body="other words", visibility="public")
    page = client.get("/notes/", {"entry": "lora"}).content.decode()
    assert "Rank advice" in page and "Unrelated" not in page and "<html" in page
    partial = client.get("/notes/", {"q": "other"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Unrelated" in partial and "Rank advice" not in partial and "<html" not in partial
    assert "Unrelated" not in client.get("/notes/", {"visibility": "team"}).content.decode()


def test_the_notes_list_pages_through_many_notes(client, member, make_note):
    for n in range(23):
        make_note(member, f"Note number {n:02d}", visibility="public")
    first = client.get("/notes/").content.decode()
    second = client.get("/notes/", {"page": 2}).content.decode()
    assert first.count('class="note-card"') == 20 and second.count('class="note-card"') == 3
    assert "Page 1 of 2" in first


def test_an_unknown_author_page_is_404(client):
    assert client.get("/notes/by/nobody/").status_code == 404
    assert client.get("/accounts/nobody/").status_code == 404


def test_links_to_entries_created_later_resolve_by_themselves(member, make_entry, make_note):
    from notes.models import rerender_notes

    note = make_note(member, body="Try [[Flash attention]] first.")
    assert "wikilink missing" in note.body_html
    make_entry("flash-attention", "Flash attention")  # terms_changed re-renders the notes
    note.refresh_from_db()
    assert 'href="/glossary/flash-attention/"' in note.body_html and "missing" not in note.body_html
    assert rerender_notes() == 0  # nothing changed the second time


def test_note_cards_show_shell_commands_as_typed_escaped_once(client, member, make_note):
    # Issue 20.1: the card excerpt came from body_html, whose entities were escaped again.
    make_note(member, title="Flags", body="Run `-ngl 99 && -fa on` when ctx < 32k.",
              visibility="public")
    html = Client().get("/notes/").content.decode()
    card = html[html.index('class="note-card"'):]
    assert "-ngl 99 &amp;&amp; -fa on when ctx &lt; 32k." in card
    assert "&amp;amp;" not in card and "&amp;lt;" not in card
