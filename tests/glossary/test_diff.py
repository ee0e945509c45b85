"""The revision diff on its own: lines side by side, changed words marked, long runs folded."""

from glossary.diff import CONTEXT_LINES, Segment, content_diff, word_diff


def marked(segments):
    return "".join(f"[{s.text}]" if s.changed else s.text for s in segments or [])


def test_changed_words_are_marked_on_each_side():
    old, new = word_diff("Q4_K keeps 4.5 bits per weight.", "Q4_K keeps about 4.5 bits per weight here.")
    assert marked(old) == "Q4_K keeps 4.5 bits per weight."
    assert marked(new) == "Q4_K keeps [about] 4.5 bits per weight [here]."


def test_a_replaced_word_is_marked_on_both_sides_without_its_spaces():
    old, new = word_diff("uses eight experts", "uses sixteen experts")
    assert old == [Segment("uses "), Segment("eight", True), Segment(" experts")]
    assert new == [Segment("uses "), Segment("sixteen", True), Segment(" experts")]


def test_only_changed_fields_appear_and_unchanged_runs_fold():
    body = [f"line {i}" for i in range(20)]
    changed = list(body)
    changed[10] = "line ten"
    old = {"term": "GQA", "aliases": ["a"], "summary": "s", "body": "\n".join(body), "sources": [{"title": "t"}]}
    new = {**old, "aliases": ["a", "b"], "body": "\n".join(changed)}
    diffs = {d.field: d for d in content_diff(old, new)}
    assert set(diffs) == {"aliases", "body"}
    rows = diffs["body"].rows
    assert [r.kind for r in rows] == ["gap"] + ["same"] * CONTEXT_LINES + ["changed"] + ["same"] * CONTEXT_LINES + ["gap"]
    assert rows[0].skipped == 10 - CONTEXT_LINES and rows[-1].skipped == 9 - CONTEXT_LINES
    assert marked(rows[1 + CONTEXT_LINES].old) == "line [10]"
    assert marked(rows[1 + CONTEXT_LINES].new) == "line [ten]"
    added = diffs["aliases"].rows[-1]
    assert added.old is None and marked(added.new) == "[b]"


def test_sources_compare_as_title_and_url():
    old = {"sources": [{"title": "Paper", "url": "https://a.example/1"}]}
    new = {"sources": [{"title": "Paper", "url": "https://a.example/2"}]}
    [diff] = content_diff(old, new)
    assert diff.field == "sources"
    assert marked(diff.rows[0].new).endswith("[2]")
