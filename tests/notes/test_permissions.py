"""Who may read, create, edit and delete a note, for every role and visibility, through the
API and through the pages. The expected outcomes are written out here from the rules of
issue #5, not derived from the code under test:

- private: the author only (and staff, who moderate); team: signed-in members; public: all;
- any active signed-in user writes notes; only the author or staff edit or delete one;
- a note the user may not read answers 404 (its existence is not revealed), one they may
  read but not change answers 403, and anonymous writes are refused (401/403, or a redirect
  to the sign-in page for pages).
"""

import pytest

from notes.models import Note

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "member", "other_member", "editor", "staff"]  # `member` writes the note
VISIBILITIES = ["private", "team", "public"]
CAN_READ = {
    "anonymous": {"public"},
    "member": {"private", "team", "public"},
    "other_member": {"team", "public"},
    "editor": {"team", "public"},
    "staff": {"private", "team", "public"},
}
CAN_CHANGE = {"member", "staff"}


def expected_write(actor, visibility, surface):
    """'ok', 'forbidden', 'hidden' (404) or 'sign-in' for an edit or delete."""
    if actor == "anonymous":
        return "sign-in"
    if actor in CAN_CHANGE:
        return "ok"
    return "forbidden" if visibility in CAN_READ[actor] else "hidden"


@pytest.fixture
def setup(request, member, make_note):
    def for_actor(actor, visibility):
        note = make_note(member, title=f"A {visibility} note", body="Original text.",
                         visibility=visibility)
        user = None if actor == "anonymous" else request.getfixturevalue(actor)
        return note, user

    return for_actor


@pytest.fixture
def api(api_client):
    def signed_in(user):
        if user is not None:
            api_client.force_authenticate(user)
        return api_client

    return signed_in


@pytest.fixture
def web(client):
    def signed_in(user):
        if user is not None:
            client.force_login(user)
        return client

    return signed_in


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
class TestApi:
    def test_read(self, setup, api, actor, visibility):
        note, user = setup(actor, visibility)
        client = api(user)
        response = client.get(f"/api/v1/notes/{note.pk}/")
        listed = [n["id"] for n in client.get("/api/v1/notes/").json()["results"]]
        if visibility in CAN_READ[actor]:
            assert response.status_code == 200
            assert response.json()["title"] == note.title
            assert note.pk in listed
        else:
            assert response.status_code == 404
            assert note.pk not in listed

    def test_create(self, setup, api, actor, visibility):
        _, user = setup(actor, visibility)
        before = Note.objects.count()
        response = api(user).post("/api/v1/notes/", {"title": "New", "body": "x", "visibility": visibility},
                                  format="json")
        if actor == "anonymous":
            assert response.status_code in (401, 403)
            assert Note.objects.count() == before
        else:
            assert response.status_code == 201, response.json()
            created = Note.objects.get(pk=response.json()["id"])
            assert created.author == user and created.visibility == visibility

    def test_edit(self, setup, api, actor, visibility):
        note, user = setup(actor, visibility)
        response = api(user).patch(f"/api/v1/notes/{note.pk}/", {"title": "Changed", "revision": note.revision},
                                   format="json")
        outcome = expected_write(actor, visibility, "api")
        expected = {"ok": (200,), "forbidden": (403,), "hidden": (404,), "sign-in": (401, 403)}[outcome]
        assert response.status_code in expected
        note.refresh_from_db()
        assert (note.title == "Changed") == (outcome == "ok")

    def test_delete(self, setup, api, actor, visibility):
        note, user = setup(actor, visibility)
        response = api(user).delete(f"/api/v1/notes/{note.pk}/")
        outcome = expected_write(actor, visibility, "api")
        expected = {"ok": (204,), "forbidden": (403,), "hidden": (404,), "sign-in": (401, 403)}[outcome]
        assert response.status_code in expected
        note.refresh_from_db()
        assert note.is_deleted == (outcome == "ok")


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
class TestPages:
    def test_read(self, setup, web, actor, visibility, member):
        note, user = setup(actor, visibility)
        client = web(user)
        response = client.get(f"/notes/{note.pk}/")
        pages = [client.get("/notes/").content.decode(), client.get("/notes/by/member/").content.decode(),
                 client.get("/accounts/member/").content.decode()]
        if visibility in CAN_READ[actor]:
            assert response.status_code == 200
            assert all(note.title in page for page in pages)
        else:
            assert response.status_code == 404
            assert not any(note.title in page for page in pages)

    def test_create(self, setup, web, actor, visibility):
        _, user = setup(actor, visibility)
        before = Note.objects.count()
        client = web(user)
        form = client.get("/notes/new/")
        response = client.post("/notes/new/", {"title": "New", "body": "x", "visibility": visibility})
        if actor == "anonymous":
            assert form.status_code == 302 and form["Location"].startswith("/accounts/login/")
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
            assert Note.objects.count() == before
        else:
            assert form.status_code == 200
            created = Note.objects.latest("id")
            assert response.status_code == 302 and response["Location"] == f"/notes/{created.pk}/"
            assert created.author == user and created.visibility == visibility

    def test_edit(self, setup, web, actor, visibility):
        note, user = setup(actor, visibility)
        client = web(user)
        form = client.get(f"/notes/{note.pk}/edit/")
        response = client.post(f"/notes/{note.pk}/edit/", {
            "title": "Changed", "body": "x", "visibility": visibility, "base_revision": note.revision})
        outcome = expected_write(actor, visibility, "pages")
        if outcome == "sign-in":
            assert form.status_code == response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")
        else:
            status = {"ok": 200, "forbidden": 403, "hidden": 404}[outcome]
            assert form.status_code == status
            assert response.status_code == (302 if outcome == "ok" else status)
        note.refresh_from_db()
        assert (note.title == "Changed") == (outcome == "ok")

    def test_delete(self, setup, web, actor, visibility):
        note, user = setup(actor, visibility)
        client = web(user)
        confirm = client.get(f"/notes/{note.pk}/delete/")
        response = client.post(f"/notes/{note.pk}/delete/")
        outcome = expected_write(actor, visibility, "pages")
        if outcome == "sign-in":
            assert confirm.status_code == response.status_code == 302
        else:
            status = {"ok": 200, "forbidden": 403, "hidden": 404}[outcome]
            assert confirm.status_code == status
            assert response.status_code == (302 if outcome == "ok" else status)
        note.refresh_from_db()
        assert note.is_deleted == (outcome == "ok")
