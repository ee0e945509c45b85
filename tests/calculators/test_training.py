"""Training memory against published figures, hand-evaluated formulas and measurement.

Sources: ZeRO (Rajbhandari et al. 2020) 16 bytes/parameter for mixed-precision Adam;
QLoRA (Dettmers et al. 2023) 4.127 bits/parameter for NF4 with double quantization;
Korthikanti et al. 2022 s·b·h·(34 + 5·a·s/h) bytes of activations per GPT layer; and the
bytes PyTorch autograd really keeps for transformers models, counted with
torch.autograd.graph.saved_tensors_hooks.
"""

import pytest

from calculators.architecture import Architecture, FieldError
from calculators.lora import lora_parameters
from calculators.presets import get_preset
from calculators.training import (
    LayerShape,
    activation_breakdown,
    NF4_DOUBLE_QUANT_BITS,
    korthikanti_layer_bytes,
    korthikanti_output_bytes,
    layer_activation_bytes,
    output_layer_bytes,
    training_memory,
)

LLAMA_2_7B_PARAMS = 6_738_415_616  # meta-llama/Llama-2-7b-hf safetensors total


def llama2_7b():
    return get_preset("llama-2-7b").architecture


def llama2_7b_r8_qv():
    return lora_parameters(llama2_7b(), 8, ["q_proj", "v_proj"])  # 4,194,304 trainable


def rows_without_activations(result):
    return sum(n for label, n in result.breakdown if not label.startswith("activations"))


def activation_rows(result):
    return {label: n for label, n in result.breakdown if label.startswith("activations")}


# --- weights and optimizer states: the published per-parameter figures ---------------


def test_full_fine_tune_costs_sixteen_bytes_per_parameter_before_activations():
    # ZeRO paper §3.1: 2Ψ (fp16 weights) + 2Ψ (fp16 grads) + 12Ψ (fp32 master, momentum,
    # variance) = 16Ψ; for Llama 2 7B that is 16 × 6,738,415,616 bytes ≈ 107.8 GB.
    result = training_memory(llama2_7b(), "full", sequence_length=512)
    assert rows_without_activations(result) == 16 * LLAMA_2_7B_PARAMS == 107_814_649_856


def test_nf4_double_quantization_is_4_127_bits_per_parameter():
    # QLoRA paper §3: double quantization cuts the constants from 32/64 = 0.5 bits to
    # 8/64 + 32/(64·256) = 0.127 bits per parameter, on top of the 4-bit codes.
    assert NF4_DOUBLE_QUANT_BITS == pytest.approx(4.127, abs=5e-4)
    assert NF4_DOUBLE_QUANT_BITS - 4 == pytest.approx(0.127, abs=5e-4)


def test_qlora_base_memory_for_llama_2_7b_by_hand():
    # Linear weights in the blocks (4-bit): 32 × (4·4096² + 3·4096·11008) = 6,476,005,376.
    # Everything else stays bf16: embeddings + lm_head 2·32000·4096 and 65 norms of 4096.
    linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    other = 2 * 32000 * 4096 + 65 * 4096
    assert linear + other == LLAMA_2_7B_PARAMS
    nf4 = linear // 2 + linear // 64 + 4 * linear // (64 * 256)  # codes, uint8 absmax, fp32 2nd level
    trainable = 4_194_304  # r=8 on q_proj and v_proj, PEFT's figure
    result = training_memory(llama2_7b(), "qlora", sequence_length=512, lora=llama2_7b_r8_qv())
    assert rows_without_activations(result) == nf4 + 2 * other + 16 * trainable


def test_lora_keeps_bf16_base_and_sixteen_bytes_per_adapter_parameter():
    # fp32 adapter weight (4) + fp32 grad (4) + Adam m and v (8); PEFT upcasts adapters.
    result = training_memory(llama2_7b(), "lora", sequence_length=512, lora=llama2_7b_r8_qv())
    assert rows_without_activations(result) == 2 * LLAMA_2_7B_PARAMS + 16 * 4_194_304


# --- activations: the paper's formula and its generalisation ------------------------------


def test_per_tensor_count_reproduces_the_paper_formula_for_a_gpt_layer():
    # Korthikanti et al. 2022 §4.1: MHA, a 4h GELU MLP, dropout, two 16-bit layer norms,
    # attention scores stored, every weight training. GPT-3 175B: h=12288, a=96, s=2048.
    for h, a, s, b in [(12288, 96, 2048, 1), (4096, 32, 1024, 4), (768, 12, 512, 8)]:
        gpt_layer = LayerShape(hidden=h, heads=a, q_dim=h, kv_dim=h, ffn=4 * h,
                               gated_ffn=False, norms=2, dropout=True)
        assert layer_activation_bytes(gpt_layer, s, b, attention="eager") == \
            korthikanti_layer_bytes(s, b, h, a)
    # The paper formula itself, evaluated by hand for GPT-3: 2048·12288·(34 + 5·96·2048/12288).
    assert korthikanti_layer_bytes(2048, 1, 12288, 96) == 2048 * 12288 * (34 + 80)
    # And its output layer, 4·s·b·h·(1 + v/h) with GPT-3's vocabulary of 51200.
    assert korthikanti_output_bytes(2048, 1, 12288, 51200) == 4 * 2048 * 12288 + 4 * 2048 * 51200


def test_llama_2_7b_full_fine_tune_layer_with_flash_attention_by_hand():
    # h = 4096, a = 32, ffn = 11008, s = 2048, b = 1:
    #   attention kernel: Q, K, V 6sbh, output 2sbh, fp32 log-sum-exp 4·a·s·b; q/k/v input 2sbh
    #   gated FFN: gate/up input 2sbh, act input/output + up output 6·s·b·ffn, down input 2·s·b·ffn
    #   two RMSNorms, each an fp32 input (4sbh) + the 16-bit normalised tensor (2sbh)
    s, b, h, a, f = 2048, 1, 4096, 32, 11008
    expected = s * b * (6 * h + 2 * h + 2 * h) + 4 * a * s * b \
        + s * b * (2 * h + 8 * f) + 2 * 6 * s * b * h
    assert expected == 381_943_808
    shape = LayerShape.from_architecture(llama2_7b())
    assert layer_activation_bytes(shape, s, b, attention="flash") == expected


def test_llama_2_7b_lora_q_v_layer_keeps_only_adapted_inputs_by_hand():
    # Frozen base, r=8 on q_proj and v_proj: the attention kernel as above (8sbh + LSE),
    # a 16-bit input copy (2sbh) and lora_A's output (2·s·b·8) per adapter, the FFN's
    # internal 6·s·b·ffn, and each norm only its fp32 input (4sbh).
    s, b, h, a, f, r = 2048, 1, 4096, 32, 11008, 8
    expected = 8 * s * b * h + 4 * a * s * b + 2 * (2 * s * b * h + 2 * s * b * r) \
        + 6 * s * b * f + 2 * 4 * s * b * h
    assert expected == 303_366_144
    shape = LayerShape.from_architecture(llama2_7b())
    assert layer_activation_bytes(shape, s, b, "flash", frozenset({"q_proj", "v_proj"}), 8) == expected


def test_output_layer_for_full_and_frozen_llama_2_7b_by_hand():
    s, b, h, v = 2048, 1, 4096, 32000
    # full: final norm 6sbh + lm_head input 2sbh + fp32 log-softmax 4sbv
    assert output_layer_bytes(llama2_7b(), s, b) == 8 * s * b * h + 4 * s * b * v
    # frozen lm_head: only the norm's fp32 input and the log-softmax
    assert output_layer_bytes(llama2_7b(), s, b, frozenset({"q_proj"})) == 4 * s * b * h + 4 * s * b * v


def test_eager_attention_on_gqa_adds_the_score_matrix_and_repeated_kv():
    # Llama 3.1 8B: 32 heads, q_dim 4096, kv_dim 1024. transformers' eager attention keeps
    # the softmax in fp32 and its bf16 copy (6·a·s²·b), K,V repeated to q_dim and o_proj's
    # input; flash keeps the kernel output and a 4·a·s·b fp32 LSE instead, which cancel
    # against o_proj's input and leave: scores + repeated K,V − LSE.
    arch = get_preset("llama-3.1-8b").architecture
    shape = LayerShape.from_architecture(arch)
    s, b, a = 4096, 2, 32
    diff = layer_activation_bytes(shape, s, b, "eager") - layer_activation_bytes(shape, s, b, "flash")
    assert diff == 6 * a * s * s * b + 4 * s * b * (4096 - 1024) - 4 * a * s * b


def test_checkpointing_keeps_two_s_b_h_per_layer_plus_one_recomputed_layer():
    s, b, h, L, v = 2048, 1, 4096, 32, 32000
    result = training_memory(llama2_7b(), "full", sequence_length=s, gradient_checkpointing=True)
    assert sum(activation_rows(result).values()) == (
        2 * s * b * h * L  # Korthikanti: 2sbh per layer with full recomputation
        + 381_943_808  # one layer's activations, recomputed (hand value above)
        + 8 * s * b * h + 4 * s * b * v  # output layer (hand value above)
    )


def test_without_checkpointing_every_layer_keeps_its_activations():
    result = training_memory(llama2_7b(), "full", sequence_length=2048, gradient_checkpointing=False)
    assert [n for label, n in activation_rows(result).items() if "32 layers" in label] == [32 * 381_943_808]


TINY = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=8,
            num_key_value_heads=2, head_dim=32, vocab_size=500, max_position_embeddings=4096,
            tie_word_embeddings=False)


MOE = dict(num_experts_per_tok=2, moe_intermediate_size=96)
# DeepSeek/GLM-style: a dense first layer, then routed experts and a shared expert
SHARED = dict(MOE, n_routed_experts=4, n_shared_experts=1, first_k_dense_replace=1, n_group=1,
              topk_group=1)


@pytest.mark.parametrize("model_type, extra, attention", [
    ("llama", {}, "sdpa"),
    ("llama", {}, "eager"),
    ("qwen2", {}, "sdpa"),
    ("gemma2", {}, "eager"),  # transformers runs Gemma 2 eagerly (logit soft-capping)
    ("gemma3_text", {}, "sdpa"),
    ("gemma3_text", {}, "eager"),
    ("mixtral", {"num_local_experts": 4, "num_experts_per_tok": 2}, "sdpa"),
    ("qwen3", {}, "sdpa"),  # per-head q/k norms
    ("qwen3_moe", dict(MOE, num_experts=4), "sdpa"),  # experts of their own width
    # gpt-oss runs eagerly (attention sinks): a 16-bit softmax, fp32 norms, a clamped GLU
    ("gpt_oss", {"num_local_experts": 4, "num_experts_per_tok": 2, "intermediate_size": 128,
                 "sliding_window": 64}, "eager"),
    ("glm4_moe", dict(SHARED, use_qk_norm=True, attention_bias=True), "sdpa"),
    ("phi3", {"pad_token_id": 0}, "sdpa"),  # fused qkv and gate_up
])
@pytest.mark.parametrize("frozen", [False, True])
def test_estimate_matches_the_bytes_autograd_saves_in_transformers(model_type, extra, attention, frozen):
    # Independent reference: run a small bf16 transformers model forward in training mode
    # and add up every tensor autograd saves for backward (each storage once, weights
    # excluded). frozen=True trains only the embeddings, so gradients flow through every
    # frozen layer, the way they do under LoRA, with no adapter inputs to keep.
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    s, b = 128, 2
    config = transformers.AutoConfig.for_model(model_type, **{**TINY, **extra})
    config._attn_implementation = attention
    model = transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    model.train()
    if frozen:
        for name, p in model.named_parameters():
            p.requires_grad_("embed_tokens" in name)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    ids = torch.randint(0, TINY["vocab_size"], (b, s))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    measured = sum(saved.values())

    arch = Architecture.from_hf_config(config.to_dict())
    adapters = frozenset() if frozen else None
    kind = "flash" if attention == "sdpa" else "eager"
    predicted = sum(n for _, n in activation_breakdown(arch, s, b, False, kind, adapters))
    # What is left out is small: RoPE cos/sin tables, rsqrt vectors, token ids, routing indices.
    # Phi-3's and GLM-4.5's attention (on this CPU build) also hand o_proj a fresh copy of the
    # attention output, which o_proj keeps while its weight trains: 2·s·b·q_dim per layer.
    copy = 2 * s * b * arch.q_dim * arch.num_layers if model_type in ("phi3", "glm4_moe") and not frozen else 0
    assert predicted <= measured <= (predicted + copy) * 1.025


def test_moe_counts_ffn_activations_once_per_active_expert():
    arch = get_preset("mixtral-8x7b-v0.1").architecture
    shape = LayerShape.from_architecture(arch)
    assert shape.experts_per_token == 2
    s, b, h, f = 1024, 1, 4096, 14336
    # Per active expert: gathered input 2sbh, 8·s·b·ffn inside, its output 2sbh kept for
    # the routing-weight product; once: the router's input 2sbh and its fp32 scores over
    # the 8 experts (4·s·b·8).
    dense = LayerShape(**{**shape.__dict__, "moe": False, "experts_per_token": 1})
    ffn_once = 2 * s * b * h + 8 * s * b * f
    assert layer_activation_bytes(shape, s, b) - layer_activation_bytes(dense, s, b) == \
        ffn_once + 2 * 2 * s * b * h + 2 * s * b * h + 4 * s * b * 8


def test_deepseek_blocks_differ_dense_first_then_experts_with_a_shared_one():
    # DeepSeek V3: 3 dense blocks (FFN 18432), then 58 MoE blocks (8 of 256 experts of 2048,
    # one shared expert of 2048); latent attention with 128 heads of K 192 and V 128.
    arch = get_preset("deepseek-v3").architecture
    dense, moe = LayerShape.from_architecture(arch, 0), LayerShape.from_architecture(arch, 3)
    assert (dense.moe, dense.ffn, moe.moe, moe.ffn, moe.shared_ffn) == (False, 18432, True, 2048, 2048)
    assert (moe.q_dim, moe.kv_dim, moe.value_dim) == (128 * 192, 128 * 192, 128 * 128)
    assert (moe.q_lora, moe.kv_lora, moe.router_input_bytes) == (1536, 512, 4)
    rows = activation_breakdown(arch, 1024, 1, False)
    assert rows[0][0] == "activations: 61 layers (3 dense, 58 MoE)"
    assert rows[0][1] == 3 * layer_activation_bytes(dense, 1024, 1) + 58 * layer_activation_bytes(moe, 1024, 1)


def test_lora_on_fused_experts_keeps_the_merged_weights():
    # PEFT's ParamWrapper adds B·A to the 3-D expert weights for the forward pass; the grouped
    # matmuls then keep the merged 16-bit weights: 2 bytes × E·h·(2·ff + ff) per MoE block.
    arch = get_preset("qwen3-30b-a3b").architecture
    shape = LayerShape.from_architecture(arch)
    s, b, r = 512, 1, 8
    plain = layer_activation_bytes(shape, s, b, "flash", frozenset({"q_proj"}), r)
    with_experts = layer_activation_bytes(shape, s, b, "flash", frozenset({"q_proj", "experts"}), r)
    assert with_experts - plain == 2 * s * b * 8 * (2048 + 768) + 2 * 3 * 128 * 2048 * 768


def test_breakdown_sums_to_total_and_serialises():
    arch = get_preset("gemma-3-270m").architecture
    result = training_memory(arch, "qlora", sequence_length=1024, micro_batch_size=4,
                             lora=lora_parameters(arch, 16, ["q_proj", "v_proj"], "qlora"))
    assert result.total_bytes == sum(n for _, n in result.breakdown)
    data = result.to_dict()
    assert data["total_bytes"] == result.total_bytes
    assert all(set(row) == {"label", "bytes"} for row in data["breakdown"])
    assert any("paged" in note for note in result.notes)


@pytest.mark.parametrize("kwargs, field", [
    ({"mode": "zero3"}, "mode"),
    ({"sequence_length": 0}, "sequence_length"),
    ({"sequence_length": "2k"}, "sequence_length"),
    ({"micro_batch_size": -1}, "micro_batch_size"),
    ({"attention": "paged"}, "attention"),
    ({"gradient_checkpointing": "yes"}, "gradient_checkpointing"),
    ({"mode": "lora"}, "lora"),
    ({"mode": "qlora", "lora": 4_194_304}, "lora"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"mode": "full", "sequence_length": 512, **kwargs}
    mode = args.pop("mode")
    with pytest.raises(FieldError) as info:
        training_memory(llama2_7b(), mode, **args)
    assert info.value.field == field
