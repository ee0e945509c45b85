"""Where llama.cpp puts a model, and the most that fits on given hardware.

`calculators.memory` sizes every tensor, the KV cache and the buffers. This module decides
where each of them lives under every placement option llama.cpp has (LM Studio's name for
the same setting in brackets), and answers "what should I set?" the way llama.cpp's own
`--fit` does. All rules are read from ggml-org/llama.cpp (the version llama-cpp-python
0.3.36 vendors, libllama 0.5.0, unless a line says otherwise):

-ngl N            [GPU Offload] src/llama-model.cpp load_tensors: i_gpu_start =
                  max(n_layer + 1 - N, 0), so the output layer goes first, then the last N-1
                  blocks; N = n_layer + 1 offloads everything. The input layer (token_embd)
                  always stays on the CPU. Default: all.
--n-cpu-moe N     [Number of layers for which to force MoE weights onto CPU] common/arg.cpp:
                  one tensor override per block i < N with llm_ffn_exps_block_regex(i),
                  `blk\\.i\\.ffn_(up|down|gate|gate_up)_(ch|)exps` (common/common.h), bound to
                  the CPU buffer type. --cpu-moe and `-ot exps=CPU` do the same for every block.
--no-kv-offload   [Offload KV Cache to GPU Memory: off] src/llama-kv-cache.cpp: each layer's
                  K and V live on the layer's device when offload is on, else in host memory;
                  src/llama-graph.cpp then runs attention on the CPU.
--mmap/--no-mmap/--mlock  [Try mmap(), Keep Model in Memory] src/llama-model-loader.cpp
                  load_mode: weights left on the CPU are mapped from the file (page cache the
                  system may drop and read again), read into allocated memory, or locked there.
-sm layer, -ts    [several GPUs] load_tensors: block il of the offloaded range goes to the
                  first device whose cumulative split exceeds (il - i_gpu_start) / N; the
                  default split is each device's free memory; -sm none uses one GPU.
-fa auto|on|off   [Flash Attention] src/llama-context.cpp resolve_fused_ops: "auto" reserves a
                  graph and keeps flash attention only if every layer's attention op landed on
                  the layer's own device; a backend without a kernel for the head size or the
                  K/V types (or attention forced onto the CPU by --no-kv-offload) turns it off.
--fit             common/fit.cpp: the context first (never below 4096), then layers filled
                  back to front, MoE experts to the CPU first, keeping 1 GiB free per device.
                  `solve` finds the same kind of answer in the flags a person types.

Memory a backend needs beyond weights and KV (the compute buffers) is an estimate, see
memory.compute_buffer_bytes; the two placement-specific terms are documented where added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import gguf
import numpy as np

from calculators import memory
from calculators.architecture import tensor_layer, tensor_role
from calculators.gguf_header import Hyperparameters
from calculators.memory import CTX_PAD, FIT_MARGIN_BYTES, InputError, MemoryEstimate

T = gguf.GGMLQuantizationType

MAX_DEVICES = 16  # llama_max_devices() in this llama.cpp
FIT_MIN_CONTEXT = 4096  # common/common.h fit_params_min_ctx: --fit never goes below this
FLASH_ATTENTION_CHOICES = ("auto", "on", "off")
LOAD_MODES = ("mmap", "no-mmap", "mlock")
SPLIT_MODES = ("layer", "none")
# ggml/src/ggml-backend.cpp GGML_SCHED_MAX_COPIES: with pipeline parallelism every graph
# input is kept this many times per device (see _pipeline_copies).
PIPELINE_COPIES = 4

_INPUT_TENSORS = ("token_embd.weight", "per_layer_token_embd.weight")

# Flash-attention kernels, per backend (supports_op for GGML_OP_FLASH_ATTN_EXT).
# CUDA and ROCm, ggml/src/ggml-cuda/fattn.cu ggml_cuda_get_best_fattn_kernel (default
# build, without GGML_CUDA_FA_ALL_QUANTS): head size K = V from this set, or the listed
# (K, V, GQA-ratio multiple) pairs; K and V of one type, or K q8_0 with V q4_0; types
# f32, f16, bf16, q4_0, q8_0.
_CUDA_FA_HEADS = {40, 64, 72, 80, 96, 112, 128, 256, 512}
_CUDA_FA_PAIRS = {(192, 128): 8, (320, 256): 32, (576, 512): 1}
_CUDA_FA_TYPES = {T.F32, T.F16, T.BF16, T.Q4_0, T.Q8_0}
# Metal, ggml/src/ggml-metal/ggml-metal-device.m: K and V of one type, these head sizes.
_METAL_FA_HEADS = {32, 40, 48, 64, 72, 80, 96, 112, 128, 192, 256, 320, 512, 576}


# --- input ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """One GPU as the placement sees it."""

    name: str
    memory_bytes: int | None  # what the GPU may use; None: no hardware chosen (unbounded)
    unified: bool = False  # Apple silicon: the GPU's memory is the system's (Metal)
    total_bytes: int | None = None  # unified: all of the machine's memory

    @classmethod
    def from_accelerator(cls, gpu) -> "Device":
        """From a calculators.gpus.Accelerator (a Mac's GPU: Metal's working-set limit)."""
        return cls(gpu.name, gpu.gpu_usable_bytes, gpu.unified, gpu.memory_bytes)


@dataclass(frozen=True)
class Options:
    """The placement flags, as llama.cpp takes them."""

    n_gpu_layers: int | None = None  # -ngl; None: every layer
    n_cpu_moe: int = 0  # --n-cpu-moe; values above the block count mean every block
    cpu_moe: bool = False  # --cpu-moe, -ot exps=CPU
    kv_offload: bool = True  # False: --no-kv-offload
    load_mode: str = "mmap"  # mmap (llama.cpp's default), no-mmap, mlock
    flash_attention: str = "auto"  # -fa auto|on|off
    split_mode: str = "layer"  # -sm layer|none
    tensor_split: tuple[float, ...] | None = None  # -ts; None: by each GPU's memory

    def check(self, n_devices: int) -> None:
        """Raise InputError naming the first bad option."""
        if self.n_gpu_layers is not None:
            memory.check_int("n_gpu_layers", self.n_gpu_layers, 0)
        memory.check_int("n_cpu_moe", self.n_cpu_moe, 0)
        for name in ("cpu_moe", "kv_offload"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(name, f"must be true or false, got {getattr(self, name)!r}")
        for name, choices in (("load_mode", LOAD_MODES), ("flash_attention", FLASH_ATTENTION_CHOICES),
                              ("split_mode", SPLIT_MODES)):
            if getattr(self, name) not in choices:
                raise InputError(name, f"choose one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.tensor_split is not None:
            split = self.tensor_split
            if len(split) > max(n_devices, 1):
                raise InputError("tensor_split", f"{len(split)} values for {n_devices} GPU"
                                                 f"{'s' if n_devices != 1 else ''}")
            if any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0
                   for x in split):
                raise InputError("tensor_split", "must be non-negative numbers")


# --- the model, once per context ------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Every byte of one model at one context, grouped by what placement moves together."""

    estimate: MemoryEstimate
    hp: Hyperparameters
    n_layer: int
    block_dense: tuple[int, ...]  # each block's weights other than its experts
    block_experts: tuple[int, ...]  # each block's ffn_*_exps tensors
    block_largest: tuple[int, ...]  # each block's largest dense tensor
    block_largest_expert: tuple[int, ...]
    output_weights: int  # output layer: output_norm, output (or nothing when tied), …
    output_largest: int
    input_weights: int  # token_embd, always on the CPU
    tied_output: int  # token_embd's bytes again when the output layer reuses it
    block_kv: tuple[int, ...]  # K+V bytes of each block, all caches together

    @property
    def has_experts(self) -> bool:
        return any(self.block_experts)


def layout(model: memory.LoadedModel, **settings) -> Layout:
    """Run the estimator once (everything on the CPU) and regroup its tensors and caches."""
    est = memory.estimate(model, n_gpu_layers=0, **settings)
    hp = model.hp
    n = hp.n_layer
    dense, experts = [0] * n, [0] * n
    largest, largest_expert = [0] * n, [0] * n
    output = output_largest = input_ = 0
    for t in est.tensors:
        layer = tensor_layer(t.name)
        if t.name in _INPUT_TENSORS:
            input_ += t.bytes
        elif layer is not None and layer < n:
            if tensor_role(t.name) == "expert":  # what llm_ffn_exps_block_regex(layer) matches
                experts[layer] += t.bytes
                largest_expert[layer] = max(largest_expert[layer], t.bytes)
            else:
                dense[layer] += t.bytes
                largest[layer] = max(largest[layer], t.bytes)
        else:
            output += t.bytes
            output_largest = max(output_largest, t.bytes)
    tied = 0
    if not any(t.name == "output.weight" for t in est.tensors):
        # src/models/*.cpp: create_tensor(output, ..., TENSOR_DUPLICATED) loads token_embd a
        # second time for an output layer on a GPU (the CPU one reads token_embd itself).
        tied = next((t.bytes for t in est.tensors if t.name == "token_embd.weight"), 0)
    kv = [0] * n
    for cache in est.kv_caches:
        for il, b in zip(cache.layers, cache.layer_bytes):
            kv[il] += b
    return Layout(est, hp, n, tuple(dense), tuple(experts), tuple(largest), tuple(largest_expert),
                  output, output_largest, input_, tied, tuple(kv))


# --- flash attention "auto" ---------------------------------------------------------------

def _attention_shapes(hp: Hyperparameters) -> set[tuple[int, int, int]]:
    """(K head size, V head size, GQA ratio) of every layer."""
    shapes = set()
    for il in range(hp.n_layer):
        swa = hp.is_swa(il)
        k = hp.head_dim_k_swa if swa else hp.head_dim_k
        v = hp.head_dim_v_swa if swa else hp.head_dim_v
        kv_heads = hp.n_head_kv[il] or 1
        shapes.add((k, v, hp.n_head[il] // kv_heads))
    return shapes


def _gpu_flash_attention_gap(hp: Hyperparameters, type_k, type_v, unified: bool) -> str | None:
    """Why the GPU backend has no flash-attention kernel for this model, or None if it has one."""
    shapes = _attention_shapes(hp)
    if unified:
        if type_k != type_v:
            return "Metal's flash attention needs K and V of one type"
        bad = sorted({k for k, _, _ in shapes if k not in _METAL_FA_HEADS})
        return f"Metal has no flash-attention kernel for head size {bad[0]}" if bad else None
    for k, v, gqa in sorted(shapes):
        if k == v and k in _CUDA_FA_HEADS:
            continue
        multiple = _CUDA_FA_PAIRS.get((k, v))
        if multiple is None or gqa % multiple:
            return f"CUDA has no flash-attention kernel for K/V head sizes {k}/{v}"
    if type_k != type_v and (type_k, type_v) != (T.Q8_0, T.Q4_0):
        return (f"CUDA's flash attention has no kernel for a {type_k.name.lower()} K cache with a "
                f"{type_v.name.lower()} V cache (unless llama.cpp is built with GGML_CUDA_FA_ALL_QUANTS)")
    for qtype in (type_k, type_v):
        if qtype not in _CUDA_FA_TYPES:
            return (f"CUDA's flash attention has no kernel for a {qtype.name.lower()} cache "
                    "(unless llama.cpp is built with GGML_CUDA_FA_ALL_QUANTS)")
    return None


def resolve_flash_attention(requested: str, hp: Hyperparameters, *, type_k, type_v,
                            gpu_layers: bool, kv_offload: bool, unified: bool) -> tuple[bool, str]:
    """llama.cpp's -fa: (on?, why). "auto" follows src/llama-context.cpp resolve_fused_ops."""
    if requested == "on":
        return True, "on (-fa on)"
    if requested == "off":
        return False, "off (-fa off)"
    if not gpu_layers:
        return True, "auto → on: the CPU backend has flash attention for every head size and cache type"
    if not kv_offload:
        return False, ("auto → off: with --no-kv-offload attention runs on the CPU while its layer "
                       "is on the GPU, which llama.cpp reads as unsupported")
    gap = _gpu_flash_attention_gap(hp, type_k, type_v, unified)
    if gap:
        return False, f"auto → off: {gap}"
    return True, "auto → on: the GPU has a flash-attention kernel for every layer"


# --- placing one configuration -------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One row of a device's memory: what it holds and how many bytes."""

    kind: str  # weights, kv_cache, compute, output, overhead
    label: str
    bytes: int


@dataclass(frozen=True)
class DeviceUse:
    """What one GPU (index 0, 1, …) or the host (index None) holds."""

    index: int | None
    name: str
    available_bytes: int | None
    parts: tuple[Part, ...]
    blocks: tuple[int, ...] = ()  # the repeating layers that live here
    output_layer: bool = False

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    def kind_bytes(self, kind: str) -> int:
        return sum(p.bytes for p in self.parts if p.kind == kind)

    @property
    def verdict(self) -> str | None:
        """fits (1 GiB left, --fit's margin), tight (fits without it), does-not-fit."""
        if self.available_bytes is None:
            return None
        if self.bytes + FIT_MARGIN_BYTES <= self.available_bytes:
            return "fits"
        return "tight" if self.bytes <= self.available_bytes else "does-not-fit"


@dataclass(frozen=True)
class Placement:
    layout: Layout = field(repr=False)
    n_gpu_layers: int  # as llama.cpp counts them: n_layer + 1 = everything
    n_cpu_moe: int  # blocks whose experts stay on the CPU (capped at the block count)
    tensor_split: tuple[float, ...]  # the proportions used, one per GPU
    flash_attention: bool
    flash_attention_reason: str
    load_mode: str
    kv_offload: bool
    pipeline_parallel: bool
    unified: bool  # Apple silicon: GPU and CPU parts share the machine's memory
    gpus: tuple[DeviceUse, ...]
    host: DeviceUse
    system_ram_bytes: int | None
    notes: tuple[str, ...]

    @property
    def gpu_bytes(self) -> int:
        return sum(d.bytes for d in self.gpus)

    @property
    def total_bytes(self) -> int:
        return self.gpu_bytes + self.host.bytes

    @property
    def ram_verdict(self) -> str | None:
        """The host part against system RAM (None if RAM is not given)."""
        if self.system_ram_bytes is None:
            return None
        needed = self.host.bytes
        if self.system_ram_bytes >= needed + FIT_MARGIN_BYTES:
            return "fits"
        return "tight" if self.system_ram_bytes >= needed else "does-not-fit"

    @property
    def verdict(self) -> str | None:
        """The worst GPU's verdict (on a Mac, the whole machine's memory counts too)."""
        verdicts = [d.verdict for d in self.gpus]
        if self.unified:
            verdicts.append(self.host.verdict)  # one memory: the CPU part gets what the GPU leaves
        for worst in ("does-not-fit", "tight", "fits"):
            if worst in verdicts:
                return worst
        return None

    @property
    def fits(self) -> bool:
        """Every GPU keeps llama.cpp's 1 GiB free, and the host part fits in RAM if given."""
        return self.verdict in ("fits", None) and self.ram_verdict in ("fits", None)

    @property
    def model_notes(self) -> tuple[str, ...]:
        """The estimator's notes about the model and context, and this placement's."""
        gpus_used = any(d.blocks or d.output_layer for d in self.gpus)
        # the estimator's last note describes its own CPU-only placement
        kept = tuple(n for n in self.layout.estimate.notes if not (gpus_used and n.startswith("CPU only:")))
        if gpus_used:
            kept += ("Not counted: the GPU driver's own context (llama.cpp's memory breakdown lists it as "
                     "'unaccounted'); the verdicts keep llama.cpp's --fit margin of 1 GiB free for it.",)
        if any(p.kind == "overhead" for d in self.gpus for p in d.parts):
            kept += ("The output layer shares token_embd's weights; llama.cpp keeps a second copy on the "
                     "GPU (counted as overhead).",)
        return kept + self.notes


def _splits(devices: Sequence[Device], options: Options) -> np.ndarray:
    """Cumulative, normalised split points, float32 as load_tensors computes them."""
    n = len(devices)
    split = (list(options.tensor_split or ()) + [0.0] * n)[:n]  # values past the GPUs are ignored
    if not any(split):  # "default split, by free memory"
        split = [d.memory_bytes or 1 for d in devices]
    values = np.array(split, dtype=np.float32)
    return (np.cumsum(values, dtype=np.float32) / np.float32(values.sum(dtype=np.float32))).astype(np.float32)


def layer_devices(n_layer: int, n_gpu_layers: int, splits: np.ndarray) -> list[int | None]:
    """The GPU (index) or CPU (None) of each block and, last, of the output layer.

    src/llama-model.cpp load_tensors get_layer_buft_list: layers below i_gpu_start stay on
    the CPU; the others go to upper_bound(splits, float(il - i_gpu_start) / act_gpu_layers).
    """
    n_devices = len(splits)
    act = min(n_gpu_layers, n_layer + 1) if n_devices else 0
    start = max(n_layer + 1 - act, 0)
    out: list[int | None] = []
    for il in range(n_layer + 1):
        if il < start or il - start >= act:
            out.append(None)
        else:
            fraction = np.float32(il - start) / np.float32(act)
            out.append(min(int(np.searchsorted(splits, fraction, side="right")), n_devices - 1))
    return out


def _span(blocks: Sequence[int]) -> str:
    if not blocks:
        return "no blocks"
    if len(blocks) == 1:
        return f"block {blocks[0]}"
    return f"blocks {blocks[0]}–{blocks[-1]}"


@dataclass
class _Assignment:
    """Which device holds each block's weights, experts and KV cache (None: the host)."""

    where: list[int | None]  # each block's device, then the output layer's
    n_cpu_moe: int
    weights: dict[int | None, int]
    kv: dict[int | None, int]
    blocks: dict[int | None, list[int]]
    host_expert_blocks: list[int]  # blocks on a GPU whose experts stay on the host
    host_tensors: list[int]  # the largest host-resident tensor of each block (and the output)


def _assign(lay: Layout, n_devices: int, ngl: int, splits: np.ndarray, options: Options) -> _Assignment:
    n = lay.n_layer
    where = layer_devices(n, ngl, splits)
    n_cpu_moe = 0 if not lay.has_experts else n if options.cpu_moe else min(options.n_cpu_moe, n)
    keys = [*range(n_devices), None]
    a = _Assignment(where, n_cpu_moe, dict.fromkeys(keys, 0), dict.fromkeys(keys, 0), {d: [] for d in keys},
                    [], [0])
    for il in range(n):
        dev = where[il]
        a.blocks[dev].append(il)
        a.weights[dev] += lay.block_dense[il]
        expert_dev = None if il < n_cpu_moe else dev  # --n-cpu-moe: the first N blocks' experts
        a.weights[expert_dev] += lay.block_experts[il]
        if dev is None:
            a.host_tensors += [lay.block_largest[il], lay.block_largest_expert[il]]
        elif expert_dev is None and lay.block_experts[il]:
            a.host_expert_blocks.append(il)
            a.host_tensors.append(lay.block_largest_expert[il])
        a.kv[dev if options.kv_offload else None] += lay.block_kv[il]
    a.weights[where[n]] += lay.output_weights
    a.weights[None] += lay.input_weights
    if where[n] is None:
        a.host_tensors.append(lay.output_largest)
    return a


def _gpu_parts(i: int, lay: Layout, a: _Assignment, options: Options, *, weight_copy: int,
               pipeline_inputs: int) -> tuple[Part, ...]:
    n, hp, kw = lay.n_layer, lay.hp, vars(lay.estimate.compute_shape)
    mine, has_output = a.blocks[i], a.where[n] == i
    parts = []
    if mine or has_output:
        what = ([f"{_span(mine)} ({len(mine)} of {n})"] if mine else []) + (["output layer"] if has_output else [])
        experts_here = [il for il in mine if il >= a.n_cpu_moe and lay.block_experts[il]]
        if lay.has_experts and mine and len(experts_here) < len(mine):
            what.append(f"experts of {len(experts_here)} of them")
        parts.append(Part("weights", "weights: " + ", ".join(what), a.weights[i]))
    if a.kv[i]:
        parts.append(Part("kv_cache", f"KV cache: {len(mine)} layer{'s' if len(mine) != 1 else ''}", a.kv[i]))
    if has_output and lay.tied_output:
        parts.append(Part("overhead", "output layer: GPU copy of the tied token_embd", lay.tied_output))
    if mine or has_output:
        compute = memory.compute_buffer_bytes(hp, with_layers=bool(mine), with_output=has_output,
                                              with_attention=options.kv_offload, **kw)
        parts.append(Part("compute", "compute buffer (estimate)", compute))
    if i == 0 and weight_copy:
        if not (mine or has_output):
            # a GPU with no layers still runs big batches (-ngl 0 on a CUDA build)
            parts.append(Part("compute", "compute buffer (estimate)", memory.compute_buffer_bytes(hp, **kw)))
        parts.append(Part("compute", "compute buffer: copies of host-resident weights for batches "
                                     "of 32+ tokens (estimate)", weight_copy))
    if pipeline_inputs and (mine or has_output):
        parts.append(Part("compute", f"compute buffer: {PIPELINE_COPIES} copies of the graph inputs "
                                     "for pipeline parallelism (estimate)", (PIPELINE_COPIES - 1) * pipeline_inputs))
    return tuple(parts)


_LOAD_MODE_HOW = {"mmap": "memory-mapped from the file", "no-mmap": "read into RAM",
                  "mlock": "read into RAM and locked"}


def _host_parts(lay: Layout, a: _Assignment, options: Options, *, gpus_used: bool, discrete: bool,
                weight_copy: int, inputs: int) -> tuple[Part, ...]:
    n, hp, kw = lay.n_layer, lay.hp, vars(lay.estimate.compute_shape)
    what = ["token embeddings"]
    if a.blocks[None]:
        what.append(f"{_span(a.blocks[None])} ({len(a.blocks[None])} of {n})")
    if a.host_expert_blocks:
        what.append(f"experts of {_span(a.host_expert_blocks)}")
    if a.where[n] is None:
        what.append("output layer")
    parts = [Part("weights", f"weights: {', '.join(what)} ({_LOAD_MODE_HOW[options.load_mode]})", a.weights[None])]
    if a.kv[None]:
        layers = n if not options.kv_offload else len(a.blocks[None])
        parts.append(Part("kv_cache", f"KV cache: {layers} layer{'s' if layers != 1 else ''}"
                                      + (" (--no-kv-offload)" if not options.kv_offload else ""), a.kv[None]))
    parts.append(Part("output", "output buffer (logits)", lay.estimate.output_buffer_bytes))
    if not gpus_used and not weight_copy:
        compute = memory.compute_buffer_bytes(hp, **kw)  # CPU only
    elif discrete:
        # big batches run on the GPU (see weight_copy), so the host keeps the graph inputs
        # and, without KV offload, the attention it runs itself
        compute = inputs if options.kv_offload else max(
            inputs, memory.compute_buffer_bytes(hp, with_output=False, **kw))
    else:
        # Metal: blocks left on the CPU compute there
        compute = inputs if options.kv_offload and not a.blocks[None] else max(
            inputs, memory.compute_buffer_bytes(hp, with_output=False, **kw))
    parts.append(Part("compute", "compute buffer (estimate)", compute))
    return tuple(parts)


_LOAD_MODE_NOTES = {
    "mmap": "Weights on the CPU are memory-mapped (llama.cpp's default): they count as page cache, "
            "the system may drop them under pressure and read them again from disk; if RAM is "
            "short they are paged from disk (slow) instead of failing.",
    "no-mmap": "--no-mmap reads the CPU weights into allocated RAM: they must fit in RAM (or swap); "
               "loading takes longer but nothing is read from disk later.",
    "mlock": "--mlock keeps the CPU weights resident (never swapped): they must fit in RAM, and the "
             "system's locked-memory limit (ulimit -l) must allow it.",
}


def _notes(lay: Layout, a: _Assignment, options: Options, *, n_devices: int, weight_copy: int,
           pipeline: bool) -> tuple[str, ...]:
    n = lay.n_layer
    notes = []
    if options.n_gpu_layers is not None and n_devices and options.n_gpu_layers > n + 1:
        notes.append(f"-ngl {options.n_gpu_layers} is more than the model's {n + 1} layers (output "
                     "layer counted): everything is offloaded.")
    if (options.n_cpu_moe or options.cpu_moe) and not lay.has_experts:
        notes.append("This model has no experts (a dense model): --n-cpu-moe and --cpu-moe change nothing.")
    if a.n_cpu_moe:
        notes.append(f"The experts of {a.n_cpu_moe} block{'s' if a.n_cpu_moe != 1 else ''} stay in system "
                     "RAM; each generated token reads only the experts it routes to, so speed depends on "
                     "RAM bandwidth more than on their size."
                     + (" With mmap, llama.cpp itself suggests --no-mmap (--load-mode none) for CPU "
                        "overrides, for speed." if options.load_mode == "mmap" else ""))
    if weight_copy:
        notes.append("Weights in host memory are copied to the first GPU for batches of 32 or more tokens "
                     "(prompt processing), so that GPU's compute buffer holds the largest of them "
                     f"({weight_copy / 2**20:,.0f} MiB).")
    if pipeline:
        notes.append("Several GPUs with every layer offloaded: llama.cpp enables pipeline parallelism, "
                     f"which keeps {PIPELINE_COPIES} copies of the graph inputs on each GPU.")
    if not options.kv_offload and n_devices:
        notes.append("--no-kv-offload keeps the whole KV cache in system RAM and runs attention on the "
                     "CPU: it frees VRAM at a large cost in speed.")
    notes.append(_LOAD_MODE_NOTES[options.load_mode])
    return tuple(notes)


def place(lay: Layout, devices: Sequence[Device], options: Options, *, flash_attention: bool,
          flash_attention_reason: str = "", system_ram_bytes: int | None = None) -> Placement:
    """Where every byte of `lay` goes on `devices` with `options` (already checked)."""
    n = lay.n_layer
    devices = list(devices)
    if options.split_mode == "none":
        devices = devices[:1]  # -sm none: the main GPU only
    splits = _splits(devices, options) if devices else np.zeros(0, dtype=np.float32)
    ngl = 0 if not devices else n + 1 if options.n_gpu_layers is None else min(options.n_gpu_layers, n + 1)
    a = _assign(lay, len(devices), ngl, splits, options)
    gpus_used = any(d is not None for d in a.where)
    discrete = bool(devices) and not any(d.unified for d in devices)
    # ggml-backend's scheduler (ggml-org/llama.cpp#6083) runs a batch of 32 or more tokens
    # on the first GPU even where the weights sit in host memory, copying each weight into
    # that GPU's compute buffer: it grows by about the largest such tensor. CUDA, ROCm and
    # Vulkan do this (offload_op); Metal shares the memory and does not need to.
    weight_copy = max(a.host_tensors) if discrete else 0
    # src/llama-context.cpp: pipeline parallelism needs several GPUs, every layer offloaded,
    # -sm layer, the KV cache offloaded and no tensor overrides; the scheduler then keeps
    # GGML_SCHED_MAX_COPIES of every graph input per device (unslothai/unsloth#7637 traces
    # the 4x KQ mask this causes on multi-GPU fits).
    pipeline = (len(devices) > 1 and ngl > n and options.split_mode == "layer" and options.kv_offload
                and a.n_cpu_moe == 0)
    shape = lay.estimate.compute_shape
    inputs = memory.graph_input_bytes(lay.hp, n_tokens=shape.n_tokens, n_kv=shape.n_kv,
                                      n_kv_swa=shape.n_kv_swa, flash_attention=shape.flash_attention)

    gpus = tuple(DeviceUse(i, d.name, d.memory_bytes,
                           _gpu_parts(i, lay, a, options, weight_copy=weight_copy,
                                      pipeline_inputs=inputs if pipeline else 0),
                           tuple(a.blocks[i]), a.where[n] == i)
                 for i, d in enumerate(devices))
    available_host = system_ram_bytes
    unified = next((d for d in devices if d.unified), None)
    if unified is not None and unified.total_bytes is not None:
        # one memory: what the GPU does not use is left for the CPU part
        available_host = unified.total_bytes - sum(d.bytes for d in gpus)
        if system_ram_bytes is not None:
            available_host = min(available_host, system_ram_bytes)
    host = DeviceUse(None, "CPU / system RAM", available_host,
                     _host_parts(lay, a, options, gpus_used=gpus_used, discrete=discrete,
                                 weight_copy=weight_copy, inputs=inputs),
                     tuple(a.blocks[None]), a.where[n] is None)
    split = tuple(float(x) for x in np.diff(np.concatenate([[0.0], splits]))) if devices else ()
    return Placement(lay, ngl, a.n_cpu_moe, split, flash_attention, flash_attention_reason,
                     options.load_mode, options.kv_offload, pipeline, unified is not None, gpus, host,
                     system_ram_bytes,
                     _notes(lay, a, options, n_devices=len(devices), weight_copy=weight_copy, pipeline=pipeline))


# --- the planner: model + hardware + options → placement -----------------------------------

class Planner:
    """One model, one set of devices and settings; places it at any context, any options.

    `settings` are memory.estimate's keyword arguments other than the model, n_gpu_layers
    and flash_attention (quant, context_length, cache_type_k/v, n_seq, n_ubatch, …).
    """

    def __init__(self, model, devices: Sequence[Device], options: Options, *,
                 system_ram_bytes: int | None = None, **settings):
        if len(devices) > MAX_DEVICES:
            raise InputError("devices", f"at most {MAX_DEVICES} GPUs, got {len(devices)}")
        options.check(len(devices))
        if system_ram_bytes is not None:
            memory.check_int("system_ram_bytes", system_ram_bytes, 1)
        self.model = memory.load_model(model, settings.pop("quant", None), settings.pop("imatrix", False))
        self.devices = tuple(devices)
        self.options = options
        self.system_ram_bytes = system_ram_bytes
        self.settings = settings
        self._layouts: dict[tuple[int, bool], Layout] = {}
        hp = self.model.hp
        self._types = (memory.cache_type("cache_type_k", settings.get("cache_type_k", "f16")),
                       memory.cache_type("cache_type_v", settings.get("cache_type_v", "f16")))
        self.context_length = settings.get("context_length", 4096)
        self.n_layer = hp.n_layer

    def flash_attention(self, options: Options, devices: Sequence[Device] | None = None) -> tuple[bool, str]:
        devices = self.devices if devices is None else devices
        on_gpu = bool(devices) and (options.n_gpu_layers is None or options.n_gpu_layers > 0)
        return resolve_flash_attention(
            options.flash_attention, self.model.hp, type_k=self._types[0], type_v=self._types[1],
            gpu_layers=on_gpu, kv_offload=options.kv_offload, unified=any(d.unified for d in devices))

    def layout(self, context_length: int, flash_attention: bool) -> Layout:
        key = (context_length, flash_attention)
        if key not in self._layouts:
            settings = {**self.settings, "context_length": context_length}
            try:
                self._layouts[key] = layout(self.model, flash_attention=flash_attention, **settings)
            except InputError as exc:
                if exc.field == "kv_cache_type" and not flash_attention and self.options.flash_attention == "auto":
                    raise InputError("kv_cache_type", "a quantized V cache requires flash attention, which "
                                     f"llama.cpp turns off here ({self.flash_attention(self.options)[1]})") from None
                raise
        return self._layouts[key]

    def place(self, options: Options | None = None, context_length: int | None = None,
              devices: Sequence[Device] | None = None) -> Placement:
        """At the planner's context, options and devices unless others are given."""
        options = options or self.options
        devices = self.devices if devices is None else tuple(devices)
        fa, why = self.flash_attention(options, devices)
        lay = self.layout(context_length or self.context_length, fa)
        return place(lay, devices, options, flash_attention=fa, flash_attention_reason=why,
                     system_ram_bytes=self.system_ram_bytes)


# --- the answer -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """The most that fits: what `llama-fit-params` would print, in the flags people type."""

    placement: Placement  # at the requested context
    options: Options  # what reproduces it
    fits: bool
    longest_context: int | None  # with this placement, up to the model's training context
    full_offload_context: int | None  # everything on the GPUs (what --fit tries first)
    context_limit: int  # the training context (per sequence × sequences), the search's ceiling
    notes: tuple[str, ...]

    def flags(self) -> list[str]:
        """llama.cpp's command-line flags for this placement."""
        p = self.placement
        out = ["-ngl", str(p.n_gpu_layers)]
        if p.n_cpu_moe:
            out += ["--cpu-moe"] if p.n_cpu_moe >= p.layout.n_layer else ["--n-cpu-moe", str(p.n_cpu_moe)]
        if self.options.tensor_split is not None:
            out += ["-ts", ",".join(f"{x:g}" for x in self.options.tensor_split)]
        return out


def _split_options(options: Options, counts: Sequence[int], n_cpu_moe: int) -> Options:
    total = sum(counts)
    return replace(options, n_gpu_layers=total, n_cpu_moe=n_cpu_moe, cpu_moe=False,
                   tensor_split=tuple(float(c) for c in counts) if total else None)


def _fill(evaluate: Callable[[Options], Placement], options: Options, n_devices: int,
          n_layer: int, n_cpu_moe: int) -> list[int]:
    """Layers per GPU, filled from the last GPU backwards as --fit does (common/fit.cpp step
    3): each GPU takes as many of the remaining layers as keep it within its target."""
    counts = [0] * n_devices
    remaining = n_layer + 1
    for d in reversed(range(n_devices)):
        lo, hi = 0, remaining  # lo fits (no layers), find the largest that does
        while lo < hi:
            mid = (lo + hi + 1) // 2
            trial = counts.copy()
            trial[d] = mid
            if evaluate(_split_options(options, trial, n_cpu_moe)).gpus[d].verdict == "fits":
                lo = mid
            else:
                hi = mid - 1
        counts[d] = lo
        remaining -= lo
    return counts


def solve(planner: Planner) -> Answer | None:
    """The most GPU layers, the fewest experts on the CPU, the longest context that fit.

    At the requested context: everything on the GPUs if it fits (with llama.cpp's default
    split); else, for a MoE model, every layer on the GPUs with the fewest blocks' experts
    kept on the CPU (--n-cpu-moe N); else the most layers (-ngl, and -ts per GPU), with all
    experts on the CPU. Flash attention, KV offload, load mode and cache types stay as
    chosen. Then the longest context that placement holds, and the longest context at which
    everything stays on the GPUs. None when no GPU memory is known.
    """
    devices = planner.devices
    if not devices or any(d.memory_bytes is None for d in devices):
        return None
    full_options = replace(planner.options, n_gpu_layers=None, n_cpu_moe=0, cpu_moe=False, tensor_split=None)
    n = planner.n_layer
    nd = len(devices) if full_options.split_mode == "layer" else 1
    cache: dict[tuple[Options, int | None], Placement] = {}

    def evaluate(opts: Options, context: int | None = None) -> Placement:
        if (opts, context) not in cache:
            cache[(opts, context)] = planner.place(opts, context)
        return cache[(opts, context)]

    def gpus_fit(p: Placement) -> bool:
        return p.verdict == "fits"  # every GPU, and on a Mac the memory the GPU leaves

    def placed(opts: Options, n_cpu_moe: int) -> tuple[Options, int]:
        counts = _fill(evaluate, opts, nd, n, n_cpu_moe)
        if nd == 1:
            return replace(opts, n_gpu_layers=counts[0], n_cpu_moe=n_cpu_moe), counts[0]
        return _split_options(opts, counts, n_cpu_moe), sum(counts)

    notes = []
    chosen = full_options
    if not gpus_fit(evaluate(chosen)):
        chosen, layers = placed(full_options, 0)
        if layers < n + 1 and evaluate(full_options).layout.has_experts:
            # the fewest blocks with their experts on the CPU that let every layer fit
            lo, hi = 1, n
            while lo < hi:
                mid = (lo + hi) // 2
                if placed(full_options, mid)[1] == n + 1:
                    hi = mid
                else:
                    lo = mid + 1
            chosen, layers = placed(full_options, lo)
        if layers < n + 1:
            notes.append(f"Not every layer fits: {layers} of {n + 1} on the GPU{'s' if nd > 1 else ''}"
                         + (", with every expert on the CPU." if evaluate(chosen).n_cpu_moe else "."))
    best = evaluate(chosen)

    streams = 1 if planner.settings.get("kv_unified") else planner.settings.get("n_seq", 1)
    step = CTX_PAD * streams  # common/fit.cpp rounds the context to 256 × streams too
    trained = planner.model.hp.context_length or memory.MAX_CONTEXT
    limit = max(min(trained * streams, memory.MAX_CONTEXT), step)

    def longest(opts: Options, known_fit: int = 0) -> int | None:
        """The longest context up to `limit`, in steps of 256 cells per stream, at which every
        GPU still fits (`known_fit`: a context known to fit)."""
        def ok(ctx: int) -> bool:
            try:
                return gpus_fit(evaluate(opts, ctx))
            except InputError:  # e.g. too short for the parallel sequences
                return False
        if ok(limit):
            return limit
        lo, hi = known_fit // step, -(-limit // step)  # lo·step fits (or lo = 0), hi·step does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid * step):
                lo = mid
            else:
                hi = mid
        return lo * step or None

    fits_gpus = gpus_fit(best)
    longest_ctx = longest(chosen, planner.context_length) if fits_gpus else None
    full = longest(full_options)
    if full is not None and full < FIT_MIN_CONTEXT:
        notes.append(f"Everything fits on the GPU{'s' if nd > 1 else ''} only below llama.cpp --fit's "
                     f"floor of {FIT_MIN_CONTEXT:,} tokens of context.")
    if best.ram_verdict == "does-not-fit":
        notes.append("The part left on the CPU does not fit in system RAM"
                     + (": with mmap it is read from disk as needed (very slow)." if best.load_mode == "mmap"
                        else "."))
    return Answer(best, chosen, fits_gpus and best.ram_verdict in ("fits", None), longest_ctx, full, limit,
                  tuple(notes))
