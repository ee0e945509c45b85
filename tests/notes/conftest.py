import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The sign-in rate limit counts in the cache, which outlives a test (LocMemCache)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_tests(request, settings, monkeypatch):
    """A fast password hasher, and no embedding model unless a test asks for `embeddings`.

    Encoding costs from 10 ms to over a second per note on a busy 2-core machine; only the
    search tests need the vectors. Autouse fixtures run before `member` etc. are created.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if "embeddings" not in request.fixturenames:
        monkeypatch.setattr("search.indexing.embed_after_edit", lambda document: None)


@pytest.fixture
def embeddings():
    """Ask for this to keep the real embedding model: note saves then write Passage rows."""
    from search.embeddings import get_model

    return get_model()


@pytest.fixture
def other_member(db, django_user_model):
    return django_user_model.objects.create_user("other", password="correct horse battery")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("staff", password="correct horse battery", is_staff=True)


@pytest.fixture
def make_note(db):
    """A note saved the way the site saves one (rendered, revisioned, embedded)."""
    from notes.models import Note

    def make(author, title="A note", body="Some text.", visibility="team", entry=None):
        note = Note(author=author)
        note.apply_edit({"title": title, "body": body, "visibility": visibility, "entry": entry},
                        author=author, message="Created")
        return note

    return make
