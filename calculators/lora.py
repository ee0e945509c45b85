"""LoRA / DoRA / QLoRA trainable-parameter counts, the way PEFT counts them.

PEFT (huggingface/peft, src/peft/tuners/lora/layer.py) wraps each targeted module:

- nn.Linear(in, out): lora_A = nn.Linear(in, r, bias=False) -> weight (r, in);
  lora_B = nn.Linear(r, out, bias=False) -> weight (out, r). r·(in + out) parameters.
- nn.Embedding(vocab, hidden): lora_embedding_A = Parameter((r, vocab)),
  lora_embedding_B = Parameter((hidden, r)). r·(vocab + hidden) parameters.
- DoRA (use_dora=True) adds one magnitude vector per adapted module
  (src/peft/tuners/lora/dora.py): the column-wise weight norm, out_features long for a
  Linear, embedding_dim (hidden) long for an Embedding (DoraEmbeddingLayer is built with
  fan_in_fan_out=True, so the norm runs over the transposed (hidden, vocab) weight).
- A fused 3-D expert weight (E, in, out), targeted through target_parameters
  (lora.ParamWrapper): lora_A = nn.Linear(in, r·E), lora_B = nn.Linear(r·E, out), so
  r·E·(in + out) parameters; DoRA and lora_dropout are refused there.
- QLoRA trains the same adapters; only the frozen base sits in 4-bit NF4.

Which modules exist is the architecture's business (`adaptable_modules`): the names and
shapes transformers 5 gives each family, which the tests read off the real modules.

`print_trainable_parameters()` reports "all params" as base + adapter, and
"trainable%" = trainable / (base + adapter) · 100. We report the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .architecture import Architecture, FieldError

METHODS = ("lora", "dora", "qlora")

# PEFT's target names. A name in target_modules adapts every nn.Linear (or nn.Embedding) whose
# module name ends in ".<name>" (peft/tuners/tuners_utils.py check_target_module_exists); a
# name the model lacks matches nothing, and PEFT refuses only a list that matches nothing at
# all. "experts" stands for PEFT's target_parameters on the routed experts, which transformers
# 5 stores as fused 3-D weights (mlp.experts.gate_up_proj and .down_proj), not nn.Linear.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "qkv_proj", "q_a_proj", "q_b_proj",
                     "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")
FFN_MODULES = ("gate_proj", "up_proj", "gate_up_proj", "down_proj", "router")
TARGET_MODULES = ATTENTION_MODULES + FFN_MODULES + ("experts", "embed_tokens", "lm_head")
# PEFT's target_modules="all-linear": every nn.Linear except the output layer. As a list of
# names it is the union over the architectures; each model matches its own subset.
ALL_LINEAR = ATTENTION_MODULES + FFN_MODULES


@dataclass(frozen=True)
class Adaptable:
    """One kind of module PEFT can adapt, as transformers (>= 5) builds the model."""

    target: str  # the PEFT target name that matches it
    hf_name: str  # its module path, "*" for the block index
    in_features: int
    out_features: int
    layers: tuple[int, ...]  # the blocks that have it; () outside the blocks
    experts: int = 1  # > 1: a fused 3-D expert weight (PEFT lora.ParamWrapper)


def _ffn_prefix(arch: Architecture) -> str:
    return "feed_forward" if arch.family == "llama4" else "mlp"


def _block_modules(arch: Architecture, i: int) -> list[tuple[str, str, int, int, int]]:
    """(target, path inside the block, in, out, experts) of block i's adaptable weights.

    From the transformers 5 modeling files (models/<family>/modeling_*.py): phi3 fuses q/k/v
    (qkv_proj) and gate/up (gate_up_proj); DeepSeek's latent attention compresses queries
    (q_a_proj, q_b_proj; V2-Lite: one q_proj) and keys/values (kv_a_proj_with_mqa, kv_b_proj);
    routed experts are 3-D parameters; DeepSeek/GLM add shared_experts, Llama 4 a
    shared_expert and an nn.Linear router.
    """
    h = arch.hidden_size
    attn = "self_attn."
    if arch.is_mla:
        nope = arch.head_dim - arch.qk_rope_head_dim
        out = ([("q_a_proj", attn + "q_a_proj", h, arch.q_lora_rank, 1),
                ("q_b_proj", attn + "q_b_proj", arch.q_lora_rank, arch.q_dim, 1)] if arch.q_lora_rank
               else [("q_proj", attn + "q_proj", h, arch.q_dim, 1)])
        out += [("kv_a_proj_with_mqa", attn + "kv_a_proj_with_mqa", h, arch.kv_lora_rank + arch.qk_rope_head_dim, 1),
                ("kv_b_proj", attn + "kv_b_proj", arch.kv_lora_rank, arch.num_heads * (nope + arch.value_head_dim), 1),
                ("o_proj", attn + "o_proj", arch.num_heads * arch.value_head_dim, h, 1)]
    elif arch.family == "phi3":
        out = [("qkv_proj", attn + "qkv_proj", h, arch.q_dim + 2 * arch.kv_dim, 1),
               ("o_proj", attn + "o_proj", arch.q_dim, h, 1)]
    else:
        out = [("q_proj", attn + "q_proj", h, arch.q_dim, 1), ("k_proj", attn + "k_proj", h, arch.kv_dim, 1),
               ("v_proj", attn + "v_proj", h, arch.kv_dim, 1), ("o_proj", attn + "o_proj", arch.q_dim, h, 1)]

    ffn = _ffn_prefix(arch) + "."
    if not arch.is_moe_layer(i):
        ff = arch.intermediate_size
        if arch.family == "phi3":
            return out + [("gate_up_proj", ffn + "gate_up_proj", h, 2 * ff, 1),
                          ("down_proj", ffn + "down_proj", ff, h, 1)]
        return out + [("gate_proj", ffn + "gate_proj", h, ff, 1), ("up_proj", ffn + "up_proj", h, ff, 1),
                      ("down_proj", ffn + "down_proj", ff, h, 1)]
    e, ff = arch.num_experts, arch.expert_width
    if arch.family == "llama4":
        out.append(("router", ffn + "router", h, e, 1))
    out += [("experts", ffn + "experts.gate_up_proj", h, 2 * ff, e),
            ("experts", ffn + "experts.down_proj", ff, h, e)]
    if arch.num_shared_experts:
        shared = ffn + ("shared_expert." if arch.family == "llama4" else "shared_experts.")
        sh = arch.shared_expert_width
        out += [("gate_proj", shared + "gate_proj", h, sh, 1), ("up_proj", shared + "up_proj", h, sh, 1),
                ("down_proj", shared + "down_proj", sh, h, 1)]
    return out


def block_linears(arch: Architecture, layer: int) -> tuple[tuple[str, int], ...]:
    """(target, in_features) of block `layer`'s nn.Linear modules, for the training memory."""
    return tuple((target, in_f) for target, _, in_f, _, experts in _block_modules(arch, layer)
                 if experts == 1)


def adaptable_modules(arch: Architecture) -> list[Adaptable]:
    """Every module (and fused expert weight) PEFT can adapt in `arch`, grouped by kind.

    The multi-token-prediction block of GLM-4.5 is not part of the transformers model.
    """
    seen: dict[tuple, list[int]] = {}
    for i in range(arch.num_layers):
        for target, path, in_f, out_f, experts in _block_modules(arch, i):
            seen.setdefault((target, path, in_f, out_f, experts), []).append(i)
    out = [Adaptable("embed_tokens", "model.embed_tokens", arch.vocab_size, arch.hidden_size, ())]
    out += [Adaptable(target, f"model.layers.*.{path}", in_f, out_f, tuple(layers), experts)
            for (target, path, in_f, out_f, experts), layers in seen.items()]
    out.append(Adaptable("lm_head", "lm_head", arch.hidden_size, arch.vocab_size, ()))
    return out


@dataclass(frozen=True)
class ModuleRow:
    module: str  # the target name that matched, e.g. "q_proj"
    hf_name: str  # where PEFT finds it in the transformers model
    a_shape: tuple[int, int]  # PyTorch shape of lora_A's weight
    b_shape: tuple[int, int]  # PyTorch shape of lora_B's weight
    magnitude: int  # DoRA magnitude vector length (0 for LoRA/QLoRA)
    params_per_module: int  # A + B (+ magnitude) for one adapted module
    modules_per_layer: int  # 1 in the blocks that have it, 0 for embed_tokens / lm_head
    per_layer: int  # params this row adds to each block that has it (0 outside the blocks)
    count: int  # adapted modules in the whole model
    total: int
    experts: int = 1  # > 1: one fused 3-D expert weight, adapted for all its experts at once

@dataclass(frozen=True)
class LoraEstimate:
    method: str
    rank: int
    target_modules: tuple[str, ...]
    trainable: int
    base: int  # parameters of the frozen base model
    all_params: int  # base + trainable, as print_trainable_parameters reports it
    percent: float  # trainable / all_params · 100, as print_trainable_parameters
    rows: list[ModuleRow]
    per_layer: list[int]  # trainable params in each block, index = layer
    outside_layers: int  # trainable params outside the blocks (embed_tokens, lm_head)
    adapter_bytes_fp16: int  # tensor data of adapter_model.safetensors saved in fp16/bf16
    adapter_bytes_fp32: int  # ... in fp32 (PEFT's default adapter dtype)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "rank": self.rank,
            "target_modules": list(self.target_modules),
            "trainable": self.trainable,
            "base": self.base,
            "all_params": self.all_params,
            "percent": self.percent,
            "rows": [
                {**row.__dict__, "a_shape": list(row.a_shape), "b_shape": list(row.b_shape)}
                for row in self.rows
            ],
            "per_layer": list(self.per_layer),
            "outside_layers": self.outside_layers,
            "adapter_bytes_fp16": self.adapter_bytes_fp16,
            "adapter_bytes_fp32": self.adapter_bytes_fp32,
            "notes": list(self.notes),
        }


def _row(module: Adaptable, rank: int, dora: bool) -> ModuleRow:
    if module.target == "embed_tokens":
        # lora_embedding_A (r, vocab), lora_embedding_B (hidden, r); DoRA's norm runs over the
        # transposed weight (DoraEmbeddingLayer, fan_in_fan_out=True): hidden magnitudes
        a_shape, b_shape = (rank, module.in_features), (module.out_features, rank)
        magnitude = module.out_features if dora else 0
    else:
        # nn.Linear: lora_A = Linear(in, r), lora_B = Linear(r, out); a fused expert weight
        # (lora.ParamWrapper): Linear(in, r·E) and Linear(r·E, out), r·E·(in + out) in all
        width = rank * module.experts
        a_shape, b_shape = (width, module.in_features), (module.out_features, width)
        magnitude = module.out_features if dora else 0
    per_module = a_shape[0] * a_shape[1] + b_shape[0] * b_shape[1] + magnitude
    count = len(module.layers) or 1
    return ModuleRow(
        module=module.target,
        hf_name=module.hf_name,
        a_shape=a_shape,
        b_shape=b_shape,
        magnitude=magnitude,
        params_per_module=per_module,
        modules_per_layer=1 if module.layers else 0,
        per_layer=per_module if module.layers else 0,
        count=count,
        total=per_module * count,
        experts=module.experts,
    )


def _check_inputs(rank, target_modules, method) -> tuple[str, ...]:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise FieldError("rank", f"must be an integer of at least 1, got {rank!r}")
    if method not in METHODS:
        raise FieldError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    try:
        targets = list(target_modules or ())
    except TypeError:
        raise FieldError("target_modules", "must be a list of module names") from None
    if not targets:
        raise FieldError("target_modules", "choose at least one module")
    for name in targets:
        if name not in TARGET_MODULES:
            raise FieldError("target_modules",
                             f"unknown module {name!r}; choose from {', '.join(TARGET_MODULES)}")
    # Keep the canonical order and drop duplicates, as PEFT treats the list as a set.
    return tuple(m for m in TARGET_MODULES if m in targets)


def lora_parameters(
    arch: Architecture,
    rank: int,
    target_modules: Iterable[str],
    method: str = "lora",
    base_parameters: int | None = None,
) -> LoraEstimate:
    """Trainable parameters of a LoRA/DoRA/QLoRA adapter on `arch`.

    target_modules: names from TARGET_MODULES, matched the way PEFT matches them; a name the
    model lacks adapts nothing (a note says so), a list that matches nothing is an error.
    base_parameters: the frozen model's count (defaults to arch.parameter_count()).
    """
    targets = _check_inputs(rank, target_modules, method)
    modules = [m for m in adaptable_modules(arch) if m.target in targets]
    if not modules:
        names = sorted({m.target for m in adaptable_modules(arch)}, key=TARGET_MODULES.index)
        raise FieldError("target_modules", f"none of {', '.join(targets)} is in this {arch.family} "
                                           f"model; it has {', '.join(names)}")
    if method == "dora" and any(m.experts > 1 for m in modules):
        raise FieldError("method", "PEFT cannot apply DoRA to the routed experts (lora.ParamWrapper "
                                   "refuses use_dora); leave out \"experts\" or use LoRA")
    base = arch.parameter_count() if base_parameters is None else base_parameters
    rows = [_row(m, rank, method == "dora") for m in modules]
    trainable = sum(r.total for r in rows)
    per_layer = [0] * arch.num_layers
    for module, row in zip(modules, rows):
        for i in module.layers:
            per_layer[i] += row.per_layer
    matched = tuple(t for t in targets if any(m.target == t for m in modules))

    notes = []
    missing = [t for t in targets if t not in matched]
    if set(ALL_LINEAR) <= set(targets):  # "all-linear": only the names the model has count
        missing = [t for t in missing if t not in ALL_LINEAR]
    if missing:
        notes.append(f"Not in this model, so PEFT adapts nothing for: {', '.join(missing)}.")
    if arch.is_moe:
        expert_params = sum(t.n_elements for t in arch.tensors()
                            if t.role == "expert" and t.layer is not None and t.layer < arch.num_layers)
        share = 100 * expert_params / arch.parameter_count()
        if "experts" in matched:
            notes.append(
                f"Routed experts: transformers (5 and later) keeps each layer's {arch.num_experts} experts "
                "as two fused 3-D weights, adapted through PEFT's target_parameters "
                "(e.g. [\"mlp.experts.gate_up_proj\", \"mlp.experts.down_proj\"]): lora.ParamWrapper "
                "gives each weight rank·experts·(in + out) parameters and needs lora_dropout = 0.")
        else:
            notes.append(f"The routed experts ({share:.0f}% of the weights) are not adapted: in "
                         "transformers 5 they are fused 3-D weights, which target_modules never "
                         "matches; add \"experts\" (PEFT's target_parameters) to train them.")
    if method == "dora":
        notes.append("DoRA adds a trainable magnitude vector per adapted module: out_features "
                     "long for a linear layer, hidden_size long for embed_tokens.")
    if method == "qlora":
        notes.append("QLoRA trains the same adapters as LoRA; the frozen base linear layers "
                     "are stored in 4-bit NF4, so the trainable count is unchanged.")
    if "lm_head" in matched and arch.tie_word_embeddings:
        notes.append("This model ties lm_head to embed_tokens; the adapter on lm_head is "
                     "separate from any adapter on embed_tokens.")
    smallest = min(min(m.in_features, m.out_features) for m in modules)
    if rank > smallest:
        notes.append(f"rank {rank} exceeds the smallest adapted dimension ({smallest}); "
                     "the update cannot have rank above that, so the extra parameters are wasted.")
    notes.append("Adapter file sizes count tensor data only; the safetensors header adds a "
                 "few kilobytes. PEFT keeps adapter weights in fp32 by default "
                 "(autocast_adapter_dtype=True).")

    all_params = base + trainable
    return LoraEstimate(
        method=method,
        rank=rank,
        target_modules=matched,
        trainable=trainable,
        base=base,
        all_params=all_params,
        percent=100.0 * trainable / all_params,
        rows=rows,
        per_layer=per_layer,
        outside_layers=trainable - sum(per_layer),
        adapter_bytes_fp16=2 * trainable,
        adapter_bytes_fp32=4 * trainable,
        notes=notes,
    )
