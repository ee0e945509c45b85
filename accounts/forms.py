from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import DEFAULT_INVITE_DAYS, MAX_INVITE_DAYS, Invite
from accounts.roles import ASSIGNABLE_ROLES

# Path segments under /accounts/ that are pages, not people (see accounts/urls.py).
RESERVED_USERNAMES = {"login", "logout", "password_change", "password_reset", "reset",
                      "invite", "invites", "members"}


class InviteForm(forms.Form):
    note = forms.CharField(label="For", max_length=200, required=False,
                           help_text="Who it is for, to recognise it in the list.")
    role = forms.ChoiceField(choices=Invite.Role.choices, initial=Invite.Role.MEMBER)
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=MAX_INVITE_DAYS,
                              initial=DEFAULT_INVITE_DAYS)


class AcceptInviteForm(UserCreationForm):
    """Choose a username and password. Validation is Django's (unique username, the
    AUTH_PASSWORD_VALIDATORS); the account itself is created by Invite.accept."""

    def clean_username(self):
        username = super().clean_username()
        if username.casefold() in RESERVED_USERNAMES:
            raise forms.ValidationError("This name is reserved; please choose another.")
        return username


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, r.title()) for r in ASSIGNABLE_ROLES])
