"""GET /api/v1/model-name/ against real hub names: an independent check of the decoder.

The names and the expected answers are in model_names_independent.yaml, collected from the
hubs and from the publishers' own figures before the decoder existed on this branch (see
that file's header). Each name is checked field by field, one test per (field, name), so a
run shows how many names each field gets right:

- parameters_b / active_parameters_b: within the rounding of an official figure (half a
  unit of the last digit printed: "8.2B" → ±0.05, "70B" → ±0.5, "135M" → ±0.0005);
  active_parameters_b must be null for a dense model. A figure printed as a plain integer
  is an exact count (the hub's safetensors total, "70553706496"): the API answers in
  billions to three decimals, so it agrees within half a million (±0.0005).
- variant, format, quant: the expected answer or one listed in `*_also` (answers equally
  right because the name itself does not say, e.g. null for a repository with no format
  suffix). quant is compared as spelled.
- shard: {index, count} of a split file, else null.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.django_db

URL = "/api/v1/model-name/"
DATA = Path(__file__).with_name("model_names_independent.yaml")
NAMES = yaml.safe_load(DATA.read_text())["names"]

# parameters_b and active_parameters_b are billions rounded to three decimals
ANSWER_HALF_STEP = Decimal("0.0005")
UNITS = {"T": Decimal(1000), "trillion": Decimal(1000), "B": Decimal(1), "billion": Decimal(1),
         "M": Decimal("0.001"), "million": Decimal("0.001")}


def rounding_interval(figure):
    """[low, high] in billions that rounds to the figure as it was printed."""
    if figure["as"].isdigit():  # an exact count, to the parameter
        exact = Decimal(figure["as"]) / 10**9
        return exact - ANSWER_HALF_STEP, exact + ANSWER_HALF_STEP
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(T|B|M|trillion|billion|million)", figure["as"])
    number, unit = Decimal(match.group(1)), UNITS[match.group(2)]
    half_step = Decimal(10) ** number.as_tuple().exponent / 2 * unit
    return number * unit - half_step, number * unit + half_step


def within_published(value, figures):
    if figures is None:
        return value is None
    if value is None:
        return False
    value = Decimal(str(value))
    return any(low <= value <= high for low, high in map(rounding_interval, figures))


@pytest.fixture
def decode(client):
    def get(name):
        response = client.get(URL, {"name": name})
        assert response.status_code == 200, (name, response.status_code, response.content[:300])
        return response.json()
    return get


def accepted(entry, field):
    return [entry[field], *entry.get(f"{field}_also", [])]


def shard_of(answer):
    shard = answer["shard"]
    return None if shard is None else {"index": shard["index"], "count": shard["count"]}


def _ids(entries):
    return [entry["name"] for entry in entries]


def test_the_data_set_is_what_the_header_says():
    """At least 80 real names, every expected count within its own published rounding."""
    assert len(NAMES) >= 80
    assert len({entry["name"] for entry in NAMES}) == len(NAMES)
    for entry in NAMES:
        for figure in entry["parameters"] + (entry["active"] or []):
            low, high = rounding_interval(figure)
            assert low <= Decimal(str(figure["b"])) <= high, entry["name"]


@pytest.mark.parametrize("entry", NAMES, ids=_ids(NAMES))
def test_parameters_b(decode, entry):
    got = decode(entry["name"])["parameters_b"]
    assert within_published(got, entry["parameters"]), (
        f"{entry['name']}: parameters_b {got}, published {[f['as'] for f in entry['parameters']]}")


@pytest.mark.parametrize("entry", NAMES, ids=_ids(NAMES))
def test_active_parameters_b(decode, entry):
    got = decode(entry["name"])["active_parameters_b"]
    expected = entry["active"] and [f["as"] for f in entry["active"]]
    assert within_published(got, entry["active"]), (
        f"{entry['name']}: active_parameters_b {got}, published {expected}")


@pytest.mark.parametrize("field", ["variant", "format", "quant"])
@pytest.mark.parametrize("entry", NAMES, ids=_ids(NAMES))
def test_variant_format_and_quant(decode, entry, field):
    got = decode(entry["name"])[field]
    assert got in accepted(entry, field), f"{entry['name']}: {field} {got!r}"


@pytest.mark.parametrize("entry", NAMES, ids=_ids(NAMES))
def test_shard(decode, entry):
    got = shard_of(decode(entry["name"]))
    assert got == entry["shard"], f"{entry['name']}: shard {got}"


@pytest.mark.parametrize("entry", NAMES, ids=_ids(NAMES))
def test_parts_are_pieces_of_the_name(decode, entry):
    """Every part the decoder explains is text the name holds, with what it means."""
    parts = decode(entry["name"])["parts"]
    assert parts, f"{entry['name']}: no parts"
    for part in parts:
        assert part["text"].lower() in entry["name"].lower(), (entry["name"], part["text"])
        assert part["kind"] and part["meaning"], (entry["name"], part)


@pytest.mark.parametrize("query", [
    {}, {"name": ""}, {"name": "   "}, {"name": "x" * 5000}, {"name": "gemma\x00-3"},
    {"name": "hello world"}, {"name": "-----"}, {"name": "../../etc/passwd"},
], ids=["missing", "empty", "blank", "5000 characters", "NUL", "prose", "dashes", "a path"])
def test_no_name_is_a_400_naming_name(client, query):
    response = client.get(URL, query)
    assert response.status_code == 400, (query, response.status_code, response.content[:300])
    assert "name" in response.json()


if __name__ == "__main__":  # python -m tests.calculators.test_model_name_independent
    # rates per field, through the decoder itself (the API serialises the same fields)
    from calculators.model_name import NotAModelName, decode as decode_name

    right = dict.fromkeys(("parameters_b", "active_parameters_b", "variant", "format", "quant",
                           "shard"), 0)
    for entry in NAMES:
        try:
            answer = decode_name(entry["name"])
        except NotAModelName:
            continue
        right["parameters_b"] += within_published(answer.parameters_b, entry["parameters"])
        right["active_parameters_b"] += within_published(answer.active_parameters_b, entry["active"])
        for field in ("variant", "format", "quant"):
            right[field] += getattr(answer, field) in accepted(entry, field)
        right["shard"] += answer.shard == entry["shard"]
    print("  ".join(f"{field} {count}/{len(NAMES)}" for field, count in right.items()))
