"""Live-demo pages under /live/ (issue #6).

Each page is a form and an empty result area; its script (static/js/live/) calls the
live API (live/api.py), so the numbers on a page are exactly what the API answers.
Pages show the model card (name, quant recipe, bits per weight) from the GGUF header,
which needs no loaded model. When the model is unavailable the hub says so with a 200
(it is an index of demos) and the demo pages answer 503 with the same message; the rest
of the site is untouched.
"""

from __future__ import annotations

import json

from django.shortcuts import render

from live.llm import LIMITS, SamplingParams
from live.web import model_context

_DEFAULTS = SamplingParams()

#: The generation page's sampler controls, in llama-cpp-python's chain order. Ranges are
#: the service's own (live.llm.LIMITS); defaults are create_completion's (SamplingParams).
SAMPLER_CONTROLS = (
    # name, label, glossary slug, step, what the neutral value means
    ("temperature", "Temperature", "temperature", 0.05, "0 = greedy"),
    ("top_k", "Top-k", "top-k", 1, "0 = off"),
    ("top_p", "Top-p", "top-p", 0.01, "1 = off"),
    ("min_p", "Min-p", "min-p", 0.01, "0 = off"),
    ("typical_p", "Typical-p", "typical-sampling", 0.01, "1 = off"),
    ("repeat_penalty", "Repeat penalty", "repetition-penalty", 0.05, "1 = off"),
    ("frequency_penalty", "Frequency penalty", "frequency-and-presence-penalties", 0.1, "0 = off"),
    ("presence_penalty", "Presence penalty", "frequency-and-presence-penalties", 0.1, "0 = off"),
)


def sampler_controls() -> list[dict]:
    controls = []
    for name, label, slug, step, neutral in SAMPLER_CONTROLS:
        _, low, high = LIMITS[name]
        controls.append({"name": name, "label": label, "slug": slug, "step": step, "help": neutral,
                         "min": low, "max": high, "value": getattr(_DEFAULTS, name)})
    return controls


PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}

#: Presets of the JSON-mode page: (key, label, kind, text, prompt).
STRUCTURE_PRESETS = (
    ("person", "JSON schema: a person {name, age}", "json_schema", json.dumps(PERSON_SCHEMA, indent=2),
     "JSON for Alice, who is 30 years old:"),
    ("city", "JSON schema: a city and whether it is a capital", "json_schema", json.dumps({
        "type": "object",
        "properties": {"city": {"enum": ["Paris", "Lyon", "Marseille"]}, "is_capital": {"type": "boolean"}},
        "required": ["city", "is_capital"],
    }, indent=2), "The capital of France as JSON:"),
    ("yes-no", "GBNF: yes or no", "grammar", 'root ::= " yes" | " no"', "Is Paris in France? Answer:"),
    ("list", "GBNF: a bulleted list of three items", "grammar",
     'root ::= item item item\nitem ::= "- " [A-Za-z ]+ "\\n"', "Three fruits:\n"),
)

PERPLEXITY_PRESETS = (
    ("prose", "Encyclopedia prose",
     "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
     "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
     "Locally nicknamed the Iron Lady, it was constructed as the centrepiece of the 1889 World's Fair."),
    ("shuffled", "The same words, shuffled",
     "Fair tower lattice Paris the of Eiffel from Iron 1887 engineer whose Mars centrepiece company It "
     "nicknamed Champ the is as 1889 designed to named wrought-iron Gustave France. Lady, the Tower a "
     "Locally built on constructed and World's was de The after the it tower 1889. is in the, Eiffel."),
    ("code", "Python code",
     "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n"
     "for i in range(10):\n    print(fibonacci(i))\n"),
)


def _page(request, template, context=None, hub=False):
    context = {**model_context(), **(context or {})}
    # The hub is an index and stays 200; a demo page without its model is unavailable.
    status = 503 if context["unavailable"] and not hub else 200
    return render(request, template, context, status=status)


def hub(request):
    return _page(request, "live/hub.html", hub=True)


def next_token(request):
    _, low, high = LIMITS["top_n"]
    return _page(request, "live/next_token.html", {"top_n_min": low, "top_n_max": high})


def generate(request):
    _, low, high = LIMITS["max_tokens"]
    return _page(request, "live/generate.html", {
        "controls": sampler_controls(), "max_tokens": {"min": low, "max": high, "value": _DEFAULTS.max_tokens},
        "seed_max": LIMITS["seed"][2],
    })


def json_mode(request):
    presets = [{"key": k, "label": label, "kind": kind, "text": text, "prompt": prompt}
               for k, label, kind, text, prompt in STRUCTURE_PRESETS]
    return _page(request, "live/json_mode.html", {"presets": presets, "first": presets[0]})


def tokenizer(request):
    return _page(request, "live/tokenizer.html")


def perplexity(request):
    presets = [{"key": k, "label": label, "text": text} for k, label, text in PERPLEXITY_PRESETS]
    return _page(request, "live/perplexity.html", {"presets": presets, "first": presets[0]})
