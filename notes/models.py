"""Team notes: Markdown written by members, attached to glossary entries or standing alone.

Who sees a note is decided in one place, `readable_by` (used as `Note.objects.visible_to`);
every page, API view and search ranking starts from it, so a private note cannot leak through
a path that forgot a check.
"""

import html
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator

# Deleted notes stay restorable this long; `manage.py purge_notes` removes older ones.
TRASH_DAYS = 30
MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 20_000
MAX_REASON_LENGTH = 500

# Sent after an edit is saved (keyword: note): search embeds the note's passages again.
note_edited = Signal()


class StaleNoteRevision(Exception):
    """An edit was based on a revision that is no longer the latest."""

    def __init__(self, current: "Note"):
        super().__init__(f"Someone saved this note meanwhile; it is at revision {current.revision} now.")
        self.current = current


class NoteQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user):
        """Notes `user` may read (see `readable_by`)."""
        return self.filter(readable_by(user))

    def hidden(self):
        return self.filter(hidden_at__isnull=False)

    def reported(self):
        """Notes with reports staff have not acted on yet, the most reported first."""
        return (self.filter(reports__resolved_at__isnull=True)
                .annotate(open_reports=models.Count("reports"))
                .order_by("-open_reports", "-updated_at", "-id"))

    def filtered(self, *, entry: str = "", author: str = "", visibility: str = "", text: str = ""):
        """The notes list's filters: entry slug, author username, visibility, words."""
        notes = self
        if entry:
            notes = notes.filter(entry__slug=entry)
        if author:
            notes = notes.filter(author__username=author)
        if visibility:
            notes = notes.filter(visibility=visibility)
        if text := text.strip():
            from django.contrib.postgres.search import SearchQuery, SearchRank

            query = SearchQuery(text, search_type="websearch", config="english")
            # Substring matches too: stop words ("other", "which") vanish from a text query.
            notes = (notes.filter(Q(search_vector=query) | Q(title__icontains=text)
                                  | Q(body__icontains=text))
                     .annotate(rank=SearchRank(models.F("search_vector"), query, normalization=1))
                     .order_by("-rank", "-updated_at", "-id"))
        return notes


def readable_by(user, prefix: str = "") -> Q:
    """The condition for notes `user` may read: public to everyone, team to signed-in members,
    private to the author. A note staff have hidden is left to its author and staff. Staff see
    every note (they moderate and restore deleted ones). Deleted notes are never readable
    here; staff reach them through the trash.

    `prefix` applies it across a relation ("note__"), so that a ranking over other tables
    joins notes instead of collecting every readable id first.
    """
    def q(**lookups):
        return Q(**{prefix + name: value for name, value in lookups.items()})

    alive = q(deleted_at__isnull=True)
    if user is None or not user.is_authenticated or not user.is_active:
        return alive & q(visibility=Note.Visibility.PUBLIC, hidden_at__isnull=True)
    if user.is_staff:
        return alive
    return alive & (q(visibility__in=[Note.Visibility.PUBLIC, Note.Visibility.TEAM], hidden_at__isnull=True)
                    | q(author=user))


def reader_key(user) -> tuple:
    """What readable_by reads of `user`: readers with the same key may read the same notes
    (so a condition compiled for one of them serves them all)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ("anonymous",)
    if user.is_staff:
        return ("staff",)
    return ("member", user.pk)


class Note(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private: only me (and staff)"
        TEAM = "team", "Team: signed-in members"
        PUBLIC = "public", "Public: everyone"

    title = models.CharField(max_length=MAX_TITLE_LENGTH)
    body = models.TextField(blank=True)
    # Rendered from `body` by the glossary's renderer and sanitiser; `rerender_notes()` refreshes
    # it when the set of glossary terms (and so wiki and auto links) changes.
    body_html = models.TextField(blank=True, editable=False)
    entry = models.ForeignKey("glossary.Entry", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="notes")
    visibility = models.CharField(max_length=10, choices=Visibility.choices,
                                  default=Visibility.PRIVATE)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="notes")
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
                                   on_delete=models.SET_NULL, related_name="+")
    # Moderation: a note staff hid is seen only by its author and staff (see visible_to).
    hidden_at = models.DateTimeField(null=True, blank=True, editable=False)
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
                                  on_delete=models.SET_NULL, related_name="+")
    hidden_reason = models.CharField(max_length=MAX_REASON_LENGTH, blank=True, editable=False)
    # Keyword search: title weight A, body C. Both are plain text columns, so PostgreSQL can
    # keep the vector itself (to_tsvector with an explicit config is IMMUTABLE).
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("body", weight="C", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = NoteQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="note_search_vector"),
            GinIndex(fields=["title"], name="note_title_trigram", opclasses=["gin_trgm_ops"]),
            models.Index(fields=["entry", "-updated_at"], name="note_entry_recent"),
            models.Index(fields=["author", "-updated_at"], name="note_author_recent"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("notes:detail", args=[self.pk])

    def excerpt(self, words: int = 40) -> str:
        """The start of the note as plain text, for cards. Plain, not HTML: `body_html` holds
        entities (`&amp;&amp;`, `&lt;`) that the template would otherwise escape a second time."""
        text = html.unescape(strip_tags(self.body_html))
        return Truncator(" ".join(text.split())).words(words)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def can_edit(self, user) -> bool:
        """Only the author, or staff, change or delete a note."""
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        return user.is_staff or user.pk == self.author_id

    def content(self) -> dict:
        """The editable content, as stored in a revision."""
        return {
            "title": self.title,
            "body": self.body,
            "entry": self.entry.slug if self.entry_id else None,
            "visibility": self.visibility,
        }

    def render(self, index=None) -> str:
        from glossary.links import TermIndex
        from glossary.markdown import render

        index = index or TermIndex.from_database()
        return render(self.body, index.resolve, autolink=index.autolink_pattern()).html

    @transaction.atomic
    def apply_edit(self, content: dict, *, author=None, message: str = "",
                   base_revision: int | None = None) -> "NoteRevision":
        """Change (or create) the note, keep a revision and its HTML; `note_edited` tells search.

        `content` has the shape of `content()` (any subset; "entry" is an Entry or None). When
        `base_revision` is given and another edit landed since, nothing changes and
        StaleNoteRevision is raised: concurrent edits never silently overwrite each other.
        Same pattern as glossary.models.Entry.apply_edit.
        """
        if self.pk is not None:
            current = Note.objects.select_for_update().get(pk=self.pk)
            if base_revision is not None and current.revision != base_revision:
                raise StaleNoteRevision(current)
        for field in ("title", "body", "visibility", "entry"):
            if field in content:
                setattr(self, field, content[field])
        self.body_html = self.render()
        self.save()
        revision = self.record_revision(author=author or self.author, message=message)
        note_edited.send(sender=Note, note=self)
        return revision

    def record_revision(self, author=None, message: str = "") -> "NoteRevision":
        self.revision += 1
        Note.objects.filter(pk=self.pk).update(revision=self.revision)
        return NoteRevision.objects.create(note=self, number=self.revision, content=self.content(),
                                           author=author, message=message[:300])

    def soft_delete(self, by=None):
        """Move to the trash: hidden everywhere, restorable by staff for TRASH_DAYS days."""
        self.deleted_at = timezone.now()
        self.deleted_by = by
        self.save(update_fields=["deleted_at", "deleted_by"])

    def restore(self):
        self.deleted_at = None
        self.deleted_by = None
        self.save(update_fields=["deleted_at", "deleted_by"])

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    def can_report(self, user) -> bool:
        """Any signed-in member but the author may report a note they can read."""
        return (user is not None and user.is_authenticated and user.is_active
                and user.pk != self.author_id)

    def report(self, by, reason: str) -> "NoteReport":
        """Record (or update) `by`'s report on this note: one open report per person."""
        report, _ = NoteReport.objects.update_or_create(
            note=self, reporter=by, resolved_at__isnull=True,
            defaults={"reason": reason[:MAX_REASON_LENGTH]})
        return report

    @transaction.atomic
    def hide(self, by, reason: str = ""):
        """Take the note out of everyone's sight but its author's and staff's; the reports
        that led here count as handled."""
        self.hidden_at = timezone.now()
        self.hidden_by = by
        self.hidden_reason = reason[:MAX_REASON_LENGTH]
        self.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
        self.resolve_reports(by)

    def unhide(self, by):
        self.hidden_at = None
        self.hidden_by = None
        self.hidden_reason = ""
        self.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
        self.resolve_reports(by)

    def resolve_reports(self, by) -> int:
        return self.reports.filter(resolved_at__isnull=True).update(resolved_at=timezone.now(),
                                                                    resolved_by=by)

    @property
    def purge_after(self):
        return self.deleted_at + timedelta(days=TRASH_DAYS) if self.deleted_at else None


class NoteRevision(models.Model):
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["note", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["note", "number"], name="unique_note_revision_number")
        ]

    def __str__(self):
        return f"{self.note} r{self.number}"


class NoteReport(models.Model):
    """A member's word to staff that a note should not be shown. Resolved when staff hide the
    note, show it again, or dismiss the reports."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="note_reports")
    reason = models.CharField(max_length=MAX_REASON_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["note", "reporter"], condition=Q(resolved_at__isnull=True),
                                    name="one_open_report_per_reporter"),
        ]

    def __str__(self):
        return f"Report on {self.note} by {self.reporter}"


def rerender_notes(notes=None) -> int:
    """Re-render notes' HTML after glossary terms changed (wiki and auto links depend on them).

    Returns how many notes changed. Runs on glossary.links.terms_changed (notes/apps.py).
    """
    from glossary.links import TermIndex

    index = TermIndex.from_database()
    changed = 0
    for note in (Note.objects.all() if notes is None else notes).only("id", "body", "body_html"):
        html = note.render(index)
        if html != note.body_html:
            Note.objects.filter(pk=note.pk).update(body_html=html)
            changed += 1
    return changed
