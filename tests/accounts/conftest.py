import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache_and_fast_hasher(settings):
    """The sign-in rate limit counts in the cache, which outlives a test (LocMemCache)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("staff", password="correct horse battery", is_staff=True)
