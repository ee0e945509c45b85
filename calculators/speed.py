"""How fast will it run? llama.cpp's generation and prompt-processing speed, estimated.

A physical model on top of `calculators.memory`'s tensor-by-tensor breakdown, with five
constants per backend (six on CUDA, ROCm and Vulkan, see BackendConstants; Intel's GPUs under
Vulkan and AMD's GCN GPUs under ROCm have their own sets, `constants_key`) fitted to published
llama.cpp speeds (tests/calculators/llama_bench_results.yaml, llama_bench_independent.yaml and
llama_bench_later.yaml, fitted and scored by `calculators.speed_fit` under the protocol its
docstring states).

Generation (one token at a time) reads every weight the token uses once: for a
mixture-of-experts model only the routed experts (n_expert_used of n_expert) plus the
attention, router and shared weights, not the file size; the token embedding is a
lookup of one row. It also reads the KV cache of the `depth` tokens already in the
context (sliding-window layers at most their window). Time per token, per device:

    max(bytes ÷ (bandwidth × bandwidth_fraction),
        weight FLOPs ÷ (compute × vector_fraction) + attention FLOPs ÷ (compute × attention_fraction))
    + graph operations × kernel_overhead

(the attention term is what latent attention, 16 heads over one 576-wide cache row, is bound
by deep in the context, where an ordinary model is still bound by reading its KV cache).
BF16 experts under Vulkan are the exception: llama.cpp has no one-token shader for them, so
they are multiplied apart, in the batched shader, at the rate measured for that
(VULKAN_BF16_EXPERT_TOKEN_SHARE).

The last term is what keeps small models on fast cards far below bandwidth ÷ size: every
operation of llama.cpp's graph (a matrix multiply, a norm, a rope, an add…) is a kernel
launch with a fixed cost, and a layer has 19 of them in Llama and about 40 in a
DeepSeek or Qwen3 MoE layer (router, top-k, weighting, one add per routed expert, the
latent-attention projections; `layer_operations` counts them as llama.cpp builds them).
With partial offload the GPU and CPU parts run one after the other, so their times add up;
the CPU part reads the host's memory (`host_bandwidth_gbs`).

Prompt processing evaluates the prompt in micro-batches (llama.cpp's -ub). Per micro-batch
of t tokens:
  - the weight matrices: 2 FLOPs per weight and token (the output layer only for the last
    token: llama-bench, like a server, asks for one set of logits) at compute_fraction of
    the rate the backend multiplies those weights at: on CUDA, quantized weights go through
    llama.cpp's MMQ kernels, which use INT8 tensor cores (Turing and newer) or dot products
    (Pascal), so they run at the GPU's INT8 rate; float weights, and every weight on a GPU
    without fast INT8 (the V100), go through cuBLAS at blas_fraction of the FP16 rate; the
    other backends multiply every type in their own kernels at the FP16 rate, but for BF16
    weights under Vulkan on a driver without bfloat16 matrices, which a shader on the
    vector units multiplies at scalar_fraction of it (`vulkan_bf16_matrices`);
  - attention over the context so far: with flash attention one fused kernel per layer,
    at attention_fraction of the FP16 rate (its own constant: these kernels reach a very
    different share of the peak on each backend), or at scalar_fraction where
    llama.cpp runs it on the GPU's vector units (`attention_kernel`); under Vulkan no faster
    than the KV cache can be read once per block of query rows
    (`flash_attention_query_rows`); without it two FP16 matrix multiplies at
    the float weights' rate plus the score matrix (t × context × heads, f32) written,
    soft-maxed and read back through memory;
  - the weights read once (for MoE the experts that the t tokens touch: 1 - (1 - k/E)^t of
    them), each token's activations around the matrix multiplies ACTIVATION_PASSES times,
    and every graph operation's launch once.
Layers kept on the CPU of a machine with a discrete GPU are computed on the GPU after
copying their weights over PCIe, as llama.cpp does for large batches.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field

from calculators import memory
from calculators.architecture import Architecture, tensor_role
from calculators.gguf_header import GGUFHeader
from calculators.gpus import ARCHITECTURE_NAMES, GPUS
from calculators.memory import InputError, check_int
from calculators.placement import FLASH_ATTENTION_CHOICES, resolve_flash_attention

BACKENDS = ("cuda", "rocm", "vulkan", "metal", "cpu")
GB = 1e9
MAX_DEPTH = memory.MAX_CONTEXT

# Host-to-device copies: PCIe 4.0 x16 moves 31.5 GB/s raw (16 GT/s × 16 lanes × 128/130
# bits, PCI-SIG); llama.cpp's copies reach about 80 % of that.
PCIE_GBS = 25.0
# The host's memory when none is given: two channels of DDR5-4800 (2 × 4800 MT/s × 8 B).
DEFAULT_HOST_BANDWIDTH_GBS = 76.8
# A CPU-only machine when no figures are given: eight cores at 4.5 GHz, each with two
# AVX2 FMA units of 8 float32 lanes (8 × 4.5e9 × 2 × 8 × 2 FLOPs/s).
DEFAULT_HOST_COMPUTE_TFLOPS = 8 * 4.5 * 2 * 8 * 2 / 1000
# llama.cpp copies CPU-resident weights to the GPU only for batches this large
# (ggml-backend's op offload, GGML_OP_OFFLOAD_MIN_BATCH).
OFFLOAD_MIN_BATCH = 32
# A matrix multiply over n tokens reaches n / (n + GEMM_HALF_TOKENS) of its full rate: small
# batches cannot fill the GPU's tiles. A mixture of experts' routed expert sees only n·k/E tokens
# of a batch (n·8/128 = 32 of 512 for Qwen3-30B-A3B), and runs at that many tokens' rate.
# A prompt also moves its activations: every f32 value a matrix multiply takes in or gives out is
# written and read around it by the element-wise operations of the graph (norms, rope, the
# activation function, residual adds, the quantized copy MMQ multiplies), ACTIVATION_PASSES
# times through memory, each token. It is what keeps small models (a 2,560-wide Gemma 3 4B) further
# below the compute peak than wide ones (an 8,192-wide 70B): per FLOP they move three times as much.
# GEMM_HALF_TOKENS makes the estimate follow llama.cpp's own micro-batch sweep (an RTX 4090 reading
# Llama 3 8B Q3_K_S prompts at 2,046 tokens/s in micro-batches of 16 and 10,556 in micro-batches
# of 512, PR #22298) within 13 % from 16 to 2048 (tests/calculators/test_speed.py).
# ACTIVATION_PASSES was chosen by leave-one-hardware-out cross-validation on the fitted rows
# (prompt processing, median error and measurements off by more than 2×: 27.1 % and 22 without
# it, 24.3 % and 16 with 1, 23.1 % and 15 with 2, 21.8 % and 14 with 3, 23.9 % and 14 with 4; all
# measurements 19.3 %, 17.9 %, 17.7 %, 17.0 %, 17.7 %). With it the routed experts need no small-
# batch value of their own: 16, 24 and 32 for them cross-validate within 0.4 points of each other
# (64, which they had before, 24.4 %).
GEMM_HALF_TOKENS = 32
ACTIVATION_PASSES = 3


def _gemm_efficiency(tokens: float) -> float:
    return tokens / (tokens + GEMM_HALF_TOKENS)


@dataclass(frozen=True)
class BackendConstants:
    """What each llama.cpp backend achieves of the hardware's published figures."""

    bandwidth_fraction: float  # of the peak memory bandwidth, while generating
    kernel_overhead_us: float  # fixed cost of one graph operation per evaluated batch, µs
    # of the matrix rate in prompt processing's weight multiplies, in the backend's own
    # kernels (on CUDA: MMQ, at the INT8 rate)
    compute_fraction: float
    attention_fraction: float  # of the FP16 rate, in flash attention's fused kernel
    # of the FP16 rate, in the one-token matrix-vector products of generation (each weight is
    # dequantized for one multiply-add: far below a batched multiply; it limits a CPU core)
    vector_fraction: float
    # CUDA only: of the FP16 rate, in cuBLAS, which multiplies float weights, and quantized
    # ones converted to FP16 on a GPU without INT8 tensor cores (see MMQ_BACKEND). The other
    # backends multiply every type in their own kernels (ROCm has rocBLAS too, but the
    # evidence cannot tell its rate from MMQ's, so one constant serves both).
    blas_fraction: float | None = None
    # ROCm and Vulkan only: of the FP16 rate, in llama.cpp's shaders that run on the GPU's
    # vector units where it has none for the matrix units: the flash-attention kernel
    # (SCALAR_ATTENTION; attention_fraction is then the matrix kernel's) and, under Vulkan,
    # the multiply of BF16 weights on a driver without bfloat16 matrices (vulkan_bf16_matrices)
    scalar_fraction: float | None = None


# Fitted by `python -m calculators.speed_fit` on the evidence its protocol leaves for fitting
# (neither held out nor outside the build window); the test suite re-runs the fit, checks
# these values, and checks the error on the held-out rows.
CONSTANTS: dict[str, BackendConstants] = {
    "cuda": BackendConstants(0.865, 2.26, 0.415, 0.237, 0.3, blas_fraction=0.424),
    "rocm": BackendConstants(0.843, 3.68, 0.489, 0.151, 0.3, scalar_fraction=0.056),
    "vulkan": BackendConstants(0.795, 1.63, 0.536, 0.313, 0.3, scalar_fraction=0.1),
    "metal": BackendConstants(0.809, 4.77, 0.823, 0.505, 0.3),
    "cpu": BackendConstants(0.708, 3.0, 0.634, 0.3, 0.302),
    "vulkan-intel": BackendConstants(0.459, 10.95, 0.254, 0.313, 0.3, scalar_fraction=0.1),
    "rocm-gcn": BackendConstants(0.662, 5.93, 0.502, 0.151, 0.3, scalar_fraction=0.122),
}
# Intel's GPUs under Vulkan get their own constants: in the fitted rows an Arc Pro B70 reads its
# weights at about half of its peak bandwidth where NVIDIA's and AMD's GPUs under the same backend
# reach about 80 % (Mesa's ANV driver and Intel's own shaders, not the ones the other vendors
# run), so one Vulkan bandwidth fraction fitted to both is wrong for each.
INTEL_ARCHITECTURES = {"xe-hpg", "xe2"}
# AMD's GCN GPUs (Vega, the Instinct MI50: gfx906) under ROCm likewise: llama.cpp's HIP kernels
# for them (no matrix cores, wave64) get much less of their memory: the MI50 generates Llama 2 7B
# Q4_0 at 97 tokens/s, 36 % of its 1 TB/s ÷ 3.8 GB, where the Radeon AI PRO R9700 in the same
# tables reaches 118 tokens/s, 71 % of its 640 GB/s ÷ 3.8 GB. One ROCm set fitted to both made the
# RDNA cards' generation 30 % too slow and the MI50's 40 % too fast.
GCN_ARCHITECTURES = {"gcn5"}
# the constant sets of these GPUs under these backends: key -> (backend, architectures)
CONSTANT_VARIANTS = {"vulkan-intel": ("vulkan", INTEL_ARCHITECTURES), "rocm-gcn": ("rocm", GCN_ARCHITECTURES)}
CONSTANT_SETS = BACKENDS + tuple(CONSTANT_VARIANTS)


# GPU architectures that, under a backend, have no prompt-processing measurement in the evidence
# (tests/calculators/llama_bench_*.yaml): their prompt figures carry over the efficiency the
# backend's kernels reach on other GPUs, and the estimate says so. A test keeps this set equal to
# what the evidence lacks for the presets (calculators.gpus).
PROMPT_UNMEASURED = frozenset({
    ("cuda", "hopper"), ("cuda", "turing"), ("rocm", "cdna3"), ("rocm", "rdna2"), ("vulkan", "cdna3"),
    ("vulkan", "gcn5"), ("vulkan", "hopper"), ("vulkan", "pascal"), ("vulkan", "volta"), ("vulkan", "xe-hpg"),
})
BACKEND_NAMES = {"cuda": "CUDA", "rocm": "ROCm", "vulkan": "Vulkan", "metal": "Metal", "cpu": "the CPU"}


def constants_key(hw: "Hardware") -> str:
    """Which of CONSTANTS describes the GPU (or CPU) of `hw`."""
    for key, (backend, architectures) in CONSTANT_VARIANTS.items():
        if hw.backend == backend and hw.architecture in architectures:
            return key
    return hw.backend


# The backend whose quantized matrix multiply (llama.cpp's MMQ) runs on INT8 tensor cores
# (Turing and newer) or INT8 dot products (Pascal), at the GPU's INT8 rate; a GPU with
# neither fast path (the V100: FP16 tensor cores only) converts the weights of a large batch
# to FP16 and calls cuBLAS instead (ggml-cuda's ggml_cuda_should_use_mmq). HIP shares the
# code, but its INT8 advantage is not in the evidence (calculators.gpus).
MMQ_BACKEND = "cuda"

# Which flash-attention kernel a prompt's micro-batch runs: one on the GPU's matrix units
# (tensor cores, WMMA/MFMA, cooperative matrices) or one on its vector units, several times
# slower on the same GPU (on ROCm, the same Radeon 8060S and build runs gpt-oss-20b's
# attention (tensor-core kernel) about five times more efficiently than Llama 2 7B's (tile
# kernel); under Vulkan the two kernels also differ in how often they read the KV cache,
# VULKAN_FLASH_ATTENTION_ROWS). `attention_kernel` decides as llama.cpp's
# code does; where llama.cpp gained a matrix kernel for a GPU, the date it was merged (a
# build before it ran the vector kernel).
MATRIX_ATTENTION, SCALAR_ATTENTION = "matrix", "scalar"
# HIP (ggml-cuda/fattn.cu, ggml_cuda_get_best_fattn_kernel): the tensor-core ("mma") kernel on
# RDNA 4 since llama.cpp PR #18481 (merged 2026-01-13), on RDNA 3 since PR #22880
# (2026-05-14), on CDNA 3 since PR #19806 (2026-02-28); RDNA 2 and GCN (the MI50) have no
# matrix units and run the tile kernel. On RDNA the mma kernel is chosen only for head sizes up
# to 128 and grouped-query attention (gqa_opt_applies: at least two query heads per KV head;
# "for RDNA3/4 I was not able to get better performance than the tile kernel for head sizes >
# 128", PR #22880), on CDNA for head sizes up to 256.
ROCM_MATRIX_ATTENTION_SINCE = {
    "rdna4": datetime.date(2026, 1, 13), "rdna3": datetime.date(2026, 5, 14),
    "rdna3.5": datetime.date(2026, 5, 14), "cdna3": datetime.date(2026, 2, 28),
}
# Vulkan (ggml-vulkan.cpp, get_fa_tuning_params): NV_cooperative_matrix2 on NVIDIA's drivers
# (Turing and newer), KHR_cooperative_matrix ("coopmat1", PR #13506, 2025-05-14) on AMD RDNA 3
# and newer, the scalar shader everywhere else: AMD RDNA 2 and GCN, Pascal, and Intel, whose
# Mesa driver offers no 16×16×16 cooperative matrix the coopmat1 shader needs
# (coopmat_support_16x16x16_*acc) and whose own flash-attention shaders came with PR #24406
# (September 2026), which none of the evidence ran and which is not modelled here.
VULKAN_MATRIX_ATTENTION = {"turing", "ampere", "ada", "hopper", "blackwell", "rdna3", "rdna3.5", "rdna4"}
VULKAN_COOPMAT1_FLASH_ATTENTION = datetime.date(2025, 5, 14)


def attention_kernel(hw: "Hardware", head_dim: int, gqa_ratio: int) -> str:
    """MATRIX_ATTENTION or SCALAR_ATTENTION: which flash-attention kernel llama.cpp runs for a
    prompt on `hw` (see ROCM_MATRIX_ATTENTION_SINCE and VULKAN_MATRIX_ATTENTION), for a model
    whose largest K head has head_dim values and whose layers have at least gqa_ratio query
    heads per KV head. A GPU of unknown architecture (custom figures) is taken to have matrix
    units llama.cpp uses."""
    arch, built = hw.architecture, hw.build_date or datetime.date.max
    if not arch or hw.backend not in ("rocm", "vulkan"):
        return MATRIX_ATTENTION
    if hw.backend == "rocm":
        since = ROCM_MATRIX_ATTENTION_SINCE.get(arch)
        shape_ok = head_dim <= 256 if arch.startswith("cdna") else (head_dim <= 128 and gqa_ratio >= 2)
        return MATRIX_ATTENTION if since and built >= since and shape_ok else SCALAR_ATTENTION
    if arch in VULKAN_MATRIX_ATTENTION and (arch not in ("rdna3", "rdna3.5", "rdna4")
                                           or built >= VULKAN_COOPMAT1_FLASH_ATTENTION):
        return MATRIX_ATTENTION
    return SCALAR_ATTENTION


# Vulkan's flash-attention shaders (ggml-vulkan.cpp, get_fa_tuning_params_*) give each workgroup
# one query head and a block of Br query rows, and that workgroup reads the head's whole K and V
# cache: a micro-batch of t tokens reads the cache t / Br times per query head. Deep in the
# context that traffic, not arithmetic, bounds the kernel when Br is small: 16 rows in the
# KHR_cooperative_matrix shader (AMD RDNA 3 and newer), 64 in NVIDIA's cooperative_matrix2
# shader, 8 in the scalar one. (The scalar shader takes 4 to 16 rows by vendor and head size;
# modelling that exactly fitted the Arc Pro B70's rows worse: its 4-row blocks for gpt-oss's
# heads of 64 read less than they would, the eight query heads of a KV head sharing its reads
# in the cache. 8 is its block for heads of 128.) The CUDA, HIP and Metal kernels are not
# modelled this way (their attention is taken as compute-bound, at attention_fraction).
VULKAN_FLASH_ATTENTION_ROWS = {"coopmat2": 64, "coopmat1": 16, SCALAR_ATTENTION: 8}
VULKAN_COOPMAT2 = {"turing", "ampere", "ada", "hopper", "blackwell"}


# Vulkan multiplies BF16 weights with bfloat16 cooperative matrices only where the driver offers
# them (they need VK_KHR_shader_bfloat16, which llama.cpp's device line prints as "bf16: 1", and a
# bfloat16 matrix shape like the FP16 one); elsewhere a shader on the vector units
# widens each weight to fp32 ("BF16 fallback for coopmat devices without bf16 coopmat support",
# ggml-vulkan.cpp). Published device lines: NVIDIA's driver (Turing and newer) and Mesa's for
# Intel's Xe2 print bf16: 1; Mesa's RADV, the driver llama.cpp's Vulkan users on AMD run, prints
# bf16: 1 on RDNA 4 (every Radeon AI PRO R9700 log of kyuz0/amd-r9700-ai-toolboxes, builds 7205 to
# 7423, December 2025) but bf16: 0 on RDNA 3 and 3.5 (every Radeon 8060S log of
# kyuz0/amd-strix-halo-toolboxes, through build 9193 of August 2026), as does Intel's Xe-HPG,
# which has no cooperative matrices at all. (AMD's own Windows driver prints bf16: 1 on recent
# RDNA 3 releases; the estimate assumes RADV and its note says so.)
VULKAN_BF16_MATRICES = {"turing", "ampere", "ada", "hopper", "blackwell", "rdna4", "xe2"}


# The rate, as a share of the FP16 peak, at which Vulkan's batched shader multiplies BF16 experts
# for one generated token (llama.cpp has no one-token shader for them: see generation). A prompt's
# batch of one would run at _gemm_efficiency(1) = 1/33 of the prompt rate; this path runs three
# to four times slower than that on the vector units, and no faster where bfloat16 matrices do
# the multiply. Read from the one published measurement of it on hardware that is not held out:
# kyuz0's pair of Radeon AI PRO R9700s under RADV (bf16: 1), build 7423 (2aa45ef9e),
# Qwen3-Coder-30B-A3B's BF16 file split by layers over both cards (a token passes every layer
# once, as on one card), tg128 30.49 t/s (github.com/kyuz0/amd-r9700-ai-toolboxes,
# benchmark/results/Qwen3-Coder-30B-A3B-Instruct-BF16-00001-of-00002__vulkan_radv__fa1__dual.log).
# To cancel what the pair adds, it is read from ratios on the same cards and build: to the Q8_0
# file under RADV (84.79 t/s) and to the BF16 file under ROCm 7.1.1 (58.31, a one-token shader),
# which give 0.00103 and 0.00071; this value misses each by 14 % (tests/calculators/test_speed.py
# holds both). The Radeon 8060S (RDNA 3.5, bf16: 0, held out: never fitted) measured 9.42 t/s for
# Qwen3-30B-A3B's BF16 file at build 7938, 17 % below the 11.4 this gives. No published
# measurement of this path on an NVIDIA or Intel GPU was found; they are given the same share, since
# the shader and its one-token dispatch are the same.
VULKAN_BF16_EXPERT_TOKEN_SHARE = 0.00084


def _bf16_matrix_rate(hw: "Hardware", c: "BackendConstants") -> float:
    """FLOPs per second of Vulkan's batched multiply of BF16 weights: at the float weights'
    rate on the matrix units, at scalar_fraction of the FP16 peak on the vector units."""
    float_rate = hw.compute_tflops * 1e12 * c.compute_fraction
    if vulkan_bf16_matrices(hw) or c.scalar_fraction is None:
        return float_rate
    return min(float_rate, hw.compute_tflops * 1e12 * c.scalar_fraction)


def vulkan_bf16_matrices(hw: "Hardware") -> bool:
    """Whether llama.cpp's Vulkan backend multiplies BF16 weights on `hw`'s matrix units
    (VULKAN_BF16_MATRICES); a GPU of unknown architecture (custom figures) is taken to, as
    attention_kernel takes it to have matrix units llama.cpp uses."""
    return not hw.architecture or hw.architecture in VULKAN_BF16_MATRICES


def flash_attention_query_rows(hw: "Hardware", kernel: str) -> int | None:
    """Query rows a flash-attention workgroup handles per read of the KV cache, where llama.cpp's
    kernel for `hw` re-reads the cache per block of rows (VULKAN_FLASH_ATTENTION_ROWS); None
    where that is not modelled."""
    if hw.backend != "vulkan":
        return None
    if kernel == SCALAR_ATTENTION:
        return VULKAN_FLASH_ATTENTION_ROWS[SCALAR_ATTENTION]
    return VULKAN_FLASH_ATTENTION_ROWS["coopmat2" if hw.architecture in VULKAN_COOPMAT2 else "coopmat1"]


# How fast a backend's prompt kernels multiply each quantized type, relative to the rest (1.0):
# unpacking a 3-bit or 6-bit K-quant block into the matrix units' operands costs more than a
# 4-bit or 8-bit one. Vulkan, from the baseline pp512 column of llama.cpp PR #27471 (0cc4m, one
# build on three GPUs, 2026-08-26), each rate being the one that makes this estimator's ratio of
# two files on one GPU the published one: Q3_K 0.74 (Llama 3.1 8B Q3_K_S against Q4_K_S, RTX
# 3090) and 0.64 (Llama 3 8B, Radeon AI PRO R9700), taken as 0.69; Q6_K then 0.62 (Q6_K against
# Q3_K_S, DGX Spark); Q8_0 0.96 (RTX 3090), taken as 1. Types without a published sweep: 1.
# tests/calculators/test_speed.py holds the estimator to that table.
PROMPT_TYPE_RATE: dict[str, dict[str, float]] = {
    "vulkan": {"Q3_K": 0.69, "Q6_K": 0.62},
}




# AMD's GPUs, whose Vulkan driver on Linux may be Mesa's RADV or AMD's AMDVLK: the constants are
# RADV's (the fitted logs' driver); with llama.cpp's 2026 builds AMDVLK read prompts 1.1-4× slower
# on the same Strix Halo and build (speed_fit.REGRESSION_FACTOR sets that log apart), so an
# estimate for them says which driver it assumes.
AMD_ARCHITECTURES = frozenset(gpu.architecture for gpu in GPUS if gpu.vendor == "amd")


# Without flash attention the scores of a micro-batch (t × context × heads, f32) cross
# memory four times: written by the K·Q product, read and written by the softmax, read by
# the product with V.
SCORE_BYTES = 4 * 4


@dataclass(frozen=True)
class Hardware:
    """Where the model runs: the accelerator's figures, or the CPU's for backend `cpu`."""

    memory_bandwidth_gbs: float
    compute_tflops: float
    backend: str
    unified: bool = False  # the GPU reads the host's memory (Apple silicon, DGX Spark)
    host_bandwidth_gbs: float | None = None  # for layers kept on the CPU
    name: str = "custom"
    # dense INT8 rate in TOPS where it is above the FP16 figure (calculators.gpus.Accelerator)
    int8_tops: float | None = None
    architecture: str = ""  # calculators.gpus.Accelerator.architecture; "" for custom figures
    # the llama.cpp build whose kernels to assume (attention_kernel), None for the newest
    build_date: datetime.date | None = None

    def __post_init__(self):
        for name in ("memory_bandwidth_gbs", "compute_tflops") + (("int8_tops",) if self.int8_tops is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise InputError(name, f"must be a positive number, got {value!r}")
        if self.backend not in BACKENDS:
            raise InputError("backend", f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.host_bandwidth_gbs is not None and (
                isinstance(self.host_bandwidth_gbs, bool) or not isinstance(self.host_bandwidth_gbs, (int, float))
                or not math.isfinite(self.host_bandwidth_gbs) or self.host_bandwidth_gbs <= 0):
            raise InputError("cpu_memory_bandwidth_gbs", f"must be a positive number, got {self.host_bandwidth_gbs!r}")

    @property
    def host_bandwidth(self) -> float:
        """GB/s the layers kept on the CPU read at."""
        if self.backend == "cpu":
            return self.memory_bandwidth_gbs
        if self.host_bandwidth_gbs is not None:
            return self.host_bandwidth_gbs
        return self.memory_bandwidth_gbs if self.unified else DEFAULT_HOST_BANDWIDTH_GBS



# --- the model, as far as speed is concerned ----------------------------------------------

@dataclass
class _Part:
    """The work of the layers on one device (gpu or cpu)."""

    layers: int = 0
    operations: int = 0  # graph operations (kernel launches) of one evaluation
    dense_bytes: int = 0  # weights every token reads (attention, norms, router, shared experts, output)
    expert_bytes: int = 0  # all routed-expert weights
    dense_params: int = 0  # matrix-multiply weights every token uses (output layer apart)
    expert_params: int = 0  # all routed-expert weights
    output_bytes: int = 0
    output_params: int = 0
    # the three parameter counts above by ggml type: float types (F32, F16, BF16) are multiplied
    # at the FP16 rate, never through INT8, BF16 under Vulkan apart (vulkan_bf16_matrices), and
    # each quantized type at its own rate (PROMPT_TYPE_RATE)
    dense_types: dict[str, int] = field(default_factory=dict)
    expert_types: dict[str, int] = field(default_factory=dict)
    output_types: dict[str, int] = field(default_factory=dict)

    @property
    def expert_bf16_params(self) -> int:
        return self.expert_types.get("BF16", 0)
    kv_full_per_cell: float = 0.0  # KV bytes per context token, full-attention layers
    kv_swa_per_cell: float = 0.0  # the same for sliding-window layers
    attn_full_per_cell: int = 0  # attention FLOPs per token per context token
    attn_swa_per_cell: int = 0
    heads_full: int = 0  # query heads summed over the layers (the score matrix's rows per token)
    heads_swa: int = 0
    # KV bytes per context token that the query heads read, one read per query head (a KV head
    # is read once for each query head that shares it): what a flash-attention kernel reads
    # for each block of query rows (flash_attention_query_rows)
    query_reads_full_per_cell: float = 0.0
    query_reads_swa_per_cell: float = 0.0
    # f32 values a token's matrix multiplies take in and give out (the routed experts' for the
    # n_expert_used a token goes to; the output layer's apart): the activations that a prompt's
    # element-wise operations read and write around them (ACTIVATION_PASSES)
    activation_values: int = 0


@dataclass(frozen=True)
class Profile:
    """What one token costs on each device, from memory.estimate's breakdown."""

    parts: dict[str, _Part]
    n_layer: int
    n_expert: int
    n_expert_used: int
    window: int | None
    weights_bytes: int
    notes: tuple[str, ...]
    flash_attention: bool = False
    head_dim: int = 0  # the largest K head (what decides llama.cpp's attention kernel)
    gqa_ratio: int = 1  # query heads per KV head, the fewest of any layer

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

    @property
    def active_parameters(self) -> int:
        """Weights a generated token multiplies (embedding lookup not counted)."""
        return round(sum(p.dense_params + p.output_params + self._active(p.expert_params)
                         for p in self.parts.values()))

    @property
    def operations_per_layer(self) -> float:
        """llama.cpp graph operations per layer, on average (the output layer's not counted)."""
        return sum(p.operations for p in self.parts.values()) / max(self.n_layer, 1)

    def _active(self, value):
        return value * self.n_expert_used / self.n_expert if self.n_expert else value

    def touched(self, value, tokens: int):
        """Expert weights a batch of `tokens` reads, routing spread evenly over experts."""
        if not self.n_expert:
            return value
        return value * (1 - (1 - self.n_expert_used / self.n_expert) ** tokens)


FLOAT_TYPES = ("F32", "F16", "BF16")
# The graph outside the layers: the embedding lookup, the final norm (a norm and its
# scale), the output projection.
OUTPUT_OPERATIONS = 4


def layer_operations(tensors, *, n_expert_used: int, latent_attention: bool, flash_attention: bool) -> int:
    """The operations llama.cpp's graph has for one layer, from the layer's tensors
    (objects with .name and .shape), as src/models/*.cpp build them:

    - one per weight matrix (a matrix multiply) or bias (an add); two per norm weight (the
      norm and its scale); none for gpt-oss's attention sinks, which the attention reads;
    - attention: rope of Q and K, K (and V) written to the cache, then one fused
      flash-attention kernel or four operations without it (K·Q, softmax, ·V, the copy of
      the result); latent attention (MLA) stores K only, but assembles Q and K from their
      rotary and latent parts (two concatenations) and copies the result out;
    - two residual adds, one activation per feed-forward block (routed and shared experts
      each have one);
    - a routed mixture of experts: the gating function, the top-k selection (argsort and a
      view), gathering and renormalising the weights (sum, clamp, divide), weighting the
      experts' outputs, one add per routed expert after the first, and one to add the
      shared experts.

    Checked against llama.cpp's own graphs in tests/calculators/test_speed.py.
    """
    ops = 0
    routed = shared = False
    for t in tensors:
        role = tensor_role(t.name)
        if t.name.endswith(".attn_sinks.weight"):
            continue
        ops += 2 if role == "norm" and t.name.endswith(".weight") else 1
        routed |= role == "expert"
        shared |= role == "shared_expert"
    ops += 2 + (1 if latent_attention else 2) + (1 if flash_attention else 4) + (3 if latent_attention else 0)
    ops += 2 + 1 + (1 if shared else 0)
    if routed:
        ops += 7 + (n_expert_used - 1) + (1 if shared else 0)
    return ops


def _is_matrix(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2


def _count_type(counts: dict[str, int], ggml_type: str, params: int) -> None:
    counts[ggml_type] = counts.get(ggml_type, 0) + params


def profile(model: Architecture | GGUFHeader, *, quant: str | None = None, n_gpu_layers: int = 10**6,
            n_cpu_moe: int = 0, context_length: int = 4096, cache_type_k: str = "f16",
            cache_type_v: str = "f16", flash_attention: bool = False, imatrix: bool = False,
            n_ubatch: int = 512, n_batch: int = 2048) -> Profile:
    """The per-device work of one token, from the memory estimate's tensor breakdown.

    `model` may also be what `memory.load_model` made of one (then quant and imatrix are not read).

    n_gpu_layers and the rest mean what they mean for `memory.estimate`; n_cpu_moe keeps
    the routed experts of the first N layers on the CPU (llama.cpp's --n-cpu-moe).
    """
    check_int("n_cpu_moe", n_cpu_moe, 0)
    est = memory.estimate(model, quant=quant, context_length=context_length, cache_type_k=cache_type_k,
                          cache_type_v=cache_type_v, flash_attention=flash_attention,
                          n_gpu_layers=n_gpu_layers, imatrix=imatrix, n_ubatch=n_ubatch, n_batch=n_batch)
    hp = est.hyperparameters
    n_layer = hp.n_layer
    notes: list[str] = []
    if hp.n_expert == 0 and n_cpu_moe:  # llama.cpp matches no tensor and goes on
        notes.append("This model has no experts (a dense model): --n-cpu-moe changes nothing.")

    # the layers a token runs through: those with a KV cache (a multi-token-prediction
    # block, GLM-4.5's or DeepSeek V3's, has none and only serves speculative decoding)
    run = {il for cache in est.kv_caches for il in cache.layers}
    # where each layer lives: the device of its non-expert tensors
    layer_device: dict[int, str] = {}
    for t in est.tensors:
        if t.name.startswith("blk.") and tensor_role(t.name) != "expert":
            layer_device.setdefault(int(t.name.split(".")[1]), t.device)
    ngl = min(n_gpu_layers, n_layer + 1)
    output_device = "gpu" if ngl > 0 else "cpu"

    parts = {"gpu": _Part(), "cpu": _Part()}
    by_layer: dict[int, list] = {}
    for t in est.tensors:
        if t.name.startswith("blk."):
            by_layer.setdefault(int(t.name.split(".")[1]), []).append(t)
    latent = any(t.name.endswith("attn_kv_a_mqa.weight") for t in est.tensors)
    for il in run:
        part = parts[layer_device.get(il, "cpu")]
        part.layers += 1
        part.operations += layer_operations(by_layer.get(il, ()), n_expert_used=hp.n_expert_used,
                                            latent_attention=latent, flash_attention=flash_attention)
    parts[output_device].operations += OUTPUT_OPERATIONS
    moved = 0
    has_output = False
    embd = None
    for t in est.tensors:
        device = t.device
        params = math.prod(t.shape)
        role = tensor_role(t.name)
        if t.name == "token_embd.weight":
            embd = t
            continue  # a lookup: one row per token
        if role in ("embedding", "mtp") or (t.name.startswith("blk.") and int(t.name.split(".")[1]) not in run):
            continue  # lookups, and the multi-token-prediction block
        part = parts[device]
        if role == "output" and _is_matrix(t.shape):
            has_output = True
            part.output_bytes += t.bytes
            part.output_params += params
            _count_type(part.output_types, t.type, params)
        elif role == "expert":
            layer = int(t.name.split(".")[1])
            if layer < n_cpu_moe and device == "gpu":
                device, part = "cpu", parts["cpu"]
                moved += t.bytes
            part.expert_bytes += t.bytes
            part.expert_params += params
            _count_type(part.expert_types, t.type, params)
            part.activation_values += (t.shape[0] + t.shape[1]) * hp.n_expert_used
        else:
            part.dense_bytes += t.bytes
            if _is_matrix(t.shape):
                part.dense_params += params
                _count_type(part.dense_types, t.type, params)
                part.activation_values += t.shape[0] + t.shape[1]
    if not has_output and embd is not None:
        # tied embeddings: the output layer multiplies by token_embd (a GPU copy when offloaded)
        part = parts[output_device]
        part.output_bytes += embd.bytes
        part.output_params += math.prod(embd.shape)
        _count_type(part.output_types, embd.type, math.prod(embd.shape))
    if moved:
        notes.append(f"--n-cpu-moe {n_cpu_moe}: {moved / 2**30:,.2f} GiB of expert weights stay in host memory.")

    # KV cache and attention per context token, per layer
    for cache in est.kv_caches:
        per_stream = cache.cells * cache.streams
        for il, layer_bytes in zip(cache.layers, cache.layer_bytes):
            part = parts[layer_device.get(il, "cpu")]
            swa = hp.is_swa(il)
            per_cell = layer_bytes / per_stream
            head_k = hp.head_dim_k_swa if swa else hp.head_dim_k
            head_v = hp.head_dim_v_swa if swa else hp.head_dim_v
            flops = 2 * hp.n_head[il] * (head_k + head_v)  # Q·Kᵀ and softmax·V
            query_reads = per_cell * hp.n_head[il] / max(hp.n_head_kv[il], 1)
            if swa:
                part.kv_swa_per_cell += per_cell
                part.attn_swa_per_cell += flops
                part.heads_swa += hp.n_head[il]
                part.query_reads_swa_per_cell += query_reads
            else:
                part.kv_full_per_cell += per_cell
                part.attn_full_per_cell += flops
                part.heads_full += hp.n_head[il]
                part.query_reads_full_per_cell += query_reads
    notes.extend(n for n in est.notes if n.startswith(("Weights:", "The model's", "The output layer")))
    return Profile(parts={k: v for k, v in parts.items()}, n_layer=len(run), n_expert=hp.n_expert,
                   n_expert_used=hp.n_expert_used, window=hp.sliding_window if hp.swa_layers else None,
                   weights_bytes=est.weights_bytes, notes=tuple(notes), flash_attention=flash_attention,
                   head_dim=max(hp.head_dim_k, hp.head_dim_k_swa),
                   gqa_ratio=min(h // max(kv, 1) for h, kv in zip(hp.n_head, hp.n_head_kv)))


# --- the speed of a profile on some hardware ------------------------------------------------

@dataclass(frozen=True)
class Generation:
    tokens_per_second: float
    bound: str  # "memory", "compute" or "overhead": what takes most of the time
    weights_bytes: float  # read per token
    kv_cache_bytes: float
    gpu_bytes: float
    cpu_bytes: float
    memory_ms: float
    compute_ms: float
    overhead_ms: float


@dataclass(frozen=True)
class PromptProcessing:
    tokens_per_second: float
    bound: str  # "compute", "attention", "memory" or "overhead": what takes most of the time
    compute_ms: float  # for the whole prompt: the weight matrices
    memory_ms: float
    overhead_ms: float
    flops_per_token: float
    attention_ms: float = 0.0  # the attention over the context (and, without flash attention, its scores' traffic)


def _cells(depth: int, window: int | None) -> tuple[int, int]:
    """Context tokens a token attends to: (full-attention layers, sliding-window layers)."""
    full = depth + 1
    return full, min(full, window) if window else full


def _attended(part: _Part, full: float, swa: float) -> tuple[float, float]:
    kv = part.kv_full_per_cell * full + part.kv_swa_per_cell * swa
    attn = part.attn_full_per_cell * full + part.attn_swa_per_cell * swa
    return kv, attn


def generation(prof: Profile, hw: Hardware, depth: int = 0,
               constants: dict[str, BackendConstants] | None = None) -> Generation:
    constants = constants or CONSTANTS
    check_int("depth", depth, 0, MAX_DEPTH)
    full, swa = _cells(depth, prof.window)
    device_c = constants[constants_key(hw)]
    host_c = constants["cpu"]
    memory_s = compute_s = overhead_s = 0.0
    weights = kv_total = 0.0
    per_device = {}
    for device, part in prof.parts.items():
        on_host = device == "cpu" or hw.backend == "cpu"
        c = host_c if on_host else device_c
        overhead_s += part.operations * c.kernel_overhead_us * 1e-6
        if not part.layers and not (part.dense_bytes + part.expert_bytes + part.output_bytes):
            continue
        kv, attn = _attended(part, full, swa)
        w = part.dense_bytes + part.output_bytes + prof._active(part.expert_bytes)
        flops = 2 * (part.dense_params + part.output_params + prof._active(part.expert_params))
        bandwidth = hw.host_bandwidth if on_host else hw.memory_bandwidth_gbs
        bytes_per_s = bandwidth * GB * c.bandwidth_fraction
        batched_bytes = batched_memory_s = batched_compute_s = 0.0
        if not on_host and part.expert_bf16_params and hw.backend == "vulkan":
            # llama.cpp's Vulkan backend has no one-token shader for BF16 experts
            # (ggml_vk_use_mul_mat_vec_id admits F32, F16 and quantized weights only): they go
            # through the batched shader with one token, at VULKAN_BF16_EXPERT_TOKEN_SHARE of the
            # FP16 peak, or as fast as they can be read
            share = part.expert_bf16_params / part.expert_params
            batched_bytes = prof._active(part.expert_bytes) * share
            batched_flops = 2 * prof._active(part.expert_bf16_params)
            batched_memory_s = batched_bytes / bytes_per_s
            batched_compute_s = batched_flops / (hw.compute_tflops * 1e12 * VULKAN_BF16_EXPERT_TOKEN_SHARE)
            flops -= batched_flops
        t_mem = (w - batched_bytes + kv) / bytes_per_s
        # the weights' products at the one-token rate, the attention at its kernel's (it is
        # what makes latent attention, 16 heads over one 576-wide cache row, compute-bound
        # at depth); the host's compute is only known when the CPU is the hardware
        t_compute = (flops / c.vector_fraction + attn / c.attention_fraction) / (hw.compute_tflops * 1e12) \
            if (not on_host or hw.backend == "cpu") else 0.0
        per_device[device] = w + kv
        weights += w
        kv_total += kv
        memory_s += t_mem if t_mem >= t_compute else 0.0
        compute_s += t_compute if t_compute > t_mem else 0.0
        # the batched experts' own kernels, after the rest
        memory_s += batched_memory_s if batched_memory_s >= batched_compute_s else 0.0
        compute_s += batched_compute_s if batched_compute_s > batched_memory_s else 0.0
    total = memory_s + compute_s + overhead_s
    bound = max((("memory", memory_s), ("compute", compute_s), ("overhead", overhead_s)), key=lambda x: x[1])[0]
    return Generation(tokens_per_second=1 / total, bound=bound, weights_bytes=weights, kv_cache_bytes=kv_total,
                      gpu_bytes=per_device.get("gpu", 0.0), cpu_bytes=per_device.get("cpu", 0.0),
                      memory_ms=memory_s * 1e3, compute_ms=compute_s * 1e3, overhead_ms=overhead_s * 1e3)


def prompt_processing(prof: Profile, hw: Hardware, depth: int = 0, n_prompt: int = 512,
                      n_ubatch: int = 512, n_batch: int = 2048,
                      constants: dict[str, BackendConstants] | None = None) -> PromptProcessing:
    constants = constants or CONSTANTS
    check_int("depth", depth, 0, MAX_DEPTH)
    check_int("n_prompt", n_prompt, 1, MAX_DEPTH)
    ubatch = min(check_int("ubatch_size", n_ubatch, 1), check_int("batch_size", n_batch, 1), n_prompt)
    device_c = constants[constants_key(hw)]
    host_c = constants["cpu"]
    on_cpu = hw.backend == "cpu"
    c = host_c if on_cpu else device_c
    # effective FLOPs per second of each kind of matrix multiply (see BackendConstants)
    fp16_rate = hw.compute_tflops * 1e12
    if hw.backend == MMQ_BACKEND:
        float_rate = fp16_rate * c.blas_fraction
        quant_rate = hw.int8_tops * 1e12 * c.compute_fraction if hw.int8_tops else float_rate
    else:
        float_rate = quant_rate = fp16_rate * c.compute_fraction
    bf16_rate = _bf16_matrix_rate(hw, c) if hw.backend == "vulkan" else float_rate
    kernel = attention_kernel(hw, prof.head_dim, prof.gqa_ratio)
    if c.scalar_fraction is not None and kernel == SCALAR_ATTENTION:
        attention_rate = fp16_rate * c.scalar_fraction
    else:
        attention_rate = fp16_rate * c.attention_fraction
    query_rows = None if on_cpu else flash_attention_query_rows(hw, kernel)
    gpu, cpu = prof.parts["gpu"], prof.parts["cpu"]
    compute_s = memory_s = overhead_s = attention_s = 0.0
    flops_total = 0.0
    done = 0

    type_rates = PROMPT_TYPE_RATE.get(hw.backend, {})

    def rate(ggml_type: str) -> float:
        """FLOPs per second at which weights of this type are multiplied."""
        if ggml_type == "BF16":
            return bf16_rate
        if ggml_type in FLOAT_TYPES:
            return float_rate
        return quant_rate * type_rates.get(ggml_type, 1.0)

    def matmul_seconds(params_by_type: dict[str, float]) -> float:
        """2 FLOPs per weight and token, each type at its rate."""
        return 2 * sum(params / rate(ggml_type) for ggml_type, params in params_by_type.items())

    # seconds per token of each part's weight multiplies at full efficiency: the same for every
    # micro-batch, so worked out once
    per_token = {device: (matmul_seconds(part.dense_types),
                          matmul_seconds({k: prof._active(v) for k, v in part.expert_types.items()}),
                          matmul_seconds(part.output_types))
                 for device, part in (("gpu", gpu), ("cpu", cpu))}

    while done < n_prompt:
        t = min(ubatch, n_prompt - done)
        ctx = depth + done + (t + 1) / 2  # causal: each token attends to what precedes it
        full, swa = ctx, min(ctx, prof.window) if prof.window else ctx
        last = done + t >= n_prompt
        # a matrix multiply over n tokens runs at n / (n + GEMM_HALF_TOKENS) of the rate: a
        # routed expert sees only t·k/E of the batch's tokens
        dense_eff = _gemm_efficiency(t)
        expert_eff = _gemm_efficiency(t * prof.n_expert_used / prof.n_expert) if prof.n_expert else 1.0
        for device, part in (("gpu", gpu), ("cpu", cpu)):
            _, attn = _attended(part, full, swa)
            flops_total += t * (2 * (part.dense_params + prof._active(part.expert_params)) + attn) \
                + (2 * part.output_params if last else 0)
            dense_s, expert_s, output_s = per_token[device]
            compute_s += t * dense_s / dense_eff + t * expert_s / expert_eff + (output_s if last else 0)
            if prof.flash_attention:
                arithmetic = t * attn / attention_rate
                if query_rows and device == "gpu":
                    reads = math.ceil(t / query_rows) * (part.query_reads_full_per_cell * full
                                                         + part.query_reads_swa_per_cell * swa)
                    attention_s += max(arithmetic, reads / (hw.memory_bandwidth_gbs * GB * device_c.bandwidth_fraction))
                else:
                    attention_s += arithmetic
            else:  # two matrix multiplies, and the scores through memory
                scores = t * (part.heads_full * full + part.heads_swa * swa)
                bandwidth = hw.host_bandwidth if device == "cpu" and not on_cpu else hw.memory_bandwidth_gbs
                bw_fraction = host_c.bandwidth_fraction if device == "cpu" or on_cpu else device_c.bandwidth_fraction
                attention_s += t * attn / (float_rate * dense_eff) \
                    + scores * SCORE_BYTES / (bandwidth * GB * bw_fraction)
        # weights read once per micro-batch
        if on_cpu:
            memory_s += (gpu.dense_bytes + cpu.dense_bytes + prof.touched(gpu.expert_bytes + cpu.expert_bytes, t)
                         + (gpu.output_bytes + cpu.output_bytes if last else 0)) \
                / (hw.memory_bandwidth_gbs * GB * host_c.bandwidth_fraction)
        else:
            gpu_bytes = gpu.dense_bytes + prof.touched(gpu.expert_bytes, t) + (gpu.output_bytes if last else 0)
            memory_s += gpu_bytes / (hw.memory_bandwidth_gbs * GB * device_c.bandwidth_fraction)
            cpu_bytes = cpu.dense_bytes + prof.touched(cpu.expert_bytes, t) + (cpu.output_bytes if last else 0)
            if cpu_bytes:
                if t >= OFFLOAD_MIN_BATCH:
                    # copied to the GPU (discrete) or read in place (unified memory)
                    rate = hw.host_bandwidth * host_c.bandwidth_fraction if hw.unified else PCIE_GBS
                    memory_s += cpu_bytes / (rate * GB)
                else:  # small batches run on the CPU, memory-bound
                    memory_s += cpu_bytes / (hw.host_bandwidth * GB * host_c.bandwidth_fraction)
        if ACTIVATION_PASSES:  # on the GPU, which also computes a CPU part's large batches
            bandwidth = hw.memory_bandwidth_gbs * GB * (host_c if on_cpu else device_c).bandwidth_fraction
            memory_s += t * (gpu.activation_values + cpu.activation_values) * 4 * ACTIVATION_PASSES / bandwidth
        overhead_s += (gpu.operations * c.kernel_overhead_us + cpu.operations * host_c.kernel_overhead_us) * 1e-6
        done += t
    total = compute_s + attention_s + memory_s + overhead_s
    bound = max((("compute", compute_s), ("attention", attention_s), ("memory", memory_s),
                 ("overhead", overhead_s)), key=lambda x: x[1])[0]
    return PromptProcessing(tokens_per_second=n_prompt / total, bound=bound, compute_ms=compute_s * 1e3,
                            memory_ms=memory_s * 1e3, overhead_ms=overhead_s * 1e3,
                            flops_per_token=flops_total / n_prompt, attention_ms=attention_s * 1e3)


# --- one call -------------------------------------------------------------------------

@dataclass(frozen=True)
class SpeedEstimate:
    generation: Generation
    prompt: PromptProcessing
    profile: Profile = field(repr=False)
    depth: int
    n_prompt: int
    notes: tuple[str, ...]
    flash_attention: bool = False
    flash_attention_reason: str = ""


def estimate(model: Architecture | GGUFHeader, hw: Hardware, *, quant: str | None = None, depth: int = 0,
             n_prompt: int = 512, n_gpu_layers: int = 10**6, n_cpu_moe: int = 0,
             flash_attention: bool | str = False, n_ubatch: int = 512, n_batch: int = 2048,
             cache_type_k: str = "f16", cache_type_v: str = "f16", imatrix: bool = False,
             constants: dict[str, BackendConstants] | None = None) -> SpeedEstimate:
    """Generation and prompt-processing tokens per second of `model` on `hw`.

    depth            tokens already in the context (llama-bench's -d).
    n_prompt         tokens of the prompt processed (llama-bench's -p, default 512).
    flash_attention  True/False, or llama.cpp's -fa "auto", "on", "off" ("auto" is resolved
                     as llama.cpp resolves it, by calculators.placement).
    The backend `cpu` runs every layer on the CPU whatever n_gpu_layers says.
    """
    check_int("depth", depth, 0, MAX_DEPTH)
    check_int("n_prompt", n_prompt, 1, MAX_DEPTH)
    ngl = 0 if hw.backend == "cpu" else check_int("n_gpu_layers", n_gpu_layers, 0)
    loaded = memory.load_model(model, quant, imatrix)
    fa, fa_reason = _flash_attention(flash_attention, loaded.hp, hw, ngl > 0, cache_type_k, cache_type_v)
    prof = profile(loaded, n_gpu_layers=ngl, n_cpu_moe=n_cpu_moe if ngl else 0,
                   context_length=min(memory.MAX_CONTEXT, depth + n_prompt), cache_type_k=cache_type_k,
                   cache_type_v=cache_type_v, flash_attention=fa, n_ubatch=n_ubatch, n_batch=n_batch)
    gen = generation(prof, hw, depth, constants)
    pp = prompt_processing(prof, hw, depth, n_prompt, n_ubatch, n_batch, constants)
    notes = list(prof.notes)
    if hw.backend != "cpu" and prof.parts["cpu"].layers:
        notes.append(f"{prof.parts['cpu'].layers} of {prof.n_layer} layers run on the CPU, reading host memory "
                     f"at {hw.host_bandwidth:,.0f} GB/s; the GPU and CPU parts take turns, so their times add up.")
    if (hw.backend, hw.architecture) in PROMPT_UNMEASURED:
        kind = ARCHITECTURE_NAMES.get(hw.architecture, hw.architecture)
        notes.append(f"No published llama.cpp prompt speed on {kind} GPUs under {BACKEND_NAMES[hw.backend]} "
                     f"is among the measurements this estimator is fitted to and checked against: the prompt "
                     f"figure assumes the share of the peak that other GPUs reach under it.")
    if hw.backend == "vulkan" and hw.architecture in AMD_ARCHITECTURES:
        notes.append("Vulkan on an AMD GPU: the estimate assumes Mesa's RADV driver; with 2026 llama.cpp builds "
                     "AMD's AMDVLK driver read prompts 1.1 to 4 times slower on the same machine and build "
                     "(generation was unaffected).")
    bf16_bytes = sum(t.n_bytes for t in loaded.tensors if t.type.name == "BF16")
    if hw.backend == "vulkan" and bf16_bytes > sum(t.n_bytes for t in loaded.tensors) / 2:
        notes.extend(_vulkan_bf16_notes(hw, prof.is_moe))
    return SpeedEstimate(generation=gen, prompt=pp, profile=prof, depth=depth, n_prompt=n_prompt,
                         notes=tuple(notes), flash_attention=fa, flash_attention_reason=fa_reason)


def _vulkan_bf16_notes(hw: Hardware, moe: bool) -> list[str]:
    """What an estimate for BF16 weights under Vulkan assumes about the driver, and what llama.cpp
    does with BF16 experts (ggml-vulkan.cpp, read at 000651caa)."""
    if vulkan_bf16_matrices(hw):
        notes = ["BF16 weights under Vulkan: the prompt figure assumes a driver with bfloat16 cooperative "
                 "matrices (NVIDIA's, Mesa's RADV on RDNA 4 and Mesa's for Intel Xe2, whose llama.cpp device "
                 "line prints bf16: 1); "
                 "without them llama.cpp multiplies BF16 weights on the vector units, several times slower."]
    else:
        notes = ["BF16 weights under Vulkan: the prompt figure assumes llama.cpp multiplies them on the vector "
                 "units, as it does where the driver offers no bfloat16 cooperative matrices (its device line "
                 "prints bf16: 0, as Mesa's RADV does on RDNA 3 and 3.5); a quantized file (Q8_0) or another backend "
                 "multiplies on the matrix units, several times faster."]
    if moe:
        notes.append("BF16 experts under Vulkan: llama.cpp has no one-token path for them, so every generated "
                     "token runs them through its batched shader, at the rate measured on a pair of Radeon AI PRO "
                     "R9700s: a third to a half of the speed ROCm gives the same file on the same card. "
                     "A quantized file (Q8_0) avoids it.")
    return notes


def _flash_attention(requested: bool | str, hp, hw: Hardware, gpu_layers: bool, cache_type_k: str,
                     cache_type_v: str) -> tuple[bool, str]:
    if isinstance(requested, bool):
        requested = "on" if requested else "off"
    if requested not in FLASH_ATTENTION_CHOICES:
        raise InputError("flash_attention", f"choose one of {', '.join(FLASH_ATTENTION_CHOICES)}, got {requested!r}")
    return resolve_flash_attention(
        requested, hp, type_k=memory.cache_type("cache_type_k", cache_type_k),
        type_v=memory.cache_type("cache_type_v", cache_type_v), gpu_layers=gpu_layers, kv_offload=True,
        unified=hw.unified)
