"""Will it fit? The memory llama.cpp needs to run a model, split between GPU and CPU.

Everything here follows the llama.cpp that llama-cpp-python 0.3.36 vendors (file paths
below are inside vendor/llama.cpp; upstream: ggml-org/llama.cpp):

weights        Tensor by tensor: each tensor's ggml type (the file's own for a GGUF header,
               `quant_mix.assign_types` for an architecture + mix), bytes from
               gguf.GGML_QUANT_SIZES. Exact for a GGUF file.
KV cache       Exact, as src/llama-kv-cache.cpp allocates it (see `kv_caches`). Checked
               byte for byte against llama.cpp's own log line in the tests.
output buffer  Exact: src/llama-context.cpp output_reserve() reserves n_vocab floats of
               logits for each of n_seq_max outputs (host memory).
compute buffer An estimate (see `compute_buffer_bytes`): the scratch memory ggml's
               graph allocator needs for the largest intermediate tensors.

Placement (src/llama-model.cpp load_tensors): the input layer (token_embd) always stays on
the CPU; `n_gpu_layers = N` puts the *output* layer and the last N-1 repeating layers on
the GPU (i_gpu_start = n_layer + 1 - N), so N = n_layer + 1 offloads everything. The KV
cache of a layer lives where the layer lives (offload_kqv, on by default). This is the
one-GPU case; calculators/placement.py adds several GPUs, experts and the KV cache on the
CPU, and the answer to "what fits?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gguf

from calculators.architecture import GGUF_ARCH, Architecture, tensor_layer, tensor_role
from calculators.gguf_header import GGUFHeader, Hyperparameters
from calculators.gpus import GPUS, Accelerator
from calculators.quant_mix import (
    ModelFacts,
    QuantMixError,
    TensorType,
    assign_types,
    mix_name,
    tensor_nbytes,
)

T = gguf.GGMLQuantizationType
MiB = 1024**2
GiB = 1024**3

# llama.cpp --cache-type-k / --cache-type-v values (common/arg.cpp kv_cache_types)
CACHE_TYPES: dict[str, gguf.GGMLQuantizationType] = {
    "f32": T.F32, "f16": T.F16, "bf16": T.BF16, "q8_0": T.Q8_0, "q4_0": T.Q4_0,
    "q4_1": T.Q4_1, "iq4_nl": T.IQ4_NL, "q5_0": T.Q5_0, "q5_1": T.Q5_1,
}
MAX_CONTEXT = 10_000_000
LLAMA_MAX_SEQ = 256  # src/llama-cparams.h
CTX_PAD = 256  # src/llama-context.cpp: n_ctx = GGML_PAD(n_ctx, 256); the SWA cache too
# common/common.h fit_params_target: llama.cpp's --fit keeps 1 GiB free per device
FIT_MARGIN_BYTES = 1 * GiB

# Architectures whose sliding window llama.cpp honours with an iSWA cache (the
# load_swa_pattern calls in src/models/*.cpp; Llama 4's chunked attention sizes its cache
# the same way). Its "llama" graph ignores Mistral's window.
_SWA_ARCHS = {"gemma2", "gemma3", "cohere2", "gpt-oss", "olmo2", "llama4"}


class InputError(ValueError):
    """Bad input; `field` names the offending parameter for the web layer (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Input checks, shared with calculators/placement.py.

def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """`value` as an integer in [low, high], else InputError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be an integer, got {value!r}")
    if value < low:
        raise InputError(name, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise InputError(name, f"must be at most {high:,}, got {value:,}")
    return value


def cache_type(name: str, value) -> gguf.GGMLQuantizationType:
    """A --cache-type-k/-v name ("q8_0") → its ggml type, else InputError naming `name`."""
    if not isinstance(value, str) or value.lower() not in CACHE_TYPES:
        raise InputError(name, f"unknown cache type {value!r}; choose one of {', '.join(CACHE_TYPES)}")
    return CACHE_TYPES[value.lower()]


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorBytes:
    name: str
    type: str
    shape: tuple[int, ...]
    bytes: int
    device: str  # "gpu" or "cpu"

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "shape": list(self.shape), "bytes": self.bytes}


@dataclass(frozen=True)
class KVCache:
    """One llama_kv_cache: what llama.cpp prints as `llama_kv_cache: size = …`."""

    label: str  # "KV cache" or "KV cache (sliding window)" / "(full attention)"
    cells: int  # kv_size per stream
    streams: int  # n_seq_max without a unified cache, else 1
    layers: tuple[int, ...]
    type_k: str
    type_v: str
    k_bytes: int
    v_bytes: int
    layer_bytes: tuple[int, ...] = field(repr=False, default=())  # K+V per member layer

    @property
    def bytes(self) -> int:
        return self.k_bytes + self.v_bytes

    def bytes_of(self, layers) -> int:
        wanted = set(layers)
        return sum(b for il, b in zip(self.layers, self.layer_bytes) if il in wanted)


@dataclass(frozen=True)
class BreakdownItem:
    label: str
    bytes: int
    device: str

    def to_dict(self) -> dict:
        return {"label": self.label, "bytes": self.bytes, "device": self.device}


@dataclass(frozen=True)
class ComputeShape:
    """The worst-case graph llama.cpp reserves compute buffers for (see compute_buffer_bytes)."""

    n_tokens: int  # tokens in one ubatch
    n_outputs: int  # rows of logits
    n_kv: int  # cells per sequence the attention reads
    n_kv_swa: int  # cells of the sliding-window cache, 0 without one
    flash_attention: bool


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weights_bytes: int
    bits_per_weight: float
    kv_cache_bytes: int
    compute_buffer_bytes: int
    output_buffer_bytes: int
    overhead_bytes: int
    total_bytes: int
    gpu_bytes: int
    cpu_bytes: int
    tensors: tuple[TensorBytes, ...] = field(repr=False)
    breakdown: tuple[BreakdownItem, ...]
    notes: tuple[str, ...]
    kv_caches: tuple[KVCache, ...] = field(repr=False)
    n_ctx: int  # the context llama.cpp allocates (padded)
    compute_shape: ComputeShape | None = field(repr=False, default=None)
    # the model as llama.cpp's loader sees it (heads, experts, window), for calculators.speed
    hyperparameters: Hyperparameters | None = field(repr=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "bits_per_weight": self.bits_per_weight,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_buffer_bytes": self.compute_buffer_bytes,
            "output_buffer_bytes": self.output_buffer_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "gpu_bytes": self.gpu_bytes,
            "cpu_bytes": self.cpu_bytes,
            "tensors": [t.to_dict() for t in self.tensors],
            "breakdown": [b.to_dict() for b in self.breakdown],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class FitVerdict:
    device: str  # accelerator slug, or "system-ram"
    name: str
    available_bytes: int
    needed_bytes: int
    verdict: str  # "fits", "tight" (fits without llama.cpp's 1 GiB margin), "does-not-fit"

    @property
    def fits(self) -> bool:
        return self.verdict != "does-not-fit"

    def to_dict(self) -> dict:
        return {"device": self.device, "name": self.name, "available_bytes": self.available_bytes,
                "needed_bytes": self.needed_bytes, "verdict": self.verdict, "fits": self.fits}


# --- the model as the estimator sees it ------------------------------------------------

@dataclass(frozen=True)
class LoadedModel:
    hp: Hyperparameters
    tensors: tuple[TensorType, ...]
    notes: tuple[str, ...]
    # llama.cpp's MLA models (DeepSeek V2/V3) cache only K (the compressed latent plus the
    # rotary part): `llama_kv_cache: ... V (f16): 0.00 MiB`.
    v_cache: bool = True
    # layers that get a KV cache: GLM-4.5's multi-token-prediction blocks, stored last,
    # get none (llama.cpp filters them out of the cache)
    n_layer_kv: int | None = None


# GGUF architectures whose cache rules this module follows (checked against llama.cpp's log
# in the tests). Any other architecture still gets exact weights from its header.
KV_MODELLED_ARCHS = frozenset({
    "llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3", "gpt-oss", "deepseek2",
    "llama4", "glm4moe",
})


def _quant_notes(mix: str, tensors) -> list[str]:
    notes = []
    if mix.upper() == "MXFP4_MOE" and not any(tensor_role(t.name) == "expert" for t in tensors):
        notes.append("MXFP4_MOE stores only routed-expert tensors in MXFP4; this model has none, so "
                     "llama-quantize writes every quantized tensor as Q8_0: the same file as Q8_0.")
    return notes


def _model_from_architecture(arch: Architecture, quant: str | None, imatrix: bool) -> LoadedModel:
    if quant is None:
        raise InputError("quant", "is required for an architecture (e.g. Q4_K_M)")
    gguf_arch = GGUF_ARCH[arch.family]
    n = arch.num_layers + arch.nextn_layers  # llama.cpp's block_count includes MTP blocks
    notes = []
    swa = gguf_arch in _SWA_ARCHS and arch.sliding_window is not None
    if arch.sliding_window is not None and not swa:
        notes.append(f"The model's {arch.sliding_window}-token sliding window is not used by "
                     "llama.cpp for this architecture: the KV cache holds the full context.")
    if arch.is_mla:
        # convert_hf_to_gguf DeepseekV2Model: one KV "head" of kv_lora_rank + rope dims
        n_head_kv, head_k, head_v = 1, arch.kv_lora_rank + arch.qk_rope_head_dim, arch.kv_lora_rank
    else:
        n_head_kv, head_k, head_v = arch.num_kv_heads, arch.head_dim, arch.head_dim
    window_layers = tuple(arch.sliding_window_layers) + (False,) * arch.nextn_layers
    hp = Hyperparameters(
        arch=gguf_arch, name="", n_layer=n, n_embd=arch.hidden_size,
        n_head=(arch.num_heads,) * n, n_head_kv=(n_head_kv,) * n,
        head_dim_k=head_k, head_dim_v=head_v, head_dim_k_swa=head_k, head_dim_v_swa=head_v,
        n_ff=arch.intermediate_size, n_vocab=arch.vocab_size,
        context_length=arch.context_length, n_expert=arch.num_experts,
        n_expert_used=arch.num_experts_per_token,
        sliding_window=arch.sliding_window if swa else None,
        swa_layers=window_layers if swa else (),
        file_type=None,
    )
    facts = ModelFacts(gguf_arch, n, arch.num_heads, n_head_kv, arch.num_experts)
    try:
        tensors = assign_types(arch.tensors(), quant, facts, imatrix=imatrix)
    except QuantMixError as exc:
        raise InputError(exc.field, exc.message) from None
    notes.append(f"Weights: tensor types predicted with llama.cpp's {quant.upper()} rules "
                 "(src/llama-quant.cpp); a real file also holds a few MB of metadata and tokenizer.")
    notes += _quant_notes(quant, tensors)
    return LoadedModel(hp, tuple(tensors), tuple(notes), v_cache=not arch.is_mla,
                  n_layer_kv=arch.num_layers)


def _model_from_gguf(header: GGUFHeader, quant: str | None, imatrix: bool) -> LoadedModel:
    hp = header.hyperparameters()
    md = header.metadata
    # llama_hparams::is_mla(): only files that state key_length_mla cache the latent. DeepSeek
    # files converted before llama.cpp split attn_kv_b (spring 2025) carry kv_lora_rank but
    # not key_length_mla, and llama.cpp runs them as ordinary attention: full K and V per head.
    mla = bool(md.get(f"{hp.arch}.attention.key_length_mla"))
    nextn = md.get(f"{hp.arch}.nextn_predict_layers", 0)
    nextn = nextn if isinstance(nextn, int) and 0 <= nextn < hp.n_layer else 0
    notes = []
    if not mla and md.get(f"{hp.arch}.attention.kv_lora_rank"):
        notes.append("This file was converted before llama.cpp's latent-attention layout (it has "
                     "attn_kv_b, no key_length_mla): llama.cpp caches full keys and values for every "
                     "head, many times the compressed cache of a re-converted file.")
    if hp.arch not in KV_MODELLED_ARCHS:
        notes.append(f"llama.cpp's cache rules for the {hp.arch!r} architecture are not modelled "
                     "here: the weights are exact (read from the file's tensor table), the KV cache "
                     "assumes standard attention in every layer, which llama.cpp's log may contradict "
                     "(recurrent, hybrid and latent-attention layers cache differently).")
    if quant is None:
        tensors = tuple(TensorType(t.name, t.shape, t.type, False) for t in header.tensors)
        try:
            mix = mix_name(hp.file_type) if hp.file_type is not None else "unknown"
        except QuantMixError:
            mix = f"file type {hp.file_type}"
        notes.insert(0, f"Weights: the file's own tensor types ({mix}).")
    else:
        facts = ModelFacts(hp.arch, hp.n_layer, hp.n_head[0], hp.n_head_kv[0], hp.n_expert)
        # the file's float tensors stand for the converter's output (source types)
        try:
            tensors = tuple(assign_types(header.tensors, quant, facts, imatrix=imatrix))
        except QuantMixError as exc:
            raise InputError(exc.field, exc.message) from None
        notes.insert(0, f"Weights: this file re-quantized to {quant.upper()} with llama.cpp's rules "
                        "(src/llama-quant.cpp).")
        notes += _quant_notes(quant, tensors)
    return LoadedModel(hp, tensors, tuple(notes), v_cache=not mla, n_layer_kv=hp.n_layer - nextn)


def load_model(model: Architecture | GGUFHeader | LoadedModel, quant: str | None = None,
               imatrix: bool = False) -> LoadedModel:
    """The model as the estimator sees it: hyperparameters and the type of every tensor.

    `estimate` accepts the result in place of the model, so a caller that estimates one
    model many times (calculators/placement.py) predicts its tensor types only once.
    """
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, Architecture):
        return _model_from_architecture(model, quant, imatrix)
    if isinstance(model, GGUFHeader):
        return _model_from_gguf(model, quant, imatrix)
    raise InputError("model", "must be an architecture or a GGUF header")


# --- context and KV cache (exact) --------------------------------------------------------

def _pad(x: int, n: int) -> int:
    return -(-x // n) * n


def context_cells(context_length: int, n_seq: int, kv_unified: bool) -> tuple[int, int]:
    """(n_ctx, n_ctx_seq) as src/llama-context.cpp computes them.

    n_ctx is padded to 256; without a unified cache each of the n_seq streams gets
    pad(n_ctx / n_seq, 256) cells and n_ctx becomes n_seq times that.
    """
    n_ctx = _pad(context_length, CTX_PAD)
    if kv_unified:
        return n_ctx, n_ctx
    n_ctx_seq = _pad(n_ctx // n_seq, CTX_PAD)
    if n_ctx_seq == 0:
        raise InputError("context_length", f"too small for {n_seq} parallel sequences")
    return n_ctx_seq * n_seq, n_ctx_seq


def _row_bytes(qtype, n: int) -> int:
    return tensor_nbytes(qtype, (n,))  # ggml_row_size


def kv_caches(hp: Hyperparameters, *, n_ctx_seq: int, n_seq: int, n_ubatch: int,
              type_k, type_v, flash_attention: bool, swa_full: bool,
              kv_unified: bool, v_cache: bool = True,
              n_layer_kv: int | None = None) -> list[KVCache]:
    """The KV caches llama.cpp allocates, byte-exact.

    src/llama-kv-cache.cpp: per layer, K is a [n_embd_k_gqa, kv_size, n_stream] tensor of
    type_k and V a [n_embd_v_gqa, kv_size, n_stream] tensor of type_v (without flash
    attention V is stored transposed, padded to the largest layer's width). n_stream is
    n_seq unless the cache is unified. Quantized types are block types, so a row costs
    n_embd/block·type_size bytes.
    src/llama-kv-cache-iswa.cpp: a model with sliding-window layers gets two caches; the
    sliding-window one holds pad(min(kv_size, n_swa·(unified ? n_seq : 1) + n_ubatch), 256)
    cells, or kv_size with swa_full (the library default, which llama-cpp-python keeps;
    llama-server/llama-cli default to swa_full off).
    MLA models (DeepSeek V2/V3: `v_cache` false) keep K only, one head of kv_lora_rank +
    rope dims; attention reads V out of that latent. Layers from `n_layer_kv` on (GLM-4.5's
    multi-token-prediction block) get no cache.
    """
    n_stream = 1 if kv_unified else n_seq
    layers = range(hp.n_layer if n_layer_kv is None else n_layer_kv)

    def head_k(il):
        return hp.head_dim_k_swa if hp.is_swa(il) else hp.head_dim_k

    def head_v(il):
        return hp.head_dim_v_swa if hp.is_swa(il) else hp.head_dim_v

    v_max = max(head_v(il) * hp.n_head_kv[il] for il in layers)  # n_embd_v_gqa_max

    def build(label, members, cells):
        ks, vs = [], []
        for il in members:
            ks.append(_row_bytes(type_k, head_k(il) * hp.n_head_kv[il]) * cells * n_stream)
            v_width = head_v(il) * hp.n_head_kv[il] if flash_attention else v_max
            vs.append(_row_bytes(type_v, v_width) * cells * n_stream if v_cache else 0)
        return KVCache(label, cells, n_stream, tuple(members), type_k.name.lower(),
                       type_v.name.lower(), sum(ks), sum(vs),
                       tuple(k + v for k, v in zip(ks, vs)))

    if not hp.swa_layers:
        return [build("KV cache", list(layers), n_ctx_seq)]
    base = [il for il in layers if not hp.is_swa(il)]
    swa = [il for il in layers if hp.is_swa(il)]
    size_swa = n_ctx_seq if swa_full else _pad(
        min(n_ctx_seq, hp.sliding_window * (n_seq if kv_unified else 1) + n_ubatch), CTX_PAD)
    return [build("KV cache (full attention layers)", base, n_ctx_seq),
            build("KV cache (sliding-window layers)", swa, size_swa)]


# --- compute buffer (estimate) ------------------------------------------------------------

def compute_buffer_bytes(hp: Hyperparameters, *, n_tokens: int, n_outputs: int, n_kv: int,
                         n_kv_swa: int, flash_attention: bool, with_layers: bool = True,
                         with_output: bool = True, with_attention: bool = True) -> int:
    """Estimate of llama.cpp's `compute buffer size` for one backend.

    llama.cpp reserves the worst-case graph: a ubatch of n_tokens = min(n_ctx, n_ubatch)
    tokens attending to the whole cache (n_kv cells; n_kv_swa for sliding-window layers),
    producing n_outputs = min(n_tokens, n_outputs_max) rows of logits
    (src/llama-context.cpp sched_reserve). ggml-alloc reuses memory, so the buffer is the
    largest set of tensors alive at one time. With T = n_tokens, E = n_embd, H = n_head,
    D = head size, G = n_head_kv·D, F = n_ff (times the experts used per token for MoE),
    V = n_vocab, in bytes:

      attention, no flash attention: 4·T·n_kv·(H+1)     scores + F32 mask
                                     + 4·T·n_kv_swa      the sliding-window mask
                                     + T·(12E + 8·H·D + 8·G per cache)
      feed-forward:                  mask + T·(12F + 16E)   (mask: F32 without FA, F16 with)
      logits:                        4·V·n_outputs + 8·E·T
      buffer = the largest of these.

    Fitted to, and checked against, llama.cpp's CPU backend (the `CPU compute buffer size`
    it logs) on the bundled Gemma 3 270M (11 settings, contexts up to 32k) and on synthetic
    Llama-architecture GGUF files (7 shapes × ubatch 128/512 × context 2048/4096 × flash
    attention on/off × 1 or n_batch logits rows): 121 of 123 within 5 %, all within 11 %
    (the two misses, 4 and 16 MiB buffers, have logits and attention overlapping). The tests hold
    the bundled model to 2 % (5 % with flash attention) and a synthetic file to 5 %.
    GPU backends allocate differently in detail (e.g. CUDA's flash attention converts K/V
    to F16), so treat GPU figures as estimates of the same size class.

    with_layers / with_output: whether this backend runs the repeating layers / the output
    layer; with_attention=False leaves out the attention phase (--no-kv-offload runs it on
    the CPU, see calculators/placement.py).
    """
    T_, E, V = n_tokens, hp.n_embd, hp.n_vocab
    H = max(hp.n_head)
    D = max(hp.head_dim_k, hp.head_dim_k_swa)
    G = max(hp.n_head_kv[il] * (hp.head_dim_v_swa if hp.is_swa(il) else hp.head_dim_v)
            for il in range(hp.n_layer))
    F = hp.n_ff * max(1, hp.n_expert_used)
    n_caches = 2 if hp.swa_layers else 1
    swa_cells = n_kv_swa if hp.swa_layers else 0
    phases = [0]
    if with_layers:
        if flash_attention:
            mask = 2 * T_ * (n_kv + swa_cells)
            attention = mask + T_ * (12 * E + 8 * H * D)
        else:
            mask = 4 * T_ * (n_kv + swa_cells)
            attention = 4 * T_ * n_kv * H + mask + T_ * (12 * E + 8 * H * D + 8 * G * n_caches)
        phases.append(mask + T_ * (12 * F + 16 * E))
        if with_attention:
            phases.append(attention)
    if with_output:
        phases.append(4 * V * n_outputs + 8 * E * T_)
    return max(phases)


def graph_input_bytes(hp: Hyperparameters, *, n_tokens: int, n_kv: int, n_kv_swa: int,
                      flash_attention: bool) -> int:
    """The graph inputs a backend that runs no layers still holds: the token embeddings of
    one ubatch (F32, get_rows runs on the CPU) and the attention masks (F16 with flash
    attention, else F32)."""
    mask = (2 if flash_attention else 4) * n_tokens * (n_kv + n_kv_swa)
    return 4 * hp.n_embd * n_tokens + mask


# --- the estimate ------------------------------------------------------------------------

def estimate(model: Architecture | GGUFHeader | LoadedModel, *, quant: str | None = None,
             context_length: int = 4096, cache_type_k: str = "f16", cache_type_v: str = "f16",
             flash_attention: bool = False, n_gpu_layers: int = 0, n_seq: int = 1,
             n_ubatch: int = 512, n_batch: int = 2048, n_outputs_max: int | None = None,
             swa_full: bool = False, kv_unified: bool = False,
             imatrix: bool = False) -> MemoryEstimate:
    """Memory to run `model` with llama.cpp.

    model           an `Architecture` (then `quant`, a mix such as "Q4_K_M", is required) or
                    a parsed GGUF header (its own types; `quant` re-quantizes it), or what
                    `load_model` made of either (then quant and imatrix are not read).
    context_length  tokens of context in total (llama.cpp's n_ctx), 1 … 10,000,000.
    cache_type_k/v  KV cache types (f16 default; q8_0, q4_0, … need flash attention for V).
    n_gpu_layers    llama.cpp's -ngl: the output layer and the last N-1 blocks go to the GPU.
    n_seq           parallel sequences (n_seq_max / llama-server --parallel).
    n_ubatch/n_batch  physical and logical batch (llama.cpp defaults 512 / 2048).
    n_outputs_max   logits rows the compute graph reserves; default n_batch (library and
                    llama-cli); llama-server uses its --parallel count.
    swa_full        full-size cache for sliding-window layers (llama-server --swa-full).
    kv_unified      one KV buffer shared by all sequences (llama-server --kv-unified).
    imatrix         the mix was made with an importance matrix (a few IQ/Q4_0 rules).
    """
    m = load_model(model, quant, imatrix)
    hp = m.hp
    check_int("context_length", context_length, 1, MAX_CONTEXT)
    check_int("n_gpu_layers", n_gpu_layers, 0)
    check_int("n_seq", n_seq, 1, LLAMA_MAX_SEQ)
    check_int("n_ubatch", n_ubatch, 1, MAX_CONTEXT)
    check_int("n_batch", n_batch, 1, MAX_CONTEXT)
    if n_outputs_max is not None:
        check_int("n_outputs_max", n_outputs_max, 1, MAX_CONTEXT)
    type_k = cache_type("cache_type_k", cache_type_k)
    type_v = cache_type("cache_type_v", cache_type_v)
    for name, value in (("flash_attention", flash_attention), ("swa_full", swa_full),
                        ("kv_unified", kv_unified), ("imatrix", imatrix)):
        if not isinstance(value, bool):
            raise InputError(name, f"must be true or false, got {value!r}")
    # src/llama-context.cpp llama_init_from_model: quantized V needs flash attention, and
    # with flash attention a quantized cache's block must divide the head size.
    if type_v not in (T.F32, T.F16, T.BF16) and not flash_attention:
        raise InputError("kv_cache_type", "a quantized V cache requires flash attention")
    if flash_attention:
        for name, qtype, dim in (("cache_type_k", type_k, hp.head_dim_k), ("cache_type_v", type_v, hp.head_dim_v)):
            block = gguf.GGML_QUANT_SIZES[qtype][0]
            if dim % block:
                raise InputError(name, f"{qtype.name} blocks of {block} do not divide the head size {dim}")
    for name, qtype, dim in (("cache_type_k", type_k, hp.head_dim_k), ("cache_type_v", type_v, hp.head_dim_v)):
        block = gguf.GGML_QUANT_SIZES[qtype][0]
        if any((dim * kv) % block for kv in hp.n_head_kv):  # a cache row must hold whole blocks
            raise InputError(name, f"{qtype.name} blocks of {block} do not divide a cache row")

    notes = list(m.notes)
    n_layer = hp.n_layer
    ngl = min(n_gpu_layers, n_layer + 1)
    i_gpu_start = n_layer + 1 - ngl  # layers il >= i_gpu_start are on the GPU; il = n_layer is the output

    def device_of_layer(il: int) -> str:
        return "gpu" if il >= i_gpu_start else "cpu"

    # weights, tensor by tensor
    tensors = []
    tied = not any(t.name == "output.weight" for t in m.tensors)
    for t in m.tensors:
        layer = tensor_layer(t.name)
        if t.name in ("token_embd.weight", "per_layer_token_embd.weight"):
            device = "cpu"  # the input layer always stays on the CPU
        elif layer is not None and layer < n_layer:
            device = device_of_layer(layer)
        else:
            device = device_of_layer(n_layer)  # output layer
        tensors.append(TensorBytes(t.name, t.type.name, tuple(t.shape), t.n_bytes, device))
    weights = sum(t.bytes for t in tensors)
    parameters = sum(t.n_elements for t in m.tensors)
    breakdown: list[BreakdownItem] = []
    gpu_blocks = n_layer - min(i_gpu_start, n_layer)
    for device, blocks in (("gpu", gpu_blocks), ("cpu", n_layer - gpu_blocks)):
        b = sum(t.bytes for t in tensors if t.device == device)
        if b:
            parts = [f"{blocks} of {n_layer} blocks"] if blocks else []
            if device == "cpu":
                parts.insert(0, "token embeddings")
            if device_of_layer(n_layer) == device:
                parts.append("output layer")
            breakdown.append(BreakdownItem("weights: " + ", ".join(parts), b, device))
    overhead = 0
    embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
    if tied and embd is not None and device_of_layer(n_layer) == "gpu":
        # tied embeddings: the output layer is token_embd loaded a second time, on the GPU
        # (src/models/*.cpp create_tensor(..., TENSOR_DUPLICATED)); counted as overhead
        overhead += embd.bytes
        breakdown.append(BreakdownItem("output layer: GPU copy of the tied token_embd", embd.bytes, "gpu"))
        notes.append("The output layer shares token_embd's weights; llama.cpp keeps a second copy on "
                     "the GPU (counted as overhead).")

    # context
    n_ctx, n_ctx_seq = context_cells(context_length, n_seq, kv_unified)
    if n_ctx != context_length:
        notes.append(f"llama.cpp pads the context to a multiple of {CTX_PAD}"
                     + ("" if kv_unified or n_seq == 1 else " per sequence")
                     + f": {context_length:,} → {n_ctx:,} cells.")
    if hp.context_length and n_ctx_seq > hp.context_length:
        notes.append(f"The context per sequence ({n_ctx_seq:,}) exceeds the model's training "
                     f"context ({hp.context_length:,}); quality may suffer without RoPE scaling.")
    n_batch_eff = min(n_ctx, n_batch)  # causal attention: the batch is capped by the context
    n_ubatch_eff = min(n_batch_eff, n_ubatch)

    caches = kv_caches(hp, n_ctx_seq=n_ctx_seq, n_seq=n_seq, n_ubatch=n_ubatch_eff,
                       type_k=type_k, type_v=type_v, flash_attention=flash_attention,
                       swa_full=swa_full, kv_unified=kv_unified, v_cache=m.v_cache,
                       n_layer_kv=m.n_layer_kv)
    kv_total = 0
    for cache in caches:
        kv_total += cache.bytes
        for device in ("gpu", "cpu"):
            members = [il for il in cache.layers if device_of_layer(il) == device]
            if not members:
                continue
            share = cache.bytes_of(members)
            breakdown.append(BreakdownItem(
                f"{cache.label}: {cache.cells:,} cells × {cache.streams} stream(s), "
                f"{len(members)} layer{'s' if len(members) != 1 else ''}, "
                f"K {cache.type_k} / V {cache.type_v}", share, device))
    if hp.swa_layers and caches[-1].cells < n_ctx_seq:
        notes.append(f"Sliding-window layers keep only {caches[-1].cells:,} cells (the "
                     f"{hp.sliding_window:,}-token window plus a ubatch of {n_ubatch_eff}, padded "
                     "to 256); with swa_full, llama-cpp-python's default, they keep the whole context.")

    # output buffer: logits for n_seq_max outputs, in host memory
    output = hp.n_vocab * max(1, n_seq) * 4
    breakdown.append(BreakdownItem("output buffer (logits)", output, "cpu"))

    # compute buffers
    n_tokens = min(n_ctx, n_ubatch_eff)
    n_out = min(n_tokens, n_outputs_max if n_outputs_max is not None else n_batch_eff)
    n_kv_swa = caches[-1].cells if hp.swa_layers else 0
    shape = ComputeShape(n_tokens=n_tokens, n_outputs=n_out, n_kv=n_ctx_seq, n_kv_swa=n_kv_swa,
                         flash_attention=flash_attention)
    kw = vars(shape)
    if ngl == 0:
        compute = {"cpu": compute_buffer_bytes(hp, **kw)}
    else:
        layers_on_cpu = i_gpu_start > 0
        compute = {"gpu": compute_buffer_bytes(hp, with_layers=i_gpu_start < n_layer, **kw)}
        # host side: the graph inputs, or the full working set of the blocks that stay on the CPU
        host = graph_input_bytes(hp, n_tokens=n_tokens, n_kv=n_ctx_seq, n_kv_swa=n_kv_swa,
                                 flash_attention=flash_attention)
        if layers_on_cpu:
            host = max(host, compute_buffer_bytes(hp, with_output=False, **kw))
        compute["cpu"] = host
    for device, b in compute.items():
        breakdown.append(BreakdownItem("compute buffer (estimate)", b, device))
    logits = 4 * hp.n_vocab * n_out
    if logits * 2 > max(compute.values()):
        notes.append(f"Most of the compute buffer is the logits of {n_out:,} tokens × "
                     f"{hp.n_vocab:,} vocabulary entries ({logits / MiB:,.0f} MiB); llama-server "
                     "reserves logits for only --parallel outputs (n_outputs_max), which shrinks it.")
    compute_total = sum(compute.values())

    notes.append("Compute buffers are an estimate (the formula is in memory.compute_buffer_bytes); "
                 "weights, KV cache and output buffer follow llama.cpp exactly.")
    if ngl:
        notes.append("Not counted: the GPU driver's own context (llama.cpp's memory breakdown "
                     "lists it as 'unaccounted'); the fit verdicts keep llama.cpp's --fit margin "
                     "of 1 GiB free for it.")
    else:
        notes.append("CPU only: weights are memory-mapped from the file (they show as page "
                     "cache). Not counted: llama.cpp's CPU backend may also copy some quantized "
                     "tensors into a repacked layout (its CPU_REPACK buffer: 12.66 MiB for the "
                     "bundled Gemma 3 270M on an x86 machine).")

    gpu = sum(b.bytes for b in breakdown if b.device == "gpu")
    cpu = sum(b.bytes for b in breakdown if b.device == "cpu")
    return MemoryEstimate(
        parameters=parameters,
        weights_bytes=weights,
        bits_per_weight=weights * 8 / parameters if parameters else 0.0,
        kv_cache_bytes=kv_total,
        compute_buffer_bytes=compute_total,
        output_buffer_bytes=output,
        overhead_bytes=overhead,
        total_bytes=gpu + cpu,
        gpu_bytes=gpu,
        cpu_bytes=cpu,
        tensors=tuple(tensors),
        breakdown=tuple(breakdown),
        notes=tuple(notes),
        kv_caches=tuple(caches),
        n_ctx=n_ctx,
        compute_shape=shape,
        hyperparameters=hp,
    )


def fit_verdicts(result: MemoryEstimate, gpus: tuple[Accelerator, ...] = GPUS,
                 system_ram_bytes: int | None = None) -> list[FitVerdict]:
    """Does the GPU part fit on each accelerator, and the CPU part in system RAM?

    "fits" leaves llama.cpp's --fit margin (1 GiB) free; "tight" fits only without it.
    On Apple silicon the GPU part is measured against Metal's working-set limit and the
    CPU part shares the same memory.
    """
    verdicts = []

    def verdict(needed: int, available: int) -> str:
        if needed + FIT_MARGIN_BYTES <= available:
            return "fits"
        return "tight" if needed <= available else "does-not-fit"

    for gpu in gpus:
        if gpu.unified:
            needed = result.gpu_bytes
            ok = verdict(needed, gpu.gpu_usable_bytes)
            if ok != "does-not-fit" and result.total_bytes + FIT_MARGIN_BYTES > gpu.memory_bytes:
                ok = "tight" if result.total_bytes <= gpu.memory_bytes else "does-not-fit"
            verdicts.append(FitVerdict(gpu.slug, gpu.name, gpu.gpu_usable_bytes, needed, ok))
        else:
            verdicts.append(FitVerdict(gpu.slug, gpu.name, gpu.memory_bytes, result.gpu_bytes,
                                       verdict(result.gpu_bytes, gpu.memory_bytes)))
    if system_ram_bytes is not None:
        check_int("system_ram_bytes", system_ram_bytes, 1)
        verdicts.append(FitVerdict("system-ram", "System RAM", system_ram_bytes, result.cpu_bytes,
                                   verdict(result.cpu_bytes, system_ram_bytes)))
    return verdicts
