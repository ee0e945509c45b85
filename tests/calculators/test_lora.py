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


def test_mixtral_experts_are_two_fused_weights_per_layer_by_hand():
    # Mixtral-8x7B config: hidden 4096, intermediate 14336, 8 experts, 32 layers. transformers
    # 5 stores a layer's experts as gate_up_proj (8, 2·14336, 4096) and down_proj
    # (8, 4096, 14336); PEFT's lora.ParamWrapper gives each r·E·(in + out) parameters
    # (lora_A = Linear(in, r·E), lora_B = Linear(r·E, out), peft/tuners/lora/layer.py).
    r, e = 8, 8
    per_layer = r * e * (4096 + 2 * 14336) + r * e * (14336 + 4096)
    est = lora_parameters(preset("mixtral-8x7b-v0.1"), r, ["experts"])
    assert est.trainable == 32 * per_layer == 104_857_600
    assert [row.hf_name for row in est.rows] == ["model.layers.*.mlp.experts.gate_up_proj",
                                                 "model.layers.*.mlp.experts.down_proj"]
    assert est.rows[0].a_shape == (r * e, 4096) and est.rows[0].b_shape == (2 * 14336, r * e)
    # gate_proj/up_proj/down_proj are not nn.Linear modules of Mixtral any more: nothing to adapt
    with pytest.raises(FieldError) as info:
        lora_parameters(preset("mixtral-8x7b-v0.1"), r, ["gate_proj", "up_proj", "down_proj"])
    assert info.value.field == "target_modules"


def test_gpt_oss_20b_all_linear_plus_experts_by_hand():
    # openai/gpt-oss-20b config: hidden 2880, 64 heads × head_dim 64 = 4096, 8 KV heads × 64 =
    # 512, 24 layers, 32 experts of intermediate 2880. all-linear matches q/k/v/o only (the
    # router is not an nn.Linear); the experts come through target_parameters.
    r = 8
    attention = r * (2880 + 4096) + 2 * r * (2880 + 512) + r * (4096 + 2880)
    experts = r * 32 * (2880 + 2 * 2880) + r * 32 * (2880 + 2880)
    assert (attention, experts) == (165_888, 3_686_400)
    arch = preset("gpt-oss-20b")
    assert lora_parameters(arch, r, ALL_LINEAR).trainable == 24 * attention == 3_981_312
    assert lora_parameters(arch, r, [*ALL_LINEAR, "experts"]).trainable == 24 * (attention + experts)


def test_phi3_fuses_qkv_and_gate_up_by_hand():
    # microsoft/Phi-3-mini-4k-instruct: hidden 3072, 32 heads × 96, no GQA, intermediate 8192,
    # 32 layers; qkv_proj 3072 → 3·3072, gate_up_proj 3072 → 2·8192.
    r = 16
    per_layer = r * (3072 + 9216) + r * (3072 + 3072) + r * (3072 + 16384) + r * (8192 + 3072)
    est = lora_parameters(preset("phi-3-mini-4k"), r, ALL_LINEAR)
    assert est.trainable == 32 * per_layer == 25_165_824
    assert est.target_modules == ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
    # asking for q_proj and v_proj adapts nothing, and says so
    with pytest.raises(FieldError, match="qkv_proj"):
        lora_parameters(preset("phi-3-mini-4k"), r, ["q_proj", "v_proj"])
    mixed = lora_parameters(preset("phi-3-mini-4k"), r, ["q_proj", "o_proj"])
    assert mixed.trainable == 32 * r * (3072 + 3072)
    assert any("q_proj" in note and "nothing" in note for note in mixed.notes)


def test_deepseek_v3_latent_attention_shared_experts_and_dense_layers_by_hand():
    # deepseek-ai/DeepSeek-V3 config: hidden 7168, 128 heads, q_lora_rank 1536, kv_lora_rank
    # 512, qk_nope 128 + qk_rope 64, v_head 128, 61 layers of which the first 3 dense
    # (intermediate 18432), then 58 MoE layers with one shared expert of 2048.
    r = 8
    attention = (r * (7168 + 1536) + r * (1536 + 128 * 192) + r * (7168 + 576)
                 + r * (512 + 128 * 256) + r * (128 * 128 + 7168))
    dense_ffn = 3 * r * (7168 + 18432)
    shared_ffn = 3 * r * (7168 + 2048)
    est = lora_parameters(preset("deepseek-v3"), r, ALL_LINEAR)
    assert est.trainable == 61 * attention + 3 * dense_ffn + 58 * shared_ffn
    assert est.per_layer[0] == attention + dense_ffn and est.per_layer[3] == attention + shared_ffn
    gate = {row.hf_name: row.count for row in est.rows if row.module == "gate_proj"}
    assert gate == {"model.layers.*.mlp.gate_proj": 3, "model.layers.*.mlp.shared_experts.gate_proj": 58}


def test_llama4_maverick_alternates_dense_and_moe_layers_with_a_linear_router_by_hand():
    # meta-llama/Llama-4-Maverick text_config: hidden 5120, intermediate_size 8192 (expert and
    # shared expert), intermediate_size_mlp 16384 (dense layers), 48 layers, every 2nd MoE with
    # 128 experts; feed_forward.router is an nn.Linear(5120, 128), so all-linear adapts it.
    r = 8
    attention = r * (5120 + 5120) + 2 * r * (5120 + 1024) + r * (5120 + 5120)
    dense = 3 * r * (5120 + 16384)
    moe = r * (5120 + 128) + 3 * r * (5120 + 8192)
    est = lora_parameters(preset("llama-4-maverick"), r, ALL_LINEAR)
    assert est.trainable == 48 * attention + 24 * dense + 24 * moe
    assert "router" in est.target_modules


def test_dora_cannot_adapt_fused_experts():
    with pytest.raises(FieldError) as info:
        lora_parameters(preset("qwen3-30b-a3b"), 8, ["q_proj", "experts"], method="dora")
    assert info.value.field == "method"


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


# Small configs of every family the calculators accept, as transformers reads them.
FAMILY_CONFIGS = {
    "llama": dict(TINY),
    "qwen2": dict(TINY),
    "qwen3": dict(TINY),
    "gemma3_text": dict(TINY),
    "phi3": dict(TINY, pad_token_id=0),
    "mixtral": dict(TINY, num_local_experts=4, num_experts_per_tok=2),
    "qwen3_moe": dict(TINY, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=40),
    "gpt_oss": dict(TINY, intermediate_size=64, num_local_experts=4, num_experts_per_tok=2),
    "deepseek_v3": dict(TINY, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                        moe_intermediate_size=40, n_shared_experts=1, first_k_dense_replace=1,
                        q_lora_rank=48, kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16,
                        v_head_dim=16, n_group=1, topk_group=1),
    "deepseek_v2": dict(TINY, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                        moe_intermediate_size=40, n_shared_experts=2, first_k_dense_replace=1,
                        q_lora_rank=None, kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16,
                        v_head_dim=16, n_group=1, topk_group=1, topk_method="greedy"),
    "glm4_moe": dict(TINY, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=40,
                     n_shared_experts=1, first_k_dense_replace=1, n_group=1, topk_group=1,
                     use_qk_norm=True),
    "llama4_text": dict(TINY, intermediate_size=40, intermediate_size_mlp=96, num_local_experts=4,
                        num_experts_per_tok=1, interleave_moe_layer_step=2, attention_chunk_size=64),
}


def _peft_count(model, torch, targets: set[str], rank: int) -> int:
    """What PEFT would add, read off the real transformers modules.

    target_modules: an nn.Linear/nn.Embedding whose name ends in ".<target>" gets r·(in + out)
    (peft tuners_utils.check_target_module_exists, lora.Linear / lora.Embedding);
    target_parameters ("experts"): each 3-D expert weight (E, a, b) gets r·E·(a + b)
    (lora.ParamWrapper).
    """
    total = 0
    for name, module in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last in targets and isinstance(module, torch.nn.Linear):
            total += rank * (module.in_features + module.out_features)
        elif last in targets and isinstance(module, torch.nn.Embedding):
            total += rank * (module.num_embeddings + module.embedding_dim)
    if "experts" in targets:
        for name, param in model.named_parameters():
            if ".experts." in name and param.dim() == 3:
                e, a, b = param.shape
                total += rank * e * (a + b)
    return total


@pytest.mark.parametrize("model_type", sorted(FAMILY_CONFIGS))
def test_every_family_counts_what_peft_would_find_in_the_transformers_model(model_type):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model(model_type, **FAMILY_CONFIGS[model_type])
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    arch = Architecture.from_hf_config(config.to_dict())
    linear_names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear) and name != "lm_head"}
    assert linear_names <= set(ALL_LINEAR)  # "all-linear" as a name list covers every family
    for targets in (set(ALL_LINEAR), set(ALL_LINEAR) | {"experts", "embed_tokens", "lm_head"},
                    {"q_proj", "v_proj", "qkv_proj"}, {"down_proj"}):
        expected = _peft_count(model, torch, targets, 4)
        if expected == 0:
            with pytest.raises(FieldError):
                lora_parameters(arch, 4, sorted(targets))
            continue
        assert lora_parameters(arch, 4, sorted(targets)).trainable == expected, targets


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


@pytest.mark.parametrize("targets", [[], None, ["q_proj", "attention"], ["w1"], ["qkv_proj"]])
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
