from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import connection, models, transaction
from django.db.models import BooleanField, Case, F, Func, Prefetch, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Left, Lower, Upper
from django.dispatch import Signal
from django.urls import reverse

from glossary.links import lookup_key

# Sent after an edit through apply_edit is saved (keyword: entry): search embeds the entry's
# passages again. Plain saves (loading fixtures) leave embedding to `manage.py reindex`.
entry_edited = Signal()


def displayed_content(content: dict) -> dict:
    """Entry or revision content without the fields that are never shown (search aliases)."""
    return {key: value for key, value in content.items() if key != "search_aliases"}


class StaleRevision(Exception):
    """An edit was based on a revision that is no longer the latest."""

    def __init__(self, current: "Entry"):
        super().__init__(f"Someone else saved this entry meanwhile; it is at revision "
                         f"{current.revision} now.")
        self.current = current


class Category(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("glossary:category", args=[self.slug])


def reader_key(field: str = "term") -> Func:
    """A term as a reader alphabetises it: accents and case ignored (PostgreSQL's unaccent)."""
    return Lower(Func(F(field), function="unaccent", output_field=models.CharField()))


def _starts_with_letter(key: Func) -> Func:
    return Func(key, template="(%(expressions)s ~ '^[a-z]')", output_field=BooleanField())


def alphabetical(field: str = "term") -> list:
    """ORDER BY for terms, the one place the glossary's order is decided: "Active parameters"
    before "AWQ", "llama.cpp" among the L's, and terms that begin with a digit or symbol
    together ahead of A (the "#" group of the index)."""
    key = reader_key(field)
    return [_starts_with_letter(key).asc(), key.asc(), F(field).asc()]


class EntryQuerySet(models.QuerySet):
    def alphabetical(self):
        """Entries in reader's order, each with its index letter ("A"…"Z", or "#")."""
        key = reader_key()
        letter = Case(When(_starts_with_letter(key), then=Upper(Left(key, 1))), default=Value("#"))
        return self.annotate(index_letter=letter).order_by(*alphabetical())

    def named_like(self, text: str):
        """Entries whose term or an alias contains `text`, ignoring case, accents, and the
        difference between spaces, hyphens and underscores (the index's filter box)."""
        if not lookup_key(text):
            return self

        def loose(expression):  # SQL for lookup_key(), accents removed as well
            return Func(Lower(Func(expression, function="unaccent", output_field=models.TextField())),
                        Value(r"[\s_-]+"), Value(" "), Value("g"), function="regexp_replace",
                        output_field=models.TextField())

        names = Func(Func(F("term"), F("aliases"), function="array_prepend",
                          output_field=ArrayField(models.TextField())),
                     Value("|"), function="array_to_string", output_field=models.TextField())
        return self.annotate(names_loose=loose(names)).filter(names_loose__contains=loose(Value(text.strip())))

    def with_links(self):
        """With the links either way, each list in reader's order (entry pages and the API)."""
        return self.select_related("category").prefetch_related(
            Prefetch("outgoing", queryset=Link.objects.select_related("target")
                     .order_by(*alphabetical("target__term"))),
            Prefetch("incoming", queryset=Link.objects.select_related("source")
                     .order_by(*alphabetical("source__term"))),
        )

    def matching(self, text: str):
        """Entries whose term or alias equals `text` (case, spaces, hyphens, underscores ignored)."""
        return self.filter(lookup_keys__contains=[lookup_key(text)])

    def closest(self, text: str, limit: int = 5):
        """Entries whose term or an alias looks most like `text` (pg_trgm similarity), for the
        "did you mean" lists of a mistyped address or a search that found nothing."""
        key = lookup_key(text)[:200]
        if len(key) < 3:
            return self.none()
        # Word similarity finds "llama" in "llama cpp", but for a short key almost any name
        # holds a similar-looking word.
        measure = "(similarity(%s, name) + word_similarity(%s, name)) / 2" if len(key) > 4 else "similarity(%s, name)"
        similarity = RawSQL(f"(select max({measure}) from unnest({Entry._meta.db_table}.lookup_keys) name)",
                            [key] * measure.count("%s"))
        return (self.annotate(similarity=similarity).filter(similarity__gte=0.25)
                .order_by("-similarity", "term")[:limit])


# What changes whenever an entry is added, changed or removed: the count, the sum of the rows'
# xmin and the latest updated_at, as one SQL statement (search embeds it in its own statement,
# glossary_version runs it alone). xmin is the transaction that last wrote a row, so the sum
# changes with every write, also those that leave updated_at alone (a queryset's update(), as
# glossary.links.refresh_links re-renders other entries' bodies when a term changes).
VERSION_SQL = ("select concat_ws(':', count(*), coalesce(sum(xmin::text::bigint), 0), max(updated_at)) "
               "from glossary_entry")


def glossary_version() -> str:
    """The glossary's version (VERSION_SQL): what caches of its words and rows are keyed on."""
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL)
        return cursor.fetchone()[0]


class Entry(models.Model):
    slug = models.SlugField(unique=True, max_length=100)
    term = models.CharField(max_length=200)
    aliases = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # Spellings people type that are not names to show, such as a common misspelling:
    # lookups and search find the entry by them, pages and the API never display them.
    search_aliases = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="entries")
    summary = models.TextField()
    body = models.TextField(blank=True)
    sources = models.JSONField(default=list, blank=True)
    # Rendered from `body`; re-rendered whenever the set of terms changes (see links.py),
    # because auto-links depend on every other entry's terms.
    body_html = models.TextField(blank=True, editable=False)
    # The normalised term, aliases and search aliases, for exact lookups.
    lookup_keys = ArrayField(models.CharField(max_length=200), default=list, editable=False)
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Weighted for keyword search: term and (search) aliases A, summary B, body C. Written by save():
    # a GeneratedField cannot use array_to_string, which PostgreSQL marks only STABLE.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = EntryQuerySet.as_manager()

    SEARCH_VECTOR = (
        SearchVector("term", weight="A", config="english")
        + SearchVector(Func(F("aliases"), Value(" "), function="array_to_string",
                            output_field=models.TextField()),
                       weight="A", config="english")
        + SearchVector(Func(F("search_aliases"), Value(" "), function="array_to_string",
                            output_field=models.TextField()),
                       weight="A", config="english")
        + SearchVector("summary", weight="B", config="english")
        + SearchVector("body", weight="C", config="english")
    )

    class Meta:
        ordering = alphabetical()
        verbose_name_plural = "entries"
        indexes = [
            GinIndex(fields=["lookup_keys"], name="entry_lookup_keys"),
            GinIndex(fields=["search_vector"], name="entry_search_vector"),
            GinIndex(fields=["term"], name="entry_term_trigram", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self):
        return self.term

    def get_absolute_url(self):
        return reverse("glossary:entry", args=[self.slug])

    def save(self, *args, **kwargs):
        names = [self.term, *self.aliases, *self.search_aliases]
        self.lookup_keys = sorted({lookup_key(t) for t in names if t.strip()})
        super().save(*args, **kwargs)
        Entry.objects.filter(pk=self.pk).update(search_vector=self.SEARCH_VECTOR)

    def content(self) -> dict:
        """The editable content, as stored in a revision and in a fixture file."""
        return {
            "term": self.term,
            "aliases": list(self.aliases),
            "search_aliases": list(self.search_aliases),
            "category": self.category.slug,
            "summary": self.summary,
            "body": self.body,
            "sources": list(self.sources),
        }

    def name_conflicts(self, names: list[str]) -> list[tuple[str, "Entry"]]:
        """Names (term or aliases) that another entry already answers to."""
        conflicts = []
        others = Entry.objects.exclude(pk=self.pk) if self.pk else Entry.objects.all()
        for name in names:
            other = others.matching(name).first()
            if other is not None:
                conflicts.append((name, other))
        return conflicts

    EDITABLE = ("term", "aliases", "search_aliases", "summary", "body", "sources")

    @transaction.atomic
    def apply_edit(self, content: dict, *, author=None, message: str = "",
                   base_revision: int | None = None) -> "Revision":
        """Change the entry, keep a revision and bring links up to date; `entry_edited` tells search.

        `content` has the shape of `content()` (any subset; "category" is a slug). When `base_revision`
        is given and another edit landed since, nothing changes and StaleRevision is raised:
        concurrent edits never silently overwrite each other.
        """
        from glossary.links import refresh_links

        if self.pk is not None:
            current = Entry.objects.select_for_update().get(pk=self.pk)
            if base_revision is not None and current.revision != base_revision:
                raise StaleRevision(current)
            names_before = (current.term, list(current.aliases))
        else:
            names_before = None
        for field in self.EDITABLE:
            if field in content:
                setattr(self, field, content[field])
        if "category" in content:
            self.category = Category.objects.get(slug=content["category"])
        self.save()
        revision = self.record_revision(author=author, message=message)
        # Other entries' auto-links depend on this entry's names; a body edit touches only its own.
        names_changed = names_before != (self.term, list(self.aliases))
        refresh_links(None if names_changed else Entry.objects.filter(pk=self.pk))
        entry_edited.send(sender=Entry, entry=self)
        return revision

    @transaction.atomic
    def delete_with_links(self):
        """Delete, then re-render the entries that mentioned this one (now missing links)."""
        from glossary.links import refresh_links

        referring = list(self.incoming.values_list("source_id", flat=True))
        self.delete()
        refresh_links(None if referring else Entry.objects.none())

    @transaction.atomic
    def record_revision(self, author=None, message: str = "") -> "Revision":
        """Store the current content as the next revision."""
        self.revision += 1
        Entry.objects.filter(pk=self.pk).update(revision=self.revision)
        return Revision.objects.create(
            entry=self,
            number=self.revision,
            content=self.content(),
            author=author,
            message=message,
        )


class Revision(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entry", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "number"], name="unique_revision_number")
        ]

    def __str__(self):
        return f"{self.entry} r{self.number}"

    def get_absolute_url(self):
        return reverse("glossary:revision", args=[self.entry.slug, self.number])


class Link(models.Model):
    """One link from an entry's body to another entry, explicit ([[...]]) or automatic."""

    source = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="incoming")
    automatic = models.BooleanField(default=False)
    # The sentence the source's first link to the target stands in, as plain text in three
    # pieces: [before, the linked words, after]. Shown beside each backlink.
    context = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="unique_link")
        ]


class MissingLink(models.Model):
    """A [[wiki link]] whose target matches no entry yet: listed on the "missing" page."""

    source = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="missing_links")
    target_text = models.CharField(max_length=200)

    class Meta:
        ordering = ["target_text"]
