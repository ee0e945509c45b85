"""What search reads: one document per searchable thing, its passages and its keyword index.

- `Document`: a glossary entry, a team note or a tool page, as the fields search weighs:
  title and other names, summary, and the plain text of the body.
- `Passage`: a piece of a document embedded for semantic search (entries and notes alike,
  one HNSW index over all of them).
- `Posting`: one word stem (lexeme) of one document with its BM25F term weight, the inverted
  index of keyword search; `Lexeme` holds how many documents contain each stem, `Corpus` the
  document count and the total field lengths. Database triggers keep those two exact on every
  insert and delete of postings and documents, whichever path writes them
  (migrations/0001_initial.py).
- Passages and postings keep a copy of who may read their document (`ReaderCopy`), kept by
  triggers too (migrations/0004_reader_copies.py), so that rankings filter without joins.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField

from notes.models import readable_by


class DocumentQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(visible_to(user))


def visible_to(user, prefix: str = "") -> Q:
    """Documents `user` may see: every entry and tool, and the notes they may read."""
    return Q(**{f"{prefix}note__isnull": True}) | readable_by(user, prefix=f"{prefix}note__")


def visible_by_copy(user) -> Q:
    """The same rule (notes.models.readable_by) on the copy of a note's visibility, author,
    deletion and hiding that its document, passages and postings keep (ReaderCopy): rankings
    filter thousands of passages and postings with it without a lookup into another table for
    each. Result rows are checked again through the note itself (visible_to)."""
    return readable_by(user)


class ReaderCopy(models.Model):
    """Who may read a document: the document's own fields (a note's, copied when it is saved),
    and a copy of them on each of its passages and postings, so that the HNSW scan and the
    champion-list walk check each row they meet without a join. With
    100,000 notes, looking each row's document up cost a signed-in member's search about 7 ms
    of its 16 ms in the database: the keyword walk went from 8.5 to 2.4 ms (index-only), the
    HNSW query from 8.3 to 6.9 ms (bench/bench_search_scale.py). The copy is the document's,
    kept by database triggers (migrations/0004_reader_copies.py): taken from the document
    when a passage or posting is inserted, whichever path inserts it, and written again on
    all of them when the document's copy changes (a note made private, deleted or hidden)."""

    visibility = models.CharField(max_length=10, default="public")
    # No foreign key constraint or index of its own: the rows go with their document, which
    # goes with its author; an index would only cost writes (the rankings read the rows
    # through their own indexes).
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                               db_constraint=False, db_index=False, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Document(ReaderCopy):
    class Kind(models.TextChoices):
        ENTRY = "entry", "Glossary entry"
        NOTE = "note", "Team note"
        TOOL = "tool", "Tool"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    entry = models.OneToOneField("glossary.Entry", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="search_document")
    note = models.OneToOneField("notes.Note", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="search_document")
    tool = models.CharField(max_length=40, null=True, blank=True, unique=True,
                            help_text="the key of a tool in search.tools.TOOLS")
    title = models.CharField(max_length=300)
    # Other names: an entry's aliases, the entry a note is about, a tool's other names.
    aliases = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    summary = models.TextField(blank=True)
    text = models.TextField(blank=True)
    # A note's visibility, author, deletion and hiding by staff (ReaderCopy's fields), copied
    # whenever it is saved (entries and tools are public): see visible_by_copy. Unlike its
    # passages' and postings' copy, the document's author is a real foreign key: the document
    # goes when its author does.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="+")
    # Field lengths in words, for BM25's length normalisation: names are title and aliases.
    names_words = models.PositiveIntegerField(default=0)
    summary_words = models.PositiveIntegerField(default=0)
    text_words = models.PositiveIntegerField(default=0)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="document_has_its_owner",
                condition=(Q(kind="entry", entry__isnull=False, note__isnull=True, tool__isnull=True)
                           | Q(kind="note", entry__isnull=True, note__isnull=False, tool__isnull=True)
                           | Q(kind="tool", entry__isnull=True, note__isnull=True, tool__isnull=False)),
            ),
        ]

    def __str__(self):
        return f"{self.kind}: {self.title}"

    def names(self) -> str:
        return " ".join([self.title, *self.aliases])


class Passage(ReaderCopy):
    """A piece of a document, embedded for semantic search.

    Passage 0 is the title, other names and summary; an entry's descriptions (its longer
    search aliases) follow, one passage each; the others are the text split by paragraphs
    into pieces the embedding model reads whole (search.text.passage_texts).
    A passage is encoded again only when its text changes (its SHA-256 is stored beside it).
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    text = models.TextField()
    text_hash = models.CharField(max_length=64)
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS, null=True)

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="unique_passage_position")
        ]
        indexes = [
            # m and ef_construction twice pgvector's defaults (16, 64): at 100,000 passages
            # (bench/bench_search_scale.py) recall@10 reaches 0.98 at ef_search 250, where the
            # default graph needs about 500 (config/database.py sets ef_search).
            HnswIndex(name="passage_embedding_hnsw", fields=["embedding"], m=32, ef_construction=128,
                      opclasses=["vector_cosine_ops"]),
        ]


class Posting(ReaderCopy):
    """A lexeme of a document with its BM25F weight before IDF (search.bm25.term_weight).

    The second index orders each lexeme's documents by weight: keyword search reads only the
    best few hundred of a common word's documents ("champion lists"; Manning, Raghavan and
    Schütze, Introduction to Information Retrieval, 2008, §7.1.3).
    """

    pk = models.CompositePrimaryKey("lexeme", "document_id")
    lexeme = models.TextField()
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="postings")
    weight = models.FloatField()

    class Meta:
        indexes = [
            # Everything the champion-list walk reads is in the index: an index-only scan.
            models.Index(fields=["lexeme", "-weight"],
                         include=["document", "visibility", "author", "deleted_at", "hidden_at"],
                         name="posting_champions"),
        ]


class Lexeme(models.Model):
    """How many documents contain a lexeme: BM25's inverse document frequency. Kept by triggers."""

    lexeme = models.TextField(primary_key=True)
    documents = models.IntegerField(default=0)


class Corpus(models.Model):
    """The one row of corpus totals (document count, words per field). Kept by triggers."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    documents = models.IntegerField(default=0)
    names_words = models.BigIntegerField(default=0)
    summary_words = models.BigIntegerField(default=0)
    text_words = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "corpus"

    @classmethod
    def current(cls) -> "Corpus":
        return cls.objects.filter(pk=1).first() or cls()

    def average(self, field: str) -> float:
        return getattr(self, f"{field}_words") / self.documents if self.documents else 0.0
