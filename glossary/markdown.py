"""Markdown to safe HTML, for glossary entries and team notes alike.

The pipeline: Python-Markdown with pymdown's arithmatex (which finds `$...$` and `$$...$$`
while leaving code alone), our `[[wiki link]]` inline pattern, an auto-linker for the first
mention of other entries' terms, math converted to MathML on the server (latex2mathml, so
pages need no math JavaScript), and finally an allow-list sanitiser (nh3) over everything.

No Django imports: callers pass a `resolve(text) -> (slug, term) | None` function.
"""

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import latex2mathml.converter
import markdown
import nh3
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

Resolver = Callable[[str], tuple[str, str] | None]

# Inside tables a "|" would split the cell before inline patterns run, so render() first
# swaps the label separator of every [[target|label]] for this private-use character.
LABEL_SEPARATOR = "\ue000"
WIKI_LINK_PATTERN = rf"\[\[([^\[\]|{LABEL_SEPARATOR}]+?)(?:[|{LABEL_SEPARATOR}]([^\[\]]+?))?\]\]"
_WIKI_LINK_WITH_LABEL = re.compile(r"\[\[([^\[\]|]+?)\|([^\[\]]+?)\]\]")


@dataclass
class Rendered:
    html: str
    # Slugs this text links to, in order of first appearance, explicit links first.
    links: list[str] = field(default_factory=list)
    auto_links: list[str] = field(default_factory=list)
    # Wiki-link targets that match no entry.
    missing: list[str] = field(default_factory=list)


def entry_url(slug: str) -> str:
    return f"/glossary/{slug}/"


def missing_url(text: str) -> str:
    from urllib.parse import quote

    return f"/glossary/missing/?term={quote(text)}"


class WikiLinkProcessor(InlineProcessor):
    def __init__(self, pattern, md, resolve: Resolver, result: Rendered):
        super().__init__(pattern, md)
        self.resolve = resolve
        self.result = result

    def handleMatch(self, m, data):
        target = " ".join(m.group(1).split())  # a link may wrap onto the next line
        label = " ".join((m.group(2) or m.group(1)).split())
        link = etree.Element("a")
        link.text = AtomicString(label)
        found = self.resolve(target)
        if found is None:
            link.set("href", missing_url(target))
            link.set("class", "wikilink missing")
            link.set("title", f"No entry yet for “{target}”")
            if target not in self.result.missing:
                self.result.missing.append(target)
        else:
            slug, _term = found
            link.set("href", entry_url(slug))
            link.set("class", "wikilink")
            link.set("data-slug", slug)
            if slug not in self.result.links:
                self.result.links.append(slug)
        return link, m.start(0), m.end(0)


class AutoLinkProcessor(Treeprocessor):
    """Link the first mention of another entry's term or alias.

    Runs after the inline patterns, so explicit links are already <a> elements. Text inside
    code, pre, links and math placeholders is never touched (code text is an AtomicString,
    math is stashed out of the tree by arithmatex).
    """

    SKIP_TAGS = {"a", "code", "pre", "kbd", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self, md, pattern: re.Pattern | None, resolve: Resolver, result: Rendered,
                 own_slug: str | None):
        super().__init__(md)
        self.pattern = pattern
        self.resolve = resolve
        self.result = result
        self.own_slug = own_slug

    def run(self, root):
        if self.pattern is None:
            return
        self.linked = set(self.result.links)
        if self.own_slug:
            self.linked.add(self.own_slug)
        self._walk(root)

    def _walk(self, element):
        if element.tag in self.SKIP_TAGS:
            return
        if element.text and not isinstance(element.text, AtomicString):
            element.text, new = self._split(element.text)
            for index, node in enumerate(new):
                element.insert(index, node)
        for child in list(element):
            self._walk(child)
            if child.tail and not isinstance(child.tail, AtomicString):
                child.tail, new = self._split(child.tail)
                position = list(element).index(child) + 1
                for offset, node in enumerate(new):
                    element.insert(position + offset, node)

    def _split(self, text: str):
        """Return (leading text, [<a> elements whose tails hold the rest])."""
        head, nodes, rest = None, [], text
        while (match := self._next_match(rest)) is not None:
            slug, start, end = match
            link = etree.Element("a", {"href": entry_url(slug), "class": "wikilink auto",
                                       "data-slug": slug})
            link.text = AtomicString(rest[start:end])
            if head is None:
                head = rest[:start]
            else:
                nodes[-1].tail = rest[:start]
            nodes.append(link)
            rest = rest[end:]
            self.linked.add(slug)
            self.result.auto_links.append(slug)
        if head is None:
            return text, []
        nodes[-1].tail = rest
        return head, nodes

    def _next_match(self, text: str):
        for m in self.pattern.finditer(text):
            found = self.resolve(m.group(0))
            if found is None:
                continue
            slug = found[0]
            if slug in self.linked:
                continue
            return slug, m.start(), m.end()
        return None


class MathToMathML(markdown.postprocessors.Postprocessor):
    """Turn arithmatex's generic output into MathML."""

    INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
    BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)

    def run(self, text):
        text = self.BLOCK.sub(lambda m: self._convert(m.group(1), "block"), text)
        return self.INLINE.sub(lambda m: self._convert(m.group(1), "inline"), text)

    @staticmethod
    def _convert(latex: str, display: str) -> str:
        latex = html.unescape(latex).strip()
        try:
            mathml = latex2mathml.converter.convert(latex, display=display)
        except Exception:  # latex2mathml raises many types for malformed input
            # Show the source rather than fail the whole page on one bad formula.
            return f'<code class="math-error">{html.escape(latex)}</code>'
        if display == "block":
            return f'<div class="math">{mathml}</div>'
        return mathml


MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "mmultiscripts", "mprescripts", "none",
    "semantics", "annotation", "mfenced",
}
MATHML_ATTRIBUTES = {
    "xmlns", "display", "mathvariant", "stretchy", "fence", "separator", "accent",
    "accentunder", "lspace", "rspace", "columnalign", "rowalign", "columnspacing",
    "rowspacing", "width", "height", "depth", "linethickness", "displaystyle",
    "scriptlevel", "notation", "open", "close", "separators", "movablelimits", "form",
    "largeop", "symmetric", "minsize", "maxsize", "encoding", "columnlines", "rowlines",
    "frame", "framespacing", "equalrows", "equalcolumns", "align",
}
HTML_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u",
    "s", "del", "ins", "mark", "sub", "sup", "small", "code", "pre", "kbd", "samp", "blockquote",
    "ul", "ol", "li", "dl", "dt", "dd", "a", "table", "thead", "tbody", "tfoot", "tr", "th",
    "td", "caption", "span", "div", "abbr", "details", "summary", "figure", "figcaption",
}
SAFE_CLASSES = {"wikilink", "missing", "auto", "math", "math-error", "admonition", "note",
                "warning", "tip", "admonition-title"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        kept = [c for c in value.split() if c in SAFE_CLASSES or c.startswith("language-")]
        return " ".join(kept) or None
    if attribute == "data-slug":
        return value if re.fullmatch(r"[a-z0-9-]+", value) else None
    return value


def sanitize(unsafe_html: str) -> str:
    """Allow-list sanitising: no scripts, handlers, styles, iframes, forms, or odd URLs."""
    attributes = {tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS}
    attributes.update({
        "a": {"href", "title", "class", "data-slug"},
        "abbr": {"title"},
        "code": {"class"},
        "span": {"class"},
        "div": {"class"},
        "p": {"class"},
        "th": {"align"},
        "td": {"align"},
        "ol": {"start"},
    })
    return nh3.clean(
        unsafe_html,
        tags=HTML_TAGS | MATHML_TAGS,
        attributes=attributes,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
        strip_comments=True,
    )


def term_pattern(any_case: list[str], own_case: list[str] = ()) -> re.Pattern | None:
    """One regex matching any of the names as a whole word, longest first.

    Names in `own_case` match only as written ("TIES", not the verb "ties"); the others
    match in any case.
    """
    exact = set(own_case)
    usable = sorted({t for t in [*any_case, *own_case] if len(t) >= 3}, key=len, reverse=True)
    if not usable:
        return None
    alternatives = "|".join(re.escape(t) if t in exact else f"(?i:{re.escape(t)})" for t in usable)
    # Whole words only, and not part of a longer token: "temperature 0" is not in
    # "temperature 0.6", nor "GGUF" in "model.GGUF".
    return re.compile(rf"(?<![\w-])(?<!\w\.)(?:{alternatives})(?![\w-]|\.\w)")


def render(text: str, resolve: Resolver, *, autolink: re.Pattern | None = None,
           own_slug: str | None = None) -> Rendered:
    """Render Markdown to sanitised HTML, resolving wiki links through `resolve`.

    `autolink` is a pattern from `term_pattern` over other entries' terms and aliases; when
    given, the first mention of each is linked.
    """
    result = Rendered(html="")
    md = markdown.Markdown(
        extensions=["extra", "sane_lists", "admonition", "pymdownx.arithmatex", "pymdownx.tilde"],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},
        output_format="html",
    )
    md.inlinePatterns.register(WikiLinkProcessor(WIKI_LINK_PATTERN, md, resolve, result),
                               "wikilink", 175)
    md.treeprocessors.register(AutoLinkProcessor(md, autolink, resolve, result, own_slug),
                               "autolink", 5)
    md.postprocessors.register(MathToMathML(md), "mathml", 0)
    text = _WIKI_LINK_WITH_LABEL.sub(lambda m: f"[[{m.group(1)}{LABEL_SEPARATOR}{m.group(2)}]]", text)
    result.html = sanitize(md.convert(text))
    return result


# A sentence ends at . ! or ? followed by space and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[A-Z0-9])")
SENTENCE_SIDE_CHARS = 160  # how much of a long sentence to keep on either side of a link


class _LinkSentences(HTMLParser):
    """Reads rendered HTML block by block and keeps, for each linked slug, its first sentence."""

    BLOCKS = {"p", "li", "dt", "dd", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
              "blockquote", "figcaption", "div", "pre", "ul", "ol", "table", "tr"}

    def __init__(self):
        super().__init__()
        self.sentences: dict[str, tuple[str, str, str]] = {}
        self._text, self._links, self._open, self._math = "", [], None, 0

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self._end_block()
        elif tag == "math":
            self._math += 1
            self._text += "…"  # a formula is not read out in a one-line quote
        elif tag == "a" and self._math == 0:
            slug = dict(attrs).get("data-slug")
            self._open = (slug, len(self._text)) if slug else None

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self._end_block()
        elif tag == "math":
            self._math -= 1
        elif tag == "a" and self._open:
            slug, start = self._open
            self._links.append((slug, start, len(self._text)))
            self._open = None

    def handle_data(self, data):
        if self._math == 0:
            self._text += data

    def close(self):
        super().close()
        self._end_block()

    def _end_block(self):
        text = self._text
        for slug, start, end in self._links:
            if slug in self.sentences:
                continue
            starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
            stop = _SENTENCE_END.search(text, end)
            before = re.sub(r"\s+", " ", text[starts[-1] if starts else 0:start]).lstrip()
            after = re.sub(r"\s+", " ", text[end:stop.start() if stop else len(text)]).rstrip()
            if len(before) > SENTENCE_SIDE_CHARS:
                before = "…" + before[-SENTENCE_SIDE_CHARS:].split(" ", 1)[-1]
            if len(after) > SENTENCE_SIDE_CHARS:
                after = after[:SENTENCE_SIDE_CHARS].rsplit(" ", 1)[0] + "…"
            self.sentences[slug] = (before, " ".join(text[start:end].split()), after)
        self._text, self._links = "", []


def link_sentences(rendered_html: str) -> dict[str, tuple[str, str, str]]:
    """For each entry a rendered text links to: the sentence of its first link, as plain text
    (before, the linked words, after). Formulas become "…"; long sentences are cut to
    about SENTENCE_SIDE_CHARS characters on either side of the link."""
    parser = _LinkSentences()
    parser.feed(rendered_html)
    parser.close()
    return parser.sentences
