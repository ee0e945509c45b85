"""LoRA counts against PEFT's published output and hand arithmetic from published configs.

The arithmetic below uses config.json values (written out in each test), not our code:
a LoRA pair on nn.Linear(in, out) has r·in (A) + r·out (B) parameters
(peft src/peft/tuners/lora/layer.py); DoRA adds out_features magnitudes
(src/peft/tuners/lora/dora.py).
"""

import pytest

from calculators.architecture import Architecture, FieldError
from calculators.lora import ALL_LINEAR, TARGET_MODULES, lora_parameters
from calculators.presets import get_preset


def preset(slug):
    return get_preset(slug).architecture


def test_llama_2_7b_r8_q_v_matches_peft_print_trainable_parameters():
    # PEFT docs/README example for meta-llama/Llama-2-7b-hf, LoraConfig(r=8,
    # target_modules=["q_proj", "v_proj"]): "trainable params: 4,194,304 ||
    # all params: 6,742,609,920 || trainable%: 0.06220594176090199". PEFT's "all params"
    # includes the adapter: 6,738,415,616 + 4,194,304.
    est = lora_parameters(preset("llama-2-7b"), 8, ["q_proj", "v_proj"])
    assert est.trainable == 4_194_304
    assert est.base == 6_738_415_616
    assert est.all_params == 6_742_609_920
    assert est.percent == pytest.approx(0.06220594176090199, rel=1e-12)


def test_llama_3_1_8b_r16_all_linear_by_hand():
    # Llama-3.1-8B config: hidden 4096, 32 heads × 128 = 4096, 8 KV heads × 128 = 1024,
    # intermediate 14336, 32 layers.
    r = 16
    q = r * (4096 + 4096)
    k = v = r * (4096 + 1024)
    o = r * (4096 + 4096)
    gate = up = r * (4096 + 14336)
    down = r * (14336 + 4096)
    expected = 32 * (q + k + v + o + gate + up + down)
    assert expected == 41_943_040  # also the figure Unsloth prints for Llama 3 8B, r=16
    est = lora_parameters(preset("llama-3.1-8b"), r, ALL_LINEAR)
    assert est.trainable == expected
    assert est.per_layer == [q + k + v + o + gate + up + down] * 32
    assert est.outside_layers == 0


def test_qwen2_5_7b_r8_attention_only_by_hand():
    # Qwen2.5-7B config: hidden 3584, 28 heads × 128 = 3584, 4 KV heads × 128 = 512,
    # 28 layers. Biases of q/k/v are frozen; LoRA's B has no bias (lora_bias=False).
    r = 8
    per_layer = r * (3584 + 3584) + 2 * r * (3584 + 512) + r * (3584 + 3584)
    est = lora_parameters(preset("qwen2.5-7b"), r, ["q_proj", "k_proj", "v_proj", "o_proj"])
    assert est.trainable == 28 * per_layer == 5_046_272


def test_gemma_2_9b_with_embeddings_and_lm_head_by_hand():
    # gemma-2-9b config: hidden 3584, 16 heads × head_dim 256 = 4096 (not 3584),
    # 8 KV heads × 256 = 2048, vocab 256000, 42 layers, tied embeddings.
    r = 16
    q = r * (3584 + 4096)
    v = r * (3584 + 2048)
    embed = r * 256000 + 3584 * r  # lora_embedding_A (r, vocab), lora_embedding_B (hidden, r)
    lm_head = r * 3584 + 256000 * r
    est = lora_parameters(preset("gemma-2-9b"), r, ["q_proj", "v_proj", "embed_tokens", "lm_head"])
    assert est.trainable == 42 * (q + v) + embed + lm_head == 17_252_352
    assert est.outside_layers == embed + lm_head
    rows = {row.module: row for row in est.rows}
    assert rows["embed_tokens"].a_shape == (16, 256000)
    assert rows["embed_tokens"].b_shape == (3584, 16)
    assert rows["lm_head"].a_shape == (16, 3584)
    assert rows["lm_head"].b_shape == (256000, 16)


def test_mixtral_adapts_every_expert_by_hand():
    # Mixtral-8x7B config: hidden 4096, intermediate 14336, 8 experts, 32 layers;
    # gate/up/down are each expert's w1/w3/w2.
    r = 8
    per_expert = 3 * r * (4096 + 14336)
    est = lora_parameters(preset("mixtral-8x7b-v0.1"), r, ["gate_proj", "up_proj", "down_proj"])
    assert est.trainable == 32 * 8 * per_expert == 113_246_208
    assert all(row.modules_per_layer == 8 for row in est.rows)
    assert any("every one of the 8 experts" in note for note in est.notes)


def test_dora_adds_out_features_magnitudes_per_module():
    # Llama-2-7B, r=8, q and v: LoRA 4,194,304 plus a 4096-long magnitude vector for
    # each of the 2 × 32 adapted projections.
    est = lora_parameters(preset("llama-2-7b"), 8, ["q_proj", "v_proj"], method="dora")
    assert est.trainable == 4_194_304 + 2 * 32 * 4096
    # Grouped-query attention: v_proj's out_features is 1024 on Llama 3.1 8B.
    est = lora_parameters(preset("llama-3.1-8b"), 8, ["v_proj"], method="dora")
    assert est.trainable == 32 * (8 * (4096 + 1024) + 1024)


def test_dora_on_embeddings_adds_embedding_dim_magnitudes():
    # PEFT builds DoraEmbeddingLayer(fan_in_fan_out=True): the norm runs over the
    # transposed (hidden, vocab) weight, leaving hidden_size magnitudes.
    # gemma-3-270m: vocab 262144, hidden 640.
    est = lora_parameters(preset("gemma-3-270m"), 4, ["embed_tokens"], method="dora")
    assert est.trainable == 4 * 262144 + 640 * 4 + 640


def test_qlora_trains_exactly_what_lora_trains():
    arch = preset("llama-3.1-8b")
    lora = lora_parameters(arch, 64, ALL_LINEAR, method="lora")
    qlora = lora_parameters(arch, 64, ALL_LINEAR, method="qlora")
    assert qlora.trainable == lora.trainable
    assert any("NF4" in note for note in qlora.notes)


def test_adapter_file_bytes_are_two_or_four_bytes_per_parameter():
    est = lora_parameters(preset("llama-2-7b"), 8, ["q_proj", "v_proj"])
    assert est.adapter_bytes_fp16 == 8_388_608  # 4,194,304 × 2
    assert est.adapter_bytes_fp32 == 16_777_216  # 4,194,304 × 4


TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=24, vocab_size=300, max_position_embeddings=512)


def test_adapter_shapes_follow_the_transformers_module_shapes():
    # Independent reference: the in/out features of the real transformers modules.
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model("llama", **TINY)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    arch = Architecture.from_hf_config(config.to_dict())
    modules = {
        "embed_tokens": model.model.embed_tokens,
        "lm_head": model.lm_head,
        **{n: getattr(model.model.layers[0].self_attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")},
        **{n: getattr(model.model.layers[0].mlp, n) for n in ("gate_proj", "up_proj", "down_proj")},
    }
    for row in lora_parameters(arch, 4, TARGET_MODULES).rows:
        module = modules[row.module]
        if row.module == "embed_tokens":
            in_f, out_f = module.num_embeddings, module.embedding_dim
        else:
            in_f, out_f = module.in_features, module.out_features
        assert row.a_shape == (4, in_f), row.module
        assert row.b_shape == (out_f, 4), row.module


def test_duplicate_targets_are_counted_once():
    arch = preset("llama-2-7b")
    once = lora_parameters(arch, 8, ["q_proj"])
    twice = lora_parameters(arch, 8, ["q_proj", "q_proj"])
    assert twice.trainable == once.trainable


@pytest.mark.parametrize("rank", [0, -4, 2.5, "8", True, None])
def test_invalid_rank_names_the_rank_field(rank):
    with pytest.raises(FieldError) as info:
        lora_parameters(preset("llama-2-7b"), rank, ["q_proj"])
    assert info.value.field == "rank"


@pytest.mark.parametrize("targets", [[], None, ["q_proj", "attention"], ["w1"]])
def test_bad_target_modules_name_the_field(targets):
    with pytest.raises(ValueError, match="target_modules") as info:
        lora_parameters(preset("llama-2-7b"), 8, targets)
    assert info.value.field == "target_modules"


def test_unknown_method_names_the_field():
    with pytest.raises(FieldError) as info:
        lora_parameters(preset("llama-2-7b"), 8, ["q_proj"], method="ia3")
    assert info.value.field == "method"


def test_estimate_serialises_to_plain_json_types():
    import json

    data = lora_parameters(preset("gemma-3-270m"), 8, ALL_LINEAR, method="dora").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["rows"][0]["a_shape"] == [8, 640]
