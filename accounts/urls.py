import re

from django.urls import path, re_path

from accounts import views
from accounts.forms import RESERVED_USERNAMES

app_name = "accounts"

# Sign-in, sign-out and password change are Django's (django.contrib.auth.urls, included
# after this module under /accounts/; django-axes limits the sign-in, see accounts/signin.py).
# Member pages take any other single segment: the reserved words are kept out explicitly.
_not_reserved = "|".join(re.escape(word) for word in sorted(RESERVED_USERNAMES))

urlpatterns = [
    path("invites/", views.invites, name="invites"),
    path("invites/<int:pk>/revoke/", views.invite_revoke, name="invite-revoke"),
    path("invite/<str:token>/", views.invite_accept, name="invite-accept"),
    path("members/", views.members, name="members"),
    path("members/<int:pk>/role/", views.member_role, name="member-role"),
    re_path(rf"^(?!(?:{_not_reserved})/)(?P<username>[\w.@+-]+)/$", views.profile, name="profile"),
]
