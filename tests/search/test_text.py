"""What search indexes and what snippets are cut from (search.text): no database."""

from search.text import FORMULA, html_blocks, passage_texts, plain_text, sentences


def test_plain_text_keeps_words_and_names_and_drops_markup():
    text = plain_text("# Heading\nUse **Q4_K_M** with `n_ctx` and [[Base model|base model]] "
                      "or [[GGUF]]; see [the docs](https://example.org). $2\\pi b$ _em_\n\n"
                      "| a | b |\n|---|---|\n| x | y |\n> quoted")
    for word in ("Heading", "Q4_K_M", "n_ctx", "base model", "GGUF", "the docs", "em", "quoted", "x", "y"):
        assert word in text
    for markup in ("**", "`", "[[", "]]", "](", "https://", "$", "\\pi", "|", "---", "#", ">"):
        assert markup not in text


def test_passages_start_with_the_summary_and_stay_under_the_word_limit():
    body = "\n\n".join(f"Paragraph {i} " + "word " * 70 for i in range(6))
    passages = passage_texts("KV cache", ["attention cache"], "Keys and values kept per token.", body)
    assert passages[0] == "KV cache (attention cache): Keys and values kept per token."
    assert all(p.startswith("KV cache: ") for p in passages[1:])
    assert all(len(p.split()) <= 2 + 180 for p in passages)
    assert " ".join(passages[1:]).count("Paragraph") == 6


def test_descriptions_are_passages_of_their_own_and_spellings_are_not():
    passages = passage_texts("Repetition penalty", ["repeat penalty", "Kkama"], "Lowers repeated tokens.",
                             "Body.", descriptions=["Kkama", "model keeps repeating itself"])
    assert passages == ["Repetition penalty (repeat penalty, Kkama): Lowers repeated tokens.",
                        "model keeps repeating itself", "Repetition penalty: Body."]


def test_html_blocks_are_prose_without_tables_code_or_formulas():
    html = ('<p>In <a class="wikilink" href="/glossary/x/">self-attention</a> each token looks back.</p>'
            '<p>Size for <math><mi>n</mi></math> tokens.</p><table><tr><td>cell</td></tr></table>'
            '<pre><code>llama-cli -m x</code></pre><ul><li>First item</li><li>Second</li></ul>')
    assert html_blocks(html) == ("In self-attention each token looks back.", f"Size for {FORMULA} tokens.",
                                 "First item", "Second")


def test_sentences_split_at_full_stops_but_not_after_abbreviations_or_in_numbers():
    assert sentences("It uses e.g. Q4_K_M at 4.5 bits. Then it stops! Does it? Yes.") == [
        "It uses e.g. Q4_K_M at 4.5 bits.", "Then it stops!", "Does it?", "Yes."]
