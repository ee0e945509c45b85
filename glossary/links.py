"""Wiki links and backlinks: how text names an entry, and keeping Link rows exact."""

import re

from django.db import transaction
from django.dispatch import Signal

# Sent after every entry was re-rendered because terms or aliases changed; other text that
# links to entries (team notes) re-renders itself on it.
terms_changed = Signal()

_SEPARATORS = re.compile(r"[\s_\-]+")


def lookup_key(text: str) -> str:
    """The form terms are compared in: case-insensitive, spaces/hyphens/underscores alike.

    "Q4_K_M", "q4-k-m" and "q4 k m" all give "q4 k m".
    """
    return _SEPARATORS.sub(" ", text.strip().casefold()).strip()


class TermIndex:
    """Every entry's term and aliases, loaded once, for rendering many bodies in a row."""

    def __init__(self, entries):
        self.by_key: dict[str, tuple[str, str]] = {}
        self.names_by_slug: dict[str, list[str]] = {}
        for slug, term, aliases in entries:
            names = [term, *aliases]
            self.names_by_slug[slug] = names
            for name in names:
                self.by_key.setdefault(lookup_key(name), (slug, term))

    @classmethod
    def from_database(cls):
        from glossary.models import Entry

        return cls(Entry.objects.values_list("slug", "term", "aliases"))

    def resolve(self, text: str):
        return self.by_key.get(lookup_key(text))

    def autolink_pattern(self):
        """Terms, and the aliases distinctive enough to link on sight.

        A one-word lowercase alias ("seed", "ties", "dense") is also an ordinary English
        word; linking it everywhere would mislink prose, so only [[wiki links]] use it.
        """
        from glossary.markdown import term_pattern

        names = []
        for term, *aliases in self.names_by_slug.values():
            names.append(term)
            names.extend(a for a in aliases if not re.fullmatch(r"[a-z]+", a))
        return term_pattern(names)


@transaction.atomic
def refresh_links(entries=None, index: TermIndex | None = None) -> None:
    """Re-render bodies and rewrite Link/MissingLink rows.

    Auto-links depend on every entry's terms, so when a term, alias or entry is added or
    removed, all entries are refreshed (`entries=None`); a body-only edit refreshes just one.
    """
    from glossary.models import Entry, Link, MissingLink

    index = index or TermIndex.from_database()
    pattern = index.autolink_pattern()
    from glossary.markdown import render

    queryset = Entry.objects.all() if entries is None else entries
    slugs_to_ids = dict(Entry.objects.values_list("slug", "id"))
    for entry in queryset:
        rendered = render(entry.body, index.resolve, autolink=pattern, own_slug=entry.slug)
        if rendered.html != entry.body_html:
            Entry.objects.filter(pk=entry.pk).update(body_html=rendered.html)
            entry.body_html = rendered.html
        wanted = {(slugs_to_ids[s], False) for s in rendered.links if s != entry.slug}
        wanted |= {(slugs_to_ids[s], True) for s in rendered.auto_links
                   if s != entry.slug and (slugs_to_ids[s], False) not in wanted}
        existing = set(Link.objects.filter(source=entry).values_list("target_id", "automatic"))
        if existing != wanted:
            Link.objects.filter(source=entry).delete()
            Link.objects.bulk_create(
                Link(source=entry, target_id=target, automatic=auto) for target, auto in wanted
            )
        MissingLink.objects.filter(source=entry).delete()
        MissingLink.objects.bulk_create(
            MissingLink(source=entry, target_text=text) for text in rendered.missing
        )
    if entries is None:
        terms_changed.send(sender=Entry, index=index)
