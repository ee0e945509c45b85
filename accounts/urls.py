import re

from django.urls import path, re_path

from accounts import views
from accounts.forms import RESERVED_USERNAMES

app_name = "accounts"

# This module is included before django.contrib.auth.urls under /accounts/, so its sign-in
# view (rate limited) answers /accounts/login/; logout and password change stay Django's.
# Member pages take any other single segment: the reserved words are kept out explicitly.
_not_reserved = "|".join(re.escape(word) for word in sorted(RESERVED_USERNAMES))

urlpatterns = [
    path("login/", views.RateLimitedLoginView.as_view(), name="login"),
    path("invites/", views.invites, name="invites"),
    path("invites/<int:pk>/revoke/", views.invite_revoke, name="invite-revoke"),
    path("invite/<str:token>/", views.invite_accept, name="invite-accept"),
    path("members/", views.members, name="members"),
    path("members/<int:pk>/role/", views.member_role, name="member-role"),
    re_path(rf"^(?!(?:{_not_reserved})/)(?P<username>[\w.@+-]+)/$", views.profile, name="profile"),
]
