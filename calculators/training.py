"""GPU memory for training: full fine-tuning, LoRA and QLoRA, with activations.

One place for the LoRA page and the memory calculator. Every figure is a rule with a
source, not a fit:

- Full fine-tuning with Adam in mixed precision keeps 16 bytes per parameter: fp16/bf16
  weights (2) and gradients (2), plus an fp32 master copy (4) and Adam's two fp32 moments
  (4 + 4). Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
  Parameter Models", section 3.1 (2Ψ + 2Ψ + KΨ with K = 12).
- QLoRA stores the frozen base in 4-bit NF4 with double quantization:
  4 + 8/64 + 32/(64·256) ≈ 4.127 bits per parameter (Dettmers et al. 2023, "QLoRA",
  section 3: block size 64 with 8-bit constants, second-level block size 256 with fp32).
- Activations per transformer layer follow Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models", section 4: s·b·h·(34 + 5·a·s/h) bytes in
  16-bit for a GPT-style layer without recomputation, 2·s·b·h with full recomputation.
  `layer_activation_bytes` redoes the paper's per-tensor count for today's layers (GQA,
  gated and fused FFNs, q/k norms, MoE with routed and shared experts, latent attention,
  no dropout, FlashAttention, frozen base with adapters) and for the fp32 copies Hugging
  Face transformers keeps (RMSNorm, eager softmax, routers, loss). With the paper's layer
  it returns the paper's formula exactly; for transformers 5 models (Llama, Qwen2/3,
  Qwen3-MoE, Gemma 2/3, Mixtral, gpt-oss, GLM-4.5, Phi-3) it agrees within about 2.5% with
  the bytes autograd actually saves (checked in the tests); DeepSeek and Llama 4 blocks
  follow the same rules without that check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .architecture import Architecture, FieldError
from .lora import LoraEstimate

MODES = ("full", "lora", "qlora")
ATTENTION_KINDS = ("flash", "eager")

# ZeRO paper, section 3.1: 2 (16-bit weights) + 2 (16-bit grads) + 12 (fp32 master
# weights, fp32 momentum, fp32 variance) bytes per parameter.
FULL_FINETUNE_BYTES_PER_PARAM = 16
# PEFT upcasts adapter weights to fp32 (autocast_adapter_dtype=True, the default), so an
# adapter parameter costs fp32 weight (4) + fp32 gradient (4) + two fp32 Adam moments (8);
# no separate master copy is needed because the weights are already fp32.
ADAPTER_BYTES_PER_PARAM = 16
# QLoRA paper, section 3 (double quantization): 4-bit code + 8-bit absmax per 64 weights
# + fp32 second-level constant per 256 first-level blocks.
NF4_DOUBLE_QUANT_BITS = 4 + 8 / 64 + 32 / (64 * 256)


@dataclass(frozen=True)
class TrainingMemory:
    mode: str
    total_bytes: int
    breakdown: list[tuple[str, int]]  # (label, bytes), summing to total_bytes
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "total_bytes": self.total_bytes,
            "breakdown": [{"label": label, "bytes": n} for label, n in self.breakdown],
            "notes": list(self.notes),
        }


# --- activations -----------------------------------------------------------------------

@dataclass(frozen=True)
class LayerShape:
    """What the activation count needs to know about one transformer block.

    The defaults describe the paper's GPT layer (16-bit tensors throughout, fused norms);
    `from_architecture` describes a block of a real model as Hugging Face transformers (5)
    runs it.
    """

    hidden: int
    heads: int
    q_dim: int  # heads · head_dim
    kv_dim: int  # width of K (and of V unless v_dim is set): kv_heads · head_dim
    ffn: int  # intermediate size (of one routed expert in a MoE block)
    gated_ffn: bool = True  # SwiGLU/GeGLU: gate and up projections
    # bytes per FFN-width element a gated FFN keeps besides down_proj's input: the
    # activation's input and output and up's output (6); gpt-oss's clamped GLU keeps 12
    ffn_keep_bytes: int = 6
    norms: int = 2  # hidden-sized norms per block (Gemma 2/3 have 4)
    qk_norm: bool = False  # per-head norms on queries and keys (Gemma 3, Qwen3, GLM-4.5)
    dropout: bool = False  # GPT-style dropout after attention and FFN, and on the scores
    moe: bool = False  # a routed mixture-of-experts FFN
    experts_per_token: int = 1  # MoE: the FFN runs this many times per token
    num_experts: int = 0  # MoE: the router's outputs (its fp32 scores are kept)
    shared_ffn: int = 0  # MoE: width of the shared expert(s), a dense FFN every token runs
    # MoE: transformers' Llama 4 runs every expert on every token (inputs scaled by the router
    # scores) instead of gathering each expert's tokens
    dense_routing: bool = False
    router_input_bytes: int = 2  # DeepSeek/GLM routers upcast their input to fp32
    v_dim: int = 0  # width of V when it differs from K (DeepSeek's latent attention); 0 = kv_dim
    # DeepSeek's latent attention: widths of the compressed query and key/value, each
    # RMS-normed and projected up again inside the block (0 = ordinary attention)
    q_lora: int = 0
    kv_lora: int = 0
    # (target name, in_features) of the block's adaptable linear layers, from
    # calculators.lora: what a LoRA adapter on each must keep of its input
    linears: tuple[tuple[str, int], ...] = ()
    # Bytes per element a norm keeps: its input, and (only while the norm weight trains)
    # the normalised tensor the weight multiplies.
    norm_input_bytes: int = 2
    norm_output_bytes: int = 0
    softmax_bytes: int = 2  # eager attention: bytes kept per attention score
    attn_softcap: bool = False  # Gemma 2 eager: tanh(scores/cap) is kept too

    @property
    def value_dim(self) -> int:
        return self.v_dim or self.kv_dim

    @classmethod
    def from_architecture(cls, arch: Architecture, layer: int | None = None) -> "LayerShape":
        """Block `layer` of `arch` (default: the last, a MoE block in every MoE family)."""
        from .lora import block_linears

        i = arch.num_layers - 1 if layer is None else layer
        gemma = arch.family in ("gemma2", "gemma3")
        gpt_oss = arch.family == "gpt_oss"
        moe = arch.is_moe_layer(i)
        mla = arch.is_mla
        return cls(
            hidden=arch.hidden_size,
            heads=arch.num_heads,
            q_dim=arch.q_dim,
            kv_dim=arch.num_heads * arch.head_dim if mla else arch.kv_dim,
            v_dim=arch.num_heads * arch.value_head_dim if mla else 0,
            q_lora=arch.q_lora_rank,
            kv_lora=arch.kv_lora_rank,
            ffn=arch.expert_width if moe else arch.intermediate_size,
            norms=4 if gemma else 2,
            qk_norm=arch.has_qk_norm,
            moe=moe,
            experts_per_token=arch.num_experts_per_token if moe else 1,
            num_experts=arch.num_experts if moe else 0,
            shared_ffn=arch.shared_expert_width if moe else 0,
            dense_routing=arch.family == "llama4",
            router_input_bytes=4 if arch.family in ("deepseek2", "glm4_moe") else 2,
            linears=block_linears(arch, i),
            # transformers' RMSNorm upcasts its input to fp32 and autograd keeps that
            # copy (4 bytes); with a trainable weight it also keeps the normalised tensor,
            # cast back to 16-bit in Llama/Mistral/Qwen (2), still fp32 in Gemma (4).
            # Measured with torch.autograd.graph.saved_tensors_hooks (see the tests).
            ffn_keep_bytes=12 if gpt_oss and moe else 6,
            norm_input_bytes=4,
            norm_output_bytes=4 if gemma or gpt_oss else 2,
            # transformers' eager attention: softmax in fp32 (4 bytes kept) then cast to
            # 16-bit for the product with V (2 more bytes kept); gpt-oss keeps only the
            # 16-bit softmax over the scores and its sink logit.
            softmax_bytes=2 if gpt_oss else 6,
            attn_softcap=arch.family == "gemma2",
        )


def korthikanti_layer_bytes(s: int, b: int, h: int, a: int) -> int:
    """The paper's s·b·h·(34 + 5·a·s/h), written so it stays an integer."""
    return s * b * (34 * h + 5 * a * s)


def korthikanti_output_bytes(s: int, b: int, h: int, v: int) -> int:
    """The paper's output-layer term 4·s·b·h·(1 + v/h): final norm input, output
    projection input, fp32 logits for the cross-entropy."""
    return 4 * s * b * h + 4 * s * b * v


def _norm_bytes(shape: LayerShape, width: int, sb: int, weights_train: bool) -> int:
    per_element = shape.norm_input_bytes + (shape.norm_output_bytes if weights_train else 0)
    return per_element * sb * width


def layer_activation_bytes(
    shape: LayerShape,
    s: int,
    b: int,
    attention: str = "flash",
    adapters: frozenset[str] | None = None,
    rank: int = 0,
) -> int:
    """Bytes one block keeps for the backward pass, without recomputation.

    Follows Korthikanti et al.'s per-tensor accounting. With the paper's GPT layer
    (`LayerShape` defaults, MHA, 4h GELU FFN, dropout, eager attention, all weights
    training) it gives exactly s·b·h·(34 + 5·a·s/h). Generalised for:
    - GQA: Q, K, V sized by q_dim/kv_dim.
    - gated FFN: the activation's input, its output and the up projection's output are
      kept (the paper's GELU keeps one), plus down_proj's input as before.
    - FlashAttention/SDPA (Dao et al. 2022): no s×s scores; the kernel keeps Q, K, V, its
      output and an fp32 log-sum-exp per head and position.
    - frozen base (`adapters` = the LoRA target set): a frozen linear layer needs no saved
      input, but each adapted one keeps its own 16-bit copy of its input (PEFT casts the
      input to the fp32 adapter dtype and autocast casts it back) and lora_A's r-wide output.
    `adapters=None` means every weight trains (full fine-tuning).
    """
    sb = s * b
    h, a = shape.hidden, shape.heads
    weights_train = adapters is None
    # the attention output, heads · V head (= q_dim unless V is narrower, as in DeepSeek)
    out_dim = shape.v_dim or shape.q_dim

    # Inside attention: what the attention kernel itself keeps.
    if attention == "eager":
        # transformers repeats K/V to every query head (repeat_kv) before the matmuls.
        attn = 2 * sb * (2 * shape.q_dim + out_dim)  # Q, K and V for every head
        attn += shape.softmax_bytes * a * s * s * b
        if shape.attn_softcap:
            attn += 2 * a * s * s * b
        if shape.dropout:
            attn += a * s * s * b + 2 * a * s * s * b  # mask and dropped-out scores
    else:
        attn = 2 * sb * (shape.q_dim + shape.kv_dim + shape.value_dim)  # Q, K, V
        attn += 2 * sb * out_dim  # the output, which the backward kernel needs
        attn += 4 * a * sb  # fp32 log-sum-exp
    if shape.dropout:
        attn += sb * h  # dropout mask after attention
    if shape.kv_lora:
        # latent attention: the compressed query and key/value, RMS-normed (their inputs, and
        # outputs while the norm weights train) before their up-projections
        attn += _norm_bytes(shape, shape.q_lora + shape.kv_lora, sb, weights_train)

    # Inside the FFN: activation input, and for a gated FFN its output and up's output.
    mlp = (shape.ffn_keep_bytes if shape.gated_ffn else 2) * sb * shape.ffn
    if shape.dropout:
        mlp += sb * h  # dropout mask after the FFN

    # Inputs of the linear layers.
    adapted = 0
    if weights_train:
        attn += 2 * sb * h  # shared input of q/k/v (or of qkv_proj, q_a_proj + kv_a_proj)
        if shape.kv_lora:
            attn += 2 * sb * (shape.q_lora + shape.kv_lora)  # inputs of q_b_proj, kv_b_proj
        if attention == "eager":
            attn += 2 * sb * out_dim  # o_proj input (flash: it is the kernel's output)
        mlp += 2 * sb * h + 2 * sb * shape.ffn  # shared gate/up input, down input
    else:
        # each adapted nn.Linear keeps its own 16-bit input copy and lora_A's output
        adapted = sum(2 * sb * width + 2 * sb * rank for module, width in shape.linears
                      if module in adapters)
    if shape.moe:
        # transformers' MoE block (grouped_mm experts): each of the k expert outputs is
        # kept for the product with its routing weight, the router's fp32 scores, and the
        # router's input while its weight trains (its LoRA input is in `adapted`).
        k = shape.experts_per_token
        if shape.dense_routing:
            # Llama4TextMoe: all E experts on all tokens; the score-scaled copy of the input
            # and each expert's input are kept, the outputs are summed unweighted
            e = shape.num_experts
            mlp = e * (mlp + 2 * sb * h) + 2 * sb * e * h
        else:
            mlp = k * (mlp + 2 * sb * h)
        mlp += 4 * sb * shape.num_experts
        if weights_train:
            mlp += shape.router_input_bytes * sb * h
        if adapters and "experts" in adapters:
            # PEFT's lora.ParamWrapper adds B·A to the fused weights for the forward pass: the
            # grouped matmuls keep their gathered inputs and the merged 16-bit weights
            # (E·h·2ff + E·ff·h values) for the backward pass (peft/tuners/lora/layer.py).
            mlp += 2 * sb * k * (h + shape.ffn) + 2 * 3 * shape.num_experts * h * shape.ffn
        if shape.shared_ffn:
            # the shared expert(s): a dense gated FFN every token runs
            mlp += 6 * sb * shape.shared_ffn
            if weights_train:
                mlp += 2 * sb * h + 2 * sb * shape.shared_ffn
    norms = shape.norms * _norm_bytes(shape, h, sb, weights_train)
    if shape.qk_norm:
        norms += _norm_bytes(shape, shape.q_dim + shape.kv_dim, sb, weights_train)
    return attn + mlp + adapted + norms


def output_layer_bytes(
    arch: Architecture, s: int, b: int, adapters: frozenset[str] | None = None, rank: int = 0
) -> int:
    """Final norm, lm_head input and the loss's fp32 log-probabilities, as transformers
    keeps them. For the paper's layer this is korthikanti_output_bytes."""
    shape = LayerShape.from_architecture(arch)
    sb, h, v = s * b, arch.hidden_size, arch.vocab_size
    weights_train = adapters is None
    total = _norm_bytes(shape, h, sb, weights_train)
    if weights_train:
        total += 2 * sb * h  # lm_head input
    elif "lm_head" in adapters:
        total += 2 * sb * h + 2 * sb * rank
    if arch.family == "gemma2":
        total += 2 * sb * v  # final_logit_softcapping keeps tanh's output
    total += 4 * sb * v  # cross-entropy upcasts the logits and keeps fp32 log-softmax
    return total


def activation_breakdown(
    arch: Architecture,
    s: int,
    b: int,
    gradient_checkpointing: bool,
    attention: str = "flash",
    adapters: frozenset[str] | None = None,
    rank: int = 0,
) -> list[tuple[str, int]]:
    # blocks differ in MoE models with dense layers (DeepSeek's first ones, Llama 4's every
    # other one): one count per kind of block
    shapes = [LayerShape.from_architecture(arch, i) for i in range(arch.num_layers)]
    counts = {shape: layer_activation_bytes(shape, s, b, attention, adapters, rank)
              for shape in set(shapes)}
    per_layer = [counts[shape] for shape in shapes]
    L = arch.num_layers
    if gradient_checkpointing:
        rows = [
            (f"activations: layer inputs kept by checkpointing (2·s·b·h × {L} layers)",
             2 * s * b * arch.hidden_size * L),
            ("activations: one layer recomputed during backward", max(per_layer)),
        ]
    elif len(counts) == 1:
        rows = [(f"activations: {L} layers × {per_layer[0]:,} bytes", sum(per_layer))]
    else:
        dense = sum(not shape.moe for shape in shapes)
        rows = [(f"activations: {L} layers ({dense} dense, {L - dense} MoE)", sum(per_layer))]
    rows.append(("activations: final norm, lm_head, fp32 log-probabilities for the loss",
                 output_layer_bytes(arch, s, b, adapters, rank)))
    return rows


# --- weights and optimizer states ---------------------------------------------------


def quantizable_parameters(arch: Architecture) -> int:
    """Parameters bitsandbytes turns into 4-bit: the linear weights inside the blocks.

    transformers keeps lm_head and the embeddings in 16-bit (they are not nn.Linear
    layers inside the blocks), and norms and biases are 1-D.
    """
    return sum(t.n_elements for t in arch.tensors() if t.layer is not None and len(t.shape) >= 2)


def nf4_bytes(n_params: int) -> int:
    return math.ceil(n_params * NF4_DOUBLE_QUANT_BITS / 8)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldError(name, f"must be an integer of at least 1, got {value!r}")
    return value


def training_memory(
    arch: Architecture,
    mode: str,
    *,
    sequence_length: int,
    micro_batch_size: int = 1,
    gradient_checkpointing: bool = True,
    attention: str = "flash",
    lora: LoraEstimate | None = None,
) -> TrainingMemory:
    """Peak GPU memory for one training step on one GPU, as a breakdown.

    mode: "full" (Adam, mixed precision), "lora" (bf16 base), "qlora" (NF4 base).
    lora: the adapter, from lora_parameters(...); required for "lora" and "qlora" (its
    trainable count sizes the optimizer states, its targets and rank the activations).
    """
    if mode not in MODES:
        raise FieldError("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if attention not in ATTENTION_KINDS:
        raise FieldError("attention", f"must be one of {', '.join(ATTENTION_KINDS)}, got {attention!r}")
    s = _positive_int("sequence_length", sequence_length)
    b = _positive_int("micro_batch_size", micro_batch_size)
    if not isinstance(gradient_checkpointing, bool):
        raise FieldError("gradient_checkpointing", "must be true or false")

    P = arch.parameter_count()
    notes = []
    adapters, rank = None, 0
    if mode == "full":
        rows = [
            ("weights (bf16)", 2 * P),
            ("gradients (bf16)", 2 * P),
            ("fp32 master weights", 4 * P),
            ("Adam first moment (fp32)", 4 * P),
            ("Adam second moment (fp32)", 4 * P),
        ]
        notes.append("Full fine-tuning: 16 bytes per parameter for weights, gradients and "
                     "Adam states (ZeRO paper, Rajbhandari et al. 2020), before activations. "
                     "Training in fp32 with bf16 autocast costs the same 16 bytes "
                     "(fp32 weights and gradients, two fp32 moments).")
    else:
        if not isinstance(lora, LoraEstimate):
            raise FieldError("lora", "an adapter (rank and target modules) is required for "
                             "LoRA and QLoRA")
        T = lora.trainable
        adapters, rank = frozenset(lora.target_modules), lora.rank
        if mode == "lora":
            rows = [("frozen base weights (bf16)", 2 * P)]
        else:
            q = quantizable_parameters(arch)
            rows = [
                (f"frozen base linear weights (NF4 + double quant, {NF4_DOUBLE_QUANT_BITS:.3f} bits)",
                 nf4_bytes(q)),
                ("frozen embeddings, lm_head, norms (bf16)", 2 * (P - q)),
            ]
            notes.append("QLoRA: linear layers in NF4 with double quantization, "
                         f"{NF4_DOUBLE_QUANT_BITS:.4f} bits per weight (Dettmers et al. 2023); "
                         "each layer is dequantized to bf16 on the fly, one weight at a time.")
            notes.append("The QLoRA paper uses a paged AdamW optimizer: its states move to CPU "
                         "memory when the GPU runs short, which absorbs spikes but does not "
                         "shrink the steady-state figure below.")
        rows += [
            ("adapter weights (fp32)", 4 * T),
            ("adapter gradients (fp32)", 4 * T),
            ("adapter Adam moments (2 × fp32)", 8 * T),
        ]
        notes.append("Adapters are fp32 because PEFT upcasts them by default "
                     "(autocast_adapter_dtype=True): 16 bytes per trainable parameter.")
        if lora.method == "dora":
            notes.append("DoRA also recomputes the norm of W + BA in every forward pass, a "
                         "temporary the size of each adapted weight; it is not counted.")

    rows += activation_breakdown(arch, s, b, gradient_checkpointing, attention, adapters, rank)
    notes.append("Activations: Korthikanti et al. 2022's per-tensor count, generalised to "
                 "grouped-query attention, gated FFNs, no dropout, and the fp32 copies that "
                 "transformers' RMSNorm, eager softmax and loss keep. Not counted: RoPE "
                 "tables, LoRA dropout masks, transient gradient buffers.")
    if adapters is not None:
        notes.append("With a frozen base only the adapted layers keep their inputs; this "
                     "assumes bf16 autocast (Trainer bf16=True).")
    if attention == "flash":
        notes.append("FlashAttention/SDPA: the s×s attention matrix is never stored.")
    else:
        notes.append("Eager attention keeps the s×s softmax per head (fp32 plus a 16-bit "
                     "copy): memory grows with the square of the sequence length.")
    if gradient_checkpointing:
        notes.append("Gradient checkpointing keeps only each layer's input (2·s·b·h bytes) "
                     "and recomputes one layer at a time during the backward pass.")
    if arch.family == "llama4":
        notes.append(f"MoE: transformers' Llama 4 runs all {arch.num_experts} experts on every token "
                     "(inputs scaled by the router scores), so its FFN activations are counted "
                     f"{arch.num_experts} times in the MoE blocks. Not counted: the weightless "
                     "query/key L2 norm some Llama 4 configs switch on (use_qk_norm).")
    elif arch.is_moe:
        notes.append(f"MoE: each token's FFN activations are counted "
                     f"{arch.num_experts_per_token} times (once per active expert)"
                     + (", plus the shared expert's once." if arch.num_shared_experts else "."))
    if arch.is_mla:
        notes.append("Latent attention (DeepSeek): counted as a fused attention kernel over 192-wide "
                     "keys and 128-wide values per head; transformers may run it unfused, which "
                     "keeps the s×s scores as eager attention does.")
    if adapters is not None and "experts" in adapters:
        notes.append("LoRA on the routed experts (PEFT's ParamWrapper) merges B·A into the fused "
                     "expert weights for each forward pass; the merged 16-bit weights of a block "
                     "stay in memory until its backward pass.")
    notes.append("Not counted: the CUDA context, allocator fragmentation, and the data loader.")

    return TrainingMemory(
        mode=mode,
        total_bytes=sum(n for _, n in rows),
        breakdown=rows,
        notes=notes,
    )
