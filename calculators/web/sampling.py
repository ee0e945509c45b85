"""The sampler playground (issue #10): its page and its API.

Thin layer over calculators/sampling.py, the port of llama.cpp's sampler chain. The page
runs the same chain in the browser with static/js/sampling.js (the engine's twin, held to
it by tests/calculators/test_sampling_js.py), so moving a slider needs no round trip; the
API is for tools, and is the browser tests' second opinion.

- `POST /api/v1/calculators/sampling/`: one distribution through a chain of samplers.
- `POST /api/v1/calculators/sampling/mirostat/`: one step of mirostat v2 (stateful: the
  caller passes back `mu` and `draws`).
- `GET /calculators/sampling/`: the playground.

Bad input is a 400 naming the field the engine names (e.g. `samplers[2].p`), whatever
JSON arrives: every check lives in the engine, this module only makes sure that what
reaches it is a JSON object and that nothing the engine returns is unserialisable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.shortcuts import render
from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, parser_classes, permission_classes
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators.sampling import (
    DEFAULT_CHAIN, FLT_MAX, MAX_DRAWS, MAX_HISTORY, MAX_SAMPLERS, MAX_VOCAB, PARAMETERS, SamplingError,
    apply_samplers, entropy_nats, mirostat_v2,
)
from config.api import JSONParser

# Stages repeat the whole distribution once per sampler: bound the numbers one answer may
# hold (about 40 MB of JSON) so that a 262,144-token vocabulary through 32 samplers cannot
# tie up a worker. Without stages any vocabulary up to MAX_VOCAB is answered.
MAX_STAGE_NUMBERS = 2_000_000

SAMPLING_KEYS = ("logits", "probs", "samplers", "history", "stages")
MIROSTAT_KEYS = ("logits", "probs", "tau", "eta", "mu", "seed", "draws")


# --- the examples --------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """A real next-token distribution: the top tokens of the bundled model for a prompt.

    Captured once from the bundled Gemma 3 270M Q4_K_M GGUF through live.service
    (llama-cpp-python 0.3.36, raw logits of the last position, no sampler): the 60 most
    likely of 262,144 tokens. Token ids are Gemma's; the playground numbers them 0..59.
    """

    slug: str
    title: str
    prompt: str
    entropy: float
    top_mass: float
    tokens: tuple[tuple[int, str, float], ...]  # (Gemma token id, text, logit)

    def to_dict(self) -> dict:
        return {
            "slug": self.slug, "title": self.title, "prompt": self.prompt, "entropy": self.entropy,
            "top_mass": self.top_mass,
            "tokens": [{"id": i, "text": text, "logit": logit} for i, text, logit in self.tokens],
        }

    @property
    def logits(self) -> list[float]:
        return [logit for _, _, logit in self.tokens]


EXAMPLES = (
    Example(
        slug='creative',
        title='A flat, creative one',
        prompt='Once upon a time, there was a',
        entropy=4.9435,  # nats, over all 262,144 tokens
        top_mass=0.7474,  # probability the 60 tokens below hold
        tokens=(
            (2268, ' little', 19.862848), (3953, ' girl', 19.771671), (880, ' man', 19.673922),
            (1944, ' small', 19.633598), (3184, ' young', 19.57961), (4148, ' beautiful', 19.440346),
            (1977, ' place', 19.101366), (6938, ' boy', 19.06271), (990, ' time', 19.002295),
            (3875, ' woman', 18.955826), (2523, ' family', 18.69567), (2563, ' big', 18.646275),
            (1401, ' very', 18.457237), (9865, ' guy', 18.22057), (5148, ' town', 18.082947),
            (3155, ' house', 17.992268), (236743, ' ', 17.980473), (1919, ' child', 17.940502),
            (2953, ' certain', 17.87753), (1902, ' world', 17.786362), (7205, ' baby', 17.757309),
            (3925, ' story', 17.633766), (16383, ' tiny', 17.603193), (5866, ' cat', 17.596958),
            (30520, ' magical', 17.595732), (9989, ' kid', 17.53991), (1589, ' person', 17.521313),
            (2299, ' group', 17.508505), (15924, ' lady', 17.446835), (9615, ' king', 17.40203),
            (39258, ' princess', 17.376404), (16784, ' giant', 17.363798), (14954, ' lovely', 17.351912),
            (1822, ' great', 17.344925), (34640, ' mysterious', 17.340042), (3207, ' city', 17.332756),
            (2290, ' game', 17.29464), (9639, ' famous', 17.247465), (10455, ' wonderful', 17.2207),
            (9156, ' dream', 17.17284), (9744, ' village', 17.166697), (4389, ' friend', 17.15451),
            (4799, ' dog', 17.06277), (1440, ' long', 16.949938), (2455, ' large', 16.81958),
            (2260, ' book', 16.795666), (2606, ' lot', 16.79317), (5764, ' farm', 16.786755),
            (17163, ' strange', 16.78501), (2978, ' room', 16.737593), (2891, ' country', 16.726227),
            (9380, ' sweet', 16.697788), (4381, ' star', 16.550255), (27155, ' farmer', 16.545246),
            (23986, ' castle', 16.529076), (2712, ' kind', 16.51461), (9092, ' doctor', 16.510536),
            (26476, ' queen', 16.501549), (2528, ' school', 16.39251), (6789, ' secret', 16.366756),
        ),
    ),
    Example(
        slug='confident',
        title='A confident next token',
        prompt='The capital of France is Paris. The capital of Germany is',
        entropy=0.9862,  # nats, over all 262,144 tokens
        top_mass=0.9868,  # probability the 60 tokens below hold
        tokens=(
            (15687, ' Berlin', 23.057213), (52451, ' Frankfurt', 19.957273), (74882, ' Bonn', 19.232056),
            (46566, ' Munich', 19.056332), (61694, ' Stuttgart', 18.845657), (48080, ' Hamburg', 18.576767),
            (105765, ' Hannover', 18.139826), (506, ' the', 17.984253), (992, ' also', 17.837784),
            (95039, ' Cologne', 17.631699), (842, ' St', 17.352543), (9405, ' Germany', 17.30463),
            (183015, ' Wiesbaden', 17.293858), (106159, ' Hanover', 17.042953),
            (126256, ' Bremen', 16.948277), (528, ' in', 16.917583), (60682, ' Leipzig', 16.58597),
            (79723, ' Dresden', 16.554453), (5860, ' London', 16.437551), (171715, ' Nuremberg', 16.392538),
            (34493, ' Vienna', 16.386314), (236764, ',', 16.35781), (73866, ' Heidelberg', 16.321579),
            (9079, ' Paris', 16.232391), (181662, ' Potsdam', 16.154312), (151175, ' Aachen', 15.930919),
            (236743, ' ', 15.919294), (116610, ' Düsseldorf', 15.808302), (657, ' at', 15.751131),
            (108, '\n\n', 15.550567), (5628, ' located', 15.543415), (102950, ' Kiel', 15.464611),
            (669, ' The', 15.448155), (202736, ' Duss', 15.431564), (1799, ' New', 15.403202),
            (107, '\n', 15.402465), (88240, ' Strasbourg', 15.399691), (13998, ' Bern', 15.201111),
            (138, '  ', 15.187498), (121685, ' Karlsruhe', 15.133219), (154656, ' Weimar', 15.035074),
            (807, ' Th', 15.026717), (2760, ' called', 14.93041), (197816, ' Kassel', 14.903448),
            (529, ' of', 14.856287), (236787, ':', 14.84304), (181690, ' Trier', 14.807317),
            (72690, ' Zurich', 14.758439), (206961, ' Braunschweig', 14.742142), (496, ' a', 14.725364),
            (711, ' not', 14.72365), (1834, ' Le', 14.70985), (5298, ' Ber', 14.691703),
            (618, ' as', 14.627735), (42919, ' Brussels', 14.621791), (66333, ' Luxembourg', 14.588284),
            (649, ' W', 14.581295), (3224, ' known', 14.54635), (81021, ' Baden', 14.523296),
            (886, ' one', 14.521443),
        ),
    ),
    Example(
        slug='code',
        title='A code token',
        prompt='def fibonacci(n):\n    if n',
        entropy=1.7725,  # nats, over all 262,144 tokens
        top_mass=0.9996,  # probability the 60 tokens below hold
        tokens=(
            (1251, ' ==', 23.006338), (6605, ' <=', 22.593582), (655, ' <', 22.553032),
            (1890, ' >', 20.960619), (6867, ' >=', 20.548065), (1224, '==', 20.47955),
            (236820, '<', 19.755434), (2144, ' %', 19.726372), (528, ' in', 19.700405),
            (236787, ':', 19.241507), (22159, '<=', 18.87658), (563, ' is', 18.676857),
            (236813, '>', 18.277153), (2843, ' !=', 18.192352), (236908, '%', 18.17371),
            (11957, '>=', 18.113626), (711, ' not', 17.228157), (833, ' &', 16.07097),
            (900, ' +', 15.937102), (753, ' -', 15.935622), (808, ' *', 15.621986), (578, ' =', 15.592546),
            (138, '  ', 15.476057), (20181, '!=', 15.264047), (1017, ' :', 15.036439),
            (532, ' and', 15.029095), (236888, '!', 14.920145), (236862, '+', 14.820751),
            (4600, ' ===', 14.810889), (236829, '*', 14.742163), (236784, '=', 14.570853),
            (236761, '.', 14.519003), (5213, ' **', 14.517305), (107, '\n', 14.432383),
            (16719, '<-', 14.261299), (236772, '-', 13.90521), (157458, '==-', 13.870812),
            (1018, '**', 13.771976), (236840, '[', 13.748673), (38010, ' ≤', 13.662134),
            (4558, ' :=', 13.634996), (236786, '/', 13.590021), (109, '\n\n\n', 13.586381),
            (32296, ' <>', 13.486921), (236743, ' ', 13.461759), (973, ' //', 13.443678),
            (22447, "=='", 13.396929), (21528, '=="', 13.265906), (236764, ',', 13.239124),
            (236880, '&', 13.227615), (236769, '(', 13.185867), (51591, '%(', 13.057624),
            (36955, ':=', 13.023764), (236884, '^', 12.934738), (35274, ' %%', 12.933409),
            (123214, ' ~=', 12.871504), (75642, '<(', 12.810999), (621, ' \\', 12.759642),
            (108, '\n\n', 12.753727), (715, '//', 12.689587),
        ),
    ),
    Example(
        slug='long-tail',
        title='One favourite and a long tail',
        prompt='My favourite thing to do on a rainy day is',
        entropy=2.4112,  # nats, over all 262,144 tokens
        top_mass=0.9067,  # probability the 60 tokens below hold
        tokens=(
            (531, ' to', 22.285948), (817, ' go', 19.597988), (496, ' a', 19.525928),
            (1164, ' just', 19.152534), (1771, ' going', 18.760538), (1769, ' take', 18.350153),
            (2178, ' sit', 18.209488), (3727, ' walk', 18.192951), (506, ' the', 18.146875),
            (974, ' get', 17.840168), (8116, ' sitting', 17.589552), (8559, ' spend', 17.532791),
            (5181, ' simply', 17.511244), (9378, ' walking', 17.40025), (4030, ' taking', 17.262936),
            (1441, ' play', 17.133894), (4526, ' watch', 17.098421), (711, ' not', 17.03141),
            (3978, ' getting', 16.915724), (10685, ' watching', 16.884727), (236764, ',', 16.746567),
            (10763, ' listen', 16.672688), (735, ' have', 16.640245), (3182, ' looking', 16.634531),
            (1056, ' when', 16.624046), (8352, ' relax', 16.607996), (1845, ' run', 16.533693),
            (614, ' an', 16.506134), (1676, ' read', 16.492437), (564, ' I', 16.478815),
            (4059, ' enjoy', 16.470627), (6013, ' reading', 16.46032), (3477, ' either', 16.454344),
            (1390, '...', 16.431005), (237064, '…', 16.429916), (1386, ' make', 16.359287),
            (5662, ' playing', 16.347439), (18683, ' riding', 16.341988), (2963, ' having', 16.340052),
            (4682, ' catch', 16.322376), (657, ' at', 16.291203), (1646, ' being', 16.276236),
            (3643, ' actually', 16.260406), (600, ' that', 16.207325), (1041, ' my', 16.184809),
            (26037, ' relaxing', 16.157146), (9039, ' eat', 16.148315), (11881, ' ride', 16.135263),
            (4710, ' running', 16.096254), (2462, ' always', 16.092663), (14304, ' grab', 15.997732),
            (236787, ':', 15.979417), (13723, ' listening', 15.9330635), (17085, ' climb', 15.920958),
            (1385, ' look', 15.887348), (573, ' for', 15.886877), (7698, ' hop', 15.856865),
            (3517, ' visit', 15.845079), (236743, ' ', 15.819323), (11704, ' spending', 15.793071),
        ),
    ),
)
EXAMPLES_BY_SLUG = {example.slug: example for example in EXAMPLES}


# --- the chain presets ------------------------------------------------------------------

# Hugging Face transformers applies its logits processors in one fixed order
# (generation/utils.py, GenerationMixin._get_logits_processor, checked in transformers
# 5.23): repetition penalty, then temperature, top-k, top-p, min-p, typical. It has no
# DRY, XTC or top-n-sigma, and its repetition penalty counts the whole input (last_n -1)
# with no frequency or presence term. The preset keeps llama.cpp's default values so
# that only the order differs from the llama.cpp preset.
TRANSFORMERS_CHAIN = (
    {"name": "penalties", "repeat": 1.0, "frequency": 0.0, "presence": 0.0, "last_n": -1},
    {"name": "temperature", "t": 0.8},
    {"name": "top_k", "k": 40},
    {"name": "top_p", "p": 0.95},
    {"name": "min_p", "p": 0.05},
    {"name": "typical", "p": 1.0},
)

CHAIN_PRESETS = {
    "llama_cpp": {
        "label": "llama.cpp default order",
        "about": "penalties → DRY → top-n-σ → top-k → typical → top-p → min-p → XTC → temperature, "
                 "with llama.cpp's defaults (common/common.h): temperature last.",
        "chain": list(DEFAULT_CHAIN),
    },
    "transformers": {
        "label": "transformers order",
        "about": "repetition penalty → temperature → top-k → top-p → min-p → typical, as Hugging Face "
                 "transformers applies them (temperature first), with the same values as llama.cpp's "
                 "defaults. transformers has no DRY, XTC or top-n-σ: those are switched off.",
        "chain": list(TRANSFORMERS_CHAIN),
    },
}


# --- what the page shows for each sampler ------------------------------------------------

def _control(name, label, step, slider=None, help="", extra=False):
    # extra: folded under "more" on the card, to keep the chain short enough to see at once.
    return {"name": name, "label": label, "step": step, "slider": slider, "help": help, "extra": extra}


# Labels, glossary entries and input ranges for the sampler cards. The parameter names
# are the engine's (calculators.sampling.PARAMETERS); the slider ranges only bound the
# sliders, the number boxes beside them take anything the engine accepts.
SAMPLER_UI = {
    "penalties": {
        "title": "Penalties",
        "links": (("repetition-penalty", "repetition"), ("frequency-and-presence-penalties", "frequency & presence")),
        "about": "Tokens seen in the last last_n tokens of the history: a positive logit is divided by "
                 "repeat (a negative one multiplied), then count·frequency + presence is subtracted.",
        "controls": (
            _control("repeat", "repeat", 0.01, (1, 2), "1 = off"),
            _control("frequency", "frequency", 0.01, (0, 2), "per occurrence"),
            _control("presence", "presence", 0.01, (0, 2), "once if seen"),
            _control("last_n", "last_n", 1, (-1, 256), "-1 = whole history, 0 = off", extra=True),
        ),
    },
    "dry": {
        "title": "DRY",
        "links": (("dry", "DRY"),),
        "about": "“Don't repeat yourself”: a token that would extend a sequence already in the history, "
                 "repeated at least allowed_length tokens, loses multiplier·base^(length − allowed_length).",
        "controls": (
            _control("multiplier", "multiplier", 0.05, (0, 2), "0 = off"),
            _control("base", "base", 0.05, (1, 4), extra=True),
            _control("allowed_length", "allowed_length", 1, (1, 8), extra=True),
            _control("last_n", "last_n", 1, (-1, 256), "-1 = whole history", extra=True),
            _control("breakers", "breakers", None, None, "token ids, comma-separated", extra=True),
        ),
    },
    "top_n_sigma": {
        "title": "Top-n-σ",
        "links": (("top-n-sigma", "top-n-σ"),),
        "about": "Masks every logit below max − n·σ, σ being the standard deviation of the logits.",
        "controls": (_control("n", "n", 0.1, (0, 5), "0 = off"),),
    },
    "top_k": {
        "title": "Top-k",
        "links": (("top-k", "top-k"),),
        "about": "Keeps the k most likely tokens.",
        "controls": (_control("k", "k", 1, (0, 100), "0 = off"),),
    },
    "typical": {
        "title": "Typical",
        "links": (("typical-sampling", "typical sampling"),),
        "about": "Keeps the tokens whose surprise is closest to the entropy until their mass exceeds p.",
        "controls": (_control("p", "p", 0.01, (0, 1), "1 = off"), _control("min_keep", "min_keep", 1, extra=True)),
    },
    "top_p": {
        "title": "Top-p",
        "links": (("top-p", "top-p (nucleus)"),),
        "about": "Keeps the smallest set of most likely tokens whose probabilities add up to p.",
        "controls": (_control("p", "p", 0.01, (0, 1), "1 = off"), _control("min_keep", "min_keep", 1, extra=True)),
    },
    "min_p": {
        "title": "Min-p",
        "links": (("min-p", "min-p"),),
        "about": "Keeps the tokens at least p times as likely as the most likely one.",
        "controls": (_control("p", "p", 0.01, (0, 1), "0 = off"), _control("min_keep", "min_keep", 1, extra=True)),
    },
    "xtc": {
        "title": "XTC",
        "links": (("xtc", "XTC"),),
        "about": "“Exclude top choices”: with chance probability, removes every token at or above "
                 "threshold except the least likely of them. One coin from std::mt19937(seed).",
        "controls": (
            _control("probability", "probability", 0.01, (0, 1), "0 = off"),
            _control("threshold", "threshold", 0.01, (0, 0.5), "> 0.5 = off"),
            _control("min_keep", "min_keep", 1, extra=True),
            _control("seed", "seed", 1, extra=True),
        ),
    },
    "temperature": {
        "title": "Temperature",
        "links": (("temperature", "temperature"),),
        "about": "Divides the logits by t; t = 0 keeps only the most likely token (greedy). "
                 "range > 0 is dynamic temperature: t ± range, moved by the entropy.",
        "controls": (
            _control("t", "t", 0.01, (0, 2), "0 = greedy"),
            _control("range", "range", 0.01, (0, 2), "dynamic temperature", extra=True),
            _control("exponent", "exponent", 0.1, (0, 4), extra=True),
        ),
    },
}
assert set(SAMPLER_UI) == set(PARAMETERS)
assert all({c["name"] for c in ui["controls"]} == set(PARAMETERS[name]) for name, ui in SAMPLER_UI.items())


def _input_value(value):
    """A parameter value as the page's input shows it (breakers as comma-separated numbers)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) if isinstance(v, int) else " ".join(map(str, v)) for v in value)
    return "" if value is None else value


def sampler_cards() -> list[dict]:
    """One card per sampler, in llama.cpp's default order, filled with its default values."""
    defaults = {spec["name"]: spec for spec in DEFAULT_CHAIN}
    cards = []
    for spec in DEFAULT_CHAIN:
        name = spec["name"]
        ui = SAMPLER_UI[name]
        controls = []
        for control in ui["controls"]:
            default, kind, _, _ = PARAMETERS[name][control["name"]]
            # DEFAULT_CHAIN names every required parameter, so `default` here is a value.
            value = defaults[name].get(control["name"], default)
            controls.append({**control, "kind": kind, "value": _input_value(value)})
        cards.append({"name": name, **ui, "controls": [c for c in controls if not c["extra"]],
                      "extras": [c for c in controls if c["extra"]]})
    return cards


# --- API ---------------------------------------------------------------------------------

def _params_help() -> str:
    parts = []
    for name, table in PARAMETERS.items():
        params = []
        for key, (default, _, _, _) in table.items():
            if isinstance(default, (int, float)):
                params.append(f"{key}={default:g}")
            elif isinstance(default, tuple):
                params.append(f"{key}=[]")
            else:
                params.append(f"{key} (required)")
        parts.append(f"{name}: {', '.join(params)}")
    return "; ".join(parts)


class SamplingSerializer(serializers.Serializer):
    """Documents the request; the engine validates it (and names the bad field)."""

    logits = serializers.ListField(
        child=serializers.FloatField(), required=False, max_length=MAX_VOCAB,
        help_text="one logit per token id; to mask a token write -1e999 (JSON has no -Infinity; "
                  "this server reads -1e999 as -infinity). Give logits or probs, not both.")
    probs = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), required=False, max_length=MAX_VOCAB,
        help_text="instead of logits: probabilities, turned into logits with logf as llama.cpp's "
                  "tests do (they need not sum to 1)")
    samplers = serializers.ListField(
        child=serializers.DictField(), max_length=MAX_SAMPLERS,
        help_text='ordered list of {"name": ..., parameters}; ' + _params_help())
    history = serializers.ListField(
        child=serializers.IntegerField(min_value=0), required=False, max_length=MAX_HISTORY,
        help_text="previous token ids, oldest first (penalties and DRY read it)")
    stages = serializers.BooleanField(
        required=False, default=False,
        help_text=f"also return the distribution after each sampler (at most {MAX_STAGE_NUMBERS:,} "
                  "numbers: vocabulary × (samplers + 1))")


class SamplingStageSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='"input", then the sampler names in chain order')
    probs = serializers.ListField(child=serializers.FloatField())
    kept = serializers.IntegerField()


class SamplingResultSerializer(serializers.Serializer):
    probs = serializers.ListField(
        child=serializers.FloatField(),
        help_text="the distribution llama.cpp's dist sampler draws from, one per token id, 0 for removed tokens")
    kept = serializers.IntegerField(help_text="tokens left with a finite logit")
    entropy = serializers.FloatField(help_text="Shannon entropy of probs, in nats")
    stages = SamplingStageSerializer(many=True, required=False, help_text="only with \"stages\": true")


class MirostatSerializer(serializers.Serializer):
    logits = serializers.ListField(child=serializers.FloatField(), required=False, max_length=MAX_VOCAB)
    probs = serializers.ListField(child=serializers.FloatField(min_value=0, max_value=1), required=False,
                                  max_length=MAX_VOCAB)
    tau = serializers.FloatField(required=False, default=5.0, help_text="target surprise in bits")
    eta = serializers.FloatField(required=False, default=0.1, help_text="learning rate of mu")
    mu = serializers.FloatField(required=False, allow_null=True,
                                help_text="running surprise bound; omit (or null) on the first step: 2·tau")
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**32 - 1)
    draws = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_DRAWS,
                                     help_text="32-bit draws std::mt19937(seed) has already given: pass back "
                                               "the previous answer's draws")


class MirostatResultSerializer(serializers.Serializer):
    probs = serializers.ListField(child=serializers.FloatField(),
                                  help_text="the truncated distribution the token was drawn from")
    kept = serializers.IntegerField()
    entropy = serializers.FloatField(help_text="of probs, in nats")
    token = serializers.IntegerField(help_text="the drawn token id")
    mu = serializers.FloatField(help_text="the updated mu, for the next step")
    draws = serializers.IntegerField(help_text="draws taken so far, for the next step")


def _json_object(request, keys: tuple[str, ...]) -> dict:
    try:
        data = request.data
    except RecursionError:
        # json.load raises RecursionError (not ValueError) on very deep nesting, and DRF's
        # JSONParser only turns ValueError into a 400.
        raise ParseError("JSON parse error - nested too deeply") from None
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [f"expected a JSON object with {', '.join(keys)}"]})
    unknown = sorted(key for key in data if key not in keys)
    if unknown:
        raise ValidationError({unknown[0]: [f"unknown field; expected {', '.join(keys)}"]})
    return data


def _check_huge_integers(data: dict) -> None:
    """JSON integers beyond float64 would overflow numpy's conversion inside the engine
    (OverflowError, not its SamplingError); name them as the engine names a too-big float."""
    for field, message in (("logits", "must fit in float32 (at most 3.4028235e38 in size, or -infinity)"),
                           ("probs", "must be between 0 and 1")):
        values = data.get(field)
        if not isinstance(values, list):
            continue
        for i, value in enumerate(values):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return  # the engine names the first entry that is not a number
            if isinstance(value, int) and abs(value) > FLT_MAX:
                raise SamplingError(f"{field}[{i}]", message)


def _stage_numbers(data: dict) -> int:
    values = data.get("logits") if data.get("logits") is not None else data.get("probs")
    samplers = data.get("samplers")
    if not isinstance(values, list) or not isinstance(samplers, list):
        return 0
    return len(values) * (len(samplers) + 1)


def _field_error(exc: SamplingError) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


@extend_schema(
    summary="Run a llama.cpp sampler chain on one next-token distribution",
    description="A port of llama.cpp's CPU samplers (src/llama-sampler.cpp), float32 arithmetic "
                "included. The chain runs in the order given; each sampler sees what the previous "
                "one left. The playground at /calculators/sampling/ runs the same code in the browser.",
    request=SamplingSerializer,
    responses={200: SamplingResultSerializer,
               400: OpenApiResponse(description='{"<field>": ["message"]}, e.g. "samplers[2].p", '
                                                '"logits[17]", "history"')},
    examples=[OpenApiExample("llama.cpp's default chain", request_only=True, value={
        "logits": [1.5, 3.0, 2.2, 0.1, -1.0], "samplers": list(DEFAULT_CHAIN), "history": [], "stages": False})],
)
@api_view(["POST"])
@authentication_classes([])  # a pure computation: no account, no CSRF, nothing stored
@permission_classes([AllowAny])
@parser_classes([JSONParser])
def sampling_api(request):
    data = _json_object(request, SAMPLING_KEYS)
    stages = data.get("stages", False)
    if stages is None:
        stages = False
    if not isinstance(stages, bool):
        raise ValidationError({"stages": ["must be true or false"]})
    if stages and _stage_numbers(data) > MAX_STAGE_NUMBERS:
        raise ValidationError({"stages": [
            f"too large with stages: vocabulary × (samplers + 1) must be at most {MAX_STAGE_NUMBERS:,}; "
            "ask without stages"]})
    try:
        _check_huge_integers(data)
        result = apply_samplers(data.get("logits"), data.get("samplers", []), data.get("history", []),
                                probs=data.get("probs"), stages=stages)
    except SamplingError as exc:
        raise _field_error(exc) from None
    return Response(result)


@extend_schema(
    summary="One step of mirostat v2",
    description="llama_sampler_mirostat_v2_apply (Basu et al. 2021): tokens more surprising than mu "
                "bits are cut, one token is drawn with std::discrete_distribution on "
                "std::mt19937(seed), and mu moves by eta·(tau − surprise). Pass the answer's mu and "
                "draws back for the next step.",
    request=MirostatSerializer,
    responses={200: MirostatResultSerializer,
               400: OpenApiResponse(description='{"<field>": ["message"]}, e.g. "tau", "logits[3]"')},
    examples=[OpenApiExample("First step", request_only=True, value={
        "logits": [1.5, 3.0, 2.2, 0.1, -1.0], "tau": 5.0, "eta": 0.1, "seed": 42})],
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@parser_classes([JSONParser])
def mirostat_api(request):
    data = _json_object(request, MIROSTAT_KEYS)
    try:
        _check_huge_integers(data)
        with np.errstate(over="ignore"):  # a float32 overflow of mu is answered below
            result = mirostat_v2(data.get("logits"), data.get("tau", 5.0), data.get("eta", 0.1), data.get("mu"),
                                 data.get("seed", 0), data.get("draws", 0), probs=data.get("probs"))
    except SamplingError as exc:
        raise _field_error(exc) from None
    if not math.isfinite(result["mu"]):
        # mu is float32 in llama.cpp: 2·tau, or mu − eta·(surprise − tau), can overflow to inf,
        # which JSON cannot carry and which would stop the sampler from cutting anything.
        field = "tau" if data.get("mu") is None else "eta"
        raise ValidationError({field: ["too large: mu overflows float32 (mu = 2·tau on the first step, "
                                       "then mu − eta·(surprise − tau))"]})
    result["entropy"] = entropy_nats(np.asarray(result["probs"], dtype=np.float64))
    return Response(result)


# --- page --------------------------------------------------------------------------------

def sampling_page(request):
    return render(request, "calculators/sampling.html", {
        "examples": [example.to_dict() for example in EXAMPLES],
        "chain_presets": CHAIN_PRESETS,
        "cards": sampler_cards(),
        "max_vocab": MAX_VOCAB,
    })


urlpatterns = [
    path("sampling/", sampling_page, name="sampling"),
]
api_urlpatterns = [
    path("sampling/", sampling_api, name="calculators-sampling"),
    path("sampling/mirostat/", mirostat_api, name="calculators-sampling-mirostat"),
]
