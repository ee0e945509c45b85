"""Moderation of notes (issue 20.12): members report a note, staff hide it (and see who wrote
and who reported it); a hidden note disappears for everyone but its author and staff — from
the notes list, the entry page, the note's own page, search and the API.

The expected outcomes are written out from the issue's rules, not derived from the code.
"""

import pytest

from notes.models import Note, NoteReport

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "member", "other_member", "editor", "staff"]  # `member` writes the note
SEES_HIDDEN = {"member", "staff"}
VISIBILITIES = ["team", "public"]
READS = {"anonymous": {"public"}, "member": {"team", "public"}, "other_member": {"team", "public"},
         "editor": {"team", "public"}, "staff": {"team", "public"}}


@pytest.fixture
def hidden_note(request, member, staff, make_note, make_entry):
    entry = make_entry("kv-cache", "KV cache", body="Keys and values kept for every token.")

    def make(visibility, hidden=True):
        note = make_note(member, title=f"Zanzibar offensive {visibility}", entry=entry,
                         body="Spam about zanzibar cheap tokens.", visibility=visibility)
        if hidden:
            note.hide(staff, "spam")
        return note

    return make


def user_for(request, actor):
    return None if actor == "anonymous" else request.getfixturevalue(actor)


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
def test_a_hidden_note_is_seen_only_by_its_author_and_staff(request, client, api_client, hidden_note,
                                                          actor, visibility):
    note = hidden_note(visibility)
    user = user_for(request, actor)
    if user is not None:
        client.force_login(user)
        api_client.force_authenticate(user)
    sees = actor in SEES_HIDDEN
    pages = {
        "list": client.get("/notes/").content.decode(),
        "entry": client.get("/glossary/kv-cache/").content.decode(),
        "author's notes": client.get("/notes/by/member/").content.decode(),
    }
    for name, html in pages.items():
        assert (note.title in html) == sees, name
    assert client.get(f"/notes/{note.pk}/").status_code == (200 if sees else 404)
    assert api_client.get(f"/api/v1/notes/{note.pk}/").status_code == (200 if sees else 404)
    listed = [n["id"] for n in api_client.get("/api/v1/notes/").json()["results"]]
    assert (note.pk in listed) == sees
    found = api_client.get("/api/v1/search/", {"q": "zanzibar", "mode": "keyword"}).json()["results"]
    assert (note.title in [r["title"] for r in found]) == sees


@pytest.mark.parametrize("actor", ACTORS)
def test_before_hiding_everyone_who_may_read_it_sees_it(request, api_client, hidden_note, actor):
    note = hidden_note("public", hidden=False)
    user = user_for(request, actor)
    if user is not None:
        api_client.force_authenticate(user)
    assert api_client.get(f"/api/v1/notes/{note.pk}/").json()["hidden"] is False
    found = api_client.get("/api/v1/search/", {"q": "zanzibar", "mode": "keyword"}).json()["results"]
    assert note.title in [r["title"] for r in found]


def test_the_author_is_told_the_note_is_hidden_and_why(client, api_client, hidden_note, member):
    note = hidden_note("public")
    client.force_login(member)
    html = client.get(f"/notes/{note.pk}/").content.decode()
    assert "Staff hid this note" in html and "spam" in html
    assert "Only its author and staff can see it." in html
    api_client.force_authenticate(member)
    assert api_client.get(f"/api/v1/notes/{note.pk}/").json()["hidden"] is True


def test_editing_a_hidden_note_keeps_it_hidden(client, hidden_note, member):
    note = hidden_note("public")
    client.force_login(member)
    response = client.post(f"/notes/{note.pk}/edit/", {
        "title": "Now harmless", "body": "x", "visibility": "public", "base_revision": note.revision})
    assert response.status_code == 302
    assert Note.objects.get(pk=note.pk).is_hidden
    assert "Now harmless" not in client.__class__().get("/notes/").content.decode()


# Reporting: any signed-in member but the author, on a note they can read.
REPORT_OUTCOME = {"anonymous": "sign-in", "member": "forbidden", "other_member": "ok",
                  "editor": "ok", "staff": "ok"}


@pytest.mark.parametrize("actor", ACTORS)
def test_who_may_report_a_note_on_the_page(request, client, hidden_note, actor):
    note = hidden_note("public", hidden=False)
    user = user_for(request, actor)
    if user is not None:
        client.force_login(user)
    response = client.post(f"/notes/{note.pk}/report/", {"reason": "Advertising."})
    outcome = REPORT_OUTCOME[actor]
    if outcome == "sign-in":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif outcome == "forbidden":
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and response["Location"] == f"/notes/{note.pk}/"
    assert NoteReport.objects.filter(note=note).exists() == (outcome == "ok")


@pytest.mark.parametrize("actor", ACTORS)
def test_who_may_report_a_note_through_the_api(request, api_client, hidden_note, actor):
    note = hidden_note("public", hidden=False)
    user = user_for(request, actor)
    if user is not None:
        api_client.force_authenticate(user)
    response = api_client.post(f"/api/v1/notes/{note.pk}/report/", {"reason": "Advertising."},
                               format="json")
    expected = {"sign-in": (401, 403), "forbidden": (403,), "ok": (201,)}[REPORT_OUTCOME[actor]]
    assert response.status_code in expected
    assert NoteReport.objects.filter(note=note).exists() == (REPORT_OUTCOME[actor] == "ok")


def test_a_report_needs_a_reason_and_the_form_says_so(client, hidden_note, other_member):
    note = hidden_note("public", hidden=False)
    client.force_login(other_member)
    response = client.post(f"/notes/{note.pk}/report/", {"reason": "   "})
    assert response.status_code == 400
    assert "Say in a few words what is wrong" in response.content.decode()
    response = client.post(f"/notes/{note.pk}/report/", {"reason": "x" * 501})
    assert response.status_code == 400
    assert not NoteReport.objects.exists()


def test_reporting_twice_keeps_one_open_report_with_the_latest_reason(api_client, hidden_note, other_member):
    note = hidden_note("public", hidden=False)
    api_client.force_authenticate(other_member)
    api_client.post(f"/api/v1/notes/{note.pk}/report/", {"reason": "first"}, format="json")
    api_client.post(f"/api/v1/notes/{note.pk}/report/", {"reason": "second"}, format="json")
    assert list(NoteReport.objects.values_list("reason", flat=True)) == ["second"]
    response = api_client.post(f"/api/v1/notes/{note.pk}/report/", {"reason": ""}, format="json")
    assert response.status_code == 400 and "reason" in response.json()


def test_a_note_one_may_not_read_cannot_be_reported(api_client, client, make_note, member, other_member):
    note = make_note(member, visibility="private")
    api_client.force_authenticate(other_member)
    assert api_client.post(f"/api/v1/notes/{note.pk}/report/", {"reason": "x"}, format="json").status_code == 404
    client.force_login(other_member)
    assert client.post(f"/notes/{note.pk}/report/", {"reason": "x"}).status_code == 404
    assert not NoteReport.objects.exists()


# Hiding and showing again: staff only.
@pytest.mark.parametrize("actor", ACTORS)
def test_only_staff_hide_and_show_again_on_the_pages(request, client, hidden_note, actor):
    note = hidden_note("public", hidden=False)
    user = user_for(request, actor)
    if user is not None:
        client.force_login(user)
    hide = client.post(f"/notes/{note.pk}/hide/", {"reason": "spam"})
    note.refresh_from_db()
    if actor == "staff":
        assert hide.status_code == 302 and note.is_hidden and note.hidden_reason == "spam"
        assert note.hidden_by == user
    else:
        assert hide.status_code == (302 if actor == "anonymous" else 403)
        assert not note.is_hidden
        note.hide(request.getfixturevalue("staff"))
    show = client.post(f"/notes/{note.pk}/unhide/")
    note.refresh_from_db()
    assert note.is_hidden == (actor != "staff")
    assert show.status_code in ((302,) if actor in ("staff", "anonymous") else (403,))


@pytest.mark.parametrize("actor", ACTORS)
def test_only_staff_hide_and_show_again_through_the_api(request, api_client, hidden_note, actor):
    note = hidden_note("public", hidden=False)
    user = user_for(request, actor)
    if user is not None:
        api_client.force_authenticate(user)
    response = api_client.post(f"/api/v1/notes/{note.pk}/hide/", {"reason": "spam"}, format="json")
    note.refresh_from_db()
    if actor == "staff":
        assert response.status_code == 200 and response.json()["hidden"] is True
        assert note.is_hidden
        response = api_client.post(f"/api/v1/notes/{note.pk}/unhide/")
        assert response.status_code == 200 and response.json()["hidden"] is False
    else:
        assert response.status_code in ((401, 403) if actor == "anonymous" else (403,))
        assert not note.is_hidden


def test_staff_see_reports_with_reporters_and_authors_then_hiding_handles_them(
        client, hidden_note, other_member, editor, staff):
    note = hidden_note("public", hidden=False)
    note.report(other_member, "Advertising <b>cheap</b> tokens")
    note.report(editor, "Spam")
    client.force_login(staff)
    html = client.get("/notes/moderation/").content.decode()
    assert note.title in html and "2 open reports" in html
    assert "other" in html and "editor" in html and 'href="/accounts/member/"' in html
    assert "Advertising &lt;b&gt;cheap&lt;/b&gt; tokens" in html  # escaped, once
    response = client.post(f"/notes/{note.pk}/hide/", {"reason": "spam", "next": "/notes/moderation/"})
    assert response["Location"] == "/notes/moderation/"
    assert not NoteReport.objects.filter(resolved_at__isnull=True).exists()
    assert NoteReport.objects.filter(resolved_by=staff).count() == 2
    html = client.get("/notes/moderation/").content.decode()
    assert "No open reports." in html
    assert note.title in html.split("<h2>Hidden")[1]


def test_dismissing_reports_leaves_the_note_shown(client, hidden_note, other_member, staff):
    note = hidden_note("public", hidden=False)
    note.report(other_member, "I disagree")
    client.force_login(staff)
    client.post(f"/notes/{note.pk}/dismiss-reports/")
    note.refresh_from_db()
    assert not note.is_hidden
    assert NoteReport.objects.get().resolved_by == staff


def test_the_moderation_page_is_for_staff_only(client, member):
    assert client.get("/notes/moderation/").status_code == 302
    client.force_login(member)
    assert client.get("/notes/moderation/").status_code == 403


def test_an_offsite_next_is_ignored(client, hidden_note, staff):
    note = hidden_note("public", hidden=False)
    client.force_login(staff)
    response = client.post(f"/notes/{note.pk}/hide/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/notes/{note.pk}/"


def test_an_overlong_hide_reason_hides_nothing(client, hidden_note, staff):
    note = hidden_note("public", hidden=False)
    client.force_login(staff)
    client.post(f"/notes/{note.pk}/hide/", {"reason": "x" * 501})
    note.refresh_from_db()
    assert not note.is_hidden
