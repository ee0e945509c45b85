import pytest


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    """Sign-in tests check many passwords: a fast hasher keeps them quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("staff", password="correct horse battery", is_staff=True)
