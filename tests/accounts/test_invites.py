import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Invite

pytestmark = pytest.mark.django_db

NEW_ACCOUNT = {"username": "newcomer", "password1": "a long passphrase here", "password2": "a long passphrase here"}


def issue_link(client, staff, **fields):
    client.force_login(staff)
    response = client.post("/accounts/invites/", {"note": "Ada", "role": "member", "days": 7, **fields})
    assert response.status_code == 200
    link = re.search(r'value="(http://testserver/accounts/invite/[^"]+/)"', response.content.decode()).group(1)
    client.logout()
    return link.removeprefix("http://testserver")


def test_staff_make_a_link_that_creates_one_account(client, staff, django_user_model):
    link = issue_link(client, staff)
    invite = Invite.objects.get()
    assert invite.token_hash not in link  # only the hash is stored
    assert client.get(link).status_code == 200
    response = client.post(link, NEW_ACCOUNT)
    assert response.status_code == 302 and response["Location"] == "/accounts/newcomer/"
    user = django_user_model.objects.get(username="newcomer")
    assert user.check_password("a long passphrase here") and not user.is_staff
    assert client.session["_auth_user_id"] == str(user.pk)  # signed in straight away
    invite.refresh_from_db()
    assert invite.used_by == user


def test_a_used_link_does_not_work_twice(client, staff, django_user_model):
    link = issue_link(client, staff)
    client.post(link, NEW_ACCOUNT)
    client.logout()
    assert client.get(link).status_code == 410
    second = client.post(link, {**NEW_ACCOUNT, "username": "second"})
    assert second.status_code == 410 and "used already" in second.content.decode()
    assert not django_user_model.objects.filter(username="second").exists()


def test_an_expired_link_is_refused(client, staff, django_user_model):
    link = issue_link(client, staff)
    Invite.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(link)
    assert response.status_code == 410 and "has expired" in response.content.decode()
    assert client.post(link, NEW_ACCOUNT).status_code == 410
    assert not django_user_model.objects.filter(username="newcomer").exists()


def test_a_link_expires_after_the_days_chosen(staff):
    invite, _ = Invite.issue(created_by=staff, days=3)
    assert abs(invite.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="days"):
        Invite.issue(days=31)


def test_an_unknown_token_is_404(client):
    assert client.get("/accounts/invite/not-a-real-token/").status_code == 404


def test_an_editor_invite_makes_an_editor(client, staff, django_user_model):
    link = issue_link(client, staff, role="editor")
    client.post(link, NEW_ACCOUNT)
    assert django_user_model.objects.get(username="newcomer").has_perm("glossary.change_entry")


@pytest.mark.parametrize("username", ["login", "Invites", "members"])
def test_reserved_usernames_are_refused(client, staff, username):
    link = issue_link(client, staff)
    response = client.post(link, {**NEW_ACCOUNT, "username": username})
    assert response.status_code == 400 and "reserved" in response.content.decode()


def test_weak_passwords_are_refused_and_the_username_kept(client, staff):
    link = issue_link(client, staff)
    response = client.post(link, {"username": "newcomer", "password1": "123", "password2": "123"})
    assert response.status_code == 400
    assert 'value="newcomer"' in response.content.decode()


def test_only_staff_make_invites(client, member):
    assert client.get("/accounts/invites/").status_code == 302
    client.force_login(member)
    assert client.get("/accounts/invites/").status_code == 403
    assert client.post("/accounts/invites/", {"role": "member", "days": 7}).status_code == 403
    assert not Invite.objects.exists()


def test_staff_revoke_an_open_invite(client, staff):
    link = issue_link(client, staff)
    client.force_login(staff)
    assert client.post(f"/accounts/invites/{Invite.objects.get().pk}/revoke/").status_code == 302
    client.logout()
    assert client.get(link).status_code == 404


@pytest.mark.parametrize("days", [0, 31, "x"])
def test_invalid_invite_lengths_are_reported(client, staff, days):
    client.force_login(staff)
    response = client.post("/accounts/invites/", {"role": "member", "days": days})
    assert response.status_code == 400 and not Invite.objects.exists()
