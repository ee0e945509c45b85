"""The Markdown renderer on its own: no database, a dictionary as the term index."""

from glossary.links import TermIndex
from glossary.markdown import render

INDEX = TermIndex([
    ("lora", "LoRA", ["low-rank adaptation"]),
    ("qlora", "QLoRA", []),
    ("kv-cache", "KV cache", ["key-value cache"]),
    ("q4-k-m", "Q4_K_M", ["q4-k-m"]),
    ("gguf", "GGUF", []),
])


def html_of(text, own_slug=None, autolink=True):
    return render(text, INDEX.resolve, autolink=INDEX.autolink_pattern() if autolink else None,
                  own_slug=own_slug)


def test_wiki_links_resolve_through_terms_and_aliases():
    result = html_of("See [[low-rank adaptation]] and [[QLoRA|the 4-bit variant]].", autolink=False)
    assert '<a class="wikilink" data-slug="lora" href="/glossary/lora/"' in result.html
    assert 'href="/glossary/qlora/"' in result.html and ">the 4-bit variant</a>" in result.html
    assert result.links == ["lora", "qlora"]


def test_wiki_links_ignore_case_spaces_hyphens_and_underscores():
    result = html_of("[[q4 k m]], [[Q4-K-M]], [[kv_cache]]", autolink=False)
    assert result.links == ["q4-k-m", "kv-cache"]


def test_unknown_targets_render_as_visible_missing_links():
    result = html_of("Try [[Speculative decoding]].")
    assert 'class="wikilink missing"' in result.html
    assert "/glossary/missing/?term=Speculative%20decoding" in result.html
    assert result.missing == ["Speculative decoding"]


def test_first_mention_of_another_term_is_linked_once():
    result = html_of("The KV cache grows. The KV cache is big. GGUF files hold it.")
    assert result.html.count('href="/glossary/kv-cache/"') == 1
    assert result.html.count('href="/glossary/gguf/"') == 1
    assert result.auto_links == ["kv-cache", "gguf"]


def test_auto_links_skip_code_math_existing_links_and_the_entry_itself():
    text = ("`GGUF` in code, $\\text{LoRA}$ in math, [[QLoRA]] linked, QLoRA again.\n\n"
            "```\nLoRA in a block\n```\n\nThis GGUF entry.")
    result = html_of(text, own_slug="gguf")
    assert "<code>GGUF</code>" in result.html
    assert "/glossary/gguf/" not in result.html          # never links to itself
    assert result.html.count("/glossary/qlora/") == 1     # the explicit link only
    assert "/glossary/lora/" not in result.html           # code and math are left alone


def test_auto_links_match_whole_words_only():
    result = html_of("GGUFs and preGGUF and Q4_K_Mx stay plain; Q4_K_M does not.")
    assert result.auto_links == ["q4-k-m"]


def test_math_becomes_mathml_on_the_server():
    result = html_of("Inline $b = \\frac{144 \\cdot 8}{256}$ and\n\n$$\n\\sum_l n_l\n$$\n")
    assert '<math display="inline"' in result.html or '<math xmlns' in result.html
    assert "<mfrac>" in result.html and '<div class="math">' in result.html
    assert "$" not in result.html


def test_bad_math_shows_its_source_instead_of_failing():
    result = html_of("Broken $\\frac{1}{$ here")
    assert "<script" not in result.html


def test_dangerous_html_is_removed():
    result = html_of('<script>alert(1)</script><img src=x onerror="alert(1)">'
                     '[x](javascript:alert(1)) <iframe src="https://e.com"></iframe>'
                     '<a href="https://example.com" onclick="alert(1)" style="color:red">ok</a>')
    html = result.html
    for bad in ["<script", "onerror", "javascript:", "<iframe", "onclick", "style=", "<img"]:
        assert bad not in html
    assert 'href="https://example.com"' in html and 'rel="nofollow noopener"' in html


def test_labelled_wiki_links_work_inside_table_cells():
    result = html_of("| a | b |\n|---|---|\n| [[QLoRA|4-bit]] | x |\n", autolink=False)
    assert "<td><a" in result.html and ">4-bit</a></td>" in result.html
    assert result.html.count("<td>") == 2


def test_a_wiki_link_may_wrap_onto_the_next_line():
    result = html_of("See [[low-rank\nadaptation]] here.", autolink=False)
    assert result.links == ["lora"]


# Names as the real glossary spells them, for the sense tests below.
SENSES = TermIndex([
    ("seed", "Seed", ["random seed", "reproducibility"]),
    ("system-prompt", "System prompt", ["system message", "SYSTEM"]),
    ("token", "Token", ["tokens"]),
    ("ties-merging", "TIES merging", ["TIES"]),
    ("benchmarks", "Benchmarks", ["ARC", "benchmark"]),
    ("quantization", "Quantization", ["quants"]),
    ("transformers-library", "Hugging Face Transformers", ["Transformers"]),
    ("greedy-decoding", "Greedy decoding", ["temperature 0"]),
    ("gguf", "GGUF", []),
])


def auto_links_in(text):
    return render(text, SENSES.resolve, autolink=SENSES.autolink_pattern()).auto_links


def test_everyday_words_do_not_link_on_sight():
    assert auto_links_in("The seed notes describe the tiling; a seed fixes the draws.") == []
    assert auto_links_in("Described in a system demonstration paper; it pins system RAM.") == []
    assert auto_links_in("Each token costs time, and nothing ties the model down.") == []


def test_everyday_words_still_link_where_an_editor_asks():
    result = render("Fix the [[seed]] and the [[system]] message.", SENSES.resolve,
                    autolink=SENSES.autolink_pattern())
    assert result.links == ["seed", "system-prompt"]


def test_acronyms_link_only_in_their_own_case():
    assert auto_links_in("TIES resolves sign conflicts.") == ["ties-merging"]
    assert auto_links_in("Nothing ties them; an arc of 60 degrees.") == []
    assert auto_links_in("Scores on ARC and gguf in lower case.") == ["benchmarks"]


def test_terms_of_art_and_names_of_several_words_link_in_any_case():
    assert auto_links_in("Quantization first, then a random seed.") == ["quantization", "seed"]
    assert auto_links_in("Set the System Prompt.") == ["system-prompt"]


def test_a_proper_name_among_the_aliases_links_only_capitalised():
    assert auto_links_in("Stacked transformers are deep.") == []
    assert auto_links_in("Load it with Transformers.") == ["transformers-library"]


def test_one_word_lowercase_aliases_do_not_link_on_sight():
    assert auto_links_in("Check the quants, tokens and reproducibility of a benchmark.") == []


def test_a_name_inside_a_longer_number_or_file_name_does_not_link():
    assert auto_links_in("The card recommends temperature 0.6 and model.GGUF files.") == []
    assert auto_links_in("At temperature 0, decoding is greedy.") == ["greedy-decoding"]


def test_each_link_keeps_the_sentence_it_stands_in():
    from glossary.markdown import link_sentences

    result = html_of("First. The [[KV cache]] grows with $n$ tokens; see [[GGUF]]! Last one.\n\n"
                     "- In a list, [[KV cache]] again.")
    sentences = link_sentences(result.html)
    assert sentences["kv-cache"] == ("The ", "KV cache", " grows with … tokens; see GGUF!")
    assert sentences["gguf"] == ("The KV cache grows with … tokens; see ", "GGUF", "!")


def test_a_long_sentence_is_cut_around_the_link():
    from glossary.markdown import SENTENCE_SIDE_CHARS, link_sentences

    words = " ".join(["word"] * 200)
    before, anchor, after = link_sentences(html_of(f"{words} GGUF {words}.").html)["gguf"]
    assert anchor == "GGUF"
    assert before.startswith("…") and len(before) <= SENTENCE_SIDE_CHARS + 1
    assert after.endswith("…") and len(after) <= SENTENCE_SIDE_CHARS + 1


def test_a_capitalised_name_the_glossary_never_writes_in_lower_case_is_a_proper_name():
    from glossary.links import words_in_lower_case

    prose = words_in_lower_case(["Each tensor has a type; `gemma` in code and \"gemma\" in quotes.",
                                 "Gemma 3 ships in four sizes."])
    assert "tensor" in prose and "gemma" not in prose
    index = TermIndex([("gemma", "Gemma", []), ("tensor", "Tensor", [])], lowercase_words=prose)
    result = render("Gemma 3 runs on integer tensor cores. Tensor parallelism splits layers; gemma.",
                    index.resolve, autolink=index.autolink_pattern())
    assert result.auto_links == ["gemma"]  # an everyday word ("tensor") links only as [[tensor]]
    assert result.html.count("/glossary/gemma/") == 1
