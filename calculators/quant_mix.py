"""Which ggml type llama.cpp's quantizer gives each tensor under a "mix" such as Q4_K_M.

A mix is not one type. `llama-quantize model-f16.gguf out.gguf Q4_K_M` starts from the
mix's default type (Q4_K) and then, tensor by tensor, bumps sensitive tensors up
(output.weight → Q6_K, attn_v/ffn_down → Q6_K on "use_more_bits" layers, …) and demotes
tensors whose row length is not a multiple of the block size (Q4_K → Q5_0, Q6_K → Q8_0).

This module is a line-by-line port of that logic from the llama.cpp that llama-cpp-python
0.3.36 vendors (vendor/llama.cpp/src/llama-quant.cpp; the same file is
ggml-org/llama.cpp src/llama-quant.cpp upstream):

- `tensor_get_category`, `category_is_attn_v`  → `_category`
- `tensor_allows_quantization`                 → `_allows_quantization`
- `llama_tensor_get_type_impl`                 → `_get_type_impl`
- `tensor_type_fallback`                       → `_fallback`
- `llama_tensor_get_type`                      → the loop in `assign_types`
- `llama_ftype_get_default_type`               → `_DEFAULT_TYPE`
- `init_quantize_state_counters`, `weight_name_comparer` (llama-model-loader.h): the
  quantizer walks tensors sorted by (block index, name); the attn_v/ffn_* counters that
  the layer rules read depend on that order, so `assign_types` sorts the same way.

Byte sizes come from `gguf.GGML_QUANT_SIZES` (block size, bytes per block).

Not ported (they need user input the estimator does not take): `--pure`,
`--tensor-type` overrides, `--output-tensor-type`/`--token-embedding-type`,
`--leave-output-tensor`, layer pruning, and a handful of architecture-specific name
rules (GLM5-Next, BailingMoE3 under MXFP4_MOE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import gguf

from calculators.architecture import tensor_layer

T = gguf.GGMLQuantizationType
F = gguf.LlamaFileType


class QuantMixError(ValueError):
    """Bad input, with the name of the offending field for the web layer (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Mix names as `llama-quantize` spells them (tools/quantize/quantize.cpp QUANT_OPTIONS)
# → file type. The numbers are gguf.LlamaFileType, which mirrors llama.h's llama_ftype.
MIXES: dict[str, gguf.LlamaFileType] = {
    "F32": F.ALL_F32,
    "F16": F.MOSTLY_F16,
    "BF16": F.MOSTLY_BF16,
    "Q8_0": F.MOSTLY_Q8_0,
    "Q6_K": F.MOSTLY_Q6_K,
    "Q5_K_M": F.MOSTLY_Q5_K_M,
    "Q5_K_S": F.MOSTLY_Q5_K_S,
    "Q5_1": F.MOSTLY_Q5_1,
    "Q5_0": F.MOSTLY_Q5_0,
    "Q4_K_M": F.MOSTLY_Q4_K_M,
    "Q4_K_S": F.MOSTLY_Q4_K_S,
    "Q4_1": F.MOSTLY_Q4_1,
    "Q4_0": F.MOSTLY_Q4_0,
    "IQ4_XS": F.MOSTLY_IQ4_XS,
    "IQ4_NL": F.MOSTLY_IQ4_NL,
    "Q3_K_L": F.MOSTLY_Q3_K_L,
    "Q3_K_M": F.MOSTLY_Q3_K_M,
    "Q3_K_S": F.MOSTLY_Q3_K_S,
    "IQ3_M": F.MOSTLY_IQ3_M,
    "IQ3_S": F.MOSTLY_IQ3_S,
    "IQ3_XS": F.MOSTLY_IQ3_XS,
    "IQ3_XXS": F.MOSTLY_IQ3_XXS,
    "Q2_K": F.MOSTLY_Q2_K,
    "Q2_K_S": F.MOSTLY_Q2_K_S,
    "IQ2_M": F.MOSTLY_IQ2_M,
    "IQ2_S": F.MOSTLY_IQ2_S,
    "IQ2_XS": F.MOSTLY_IQ2_XS,
    "IQ2_XXS": F.MOSTLY_IQ2_XXS,
    "IQ1_M": F.MOSTLY_IQ1_M,
    "IQ1_S": F.MOSTLY_IQ1_S,
    "TQ2_0": F.MOSTLY_TQ2_0,
    "TQ1_0": F.MOSTLY_TQ1_0,
    "MXFP4_MOE": F.MOSTLY_MXFP4_MOE,
}

# llama-quant.cpp llama_ftype_get_default_type.
_DEFAULT_TYPE: dict[gguf.LlamaFileType, gguf.GGMLQuantizationType] = {
    F.MOSTLY_Q4_0: T.Q4_0, F.MOSTLY_Q4_1: T.Q4_1, F.MOSTLY_Q5_0: T.Q5_0, F.MOSTLY_Q5_1: T.Q5_1,
    F.MOSTLY_Q8_0: T.Q8_0, F.MOSTLY_F16: T.F16, F.MOSTLY_BF16: T.BF16, F.ALL_F32: T.F32,
    F.MOSTLY_MXFP4_MOE: T.MXFP4,
    F.MOSTLY_Q2_K_S: T.Q2_K, F.MOSTLY_Q2_K: T.Q2_K,
    F.MOSTLY_IQ3_XS: T.IQ3_S,
    F.MOSTLY_Q3_K_S: T.Q3_K, F.MOSTLY_Q3_K_M: T.Q3_K, F.MOSTLY_Q3_K_L: T.Q3_K,
    F.MOSTLY_Q4_K_S: T.Q4_K, F.MOSTLY_Q4_K_M: T.Q4_K,
    F.MOSTLY_Q5_K_S: T.Q5_K, F.MOSTLY_Q5_K_M: T.Q5_K,
    F.MOSTLY_Q6_K: T.Q6_K,
    F.MOSTLY_TQ1_0: T.TQ1_0, F.MOSTLY_TQ2_0: T.TQ2_0,
    F.MOSTLY_IQ2_XXS: T.IQ2_XXS, F.MOSTLY_IQ2_XS: T.IQ2_XS,
    F.MOSTLY_IQ2_S: T.IQ2_XS,  # sic: IQ2_S files default to IQ2_XS, IQ2_M to IQ2_S
    F.MOSTLY_IQ2_M: T.IQ2_S,
    F.MOSTLY_IQ3_XXS: T.IQ3_XXS, F.MOSTLY_IQ1_S: T.IQ1_S, F.MOSTLY_IQ1_M: T.IQ1_M,
    F.MOSTLY_IQ4_NL: T.IQ4_NL, F.MOSTLY_IQ4_XS: T.IQ4_XS,
    F.MOSTLY_IQ3_S: T.IQ3_S, F.MOSTLY_IQ3_M: T.IQ3_S,
}

# Types that are stored as plain floats (ggml_is_quantized is false for them).
_FLOAT_TYPES = frozenset({T.F32, T.F16, T.BF16, T.F64, T.I8, T.I16, T.I32, T.I64})


def parse_mix(mix: str) -> gguf.LlamaFileType:
    """"q4_k_m" / "Q4_K_M" → LlamaFileType.MOSTLY_Q4_K_M; unknown names → QuantMixError("quant")."""
    if not isinstance(mix, str) or mix.strip().upper() not in MIXES:
        raise QuantMixError("quant", f"unknown quantization {mix!r}; choose one of {', '.join(MIXES)}")
    return MIXES[mix.strip().upper()]


def mix_name(ftype: gguf.LlamaFileType | int) -> str:
    """LlamaFileType (or general.file_type's integer) → the mix's name, e.g. 15 → "Q4_K_M"."""
    for name, value in MIXES.items():
        if value == ftype:
            return name
    raise QuantMixError("quant", f"unknown file type {int(ftype)}")


def default_type(mix: str) -> gguf.GGMLQuantizationType:
    """The type most tensors of the mix get (Q4_K for Q4_K_M)."""
    return _DEFAULT_TYPE[parse_mix(mix)]


def tensor_nbytes(qtype: gguf.GGMLQuantizationType, shape: Sequence[int]) -> int:
    """Bytes of a tensor of ggml shape `shape` (ne0 first) stored as `qtype`.

    ggml_nbytes for a contiguous tensor: rows · (ne0 / block size) · bytes per block.
    """
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    ne0 = int(shape[0])
    if ne0 % block:
        raise QuantMixError("shape", f"row length {ne0} is not a multiple of {qtype.name}'s block size {block}")
    rows = 1
    for dim in shape[1:]:
        rows *= int(dim)
    return rows * (ne0 // block) * type_size


# --- source types ------------------------------------------------------------------------

# llama.cpp conversion/base.py (convert_hf_to_gguf): these tensors are always written as F32,
# so `llama-quantize` finds them as F32 and, since it may not quantize them
# (tensor_allows_quantization), they stay F32 in every mix.
_ALWAYS_F32 = ("ffn_gate_inp", "position_embd", "token_types", "ssm_conv1d", "shortconv.conv",
               "time_mix_first", "time_mix_w1", "time_mix_w2", "time_mix_decay_w1",
               "time_mix_decay_w2", "time_mix_lerp_fused")


def source_type(name: str, shape: Sequence[int],
                float_type: gguf.GGMLQuantizationType = T.F16) -> gguf.GGMLQuantizationType:
    """Type the HF→GGUF converter writes a tensor as, before `llama-quantize` runs.

    conversion/base.py: 1-D tensors, norms and anything not ending in ".weight" (biases)
    are F32; a few named tensors are F32; the rest get the conversion's float type.
    """
    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return T.F32
    if any(part in name for part in _ALWAYS_F32):
        return T.F32
    return float_type


# --- the port ----------------------------------------------------------------------------

# llama-quant.cpp enum class tensor_category
_TOKEN_EMBD, _ATTN_Q, _ATTN_V, _ATTN_K, _ATTN_QKV, _ATTN_KV_B, _ATTN_OUTPUT = range(7)
_FFN_UP, _FFN_GATE, _FFN_DOWN, _OUTPUT, _OTHER = range(7, 12)

def _layer_of(name: str) -> int:
    # llama-model-loader.h weight_name_comparer: tensors outside the blocks sort as layer -1
    layer = tensor_layer(name)
    return -1 if layer is None else layer


def _category(name: str) -> int:
    """llama-quant.cpp tensor_get_category (substring tests, in that order)."""
    if name == "output.weight":
        return _OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return _TOKEN_EMBD
    for fragment, category in (
        ("attn_qkv.weight", _ATTN_QKV), ("attn_kv_b.weight", _ATTN_KV_B),
        ("attn_v.weight", _ATTN_V), ("attn_k.weight", _ATTN_K), ("attn_q.weight", _ATTN_Q),
        ("attn_output.weight", _ATTN_OUTPUT),
        ("ffn_up", _FFN_UP), ("ffn_gate", _FFN_GATE), ("ffn_down", _FFN_DOWN),
    ):
        if fragment in name:
            return category
    return _OTHER


def _is_attn_v(category: int) -> bool:
    # category_is_attn_v: fused QKV and MLA kv_b count as "attention V" too. (This makes
    # the later ATTENTION_QKV branch of llama_tensor_get_type_impl unreachable upstream.)
    return category in (_ATTN_V, _ATTN_QKV, _ATTN_KV_B)


def _n_dims(shape: Sequence[int]) -> int:
    """ggml_n_dims: trailing dimensions of size 1 do not count."""
    n = len(shape)
    while n > 1 and shape[n - 1] == 1:
        n -= 1
    return n


def _allows_quantization(name: str, shape: Sequence[int]) -> bool:
    """llama-quant.cpp tensor_allows_quantization (architecture-neutral part)."""
    if _n_dims(shape) < 2:
        return False
    if not name.endswith("weight") or "_norm.weight" in name:
        return False
    blocked = ("ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
               "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
               "indexer.k_proj.weight", "indexer.q_proj.weight",
               "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
               "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
               "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
               "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
               "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
               "time_mix_lerp_fused.weight", "attn_rel_b.weight",
               ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
               ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd")
    if any(fragment in name for fragment in blocked):
        return False
    # positional embeddings and BERT token types (LLM_TN names)
    return name not in ("position_embd.weight", "token_types.weight")


@dataclass(frozen=True)
class ModelFacts:
    """The hyperparameters llama_tensor_get_type_impl reads from the model."""

    arch: str  # GGUF general.architecture, e.g. "llama", "gemma3", "falcon"
    n_layer: int  # hparams.n_layer_all (block_count)
    n_head: int  # of layer 0
    n_head_kv: int  # of layer 0
    n_expert: int = 0

    @property
    def n_gqa(self) -> int:
        # llama_hparams::n_gqa
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    @property
    def is_70b(self) -> bool:
        # model.type == LLM_TYPE_70B, set by load_hparams per architecture
        # (src/models/llama.cpp: 80 layers with GQA; qwen2.cpp, deci.cpp, olmo.cpp: 80;
        # jais2.cpp: 68).
        if self.arch == "llama":
            return self.n_layer == 80 and self.n_head != self.n_head_kv
        return (self.arch, self.n_layer) in {("qwen2", 80), ("deci", 80), ("olmo", 80), ("jais2", 68)}


@dataclass
class _State:
    """quantize_state_impl: the counters the layer rules read."""

    n_attention_wv: int = 0
    n_ffn: int = 0  # n_ffn_down = n_ffn_gate = n_ffn_up = n_layer_all
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0
    has_tied_embeddings: bool = True
    has_imatrix: bool = False


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    # C integer division on non-negative ints == Python floor division; the modulo of a
    # possibly negative left side differs, but i_layer >= n_layers/8 whenever it is reached.
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def _layer_info(counter: int, n_layer: int, name: str, n_expert: int) -> tuple[int, int]:
    # With experts the layer is parsed from the name (Mixtral's expert tensors are not in
    # layer order); otherwise the running counter is the layer.
    if n_expert > 1:
        layer = _layer_of(name)
        if not 0 <= layer < n_layer:
            raise QuantMixError("tensors", f"cannot tell the layer of {name}")
        return layer, n_layer
    return counter, n_layer


def _get_type_impl(qs: _State, new_type, name: str, shape, ftype, category: int, facts: ModelFacts):
    """llama-quant.cpp llama_tensor_get_type_impl, branch for branch."""
    arch = facts.arch
    n_expert = max(1, facts.n_expert)
    gqa = facts.n_gqa
    IQ_LOW = (F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M,
              F.MOSTLY_IQ1_M)

    if category == _OUTPUT or (qs.has_tied_embeddings and category == _TOKEN_EMBD):
        # tied embeddings: token_embd doubles as the output matrix, so it gets the output rule
        nx = shape[0]
        qk_k = gguf.GGML_QUANT_SIZES[new_type][0]
        if ftype == F.MOSTLY_MXFP4_MOE:
            new_type = T.Q8_0
        elif arch == "falcon" or nx % qk_k != 0:
            new_type = T.Q8_0
        elif ftype in (F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ3_XXS, F.MOSTLY_IQ1_S,
                       F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ1_M):
            new_type = T.Q5_K
        elif new_type != T.Q8_0:
            new_type = T.Q6_K
    elif ftype == F.MOSTLY_MXFP4_MOE:
        # MoE expert tensors (3-D) → MXFP4, everything else → Q8_0
        new_type = T.MXFP4 if len(shape) > 2 and shape[2] > 1 else T.Q8_0
    elif category == _TOKEN_EMBD:
        if ftype in (F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
            new_type = T.Q2_K
        elif ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ3_XXS):
            new_type = T.IQ3_S
        elif ftype in (F.MOSTLY_TQ1_0, F.MOSTLY_TQ2_0):
            new_type = T.Q4_K
    elif ftype in IQ_LOW:
        if _is_attn_v(category):
            if gqa >= 4 or facts.n_expert >= 4:
                new_type = T.Q4_K
            else:
                new_type = T.IQ3_S if ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M) else T.Q2_K
            qs.i_attention_wv += 1
        elif facts.n_expert == 8 and category == _ATTN_K:
            new_type = T.Q4_K
        elif category == _FFN_DOWN:
            if qs.i_ffn_down < qs.n_ffn // 8:
                new_type = T.IQ3_S if ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M) else T.Q2_K
            qs.i_ffn_down += 1
        elif category == _ATTN_OUTPUT:
            if facts.n_expert == 8:
                new_type = T.Q5_K
            elif ftype in (F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
                new_type = T.IQ2_XXS
            elif ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M):
                new_type = T.IQ3_S
    elif _is_attn_v(category):
        if ftype == F.MOSTLY_Q2_K:
            new_type = T.Q4_K if gqa >= 4 else T.Q3_K
        elif ftype == F.MOSTLY_Q2_K_S and gqa >= 4:
            new_type = T.Q4_K
        elif ftype == F.MOSTLY_IQ3_XXS:
            new_type = T.Q4_K if gqa >= 4 else (T.IQ3_S if not qs.has_imatrix else T.IQ3_XXS)
        elif ftype in (F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_S) and gqa >= 4:
            new_type = T.Q4_K
        elif ftype == F.MOSTLY_IQ3_M:
            new_type = T.Q4_K
        elif ftype == F.MOSTLY_Q3_K_M:
            new_type = T.Q5_K if qs.i_attention_wv < 2 else T.Q4_K
        elif ftype == F.MOSTLY_Q3_K_L:
            new_type = T.Q5_K
        elif ftype in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS) and gqa >= 4:
            new_type = T.Q5_K
        elif ftype in (F.MOSTLY_Q4_K_M, F.MOSTLY_Q5_K_M) and _use_more_bits(qs.i_attention_wv, qs.n_attention_wv):
            new_type = T.Q6_K
        elif ftype == F.MOSTLY_Q4_K_S and qs.i_attention_wv < 4:
            new_type = T.Q5_K
        if facts.is_70b and new_type in (T.Q3_K, T.Q4_K):
            # 70B: 8 query heads share each attn_v, so it is 8x smaller than attn_q and
            # more bits cost little.
            new_type = T.Q5_K
        if facts.n_expert == 8:
            new_type = T.Q8_0
        qs.i_attention_wv += 1
    elif category == _ATTN_K:
        if facts.n_expert == 8:
            new_type = T.Q8_0
        elif ftype == F.MOSTLY_IQ3_XS:
            new_type = T.IQ3_XXS
        elif ftype == F.MOSTLY_IQ3_XXS:
            new_type = T.IQ2_S
    elif category == _ATTN_Q:
        if ftype == F.MOSTLY_IQ3_XS:
            new_type = T.IQ3_XXS
        elif ftype == F.MOSTLY_IQ3_XXS:
            new_type = T.IQ2_S
    elif category == _FFN_DOWN:
        i_layer, n_layer = _layer_info(qs.i_ffn_down, qs.n_ffn, name, n_expert)
        if ftype == F.MOSTLY_Q2_K:
            new_type = T.Q3_K
        elif ftype == F.MOSTLY_Q2_K_S:
            if i_layer < n_layer // 8:
                new_type = T.Q4_K
        elif ftype == F.MOSTLY_IQ3_XXS and not qs.has_imatrix:
            new_type = T.Q4_K if i_layer < n_layer // 8 else T.Q3_K
        elif ftype == F.MOSTLY_Q3_K_M:
            if i_layer < n_layer // 16:
                new_type = T.Q5_K
            elif arch != "falcon" or _use_more_bits(i_layer, n_layer):
                new_type = T.Q4_K
            else:
                new_type = T.Q3_K
        elif ftype == F.MOSTLY_IQ3_M and (i_layer < n_layer // 8 or
                                          (facts.n_expert == 8 and _use_more_bits(i_layer, n_layer))):
            new_type = T.Q4_K
        elif ftype == F.MOSTLY_Q3_K_L:
            new_type = T.Q4_K if arch == "falcon" else T.Q5_K
        elif ftype == F.MOSTLY_Q4_K_M:
            if arch == "falcon":
                new_type = (T.Q6_K if i_layer < n_layer // 16 else
                            T.Q5_K if _use_more_bits(i_layer, n_layer) else T.Q4_K)
            elif _use_more_bits(i_layer, n_layer):
                new_type = T.Q6_K
        elif (i_layer < n_layer // 8 and ftype in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS)
              and not qs.has_imatrix):
            new_type = T.Q5_K
        elif ftype == F.MOSTLY_Q5_K_M and _use_more_bits(i_layer, n_layer):
            new_type = T.Q6_K
        elif ftype == F.MOSTLY_Q4_K_S and arch != "falcon" and i_layer < n_layer // 8:
            new_type = T.Q5_K
        elif ftype in (F.MOSTLY_Q4_0, F.MOSTLY_Q5_0) and qs.has_imatrix and i_layer < n_layer // 8:
            # upstream: guards against "craziness in the first few ffn_down layers"
            new_type = T.Q4_1 if ftype == F.MOSTLY_Q4_0 else T.Q5_1
        qs.i_ffn_down += 1
    elif category == _ATTN_OUTPUT:
        if arch != "falcon":
            if facts.n_expert == 8:
                if ftype in (F.MOSTLY_Q2_K, F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_XXS, F.MOSTLY_Q3_K_S,
                             F.MOSTLY_Q3_K_M, F.MOSTLY_IQ4_NL, F.MOSTLY_Q4_K_S, F.MOSTLY_Q4_K_M,
                             F.MOSTLY_IQ3_S, F.MOSTLY_IQ3_M, F.MOSTLY_IQ4_XS):
                    new_type = T.Q5_K
            else:
                new_type = {F.MOSTLY_Q2_K: T.Q3_K, F.MOSTLY_IQ3_XXS: T.IQ3_S, F.MOSTLY_Q3_K_M: T.Q4_K,
                            F.MOSTLY_Q3_K_L: T.Q5_K, F.MOSTLY_IQ3_M: T.Q4_K}.get(ftype, new_type)
        elif ftype == F.MOSTLY_Q3_K_L:
            new_type = T.Q4_K
    elif category == _FFN_GATE:
        i_layer, n_layer = _layer_info(qs.i_ffn_gate, qs.n_ffn, name, n_expert)
        if ftype == F.MOSTLY_IQ3_XS and n_layer // 8 <= i_layer < 7 * n_layer // 8:
            new_type = T.IQ3_XXS
        qs.i_ffn_gate += 1
    elif category == _FFN_UP:
        i_layer, n_layer = _layer_info(qs.i_ffn_up, qs.n_ffn, name, n_expert)
        if ftype == F.MOSTLY_IQ3_XS and n_layer // 8 <= i_layer < 7 * n_layer // 8:
            new_type = T.IQ3_XXS
        qs.i_ffn_up += 1
    return new_type


def _fallback(new_type, shape):
    """llama-quant.cpp tensor_type_fallback: rows that do not split into whole blocks.

    Returns (type, fell_back).
    """
    ncols = shape[0]
    block = gguf.GGML_QUANT_SIZES[new_type][0]
    if ncols % block == 0:
        return new_type, False
    if new_type in (T.IQ1_S, T.IQ1_M, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ4_XS):
        fallback = T.IQ4_NL
    elif new_type in (T.Q2_K, T.Q3_K, T.TQ1_0, T.TQ2_0):
        fallback = T.Q4_0
    elif new_type == T.Q4_K:
        fallback = T.Q5_0
    elif new_type == T.Q5_K:
        fallback = T.Q5_1
    elif new_type == T.Q6_K:
        fallback = T.Q8_0
    elif block <= 32:
        fallback = new_type  # already a 32-block type: only F16 is left (below)
    else:
        raise QuantMixError("quant", f"llama.cpp defines no fallback for {new_type.name}")
    if ncols % gguf.GGML_QUANT_SIZES[fallback][0] != 0:
        fallback = T.F16  # upstream: "must use F16 due to unusual shape"
    return fallback, True


@dataclass(frozen=True)
class TensorType:
    name: str
    shape: tuple[int, ...]
    type: gguf.GGMLQuantizationType
    fallback: bool  # True when the row length forced a different type than the rules chose

    @property
    def n_bytes(self) -> int:
        return tensor_nbytes(self.type, self.shape)

    @property
    def n_elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


def assign_types(tensors: Iterable, mix: str, facts: ModelFacts, *, imatrix: bool = False,
                 float_type: gguf.GGMLQuantizationType = T.F16) -> list[TensorType]:
    """The type `llama-quantize` gives each tensor, in the order given.

    `tensors`: objects with `.name` and `.shape` (ggml order), e.g. architecture.TensorSpec
    or gguf ReaderTensor-like tuples `(name, shape)`. A tensor that may not be quantized
    keeps the type the converter wrote (`source_type`, with `float_type` for 2-D weights:
    F16 by default; BF16 if the model was converted with --outtype bf16).
    `imatrix`: whether an importance matrix was used (changes a few IQ/Q4_0/Q5_0 rules).
    """
    ftype = parse_mix(mix)
    default = _DEFAULT_TYPE[ftype]
    items = []
    for t in tensors:
        name, shape = (t.name, t.shape) if hasattr(t, "name") else t
        items.append((str(name), tuple(int(d) for d in shape)))

    qs = _State(has_imatrix=imatrix, n_ffn=facts.n_layer)
    for name, _ in items:  # init_quantize_state_counters
        category = _category(name)
        if _is_attn_v(category):
            qs.n_attention_wv += 1
        if category == _OUTPUT:
            qs.has_tied_embeddings = False

    # the quantizer's walk order: weight_name_comparer (block index, then name)
    order = sorted(range(len(items)), key=lambda i: (_layer_of(items[i][0]), items[i][0]))
    result: list[TensorType | None] = [None] * len(items)
    for i in order:
        name, shape = items[i]
        src = source_type(name, shape, float_type)
        if facts.arch == "gpt-oss" and name.endswith("_exps.weight"):
            # convert_hf_to_gguf GptOssModel copies the checkpoint's MXFP4 expert blocks as
            # they are, whatever --outtype says: an "F16" gpt-oss file has MXFP4 experts.
            src = T.MXFP4
            if default in _FLOAT_TYPES:
                result[i] = TensorType(name, shape, src, False)
                continue
        if not _allows_quantization(name, shape):
            result[i] = TensorType(name, shape, src, False)
            continue
        new_type, fell_back = default, False
        if default not in _FLOAT_TYPES:  # ggml_is_quantized(default_type)
            new_type = _get_type_impl(qs, new_type, name, shape, ftype, _category(name), facts)
            new_type, fell_back = _fallback(new_type, shape)
        result[i] = TensorType(name, shape, new_type, fell_back)
    return result  # type: ignore[return-value]
