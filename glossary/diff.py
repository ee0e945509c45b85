"""What changed between two versions of an entry, for people to read.

Line by line and side by side, with the changed words marked inside each changed line
(difflib on lines, then on words). Unchanged stretches longer than a few lines fold into a
gap. No Django imports: the history and conflict pages render the result.
"""

import difflib
import re
from dataclasses import dataclass, field

FIELDS = ("term", "aliases", "category", "summary", "body", "sources")
CONTEXT_LINES = 2  # unchanged lines kept on either side of a change
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool = False


@dataclass
class Row:
    """One line of the side-by-side view. `old` or `new` is None where that side has no line;
    a "gap" row stands for `skipped` unchanged lines."""

    kind: str  # "same", "changed" or "gap"
    old: list[Segment] | None = None
    new: list[Segment] | None = None
    skipped: int = 0


@dataclass
class FieldDiff:
    field: str
    rows: list[Row] = field(default_factory=list)


def field_lines(content: dict, name: str) -> list[str]:
    value = content.get(name, "")
    if name == "sources":
        return [f"{s['title']} | {s['url']}" if s.get("url") else s["title"] for s in value]
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value).splitlines()


def word_diff(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """Both lines cut into segments, the words that differ marked as changed."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    old_segments, new_segments = [], []
    matcher = difflib.SequenceMatcher(lambda token: token.isspace(), a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        _append(old_segments, "".join(a[i1:i2]), op != "equal")
        _append(new_segments, "".join(b[j1:j2]), op != "equal")
    return old_segments, new_segments


def _append(segments: list[Segment], text: str, changed: bool) -> None:
    """Add a segment; the spaces around changed words are not themselves marked."""
    core = text.strip()
    if changed and core:
        start = text.index(core)
        pieces = [(text[:start], False), (core, True), (text[start + len(core):], False)]
    else:
        pieces = [(text, changed and not text.isspace())]
    for piece, is_changed in pieces:
        if not piece:
            continue
        if segments and segments[-1].changed == is_changed:
            segments[-1] = Segment(segments[-1].text + piece, is_changed)
        else:
            segments.append(Segment(piece, is_changed))


def _line_rows(a: list[str], b: list[str]) -> list[Row]:
    rows = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [Row("same", [Segment(line)], [Segment(line)]) for line in a[i1:i2]]
            continue
        old, new = a[i1:i2], b[j1:j2]
        for k in range(max(len(old), len(new))):
            if k < len(old) and k < len(new):
                rows.append(Row("changed", *word_diff(old[k], new[k])))
            elif k < len(old):
                rows.append(Row("changed", [Segment(old[k], True)], None))
            else:
                rows.append(Row("changed", None, [Segment(new[k], True)]))
    return rows


def _fold(rows: list[Row]) -> list[Row]:
    """Keep CONTEXT_LINES unchanged lines around each change; the rest become gap rows."""
    changed = [i for i, row in enumerate(rows) if row.kind == "changed"]
    keep = {j for i in changed for j in range(i - CONTEXT_LINES, i + CONTEXT_LINES + 1)}
    folded, skipped = [], 0
    for i, row in enumerate(rows):
        if i in keep:
            if skipped:
                folded.append(Row("gap", skipped=skipped))
                skipped = 0
            folded.append(row)
        else:
            skipped += 1
    if skipped:
        folded.append(Row("gap", skipped=skipped))
    return folded


def content_diff(old: dict, new: dict) -> list[FieldDiff]:
    """The fields that differ between two entry contents (the shape of Entry.content())."""
    diffs = []
    for name in FIELDS:
        a, b = field_lines(old, name), field_lines(new, name)
        if a != b:
            diffs.append(FieldDiff(name, _fold(_line_rows(a, b))))
    return diffs
