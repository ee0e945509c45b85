import pytest

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, address="203.0.113.7"):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       REMOTE_ADDR=address)


def test_signing_in_and_out(client, member):
    response = sign_in(client, "member", "correct horse battery")
    assert response.status_code == 302
    assert client.get("/notes/new/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/notes/new/").status_code == 302


def test_ten_failures_a_minute_then_429_with_a_clear_message(client, member):
    for _ in range(10):
        assert sign_in(client, "member", "wrong").status_code == 200  # the form, with its error
    response = sign_in(client, "member", "correct horse battery")  # even the right password
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_limit_is_per_address_and_username(client, member, django_user_model):
    django_user_model.objects.create_user("colleague", password="correct horse battery")
    for _ in range(10):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "MEMBER", "wrong").status_code == 429  # usernames compared casefolded
    assert sign_in(client, "member", "correct horse battery", address="198.51.100.1").status_code == 302
    client.logout()
    assert sign_in(client, "colleague", "correct horse battery").status_code == 302


def test_the_window_ends_after_a_minute(client, member, settings):
    settings.LOGIN_FAILURE_WINDOW = 1
    for _ in range(10):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "correct horse battery").status_code == 429
    import time

    time.sleep(1.1)
    assert sign_in(client, "member", "correct horse battery").status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, member):
    for _ in range(9):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "correct horse battery").status_code == 302
    client.logout()
    for _ in range(9):
        assert sign_in(client, "member", "wrong").status_code == 200


def test_the_login_form_needs_its_csrf_token(member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, "member", "correct horse battery").status_code == 403


def test_changing_the_password(client, member):
    client.force_login(member)
    page = client.get("/accounts/password_change/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    bad = client.post("/accounts/password_change/", {
        "old_password": "wrong", "new_password1": "a new long passphrase", "new_password2": "a new long passphrase"})
    assert bad.status_code == 200 and "incorrectly" in bad.content.decode()
    response = client.post("/accounts/password_change/", {
        "old_password": "correct horse battery", "new_password1": "a new long passphrase",
        "new_password2": "a new long passphrase"}, follow=True)
    assert "Password changed" in response.content.decode()
    member.refresh_from_db()
    assert member.check_password("a new long passphrase")
