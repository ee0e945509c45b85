"""Invites: how staff let a new member in without the admin.

An invite is a link with a random token that works once and expires. Only the token's SHA-256
is stored, so a leaked database backup holds no usable links; the link is shown once, to the
staff member who made it.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.roles import set_role

DEFAULT_INVITE_DAYS = 7
MAX_INVITE_DAYS = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InviteUnusable(Exception):
    """The invite was used already or has expired."""


class InviteQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(used_at__isnull=True, expires_at__gt=timezone.now())


class Invite(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member: writes notes"
        EDITOR = "editor", "Editor: also edits glossary entries"

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    note = models.CharField("for", max_length=200, blank=True,
                            help_text="Who it is for, to recognise it in the list.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
                                on_delete=models.SET_NULL, related_name="+")

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Invite for {self.note or 'a new member'} ({self.role})"

    @classmethod
    def issue(cls, *, created_by=None, role: str = Role.MEMBER, note: str = "",
              days: int = DEFAULT_INVITE_DAYS) -> tuple["Invite", str]:
        """Create an invite; returns it and the token (the only time the token exists)."""
        if not 1 <= days <= MAX_INVITE_DAYS:
            raise ValueError(f"days: must be between 1 and {MAX_INVITE_DAYS}")
        invite = cls(role=role, note=note, created_by=created_by,
                     expires_at=timezone.now() + timedelta(days=days))
        token = invite.set_new_token()
        invite.save()
        return invite, token

    def set_new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_hash = _hash(token)
        return token

    @classmethod
    def find(cls, token: str) -> "Invite | None":
        if not token or len(token) > 100:
            return None
        return cls.objects.filter(token_hash=_hash(token)).first()

    @staticmethod
    def url_for(token: str) -> str:
        return reverse("accounts:invite-accept", args=[token])

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_used(self) -> bool:
        return self.used_at is not None

    @property
    def is_usable(self) -> bool:
        return not self.is_used and not self.is_expired

    @transaction.atomic
    def accept(self, username: str, password: str):
        """Create the member's account. The row lock makes a link usable exactly once even
        when two people submit it at the same moment."""
        invite = Invite.objects.select_for_update().get(pk=self.pk)
        if not invite.is_usable:
            raise InviteUnusable("This invite link was used already or has expired.")
        user = get_user_model().objects.create_user(username=username, password=password)
        set_role(user, invite.role)
        invite.used_at = timezone.now()
        invite.used_by = user
        invite.save(update_fields=["used_at", "used_by"])
        self.used_at, self.used_by = invite.used_at, user
        return user
