"""Glossary content as reviewable files: one Markdown file with YAML front matter per entry.

Reading and writing only; no database here. `dump(parse(text))` is the canonical form, so
an exported file loads back to exactly the same content (see tests/glossary/test_fixtures.py).
"""

from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml

REQUIRED = ("term", "category", "summary", "sources")
FIELD_ORDER = ("term", "aliases", "search_aliases", "category", "summary", "sources")
# Left out of a file when empty.
OPTIONAL_LISTS = ("aliases", "search_aliases")


class FixtureError(ValueError):
    pass


@dataclass(frozen=True)
class EntryFile:
    slug: str
    term: str
    aliases: list
    search_aliases: list
    category: str
    summary: str
    body: str
    sources: list

    def content(self) -> dict:
        """The same shape as Entry.content()."""
        return {"term": self.term, "aliases": list(self.aliases),
                "search_aliases": list(self.search_aliases), "category": self.category,
                "summary": self.summary, "body": self.body, "sources": list(self.sources)}


def parse(slug: str, text: str) -> EntryFile:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as error:
        raise FixtureError(f"{slug}: front matter is not valid YAML: {error}") from error
    missing = [key for key in REQUIRED if not post.get(key)]
    if missing:
        raise FixtureError(f"{slug}: missing {', '.join(missing)}")
    sources = post["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, dict) and s.get("title") for s in sources):
        raise FixtureError(f"{slug}: every source needs a title")
    names = {}
    for key in OPTIONAL_LISTS:
        names[key] = post.get(key) or []
        if not isinstance(names[key], list):
            raise FixtureError(f"{slug}: {key} must be a list")
    return EntryFile(
        slug=slug,
        term=str(post["term"]).strip(),
        aliases=[str(a).strip() for a in names["aliases"]],
        search_aliases=[str(a).strip() for a in names["search_aliases"]],
        category=str(post["category"]).strip(),
        summary=" ".join(str(post["summary"]).split()),
        body=post.content.strip(),
        sources=[{"title": str(s["title"]), **({"url": str(s["url"])} if s.get("url") else {})}
                 for s in sources],
    )


def dump(content: dict) -> str:
    meta = {key: content[key] for key in FIELD_ORDER
            if content.get(key) or key not in OPTIONAL_LISTS}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n{content['body'].strip()}\n"


def read_directory(directory: Path) -> list[EntryFile]:
    return [parse(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*.md")) if path.name != "README.md"]


def name_clashes(files: list[EntryFile]) -> dict[str, set[str]]:
    """Names (terms, aliases or search aliases, compared as lookups compare them) that
    several files use."""
    from glossary.links import lookup_key

    owners: dict[str, set[str]] = {}
    for entry_file in files:
        for name in [entry_file.term, *entry_file.aliases, *entry_file.search_aliases]:
            owners.setdefault(lookup_key(name), set()).add(entry_file.slug)
    return {name: slugs for name, slugs in owners.items() if len(slugs) > 1}


def read_categories(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
