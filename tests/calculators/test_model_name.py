"""The model-name decoder on real names (tests/calculators/model_names.yaml) and on input
that is not a name. No database: calculators.model_name is pure."""

import re
from pathlib import Path

import pytest
import yaml

from calculators.model_name import MAX_NAME_LENGTH, NotAModelName, calculator_mix, decode
from calculators.quant_mix import MIXES

DATA = yaml.safe_load((Path(__file__).parent / "model_names.yaml").read_text(encoding="utf-8"))
GLOSSARY = Path(__file__).resolve().parents[2] / "fixtures" / "glossary"
# A size in a name is rounded ("7B" for 7.62B, "1.5B" for 1.78B); where the decoder can only
# repeat it, it must say so and stay this close to the published count.
NAME_FIGURE_TOLERANCE = 0.25
# A card's rounded figure against the exact count of a preset ("32.5B" vs 32.76B).
OFFICIAL_TOLERANCE = 0.01


def close_to_official(value, official, rounding, source):
    if source == "official":
        return abs(value - official) <= rounding + OFFICIAL_TOLERANCE * official
    return abs(value - official) <= NAME_FIGURE_TOLERANCE * official


def check(case):
    decoded = decode(case["name"])
    official = case["official"]
    problems = []
    if case.get("name_gives_total") is False and decoded.parameters_b is None:
        pass  # says nothing rather than something wrong
    elif decoded.parameters_b is None or not close_to_official(
            decoded.parameters_b, official["parameters_b"], official["rounding"], decoded.parameters_source):
        problems.append(f"parameters {decoded.parameters_b} ({decoded.parameters_source}) "
                        f"vs {official['parameters_b']}")
    if decoded.parameters_source == "official" and not decoded.parameters_url:
        problems.append("an official count without its source")
    if "active_b" in official:
        source = "official" if decoded.preset else "name"
        if decoded.active_parameters_b is None or not close_to_official(
                decoded.active_parameters_b, official["active_b"], official["rounding"], source):
            problems.append(f"active {decoded.active_parameters_b} vs {official['active_b']}")
    elif decoded.active_parameters_b is not None:
        problems.append(f"active {decoded.active_parameters_b} for a dense model")
    for key in ("variant", "format", "quant", "shard"):
        if getattr(decoded, key) != case.get(key):
            problems.append(f"{key} {getattr(decoded, key)!r} vs {case.get(key)!r}")
    return decoded, problems


@pytest.mark.parametrize("case", DATA["dev"], ids=lambda case: case["name"])
def test_real_names_decode_to_their_published_facts(case):
    _, problems = check(case)
    assert not problems, problems


@pytest.mark.parametrize("case", DATA["holdout"], ids=lambda case: case["name"])
def test_held_out_real_names_decode_to_their_published_facts(case):
    _, problems = check(case)
    assert not problems, problems


def test_the_data_is_real_names_of_many_publishers_and_formats_with_sources():
    cases = DATA["dev"] + DATA["holdout"]
    assert len(cases) >= 60
    owners = {case["name"].split("/")[0] for case in cases if "/" in case["name"] and "://" not in case["name"]}
    assert {"unsloth", "bartowski", "TheBloke", "mlx-community", "turboderp", "Qwen", "meta-llama",
            "google", "microsoft", "mistralai", "deepseek-ai"} <= owners
    assert {case["format"] for case in cases} >= {"gguf", "safetensors", "mlx", "exl2", "exl3", "gptq",
                                                  "awq", "bitsandbytes"}
    for case in cases:
        assert case["published_at"].startswith("https://huggingface.co/")
        assert case["official"]["source"].startswith("https://")


@pytest.mark.parametrize("case", DATA["dev"] + DATA["holdout"], ids=lambda case: case["name"])
def test_every_piece_of_a_name_is_explained_and_linked_to_an_existing_entry(case):
    decoded = decode(case["name"])
    name = case["name"].split("://")[-1].lower()
    for part in decoded.parts:
        assert part.text.lower() in name, part
        assert part.meaning
        if part.entry:
            assert (GLOSSARY / f"{part.entry}.md").exists(), part.entry
    covered = " ".join(part.text.lower() for part in decoded.parts)
    pieces = re.findall(r"[a-z0-9]+", case["name"].split("/")[-1].split(":")[0].lower())
    assert all(piece in covered for piece in pieces), [p for p in pieces if p not in covered]


def test_what_names_do_not_say():
    mixtral = decode("Mixtral-8x7B-Instruct-v0.1")
    assert mixtral.parameters_b == pytest.approx(46.7, abs=0.05) and mixtral.active_parameters_b == 12.9
    assert any("56B" in note for note in mixtral.notes)
    assert decode("Phi-3.5-mini-instruct").parameters_b == pytest.approx(3.82, abs=0.01)
    assert decode("Phi-3-mini-128k-instruct").preset == "phi-3-mini-4k"  # the context is no new model
    small = decode("Phi-3-small-8k-instruct")  # no preset: the size word's published figure
    assert (small.parameters_b, small.parameters_source) == (7.0, "official")
    assert decode("gemma-3-27b-it").variant == "instruct"
    assert decode("gemma-3-1b-pt").variant == "base"
    assert decode("Llama-2-7b-chat-hf").variant == "chat"
    assert decode("Qwen3-4B-Thinking-2507").variant == "reasoning"
    assert decode("gpt-oss-20b").variant == "reasoning"  # nothing in the name says it
    shard = decode("Llama-3.3-70B-Instruct-Q4_K_M-00002-of-00003.gguf")
    assert shard.shard == {"index": 2, "count": 3} and shard.quant == "Q4_K_M"
    assert decode("Llama-3.2-3B-Instruct-bnb-4bit").quant == "bnb-4bit"
    assert decode("Qwen2.5-7B-Instruct-AWQ").format == "awq"
    gptq = decode("Qwen2.5-7B-Instruct-GPTQ-Int8")  # the bit width as spelled; format says GPTQ
    assert (gptq.format, gptq.quant, gptq.quant_type) == ("gptq", "Int8", "INT8")
    assert decode("TheBloke/Llama-2-13B-chat-GPTQ").quant == "GPTQ"  # no bit width: the method
    exl2 = decode("turboderp/Llama-3.1-8B-Instruct-exl2:4.0bpw")
    assert exl2.format == "exl2"
    assert decode("Llama-3.1-8B-Instruct-4.0bpw-exl2").quant == "4.0bpw"
    assert decode("mlx-community/Qwen2.5-7B-Instruct-4bit").quant == "4bit"
    ud = decode("gemma-4-26B-A4B-it-UD-Q4_K_XL.gguf")  # the name rounds both up: 25.2B, 3.8B
    assert (ud.family, ud.parameters_b, ud.active_parameters_b, ud.variant, ud.format, ud.quant) == \
        ("Gemma", 25.2, 3.8, "instruct", "gguf", "UD-Q4_K_XL")
    assert ud.parameters_source == "official" and ud.preset is None
    labels = {p.text: p.entry for p in ud.parts}
    assert labels["UD-Q4_K_XL"] == "unsloth-dynamic-quants" and labels["A4B"] == "active-parameters"


def test_two_sizes_the_smaller_is_the_active_count_in_either_order():
    olmoe = decode("allenai/OLMoE-1B-7B-0924-Instruct")  # Ai2 writes the active size first
    assert (olmoe.family, olmoe.parameters_b, olmoe.active_parameters_b) == ("OLMoE", 7, 1)
    assert [(p.text, p.kind) for p in olmoe.parts if p.kind in ("size", "active")] == [
        ("1B", "active"), ("7B", "size")]
    assert (decode("Qwen3-30B-3B").parameters_b, decode("Qwen3-30B-3B").active_parameters_b) == (30, 3)


def test_think_thinking_and_reasoning_mark_a_reasoning_model():
    for name in ("allenai/Olmo-3-7B-Think", "Qwen3-4B-Thinking-2507", "microsoft/Phi-4-reasoning"):
        assert decode(name).variant == "reasoning", name


def test_a_family_this_decoder_cannot_size_still_decodes():
    command = decode("CohereForAI/c4ai-command-r-plus-08-2024")
    assert (command.family, command.variant, command.parameters_b) == ("Command R+", "instruct", 104)
    assert [(p.text, p.kind) for p in command.parts] == [
        ("CohereForAI", "publisher"), ("c4ai", "label"), ("command-r-plus", "family"), ("08-2024", "date")]
    assert decode("c4ai-command-r-v01").family == "Command R"
    # a repository id is a name whatever it holds: what can be said, and that the card says more
    unknown = decode("someone/my-first-model")
    assert (unknown.family, unknown.parameters_b, unknown.format) == (None, None, "safetensors")
    assert any("model card" in note for note in unknown.notes)
    for not_a_repository in ("../etc/passwd", "a--b/c", "-x/y", "hello world"):
        with pytest.raises(NotAModelName):
            decode(not_a_repository)


def test_a_fine_tune_under_its_own_name_keeps_its_base_architecture():
    nemotron = decode("nvidia/Llama-3.1-Nemotron-70B-Instruct-HF")
    assert (nemotron.family, nemotron.preset) == ("Llama", "llama-3.1-70b")
    assert next(p for p in nemotron.parts if p.text == "Nemotron").kind == "label"
    assert decode("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16").family == "Nemotron"


@pytest.mark.parametrize("name, quant, quant_type", [
    ("qwen2.5-7b-instruct-q5_k_m-00001-of-00002.gguf", "q5_k_m", "Q5_K_M"),
    ("gemma-3-27b-it-UD-Q4_K_XL.gguf", "UD-Q4_K_XL", "UD-Q4_K_XL"),
    ("unsloth/Qwen3-8B-GGUF:ud_q4_k_xl", "ud_q4_k_xl", "UD-Q4_K_XL"),
    ("unsloth/Llama-3.2-1B-Instruct-unsloth-bnb-4bit", "unsloth-bnb-4bit", "bnb-4bit"),
    ("unsloth/llama-3-8B-instruct-bnb-4bit", "bnb-4bit", "bnb-4bit"),
    ("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "INT4", "INT4"),
    ("Qwen/Qwen3-8B-AWQ", "AWQ", "AWQ"),
    ("mlx-community/gemma-3-4b-it-bf16", "bf16", "BF16"),
    ("Qwen/Qwen3-8B-FP8", "FP8", "FP8"),
    ("galvani78/Qwen3-Coder-30B-A3B-4.0bpw-EXL3", "4.0bpw", "4.0bpw"),
    ("mlx-community/Qwen3-4B-4bit", "4bit", "4bit"),
    ("Qwen/Qwen3-8B", None, None),
])
def test_quant_is_spelled_as_in_the_name_and_quant_type_in_one_spelling(name, quant, quant_type):
    decoded = decode(name)
    assert (decoded.quant, decoded.quant_type) == (quant, quant_type)


@pytest.mark.parametrize("name, preset_or_count", [
    ("galvani78/Qwen3-Coder-30B-A3B-4.0bpw-EXL3", "qwen3-coder-30b-a3b"),  # no "Instruct"
    ("unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF/Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL.gguf",
     "qwen3-coder-30b-a3b"),
    ("bartowski/mistralai_Mistral-Large-Instruct-2407-GGUF", "mistral-large-2407"),
    ("mistralai/Magistral-Small-2506", "magistral-small-2506"),
    ("mlx-community/gemma-4-31B-it-4bit", "Gemma 4 31B"),
    ("unsloth/gemma-4-E4B-it-GGUF/gemma-4-E4B-it-Q4_K_M.gguf", "Gemma 4 E4B"),
    ("ibm-granite/granite-4.0-h-small-FP8", "Granite 4.0 H Small"),
    ("microsoft/Phi-3.5-MoE-instruct", "Phi-3.5 MoE"),
])
def test_known_models_are_found_whatever_decorates_the_name(name, preset_or_count):
    decoded = decode(name)
    assert decoded.parameters_source == "official" and decoded.parameters_url.startswith("https://")
    if decoded.preset:
        assert decoded.preset == preset_or_count
    else:
        assert any(note.startswith(preset_or_count + " has") for note in decoded.notes)
        assert decoded.calculator_query() is None  # the calculator cannot model it


def test_the_published_counts_cite_their_source_and_do_not_shadow_a_preset():
    from calculators.model_name import PUBLISHED_COUNTS, match_known_model, read
    from calculators.presets import all_presets

    preset_repos = {preset.hf_repo for preset in all_presets()}
    for model in PUBLISHED_COUNTS:
        assert model.source_url.startswith("https://") and model.hf_repo not in preset_repos
        assert 0 <= model.official_active_parameter_count < model.official_parameter_count
        assert match_known_model(read(model.hf_repo.split("/")[1]).model_tokens) is model


def test_the_memory_calculator_gets_the_preset_and_the_nearest_mix():
    assert decode("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q5_K_M.gguf") \
        .calculator_query() == {"model": "llama-3.1-8b", "quant": "Q5_K_M"}
    assert decode("gemma-3-27b-it-UD-Q4_K_XL.gguf").calculator_query() == \
        {"model": "gemma-3-27b", "quant": "Q4_K_M"}
    assert decode("Qwen/Qwen2.5-7B-Instruct-AWQ").calculator_query() == {"model": "qwen2.5-7b"}
    assert decode("Qwen3.5-9B-Q4_K_M.gguf").calculator_query() is None  # no preset
    for quant in ("UD-Q2_K_XL", "UD-Q3_K_XL", "UD-Q5_K_XL", "UD-Q6_K_XL", "UD-IQ1_S", "IQ4_XS", "Q8_0"):
        mix = calculator_mix(quant)
        assert mix is None or mix in MIXES


@pytest.mark.parametrize("text, words", [
    ("", "Paste a model name"),
    ("   ", "Paste a model name"),
    ("hello world", "Nothing in “hello world” reads as a model name"),
    ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
    ("llama-99999999B", "not a size a model has"),
    ("Qwen3-4B<script>", "letters, digits"),
    ("model-00004-of-00003.gguf", "cannot be"),
    ("Qwen3-3B-A30B", "active parameters"),
])
def test_input_that_is_not_a_model_name_is_refused_with_a_reason(text, words):
    with pytest.raises(NotAModelName) as raised:
        decode(text)
    assert raised.value.field == "name"
    assert words in raised.value.message


def field_rates(cases):
    """How many cases each field gets right: {field: (right, cases)}."""
    fields = ("parameters", "active", "variant", "format", "quant", "shard")
    right = dict.fromkeys(fields, 0)
    for case in cases:
        try:
            problems = check(case)[1]
        except NotAModelName:
            continue
        for name in fields:
            right[name] += not any(problem.startswith(name) for problem in problems)
    return {name: (count, len(cases)) for name, count in right.items()}


if __name__ == "__main__":  # python -m tests.calculators.test_model_name: rates per field
    for part in ("dev", "holdout"):
        print(f"{part:8s}", "  ".join(f"{name} {right}/{total}" for name, (right, total)
                                      in field_rates(DATA[part]).items()))
