"""Text for search, with no Django imports: what is indexed and what a snippet is cut from.

- `plain_text` turns an entry's or note's Markdown into the words that are indexed (keyword
  fields and embedded passages): wiki links become their labels, math and markup go.
- `passage_texts` splits a document into the passages the embedding model reads whole.
- `html_blocks` turns rendered, sanitised HTML back into readable prose blocks (paragraphs,
  list items), which snippets are cut from; tables, code and formulas are left out because a
  line of a table or a piece of a formula reads as noise outside its page.
"""

import re
from functools import lru_cache
from html.parser import HTMLParser

# all-MiniLM-L6-v2 reads 256 word pieces; 180 words stays under that for technical English.
MAX_PASSAGE_WORDS = 180
# A search alias this long is a description, not a spelling (see passage_texts).
DESCRIPTION_WORDS = 3

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
_WIKI = re.compile(r"\[\[([^\]|]+)\|?([^\]]*)\]\]")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}.*$", re.M)
_LINE_MARKS = re.compile(r"^\s{0,3}(?:#{1,6}|>)\s?", re.M)
# Emphasis and code marks, but not the underscores inside names such as Q4_K_M or n_ctx.
_MARKUP = re.compile(r"`+|\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)|\|")


def plain_text(markdown_text: str) -> str:
    """The words of a Markdown text: wiki and web links become their labels; formulas,
    emphasis and code marks, headings' hashes and table rules go."""
    text = _MATH.sub(" ", markdown_text)
    text = _WIKI.sub(lambda m: m.group(2) or m.group(1), text)
    text = _LINK.sub(r"\1", text)
    text = _TABLE_RULE.sub("", text)
    text = _LINE_MARKS.sub("", text)
    return _MARKUP.sub(" ", text)


def passage_texts(title: str, aliases: list[str], summary: str, text: str,
                  descriptions: list[str] = ()) -> list[str]:
    """Passage 0 is "Title (alias, alias): summary", which answers what a thing is; then each
    of the `descriptions` on its own (an entry's hidden search aliases of DESCRIPTION_WORDS
    words or more: what the thing does or fixes, in the words of a person who does not know
    its name, such as "model keeps repeating itself"), so that a question phrased that way
    meets it whole rather than diluted in the head; then the text split on paragraphs into
    pieces of at most MAX_PASSAGE_WORDS words, each prefixed with the title so that a passage
    deep in a body still says what it is about."""
    head = title + (f" ({', '.join(aliases)})" if aliases else "") + f": {summary}"
    passages = [head, *(d for d in descriptions if word_count(d) >= DESCRIPTION_WORDS)]
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", plain_text(text)):
        words = paragraph.split()
        if not words:
            continue
        if current and len(current) + len(words) > MAX_PASSAGE_WORDS:
            passages.append(f"{title}: " + " ".join(current))
            current = []
        current.extend(words)
        while len(current) > MAX_PASSAGE_WORDS:
            passages.append(f"{title}: " + " ".join(current[:MAX_PASSAGE_WORDS]))
            current = current[MAX_PASSAGE_WORDS:]
    if current:
        passages.append(f"{title}: " + " ".join(current))
    return passages


def word_count(text: str) -> int:
    return len(text.split())


# Stands in for a formula inside a sentence; snippets avoid sentences that hold one.
FORMULA = "\u2026"


class _BlockParser(HTMLParser):
    BLOCKS = {"p", "li", "dd", "dt", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
              "figcaption", "summary", "div", "br"}
    SKIPPED = {"table", "pre", "script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.skipping = 0
        self.in_math = 0

    def flush(self):
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.flush()
            self.skipping += 1
        elif tag == "math":
            if not self.in_math and not self.skipping:
                self.current.append(f" {FORMULA} ")
            self.in_math += 1
        elif tag in self.BLOCKS or tag in ("ul", "ol"):
            self.flush()

    def handle_endtag(self, tag):
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "math":
            self.in_math = max(0, self.in_math - 1)
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data):
        if not self.skipping and not self.in_math:
            self.current.append(data)


@lru_cache(maxsize=4096)  # result pages show the same entries again and again
def html_blocks(html: str) -> tuple[str, ...]:
    """The prose of rendered HTML as plain-text blocks, in document order."""
    parser = _BlockParser()
    parser.feed(html)
    parser.close()
    parser.flush()
    return tuple(parser.blocks)


# A sentence ends at . ! or ? followed by a space and a capital, digit or opening mark; not
# after a one-letter initial or the common abbreviations of technical prose.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\betc\.)(?<!\bcf\.)"
                           r"(?<!\b[A-Za-z]\.)\s+(?=[A-Z0-9\"“(\[])")


def sentences(block: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(block) if s.strip()]
