"""Suggestions as you type in the header box: entry terms and aliases, and tools.

The names are few (a glossary has hundreds of entries), so they are matched in memory,
rebuilt when an entry changes: a suggestion costs one small query and a scan of a list.
"""

from dataclasses import dataclass

from glossary.links import lookup_key
from glossary.models import Entry, glossary_version
from search import tools


@dataclass(frozen=True)
class Suggestion:
    title: str  # what the entry or tool is called
    url: str
    type: str  # "entry" or "tool"
    matched: str = ""  # the alias that matched, when it was not the title

    def as_dict(self) -> dict:
        return {"title": self.title, "url": self.url, "type": self.type, "matched": self.matched}


@dataclass(frozen=True)
class _Name:
    key: str  # lookup_key of the name
    shown: str  # the name as written
    target: Suggestion
    is_title: bool


_names: tuple[tuple, list[_Name]] | None = None


def names() -> list[_Name]:
    global _names
    version = glossary_version()
    if _names is None or _names[0] != version:
        found = []
        for slug, term, aliases in Entry.objects.values_list("slug", "term", "aliases"):
            target = Suggestion(term, f"/glossary/{slug}/", "entry")
            found.append(_Name(lookup_key(term), term, target, True))
            found += [_Name(lookup_key(a), a, target, False) for a in aliases]
        for tool in tools.TOOLS.values():
            target = Suggestion(tool.title, tool.url, "tool")
            found.append(_Name(lookup_key(tool.title), tool.title, target, True))
            found += [_Name(lookup_key(a), a, target, False) for a in tool.aliases]
        _names = (version, found)
    return _names[1]


def suggestions(text: str, limit: int = 8) -> list[Suggestion]:
    """Names that start with `text` first (titles before aliases), then names with a word that
    starts with it; shorter names first within each group."""
    key = lookup_key(text)
    if not key:
        return []
    ranked = []
    for name in names():
        if name.key.startswith(key):
            group = 0 if name.is_title else 1
        elif f" {key}" in f" {name.key}" or f".{key}" in name.key:
            group = 2
        else:
            continue
        ranked.append((group, len(name.key), name.key, name))
    ranked.sort(key=lambda item: item[:3])
    chosen, seen = [], set()
    for *_, name in ranked:
        if name.target.url in seen:
            continue
        seen.add(name.target.url)
        matched = "" if name.is_title or name.key == lookup_key(name.target.title) else name.shown
        chosen.append(Suggestion(name.target.title, name.target.url, name.target.type, matched))
        if len(chosen) == limit:
            break
    return chosen
