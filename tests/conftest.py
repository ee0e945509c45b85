import os
import shutil

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a test run is repeatable and a red
# CI means a change of ours; HYPOTHESIS_PROFILE=explore draws new ones each time, to hunt.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# beside one unless told it is safe (it is here: one thread, no async views).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium from PATH: Playwright cannot download its own browser here."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed: run `make chromium` (apt package chromium).")
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture(scope="session")
def _glossary_loaded(django_db_setup, django_db_blocker):
    """Load and embed the real glossary from fixtures/ once per test run.

    Loaded outside any test transaction, so it stays for every test that asks for it.
    pytest-django runs transactional tests (live server, browser) last; their flush empties
    the database, so those tests use `load_content` instead.
    """
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("load_glossary", verbosity=0)
        call_command("reindex", verbosity=0)


@pytest.fixture
def glossary(db, _glossary_loaded):
    from glossary.models import Entry

    return Entry.objects


@pytest.fixture
def load_content(transactional_db):
    """The real glossary without embeddings, for live-server tests (keyword search works)."""
    from django.core.management import call_command

    call_command("load_glossary", verbosity=0)


@pytest.fixture
def make_entry(db):
    """Create entries in the test transaction, with links refreshed like the loader does.

    Starts from an empty glossary (inside the test's transaction, so the real content that
    other tests loaded comes back afterwards): small worlds make link tests exact.
    """
    from glossary.links import refresh_links
    from glossary.models import Category, Entry

    Entry.objects.all().delete()

    def make(slug, term, body="", aliases=(), summary=None, category="architecture"):
        category_obj, _ = Category.objects.get_or_create(
            slug=category, defaults={"name": category.replace("-", " ").title()})
        entry = Entry.objects.create(
            slug=slug, term=term, aliases=list(aliases), summary=summary or f"About {term}.",
            body=body, category=category_obj, sources=[{"title": "Test source"}])
        entry.record_revision(message="created in a test")
        refresh_links()
        entry.refresh_from_db()
        return entry

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def member(db, django_user_model):
    return django_user_model.objects.create_user("member", password="correct horse battery")


@pytest.fixture
def editor(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("editor", password="correct horse battery")
    user.groups.add(Group.objects.get(name="Editors"))
    return user
