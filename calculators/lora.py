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
- QLoRA trains the same adapters; only the frozen base sits in 4-bit NF4.

`print_trainable_parameters()` reports "all params" as base + adapter, and
"trainable%" = trainable / (base + adapter) · 100. We report the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .architecture import Architecture, FieldError

METHODS = ("lora", "dora", "qlora")
TARGET_MODULES = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    "embed_tokens", "lm_head",
)
# PEFT's target_modules="all-linear": every linear layer in the blocks, not lm_head.
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Mixtral's experts (transformers MixtralBlockSparseTop2MLP) name their projections
# w1 (gate), w3 (up), w2 (down); targeting them adapts every expert separately.
_MIXTRAL_EXPERT_NAMES = {"gate_proj": "w1", "up_proj": "w3", "down_proj": "w2"}


@dataclass(frozen=True)
class ModuleRow:
    module: str  # the target name as the user picked it, e.g. "q_proj"
    hf_name: str  # where PEFT finds it in the transformers model
    a_shape: tuple[int, int]  # PyTorch shape of lora_A's weight
    b_shape: tuple[int, int]  # PyTorch shape of lora_B's weight
    magnitude: int  # DoRA magnitude vector length (0 for LoRA/QLoRA)
    params_per_module: int  # A + B (+ magnitude) for one adapted module
    modules_per_layer: int  # 1, or num_experts for Mixtral's expert FFN
    per_layer: int  # params this row adds to each block (0 for embed_tokens / lm_head)
    count: int  # adapted modules in the whole model
    total: int


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


def _linear_dims(arch: Architecture, module: str) -> tuple[int, int]:
    """(in_features, out_features) of the nn.Linear behind a target name."""
    h, ff = arch.hidden_size, arch.intermediate_size
    return {
        "q_proj": (h, arch.q_dim),
        "k_proj": (h, arch.kv_dim),
        "v_proj": (h, arch.kv_dim),
        "o_proj": (arch.q_dim, h),
        "gate_proj": (h, ff),
        "up_proj": (h, ff),
        "down_proj": (ff, h),
        "lm_head": (h, arch.vocab_size),
    }[module]


def _hf_name(arch: Architecture, module: str) -> str:
    if module == "embed_tokens":
        return "model.embed_tokens"
    if module == "lm_head":
        return "lm_head"
    if module in ("q_proj", "k_proj", "v_proj", "o_proj"):
        return f"model.layers.*.self_attn.{module}"
    if arch.is_moe:
        return f"model.layers.*.block_sparse_moe.experts.*.{_MIXTRAL_EXPERT_NAMES[module]}"
    return f"model.layers.*.mlp.{module}"


def _row(arch: Architecture, module: str, rank: int, dora: bool) -> ModuleRow:
    if module == "embed_tokens":
        vocab, hidden = arch.vocab_size, arch.hidden_size
        a_shape, b_shape = (rank, vocab), (hidden, rank)
        magnitude = hidden if dora else 0
    else:
        in_f, out_f = _linear_dims(arch, module)
        a_shape, b_shape = (rank, in_f), (out_f, rank)
        magnitude = out_f if dora else 0
    per_module = a_shape[0] * a_shape[1] + b_shape[0] * b_shape[1] + magnitude
    in_blocks = module not in ("embed_tokens", "lm_head")
    experts = arch.num_experts if (arch.is_moe and module in _MIXTRAL_EXPERT_NAMES) else 1
    count = experts * arch.num_layers if in_blocks else 1
    return ModuleRow(
        module=module,
        hf_name=_hf_name(arch, module),
        a_shape=a_shape,
        b_shape=b_shape,
        magnitude=magnitude,
        params_per_module=per_module,
        modules_per_layer=experts if in_blocks else 0,
        per_layer=per_module * experts if in_blocks else 0,
        count=count,
        total=per_module * count,
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

    base_parameters: the frozen model's count (defaults to arch.parameter_count()).
    """
    targets = _check_inputs(rank, target_modules, method)
    base = arch.parameter_count() if base_parameters is None else base_parameters
    rows = [_row(arch, m, rank, method == "dora") for m in targets]
    trainable = sum(r.total for r in rows)
    in_block = sum(r.per_layer for r in rows)
    all_params = base + trainable

    notes = []
    if arch.is_moe and any(m in _MIXTRAL_EXPERT_NAMES for m in targets):
        notes.append(
            f"Mixtral: gate_proj/up_proj/down_proj are each expert's w1/w3/w2; every one of "
            f"the {arch.num_experts} experts in every layer gets its own adapter. The router "
            "(block_sparse_moe.gate) is not adapted. This is the per-expert nn.Linear layout "
            "of transformers 4.x; transformers 5 fuses the experts into 3-D parameters that "
            "PEFT adapts through target_parameters, with a different count."
        )
    if method == "dora":
        notes.append("DoRA adds a trainable magnitude vector per adapted module: out_features "
                     "long for a linear layer, hidden_size long for embed_tokens.")
    if method == "qlora":
        notes.append("QLoRA trains the same adapters as LoRA; the frozen base linear layers "
                     "are stored in 4-bit NF4, so the trainable count is unchanged.")
    if "lm_head" in targets and arch.tie_word_embeddings:
        notes.append("This model ties lm_head to embed_tokens; the adapter on lm_head is "
                     "separate from any adapter on embed_tokens.")
    smallest = min(min(r.a_shape[1], r.b_shape[0]) for r in rows)
    if rank > smallest:
        notes.append(f"rank {rank} exceeds the smallest adapted dimension ({smallest}); "
                     "the update cannot have rank above that, so the extra parameters are wasted.")
    notes.append("Adapter file sizes count tensor data only; the safetensors header adds a "
                 "few kilobytes. PEFT keeps adapter weights in fp32 by default "
                 "(autocast_adapter_dtype=True).")

    return LoraEstimate(
        method=method,
        rank=rank,
        target_modules=targets,
        trainable=trainable,
        base=base,
        all_params=all_params,
        percent=100.0 * trainable / all_params,
        rows=rows,
        per_layer=[in_block] * arch.num_layers,
        outside_layers=trainable - in_block * arch.num_layers,
        adapter_bytes_fp16=2 * trainable,
        adapter_bytes_fp32=4 * trainable,
        notes=notes,
    )
