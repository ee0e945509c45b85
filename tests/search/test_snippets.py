"""Snippets (search.snippets): whole sentences, query words marked, nothing else."""

import re

from search.snippets import Candidate, mark, snippet
from search.text import FORMULA


def match_words(*words):
    wanted = {w.casefold() for w in words}

    def match(word):
        return frozenset([word.casefold()]) & wanted

    return match


def test_the_sentence_with_most_query_words_is_chosen_whole_and_marked():
    candidates = [Candidate("A sampler that keeps the likely tokens.", -1, bonus=0.6),
                  Candidate("Temperature divides the logits.", 0),
                  Candidate("Min-p keeps tokens above a threshold relative to the top token.", 0)]
    html = snippet(candidates, match_words("min-p", "threshold"))
    assert html == ("<mark>Min-p</mark> keeps tokens above a <mark>threshold</mark> relative to the "
                    "top token.")


def test_a_short_sentence_is_followed_by_the_next_one_of_its_block():
    candidates = [Candidate("It is short.", 0), Candidate("The next sentence says more about it.", 0),
                  Candidate("Another block.", 1)]
    assert snippet(candidates, match_words("short")) == (
        "It is <mark>short</mark>. The next sentence says more about it.")


def test_a_long_sentence_is_cut_at_clause_boundaries_around_the_match():
    long = ("First clause about nothing in particular at all, second clause that is also quite long "
            "and goes on, third clause where the kv cache appears, fourth clause with more words, "
            "fifth clause that closes the whole long sentence with a few more words for length.")
    html = snippet([Candidate(long, 0)], match_words("kv", "cache"), max_chars=120)
    text = re.sub(r"</?mark>", "", html)
    assert len(text) <= 124 and "<mark>kv</mark> <mark>cache</mark>" in html
    assert text.startswith("… ") and text.endswith(" …")
    assert "third clause where the kv cache appears," in text


def test_without_any_match_the_summary_is_shown_unmarked():
    candidates = [Candidate("The summary sentence.", -1, bonus=0.6), Candidate("A body sentence.", 0)]
    assert snippet(candidates, match_words("zzz")) == "The summary sentence."


def test_sentences_with_a_formula_gap_lose_to_plain_ones():
    candidates = [Candidate(f"Size is {FORMULA} per token of the cache.", 0),
                  Candidate("The cache grows with every token.", 0)]
    assert "grows" in snippet(candidates, match_words("cache", "token"))


def test_marking_escapes_html_and_keeps_technical_words_whole():
    assert mark("<b> llama.cpp & Q4_K_M", match_words("llama.cpp", "q4_k_m")) == (
        "&lt;b&gt; <mark>llama.cpp</mark> &amp; <mark>Q4_K_M</mark>")
