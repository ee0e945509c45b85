import pytest

from notes.models import Note, NoteRevision

pytestmark = pytest.mark.django_db

FIELDS = {"id", "title", "body", "body_html", "entry", "visibility", "author", "created_at",
          "updated_at", "revision", "hidden"}


def test_a_note_has_the_documented_shape(api_client, member, make_entry):
    make_entry("kv-cache", "KV cache")
    api_client.force_authenticate(member)
    response = api_client.post("/api/v1/notes/", {
        "title": "Cache sizes", "body": "See [[KV cache]] and $x^2$.", "entry": "kv-cache",
        "visibility": "team"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS
    assert body["entry"] == "kv-cache" and body["author"] == "member" and body["revision"] == 1
    assert 'href="/glossary/kv-cache/"' in body["body_html"]  # wiki link resolved
    assert "<math" in body["body_html"]  # math rendered to MathML on the server
    assert api_client.get(f"/api/v1/notes/{body['id']}/").json() == body


def test_a_note_without_an_entry_has_entry_null_and_is_private_by_default(api_client, member):
    api_client.force_authenticate(member)
    body = api_client.post("/api/v1/notes/", {"title": "Loose"}, format="json").json()
    assert body["entry"] is None and body["visibility"] == "private" and body["body"] == ""


def test_deleting_the_entry_keeps_the_note(api_client, member, make_entry, make_note):
    entry = make_entry("kv-cache", "KV cache")
    note = make_note(member, entry=entry)
    entry.delete_with_links()
    api_client.force_authenticate(member)
    assert api_client.get(f"/api/v1/notes/{note.pk}/").json()["entry"] is None


def test_list_filters_by_entry_author_visibility_and_words(api_client, member, other_member,
                                                           make_entry, make_note):
    kv = make_entry("kv-cache", "KV cache")
    gqa = make_entry("gqa", "GQA")
    a = make_note(member, "Paged attention", body="blocks of cache", visibility="team", entry=kv)
    b = make_note(member, "Grouped heads", body="fewer KV heads", visibility="public", entry=gqa)
    c = make_note(other_member, "Rope scaling", body="longer context", visibility="team")
    api_client.force_authenticate(member)

    def ids(**params):
        response = api_client.get("/api/v1/notes/", params)
        assert response.status_code == 200, response.json()
        return {n["id"] for n in response.json()["results"]}

    assert ids() == {a.pk, b.pk, c.pk}
    assert ids(entry="kv-cache") == {a.pk}
    assert ids(author="other") == {c.pk}
    assert ids(visibility="public") == {b.pk}
    assert ids(q="context") == {c.pk}
    assert ids(entry="gqa", visibility="team") == set()
    assert ids(entry="no-such-entry") == set()


def test_list_is_paginated(api_client, member, make_note):
    for n in range(3):
        make_note(member, f"Note {n}", visibility="public")
    body = api_client.get("/api/v1/notes/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] and body["previous"] is None


@pytest.mark.parametrize("params", [{"visibility": "secret"}, {"q": "x" * 301}, {"entry": "e" * 101}])
def test_bad_list_filters_are_400_naming_the_field(api_client, params):
    response = api_client.get("/api/v1/notes/", params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


@pytest.mark.parametrize("payload, field", [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({}, "title"),
    ({"title": None}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "ok", "body": "x" * 20_001}, "body"),
    ({"title": "ok", "body": ["list"]}, "body"),
    ({"title": "ok", "body": "nul \x00 byte"}, "body"),
    ({"title": "ok", "entry": "no-such-entry"}, "entry"),
    ({"title": "ok", "entry": "Not a slug!"}, "entry"),
    ({"title": "ok", "visibility": "everyone"}, "visibility"),
    ({"title": "ok", "visibility": None}, "visibility"),
    ({"title": {"nested": "junk"}}, "title"),
    ([1, 2, 3], "non_field_errors"),
])
def test_invalid_notes_are_400_naming_the_field(api_client, member, payload, field):
    api_client.force_authenticate(member)
    response = api_client.post("/api/v1/notes/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Note.objects.exists()


def test_a_body_of_exactly_20000_characters_is_accepted(api_client, member):
    api_client.force_authenticate(member)
    response = api_client.post("/api/v1/notes/", {"title": "Long", "body": "é" * 20_000}, format="json")
    assert response.status_code == 201


def test_patch_needs_the_revision_it_is_based_on(api_client, member, make_note):
    note = make_note(member)
    api_client.force_authenticate(member)
    response = api_client.patch(f"/api/v1/notes/{note.pk}/", {"title": "New"}, format="json")
    assert response.status_code == 400 and "revision" in response.json()


def test_a_stale_edit_is_409_with_the_current_version_and_changes_nothing(api_client, member, make_note):
    note = make_note(member, "First", body="one")
    api_client.force_authenticate(member)
    first = api_client.patch(f"/api/v1/notes/{note.pk}/", {"body": "two", "revision": 1}, format="json")
    assert first.status_code == 200 and first.json()["revision"] == 2
    stale = api_client.patch(f"/api/v1/notes/{note.pk}/", {"body": "three", "revision": 1}, format="json")
    assert stale.status_code == 409
    assert stale.json()["revision"] == 2
    assert stale.json()["current"]["body"] == "two"
    assert "revision 2" in stale.json()["detail"]
    note.refresh_from_db()
    assert note.body == "two" and note.revision == 2
    assert list(NoteRevision.objects.filter(note=note).values_list("number", "content__body")) == [
        (2, "two"), (1, "one")]


def test_staff_edits_are_recorded_under_the_staff_member(api_client, member, staff, make_note):
    note = make_note(member)
    api_client.force_authenticate(staff)
    api_client.patch(f"/api/v1/notes/{note.pk}/", {"title": "Moderated", "revision": 1,
                                                   "message": "tidied"}, format="json")
    latest = note.revisions.first()
    assert latest.author == staff and latest.message == "tidied"
    note.refresh_from_db()
    assert note.author == member  # moderation does not change who wrote it


def test_delete_is_soft_and_the_note_disappears_for_everyone(api_client, member, staff, make_note):
    note = make_note(member, visibility="public")
    api_client.force_authenticate(member)
    assert api_client.delete(f"/api/v1/notes/{note.pk}/").status_code == 204
    assert Note.objects.filter(pk=note.pk).exists()  # still in the database, in the trash
    for user in (member, staff, None):
        api_client.force_authenticate(user)
        assert api_client.get(f"/api/v1/notes/{note.pk}/").status_code == 404
        assert api_client.get("/api/v1/notes/").json()["count"] == 0


@pytest.mark.parametrize("path", ["/api/v1/notes/0/", "/api/v1/notes/99999999999999999999999/",
                                  "/api/v1/notes/abc/"])
def test_unknown_or_absurd_ids_are_404(api_client, path):
    assert api_client.get(path).status_code == 404


def test_session_writes_without_a_csrf_token_are_refused(member):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/api/v1/notes/", {"title": "No token"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Note.objects.exists()


def test_the_schema_documents_the_notes_endpoints(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/notes/"])
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/v1/notes/{id}/"])
    assert "409" in schema["paths"]["/api/v1/notes/{id}/"]["patch"]["responses"]


@pytest.mark.parametrize("payload, field", [
    ({"revision": "NaN"}, "revision"),
    ('{"revision": 1e309}', "revision"),  # sent raw: json.loads reads it as infinity
    ({"revision": -1}, "revision"),
    ({"revision": 2**63}, "revision"),
    ({"revision": True}, "revision"),
    ({"revision": None}, "revision"),
    ({"revision": 1, "title": ""}, "title"),
    ({"revision": 1, "body": {"a": [1, {"b": None}]}}, "body"),
    ({"revision": 1, "entry": 42}, "entry"),
])
def test_junk_in_a_patch_is_400_never_500(api_client, member, make_note, payload, field):
    note = make_note(member)
    api_client.force_authenticate(member)
    if isinstance(payload, str):
        response = api_client.patch(f"/api/v1/notes/{note.pk}/", payload, content_type="application/json")
    else:
        response = api_client.patch(f"/api/v1/notes/{note.pk}/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_patch_that_is_not_json_is_400(api_client, member, make_note):
    note = make_note(member)
    api_client.force_authenticate(member)
    response = api_client.patch(f"/api/v1/notes/{note.pk}/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()
