import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.roles import role_of

pytestmark = pytest.mark.django_db


def test_each_role_is_named_from_the_users_flags_and_groups(member, editor, staff, django_user_model):
    inactive = django_user_model.objects.create_user("gone", password="x", is_active=False)
    assert [role_of(u) for u in (AnonymousUser(), inactive, member, editor, staff)] == [
        "reader", "reader", "member", "editor", "staff"]


def test_staff_make_a_member_an_editor_and_back(client, member, staff):
    client.force_login(staff)
    page = client.get("/accounts/members/").content.decode()
    assert "member" in page and "staff" in page
    client.post(f"/accounts/members/{member.pk}/role/", {"role": "editor"})
    assert role_of(type(member).objects.get(pk=member.pk)) == "editor"
    client.post(f"/accounts/members/{member.pk}/role/", {"role": "member"})
    assert role_of(type(member).objects.get(pk=member.pk)) == "member"


def test_the_members_page_cannot_make_anyone_staff(client, member, staff):
    client.force_login(staff)
    client.post(f"/accounts/members/{member.pk}/role/", {"role": "staff"})
    member.refresh_from_db()
    assert not member.is_staff


def test_members_cannot_change_roles(client, member, editor):
    client.force_login(member)
    assert client.get("/accounts/members/").status_code == 403
    assert client.post(f"/accounts/members/{member.pk}/role/", {"role": "editor"}).status_code == 403
    assert role_of(type(member).objects.get(pk=member.pk)) == "member"


def test_a_members_page_shows_their_role(client, editor):
    page = client.get("/accounts/editor/")
    assert page.status_code == 200 and "editor" in page.content.decode()


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password_change/", "/accounts/password_reset/"])
def test_account_pages_are_not_taken_for_usernames(client, path, member):
    client.force_login(member)
    response = client.get(path)
    assert response.status_code in (200, 302)
    assert b"member since" not in response.content
