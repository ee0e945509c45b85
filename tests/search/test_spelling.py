"""Typo correction (search.spelling): glossary words for typos, English words left alone."""

import pytest

from search.spelling import Speller, edit_distance

TEXTS = ["Flash attention tiles the softmax.", "The temperature of the sampler.",
         "llama.cpp runs GGUF files; Ollama wraps it.", "Fine-tune a model with LoRA.",
         "Perplexity measures surprise.", "False positives are rare."]
NAMES = ["Flash attention", "Temperature", "llama.cpp", "Ollama", "LoRA", "Perplexity", "fine-tune"]
ENGLISH = frozenset("the a of with and model my is it too high run runs false speak german".split())


@pytest.fixture(scope="module")
def speller():
    return Speller(TEXTS, NAMES, english=ENGLISH)


@pytest.mark.parametrize("typed, corrected", [
    ("lamma.cpp", "llama.cpp"), ("falsh attention", "flash attention"), ("tempreture too high", "temperature too high"),
    ("olama", "ollama"), ("perplexty", "perplexity"), ("finetune a model", "fine-tune a model"),
])
def test_typos_of_glossary_words_are_corrected(speller, typed, corrected):
    result = speller.correct(typed)
    assert result.changed and result.text == corrected


@pytest.mark.parametrize("text", ["false model", "speak german", "dont run it", "my qwertyuiop", "q4 k m"])
def test_english_words_unknown_words_and_short_words_stay(speller, text):
    result = speller.correct(text)
    assert not result.changed and result.text == text


def test_the_real_english_list_guards_ordinary_words():
    speller = Speller(["Temperature scales logits. Repetition penalty."], ["Temperature"])
    assert not speller.correct("make the output more random and creative").changed
    assert speller.correct("tempreture").text == "temperature"


def test_swaps_and_dropped_double_letters_cost_less_than_a_wrong_letter():
    assert edit_distance("falsh", "flash") < edit_distance("falsh", "false")
    assert edit_distance("olama", "ollama") < edit_distance("olama", "llama")
    assert edit_distance("abc", "abc") == 0 and edit_distance("abc", "abd") == 1
