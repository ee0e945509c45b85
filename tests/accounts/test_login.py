import pytest

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, address="203.0.113.7", **headers):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       REMOTE_ADDR=address, **headers)


def test_signing_in_and_out(client, member):
    response = sign_in(client, "member", "correct horse battery")
    assert response.status_code == 302
    assert client.get("/notes/new/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/notes/new/").status_code == 302


def sign_in_for_a_token(api_client, username, password, address="203.0.113.7", **headers):
    return api_client.post("/api/v1/auth/token/", {"username": username, "password": password},
                           format="json", REMOTE_ADDR=address, **headers)


def test_the_tenth_failure_locks_the_pair_with_a_clear_message(client, member):
    for _ in range(9):
        assert sign_in(client, "member", "wrong").status_code == 200  # the form, with its error
    locked = sign_in(client, "member", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"  # LOGIN_LOCKOUT_MINUTES, 15 by default
    assert "Too many sign-in attempts" in locked.content.decode()
    response = sign_in(client, "member", "correct horse battery")  # even the right password
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_forged_x_forwarded_for_is_not_a_new_address(client, api_client, member):
    # No trusted proxy configured: the header is the client's own text.
    statuses = [sign_in(client, "member", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
                for i in range(30)]
    assert statuses == [200] * 9 + [429] * 21
    assert sign_in(client, "member", "correct horse battery", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    refused = sign_in_for_a_token(api_client, "member", "correct horse battery", HTTP_X_FORWARDED_FOR="192.0.2.98")
    assert refused.status_code == 429


def test_the_fullwidth_spelling_counts_as_the_same_account(client, django_user_model):
    django_user_model.objects.create_user("victim", password="correct horse battery")
    for spelling in ["victim", "ｖｉｃｔｉｍ", "VICTIM", "Ｖｉｃｔｉｍ"] * 2 + ["victim"]:
        assert sign_in(client, spelling, "wrong").status_code == 200
    assert sign_in(client, "ｖｉｃｔｉｍ", "wrong").status_code == 429  # the tenth failure
    for spelling in ("victim", "ｖｉｃｔｉｍ"):
        assert sign_in(client, spelling, "correct horse battery").status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_fullwidth_spelling_signs_in_where_nothing_is_locked(client, django_user_model):
    # The rule the limit mirrors: Django's sign-in form applies NFKC to the username.
    django_user_model.objects.create_user("victim", password="correct horse battery")
    assert sign_in(client, "ｖｉｃｔｉｍ", "correct horse battery").status_code == 302


def test_a_lockout_from_one_address_leaves_the_owner_free_elsewhere(client, api_client, member, django_user_model):
    django_user_model.objects.create_user("colleague", password="correct horse battery")
    for _ in range(10):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "correct horse battery").status_code == 429
    assert sign_in(client, "member", "correct horse battery", address="198.51.100.1").status_code == 302
    assert sign_in_for_a_token(api_client, "member", "correct horse battery", address="198.51.100.2").status_code == 200
    client.logout()
    assert sign_in(client, "colleague", "correct horse battery").status_code == 302  # other accounts too


def test_successful_sign_ins_do_not_count(client, api_client, member):
    for _ in range(30):
        assert sign_in(client, "member", "correct horse battery").status_code == 302
        client.logout()
        assert sign_in_for_a_token(api_client, "member", "correct horse battery").status_code == 200
    for _ in range(9):
        assert sign_in(client, "member", "wrong").status_code == 200
    assert sign_in(client, "member", "correct horse battery").status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, member):
    for _ in range(9):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "correct horse battery").status_code == 302
    client.logout()
    for _ in range(9):
        assert sign_in(client, "member", "wrong").status_code == 200


def test_the_lockout_ends_after_the_cool_off(client, member, settings):
    import time
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    for _ in range(10):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "correct horse battery").status_code == 429
    time.sleep(1.1)
    assert sign_in(client, "member", "correct horse battery").status_code == 302


def test_the_token_endpoint_shares_the_counts_and_answers_json(client, api_client, member):
    for _ in range(5):
        assert sign_in(client, "member", "wrong").status_code == 200
    for _ in range(4):
        assert sign_in_for_a_token(api_client, "member", "wrong").status_code == 400
    locked = sign_in_for_a_token(api_client, "ｍｅｍｂｅｒ", "wrong")  # the tenth failure
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert "Too many failed sign-in attempts" in locked.json()["detail"]
    assert locked["Retry-After"] == "900"
    assert sign_in_for_a_token(api_client, "member", "correct horse battery").status_code == 429
    assert sign_in(client, "member", "correct horse battery").status_code == 429  # and the form agrees


def test_behind_a_trusted_proxy_the_proxys_entry_is_the_address(client, member, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    # The client wrote the first entry itself; the proxy appended the address it saw.
    for i in range(10):
        sign_in(client, "member", "wrong", address=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.50")
    assert sign_in(client, "member", "correct horse battery", address=proxy,
                   HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429
    # Another client behind the same proxy is another address.
    assert sign_in(client, "member", "correct horse battery", address=proxy,
                   HTTP_X_FORWARDED_FOR="203.0.113.51").status_code == 302


def test_the_admin_sign_in_shares_the_rules(client, django_user_model):
    django_user_model.objects.create_superuser("boss", password="s3cret-pass-word")
    for _ in range(10):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"}, REMOTE_ADDR="203.0.113.7")
    response = client.post("/admin/login/", {"username": "boss", "password": "s3cret-pass-word"},
                           REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429
    assert client.get("/admin/glossary/entry/").status_code == 302  # still signed out


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
