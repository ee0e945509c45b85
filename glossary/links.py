"""Wiki links and backlinks: how text names an entry, and keeping Link rows exact."""

import functools
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

    def __init__(self, entries, lowercase_words=frozenset()):
        self.by_key: dict[str, tuple[str, str]] = {}
        self.names_by_slug: dict[str, list[str]] = {}
        # Words the glossary's prose writes in lower case somewhere: a capitalised name that
        # is never among them (Gemma, Mistral, Metal) is a proper name, not an English word.
        self.lowercase_words = frozenset(lowercase_words)
        for slug, term, aliases in entries:
            names = [term, *aliases]
            self.names_by_slug[slug] = names
            for name in names:
                self.by_key.setdefault(lookup_key(name), (slug, term))

    @classmethod
    def from_database(cls):
        from glossary.models import Entry

        return cls(Entry.objects.values_list("slug", "term", "aliases"),
                   lowercase_words=words_in_lower_case(Entry.objects.values_list("body", flat=True)))

    def resolve(self, text: str):
        return self.by_key.get(lookup_key(text))

    def autolink_pattern(self):
        """One pattern over every name that links on sight (see `autolink_case`)."""
        from glossary.markdown import term_pattern

        cases = {ANY_CASE: [], OWN_CASE: []}
        for term, *aliases in self.names_by_slug.values():
            for name in [term, *aliases]:
                case = autolink_case(name, is_term=name is term, lowercase_words=self.lowercase_words)
                if case is not None:
                    cases[case].append(name)
        return term_pattern(cases[ANY_CASE], cases[OWN_CASE])


# "The 50,000 most frequent words" stands for everyday English: it holds seed, system, token,
# prompt, ties, arc, inference, tensor, adapter and epoch, and leaves out the jargon
# (quantization and perplexity rank beyond 120,000; tokenizer, softmax, logits are absent).
EVERYDAY_VOCABULARY_SIZE = 50_000


@functools.cache
def everyday_words() -> frozenset[str]:
    """The most frequent English words, from pyspellchecker's word-frequency list."""
    from spellchecker import SpellChecker

    frequencies = SpellChecker(language="en").word_frequency.dictionary
    ranked = sorted(frequencies, key=frequencies.__getitem__, reverse=True)
    return frozenset(ranked[:EVERYDAY_VOCABULARY_SIZE])


# Code, math and quoted text say nothing about how the prose itself writes a word.
_NOT_PROSE = re.compile(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$\n]*\$|\"[^\"\n]*\"|“[^”\n]*”", re.S)


def words_in_lower_case(bodies) -> frozenset[str]:
    """Single words that Markdown bodies write in lower case in their prose."""
    words = set()
    for body in bodies:
        words.update(re.findall(r"(?<![\w./-])([a-z]+)(?![\w-]|\.\w)", _NOT_PROSE.sub(" ", body)))
    return frozenset(words)


ANY_CASE, OWN_CASE = "any case", "own case"


def autolink_case(name: str, *, is_term: bool, lowercase_words=frozenset()) -> str | None:
    """How prose must spell `name` to mean the entry wherever it appears; None: it never does.

    Only names with a single sense link on sight. An everyday word has several: the seed
    notes are no random seed, system RAM is no system prompt, tensor cores are no tensor,
    so "seed", "system" and "tensor" link only where an editor writes [[seed]].
    """
    if not re.fullmatch(r"[A-Za-z]+", name):
        return ANY_CASE  # several words, digits or symbols: "KV cache", "Q4_K_M", "llama.cpp"
    if re.search(r".[A-Z]", name):
        return OWN_CASE  # an acronym or CamelCase name: "TIES" but not the verb "ties"
    if name[0].isupper() and name.lower() not in lowercase_words:
        return OWN_CASE  # a proper name the glossary never writes in lower case: "Gemma", "Metal"
    if name.casefold() in everyday_words():
        return None  # "seed", "system", "token", "inference", "tensor"
    if is_term:
        return ANY_CASE  # a term of art: "quantization", "perplexity", "softmax"
    return None  # a one-word lowercase alias ("merges", "prompts") is a looser synonym


@transaction.atomic
def refresh_links(entries=None, index: TermIndex | None = None) -> None:
    """Re-render bodies and rewrite Link/MissingLink rows.

    Auto-links depend on every entry's terms, so when a term, alias or entry is added or
    removed, all entries are refreshed (`entries=None`); a body-only edit refreshes just one.
    """
    from glossary.markdown import link_sentences, render
    from glossary.models import Entry, Link, MissingLink

    index = index or TermIndex.from_database()
    pattern = index.autolink_pattern()

    queryset = Entry.objects.all() if entries is None else entries
    slugs_to_ids = dict(Entry.objects.values_list("slug", "id"))
    for entry in queryset:
        rendered = render(entry.body, index.resolve, autolink=pattern, own_slug=entry.slug)
        if rendered.html != entry.body_html:
            Entry.objects.filter(pk=entry.pk).update(body_html=rendered.html)
            entry.body_html = rendered.html
        sentences = link_sentences(rendered.html)
        wanted = {(slugs_to_ids[s], False, sentences.get(s, ())) for s in rendered.links
                  if s != entry.slug}
        explicit = {target for target, _, _ in wanted}
        wanted |= {(slugs_to_ids[s], True, sentences.get(s, ())) for s in rendered.auto_links
                   if s != entry.slug and slugs_to_ids[s] not in explicit}
        existing = {(target, automatic, tuple(context)) for target, automatic, context
                    in Link.objects.filter(source=entry).values_list("target_id", "automatic", "context")}
        if existing != wanted:
            Link.objects.filter(source=entry).delete()
            Link.objects.bulk_create(
                Link(source=entry, target_id=target, automatic=auto, context=list(context))
                for target, auto, context in wanted
            )
        MissingLink.objects.filter(source=entry).delete()
        MissingLink.objects.bulk_create(
            MissingLink(source=entry, target_text=text) for text in rendered.missing
        )
    if entries is None:
        terms_changed.send(sender=Entry, index=index)
