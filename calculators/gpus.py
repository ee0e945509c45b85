"""Common accelerators: how much memory a model may use on each, and how fast it is.

Memory sizes are the vendors' marketed capacities, which are binary gigabytes
(a "24 GB" RTX 4090 has 24 GiB = 25,769,803,776 bytes of GDDR6X). The usable part is less:
the driver and the display keep some, which is why `memory.fit_verdicts` keeps a margin.

Apple silicon shares one memory between CPU and GPU, and Metal lets the GPU keep at most
`recommendedMaxWorkingSetSize` of it, which llama.cpp prints when it starts. Logged values:
10922.67 MB on a 16 GB Mac (ggml-org/llama.cpp#2209) and 21845.34 MB on 32 GB Macs
(llama.cpp#2011, #3606, ollama/ollama#434), i.e. 2/3 of RAM; 49152.00 MiB on a 64 GB
M1 Max (llama.cpp#1870), i.e. 3/4. Newer macOS versions may allow a little more (a 128 GB
M5 Max on macOS 26 reports 107.52 GiB, antirez/ds4#893), so these fractions are the
conservative reading. The limit can be raised with `sudo sysctl iogpu.wired_limit_mb=…`.

Speed figures (what `calculators.speed` reads), each from the `source` the preset cites:

memory_bandwidth_gbs  the vendor's peak memory bandwidth in GB/s (10^9 bytes per second).
compute_tflops        dense matrix throughput in FP16, in TFLOPS: the tensor/matrix-core
                      figure without sparsity, with FP16 accumulation where the vendor
                      gives two. On the Tesla P40, whose FP16 is slow, the FP32 rate: llama.cpp
                      multiplies float weights in FP32 there. Apple does not
                      publish GPU TFLOPS for most chips; those figures are derived as GPU
                      cores × 128 FP32 lanes × 2 (fused multiply-add) × clock, FP16 running
                      at the FP32 rate on M1–M4. CPU systems: peak FP32 FMA throughput of
                      all cores (cores × clock × SIMD lanes × 2 per FMA × FMA units).
int8_tops             dense INT8 throughput in TOPS, given only where llama.cpp's quantized
                      matrix multiply (MMQ, CUDA and HIP) can use it and it is above the FP16
                      figure: tensor cores on NVIDIA Turing and newer, the dp4a dot products
                      of the Tesla P40 and the Instinct MI50, the matrix cores of RDNA 4 and
                      CDNA 3. calculators.speed reads it on CUDA only: the published ROCm
                      speeds do not show HIP's MMQ gaining from it (the MI50's gpt-oss-20b
                      prompt speed fits its FP16 rate at the share the RX 7900 XTX reaches).
                      The vendor's figure without sparsity; NVIDIA's GeForce pages give
                      only "AI TOPS" (FP8 with sparsity on Ada, FP4 with sparsity on
                      Blackwell), of which INT8 dense is a half and a quarter. Not given for
                      the V100 (no INT8 tensor cores: llama.cpp multiplies large batches with
                      FP16 cuBLAS there), RDNA 2 and 3 (INT8 no faster than FP16), Intel and
                      Apple GPUs (their llama.cpp backends, Vulkan and Metal, multiply in FP16)
                      and CPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GiB = 1024**3

VENDORS = ("nvidia", "amd", "intel", "apple", "cpu")
# llama.cpp backends each vendor's hardware runs, the usual one first.
VENDOR_BACKENDS = {
    "nvidia": ("cuda", "vulkan", "cpu"),
    "amd": ("rocm", "vulkan", "cpu"),
    "intel": ("vulkan", "cpu"),
    "apple": ("metal", "cpu"),
    "cpu": ("cpu",),
}


# the architectures' names as their vendors write them (Accelerator.architecture is the key)
ARCHITECTURE_NAMES = {
    "pascal": "Pascal", "volta": "Volta", "turing": "Turing", "ampere": "Ampere", "ada": "Ada Lovelace",
    "hopper": "Hopper", "blackwell": "Blackwell", "gcn5": "GCN 5 (Vega)", "rdna2": "RDNA 2", "rdna3": "RDNA 3",
    "rdna3.5": "RDNA 3.5", "rdna4": "RDNA 4", "cdna3": "CDNA 3", "xe-hpg": "Xe-HPG", "xe2": "Xe2",
    "apple": "Apple GPU",
}


@dataclass(frozen=True)
class Accelerator:
    slug: str
    name: str
    memory_bytes: int
    unified: bool = False  # memory shared with the CPU (Apple silicon, DGX Spark, Strix Halo)
    vendor: str = ""
    memory_bandwidth_gbs: float | None = None
    compute_tflops: float | None = None
    source: str = ""  # where the bandwidth and compute figures come from
    int8_tops: float | None = None  # see the module docstring; None where FP16 is as fast
    # the GPU's architecture (NVIDIA's, AMD's and Intel's names): which of llama.cpp's kernels it
    # runs depends on it (calculators.speed.attention_kernel)
    architecture: str = ""

    @property
    def gpu_usable_bytes(self) -> int:
        """Memory the GPU may hold: all of it on a discrete card, Metal's working-set limit on a Mac."""
        if not self.unified or self.vendor != "apple":
            return self.memory_bytes
        # Metal recommendedMaxWorkingSetSize: 2/3 of RAM up to 32 GiB, 3/4 above (see module doc)
        fraction = (2, 3) if self.memory_bytes <= 32 * GiB else (3, 4)
        return self.memory_bytes * fraction[0] // fraction[1]

    @property
    def backends(self) -> tuple[str, ...]:
        return VENDOR_BACKENDS.get(self.vendor, ())

    @property
    def has_speed_figures(self) -> bool:
        return self.memory_bandwidth_gbs is not None and self.compute_tflops is not None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gpu_usable_bytes"] = self.gpu_usable_bytes
        data["backends"] = list(self.backends)
        return data


def _gpu(slug: str, name: str, gib: int, unified: bool = False, vendor: str = "apple",
         bandwidth: float | None = None, tflops: float | None = None, source: str = "",
         int8: float | None = None, arch: str = "") -> Accelerator:
    return Accelerator(slug, name, gib * GiB, unified, vendor, bandwidth, tflops, source, int8, arch)


def _nvidia(slug, name, gib, bandwidth, tflops, source, unified=False, int8=None, arch=""):
    return _gpu(slug, name, gib, unified, "nvidia", bandwidth, tflops, source, int8, arch)


def _amd(slug, name, gib, bandwidth, tflops, source, unified=False, int8=None, arch=""):
    return _gpu(slug, name, gib, unified, "amd", bandwidth, tflops, source, int8, arch)


def _apple(slug, name, gib, bandwidth, tflops, source):
    return _gpu(slug, name, gib, True, "apple", bandwidth, tflops, source, arch="apple")


# Sources shared by several presets
_AMPERE = "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf"
_ADA = "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
_BLACKWELL = ("https://images.nvidia.com/aem-dam/Solutions/geforce/blackwell/"
              "nvidia-rtx-blackwell-gpu-architecture.pdf")
_TURING = ("https://images.nvidia.com/aem-dam/en-zz/Solutions/design-visualization/technologies/"
           "turing-architecture/NVIDIA-Turing-Architecture-Whitepaper.pdf")
_A100 = ("https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
         "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
_APPLE_DERIVED = " TFLOPS derived: GPU cores × 128 lanes × 2 × {clock} GHz."
_M1 = "https://www.apple.com/newsroom/2021/10/introducing-m1-pro-and-m1-max-the-most-powerful-chips-apple-has-ever-built/"
_M2 = "https://www.apple.com/newsroom/2023/01/apple-unveils-m2-pro-and-m2-max-next-generation-chips-for-next-level-workflows/"
_M3 = "https://www.apple.com/newsroom/2023/10/apple-unveils-m3-m3-pro-and-m3-max-the-most-advanced-chips-for-a-personal-computer/"
_M4 = "https://www.apple.com/newsroom/2024/10/apple-introduces-m4-pro-and-m4-max/"


GPUS: tuple[Accelerator, ...] = (
    # NVIDIA GeForce
    _nvidia("rtx-2080-ti", "NVIDIA GeForce RTX 2080 Ti (11 GB)", 11, 616, 107.6,
            f"{_TURING} (Appendix A: 616 GB/s; FP16 tensor, FP16 accumulate: 107.6 TFLOPS; INT8 tensor: 215.2 TOPS)", int8=215.2, arch="turing"),
    _nvidia("rtx-3060-12gb", "NVIDIA GeForce RTX 3060 (12 GB)", 12, 360, 50.5,
            "https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3060-3060ti/ "
            "(360 GB/s; 101 tensor TFLOPS with sparsity, half of it dense; INT8 dense is twice FP16, as for every Ampere GeForce in the GA102 whitepaper's Table 9)", int8=101, arch="ampere"),
    _nvidia("rtx-3080-10gb", "NVIDIA GeForce RTX 3080 (10 GB)", 10, 760, 119,
            f"{_AMPERE} (Table 9: 760 GB/s; FP16 tensor, FP16 accumulate: 119 TFLOPS; INT8 tensor: 238 TOPS)", int8=238, arch="ampere"),
    _nvidia("rtx-3090", "NVIDIA GeForce RTX 3090 (24 GB)", 24, 936, 142,
            f"{_AMPERE} (Table 9: 936 GB/s; FP16 tensor, FP16 accumulate: 142 TFLOPS; INT8 tensor: 284 TOPS)", int8=284, arch="ampere"),
    _nvidia("rtx-4060-ti-16gb", "NVIDIA GeForce RTX 4060 Ti (16 GB)", 16, 288, 88.3,
            "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4060-4060ti/ "
            "(288 GB/s; 353 AI TOPS = FP8 with sparsity, a quarter of it FP16 dense, a half INT8 dense)", int8=176.6, arch="ada"),
    _nvidia("rtx-4070", "NVIDIA GeForce RTX 4070 (12 GB)", 12, 504, 116.6,
            "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4070-family/ "
            "(504 GB/s; 466 AI TOPS = FP8 with sparsity, a quarter of it FP16 dense, a half INT8 dense)", int8=233, arch="ada"),
    _nvidia("rtx-4080", "NVIDIA GeForce RTX 4080 (16 GB)", 16, 716.8, 194.9,
            f"{_ADA} (Appendix A: 716.8 GB/s; FP16 tensor, FP16 accumulate: 194.9 TFLOPS; INT8 tensor: 389.9 TOPS)", int8=389.9, arch="ada"),
    _nvidia("rtx-4090", "NVIDIA GeForce RTX 4090 (24 GB)", 24, 1008, 330.3,
            f"{_ADA} (Appendix A: 1008 GB/s; FP16 tensor, FP16 accumulate: 330.3 TFLOPS; INT8 tensor: 660.6 TOPS)", int8=660.6, arch="ada"),
    _nvidia("rtx-5060-ti-16gb", "NVIDIA GeForce RTX 5060 Ti (16 GB)", 16, 448, 94.9,
            "https://www.nvidia.com/en-us/geforce/graphics-cards/50-series/rtx-5060-family/ "
            "(448 GB/s; 759 AI TOPS = FP4 with sparsity, an eighth of it FP16 dense, a quarter INT8 dense)", int8=189.8, arch="blackwell"),
    _nvidia("rtx-5070", "NVIDIA GeForce RTX 5070 (12 GB)", 12, 672, 123.5,
            "https://www.nvidia.com/en-us/geforce/graphics-cards/50-series/rtx-5070-family/ "
            "(672 GB/s; 988 AI TOPS = FP4 with sparsity, an eighth of it FP16 dense, a quarter INT8 dense)", int8=247, arch="blackwell"),
    _nvidia("rtx-5080", "NVIDIA GeForce RTX 5080 (16 GB)", 16, 960, 225.1,
            f"{_BLACKWELL} (960 GB/s; FP16 tensor, FP16 accumulate: 225.1 TFLOPS dense; INT8 tensor: 450.2 TOPS dense)", int8=450.2, arch="blackwell"),
    _nvidia("rtx-5090", "NVIDIA GeForce RTX 5090 (32 GB)", 32, 1792, 419,
            f"{_BLACKWELL} (1792 GB/s; FP16 tensor, FP16 accumulate: 838 TFLOPS with sparsity, 419 dense; INT8 tensor: 838 TOPS dense)", int8=838, arch="blackwell"),
    # NVIDIA data centre and workstation
    _nvidia("tesla-p40", "NVIDIA Tesla P40 (24 GB)", 24, 346, 12,
            "https://images.nvidia.com/content/pdf/tesla/184427-Tesla-P40-Datasheet-NV-Final-Letter-Web.pdf "
            "(346 GB/s; FP32 12 TFLOPS, FP16 far slower, so llama.cpp multiplies floats in FP32; "
            "INT8 47 TOPS)", int8=47, arch="pascal"),
    _nvidia("tesla-v100-32gb", "NVIDIA Tesla V100 PCIe (32 GB)", 32, 900, 112,
            "https://images.nvidia.com/content/technologies/volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf "
            "(PCIe: 900 GB/s; tensor performance 112 TFLOPS)", arch="volta"),
    _nvidia("t4", "NVIDIA T4 (16 GB)", 16, 320, 65,
            "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf "
            "(320 GB/s; mixed precision FP16/FP32 65 TFLOPS; INT8 130 TOPS)", int8=130, arch="turing"),
    _nvidia("l4", "NVIDIA L4 (24 GB)", 24, 300, 121,
            "https://www.nvidia.com/en-us/data-center/l4/ (300 GB/s; FP16 tensor 242 TFLOPS with sparsity; INT8 tensor 485 TOPS with sparsity)", int8=242.5, arch="ada"),
    _nvidia("a10", "NVIDIA A10 (24 GB)", 24, 600, 125,
            "https://www.nvidia.com/en-us/data-center/products/a10-gpu/ (600 GB/s; FP16 tensor 125 TFLOPS; INT8 tensor 250 TOPS)", int8=250, arch="ampere"),
    _nvidia("l40s", "NVIDIA L40S (48 GB)", 48, 864, 362,
            "https://www.nvidia.com/en-us/data-center/l40s/ (864 GB/s; FP16 tensor 733 TFLOPS with sparsity; INT8 tensor 1,466 TOPS with sparsity)", int8=733, arch="ada"),
    _nvidia("a100-40gb", "NVIDIA A100 (40 GB)", 40, 1555, 312,
            f"{_A100} (40 GB: 1,555 GB/s; FP16 tensor 312 TFLOPS; INT8 tensor 624 TOPS)", int8=624, arch="ampere"),
    _nvidia("a100-80gb", "NVIDIA A100 (80 GB)", 80, 2039, 312,
            f"{_A100} (80 GB SXM: 2,039 GB/s; FP16 tensor 312 TFLOPS; INT8 tensor 624 TOPS)", int8=624, arch="ampere"),
    _nvidia("h100-80gb", "NVIDIA H100 (80 GB)", 80, 3350, 989.5,
            "https://www.nvidia.com/en-us/data-center/h100/ (SXM: 3.35 TB/s; FP16 tensor 1,979 TFLOPS with sparsity; INT8 tensor 3,958 TOPS with sparsity)", int8=1979, arch="hopper"),
    _nvidia("h200", "NVIDIA H200 (141 GB)", 141, 4800, 989.5,
            "https://www.nvidia.com/en-us/data-center/h200/ (4.8 TB/s; FP16 tensor 1,979 TFLOPS with sparsity; INT8 tensor 3,958 TOPS with sparsity)", int8=1979, arch="hopper"),
    _nvidia("rtx-6000-ada", "NVIDIA RTX 6000 Ada Generation (48 GB)", 48, 960, 364.3,
            "https://www.nvidia.com/en-us/products/workstations/rtx-6000/ (960 GB/s; 1,457 AI TOPS = FP8 with "
            "sparsity, a quarter of it FP16 dense, a half INT8 dense)", int8=728.5, arch="ada"),
    _nvidia("rtx-pro-6000-blackwell", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition (96 GB)", 96, 1792, 500,
            "https://www.nvidia.com/en-us/products/workstations/professional-desktop-gpus/rtx-pro-6000/ "
            "(1792 GB/s; 4,000 AI TOPS = FP4 with sparsity, an eighth of it FP16 dense, a quarter INT8 dense)",
            int8=1000, arch="blackwell"),
    _nvidia("dgx-spark", "NVIDIA DGX Spark (GB10, 128 GB unified)", 128, 273, 125,
            "https://www.nvidia.com/en-us/products/workstations/dgx-spark/ (273 GB/s LPDDR5x; "
            "1 PFLOP FP4 with sparsity, an eighth of it FP16 dense, a quarter INT8 dense)", unified=True, int8=250, arch="blackwell"),
    # AMD
    _amd("rx-6800-xt", "AMD Radeon RX 6800 XT (16 GB)", 16, 512, 41.5,
         "https://www.amd.com/en/products/graphics/amd-radeon-rx-6800-xt (512 GB/s; peak FP16 41.47 TFLOPS)", arch="rdna2"),
    _amd("rx-7900-xt", "AMD Radeon RX 7900 XT (20 GB)", 20, 800, 103,
         "https://www.amd.com/en/products/graphics/desktops/radeon/7000-series/amd-radeon-rx-7900xt.html "
         "(800 GB/s; peak FP16 103 TFLOPS)", arch="rdna3"),
    _amd("rx-7900-xtx", "AMD Radeon RX 7900 XTX (24 GB)", 24, 960, 122.8,
         "https://www.amd.com/en/products/graphics/desktops/radeon/7000-series/amd-radeon-rx-7900xtx.html "
         "(960 GB/s; peak FP16 122.8 TFLOPS)", arch="rdna3"),
    _amd("rx-9070-xt", "AMD Radeon RX 9070 XT (16 GB)", 16, 640, 194.7,
         "https://www.amd.com/en/products/graphics/desktops/radeon/9000-series/amd-radeon-rx-9070xt.html "
         "(20 Gbps × 256 bit = 640 GB/s; FP16 matrix 389 TFLOPS with sparsity; INT8 matrix 779 TOPS with sparsity)", int8=389.4, arch="rdna4"),
    _amd("rx-9060-xt-16gb", "AMD Radeon RX 9060 XT (16 GB)", 16, 320, 102.6,
         "https://www.amd.com/en/products/graphics/desktops/radeon/9000-series/amd-radeon-rx-9060xt.html "
         "(20 Gbps × 128 bit = 320 GB/s; 32 CUs at up to 3.13 GHz; INT8 matrix 410 TOPS with sparsity; FP16 matrix "
         "derived as 32 CUs × 1,024 FLOPs per clock × 3.13 GHz, the RX 9070 XT's dense rate per CU and clock)",
         int8=205.1, arch="rdna4"),
    _amd("radeon-ai-pro-r9700", "AMD Radeon AI PRO R9700 (32 GB)", 32, 640, 191.3,
         "https://www.amd.com/en/products/graphics/workstations/radeon-ai-pro/ai-9000-series/amd-radeon-ai-pro-r9700.html "
         "(640 GB/s; FP16 matrix 383 TFLOPS with sparsity; INT8 matrix 765 TOPS with sparsity)", int8=382.6, arch="rdna4"),
    _amd("mi50", "AMD Instinct MI50 (32 GB)", 32, 1024, 26.5,
         "https://www.amd.com/system/files/documents/radeon-instinct-mi50-datasheet.pdf "
         "(1 TB/s HBM2; peak FP16 26.5 TFLOPS, INT8 53 TOPS)", int8=53, arch="gcn5"),
    _amd("mi300x", "AMD Instinct MI300X (192 GB)", 192, 5300, 1307.4,
         "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html (5.3 TB/s; FP16 1307.4 TFLOPS dense; INT8 2614.9 TOPS dense)", int8=2614.9, arch="cdna3"),
    _amd("ryzen-ai-max-395", "AMD Ryzen AI Max+ 395 (Radeon 8060S, 128 GB unified)", 128, 256, 59.4,
         "https://www.amd.com/en/products/processors/laptop/ryzen/ai-300-series/amd-ryzen-ai-max-plus-395.html "
         "(LPDDR5X-8000 on 256 bits = 256 GB/s; TFLOPS derived: 40 CUs × 512 FP16 FLOPs/clock × 2.9 GHz)",
         unified=True, arch="rdna3.5"),
    # Intel
    _gpu("arc-a770-16gb", "Intel Arc A770 (16 GB)", 16, False, "intel", 560, 137.6,
         "https://www.intel.com/content/www/us/en/products/sku/229151/intel-arc-a770-graphics-16gb/specifications.html "
         "(560 GB/s; TFLOPS derived: 32 Xe cores × 2,048 FP16 FLOPs per clock on XMX × 2.1 GHz)", arch="xe-hpg"),
    _gpu("arc-pro-b70", "Intel Arc Pro B70 (32 GB)", 32, False, "intel", 608, 183.5,
         "https://zolotukhin.ai/zinc/docs/intel-gpu-reference/ (Intel's published figures: 608 GB/s on 256 bits; "
         "367 INT8 TOPS on 256 XMX engines, half of it FP16)", arch="xe2"),
    _gpu("arc-b580", "Intel Arc B580 (12 GB)", 12, False, "intel", 456, 116.5,
         "https://www.intel.com/content/www/us/en/products/sku/241598/intel-arc-b580-graphics/specifications.html "
         "(456 GB/s; 233 INT8 TOPS on XMX, half of it FP16)", arch="xe2"),
    # Apple silicon (unified memory): the chips, by GPU core count
    _apple("apple-m1", "Apple M1 (8-core GPU, 16 GB)", 16, 68.25, 2.6,
           "https://www.apple.com/newsroom/2020/11/apple-unleashes-m1/ (2.6 TFLOPS; LPDDR4X-4266 on 128 bits = 68.25 GB/s)"),
    _apple("apple-m1-pro", "Apple M1 Pro (16-core GPU, 32 GB)", 32, 200, 5.2, f"{_M1} (200 GB/s; 5.2 TFLOPS)"),
    _apple("apple-m1-max", "Apple M1 Max (32-core GPU, 64 GB)", 64, 400, 10.4, f"{_M1} (400 GB/s; 10.4 TFLOPS)"),
    _apple("apple-m1-ultra", "Apple M1 Ultra (64-core GPU, 128 GB)", 128, 800, 21,
           "https://www.apple.com/newsroom/2022/03/apple-unveils-m1-ultra-the-worlds-most-powerful-chip-for-a-personal-computer/ "
           "(800 GB/s; 21 TFLOPS)"),
    _apple("apple-m2", "Apple M2 (10-core GPU, 24 GB)", 24, 100, 3.6,
           "https://www.apple.com/newsroom/2022/06/apple-unveils-m2-with-breakthrough-performance-and-capabilities/ "
           "(100 GB/s; 3.6 TFLOPS)"),
    _apple("apple-m2-pro", "Apple M2 Pro (19-core GPU, 32 GB)", 32, 200, 6.8,
           f"{_M2} (200 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m2-max", "Apple M2 Max (38-core GPU, 96 GB)", 96, 400, 13.6,
           f"{_M2} (400 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m2-ultra", "Apple M2 Ultra (76-core GPU, 192 GB)", 192, 800, 27.2,
           "https://www.apple.com/newsroom/2023/06/apple-introduces-m2-ultra/ (800 GB/s)."
           + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m3", "Apple M3 (10-core GPU, 24 GB)", 24, 100, 3.6,
           f"{_M3} (100 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m3-pro", "Apple M3 Pro (18-core GPU, 36 GB)", 36, 150, 6.4,
           f"{_M3} (150 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m3-max", "Apple M3 Max (40-core GPU, 128 GB)", 128, 400, 14.3,
           f"{_M3} (400 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m3-ultra", "Apple M3 Ultra (80-core GPU, 512 GB)", 512, 819, 28.6,
           "https://www.apple.com/newsroom/2025/03/apple-reveals-m3-ultra-taking-apple-silicon-to-a-new-extreme/ "
           "(819 GB/s)." + _APPLE_DERIVED.format(clock=1.398)),
    _apple("apple-m4", "Apple M4 (10-core GPU, 32 GB)", 32, 120, 3.8,
           "https://www.apple.com/newsroom/2024/05/apple-introduces-m4-chip/ (120 GB/s)."
           + _APPLE_DERIVED.format(clock=1.47)),
    _apple("apple-m4-pro", "Apple M4 Pro (20-core GPU, 64 GB)", 64, 273, 7.5,
           f"{_M4} (273 GB/s)." + _APPLE_DERIVED.format(clock=1.47)),
    _apple("apple-m4-max", "Apple M4 Max (40-core GPU, 128 GB)", 128, 546, 17.2,
           f"{_M4} (546 GB/s)." + _APPLE_DERIVED.format(clock=1.678)),
    _apple("apple-m5", "Apple M5 (10-core GPU, 32 GB)", 32, 153, 15,
           "https://www.apple.com/newsroom/2025/10/apple-unleashes-m5-the-next-big-leap-in-ai-performance-for-apple-silicon/ "
           "(153 GB/s; 'over 4x the peak GPU compute for AI' of M4, with the GPU's neural accelerators)"),
    # Apple silicon by memory size only (for the fit verdicts; no speed figures: pick a chip)
    _gpu("apple-8gb", "Apple silicon Mac, 8 GB unified memory", 8, unified=True),
    _gpu("apple-16gb", "Apple silicon Mac, 16 GB unified memory", 16, unified=True),
    _gpu("apple-24gb", "Apple silicon Mac, 24 GB unified memory", 24, unified=True),
    _gpu("apple-32gb", "Apple silicon Mac, 32 GB unified memory", 32, unified=True),
    _gpu("apple-64gb", "Apple silicon Mac, 64 GB unified memory", 64, unified=True),
    _gpu("apple-128gb", "Apple silicon Mac, 128 GB unified memory", 128, unified=True),
    _gpu("apple-192gb", "Apple silicon Mac, 192 GB unified memory", 192, unified=True),
)


def _cpu(slug, name, gib, bandwidth, tflops, source):
    return Accelerator(slug, name, gib * GiB, False, "cpu", bandwidth, tflops, source)


# Machines without a GPU (llama.cpp's CPU backend). Bandwidth: channels × transfers/s ×
# 8 bytes for the memory named; compute: the peak FP32 FMA rate of all cores.
CPU_SYSTEMS: tuple[Accelerator, ...] = (
    _cpu("cpu-raspberry-pi-5", "Raspberry Pi 5 (4× Cortex-A76, LPDDR4X-4267, 16 GB)", 16, 17.1, 0.154,
         "https://www.raspberrypi.com/documentation/computers/processors.html#bcm2712 (LPDDR4X-4267 on "
         "32 bits = 17.1 GB/s; 4 cores × 2.4 GHz × 2 NEON FMA × 4 lanes × 2)"),
    _cpu("cpu-core-i5-4278u", "Intel Core i5-4278U (2× DDR3L-1600, 8 GB)", 8, 25.6, 0.166,
         "https://www.intel.com/content/www/us/en/products/sku/83505/intel-core-i54278u-processor-3m-cache-up-to-3-10-ghz/specifications.html "
         "(2 channels × 1600 MT/s × 8 B = 25.6 GB/s; 2 cores × 2.6 GHz × 2 AVX2 FMA × 8 lanes × 2)"),
    _cpu("cpu-ryzen-9-9950x", "AMD Ryzen 9 9950X (2× DDR5-6000, 64 GB)", 64, 96, 5.1,
         "https://www.amd.com/en/products/processors/desktops/ryzen/9000-series/amd-ryzen-9-9950x.html "
         "(2 channels × 6000 MT/s × 8 B = 96 GB/s; 16 cores × 5.0 GHz × 2 AVX-512 FMA × 16 lanes × 2)"),
    _cpu("cpu-core-i9-14900k", "Intel Core i9-14900K (2× DDR5-5600, 64 GB)", 64, 89.6, 2.6,
         "https://www.intel.com/content/www/us/en/products/sku/236773/intel-core-i9-processor-14900k-36m-cache-up-to-6-00-ghz/specifications.html "
         "(2 × 5600 MT/s × 8 B = 89.6 GB/s; 8 P-cores × 5.6 GHz × 32 + 16 E-cores × 4.4 GHz × 16 FP32 FLOPs/clock)"),
    _cpu("cpu-epyc-9654", "AMD EPYC 9654 (12× DDR5-4800, 384 GB)", 384, 460.8, 7.4,
         "https://www.amd.com/en/products/processors/server/epyc/4th-generation-9004-and-8004-series/amd-epyc-9654.html "
         "(12 channels × 4800 MT/s × 8 B = 460.8 GB/s; 96 cores × 2.4 GHz × 32 FP32 FLOPs/clock)"),
)

ACCELERATORS: tuple[Accelerator, ...] = GPUS + CPU_SYSTEMS


def get_gpu(slug: str) -> Accelerator:
    for gpu in GPUS:
        if gpu.slug == slug:
            return gpu
    raise KeyError(slug)


def get_accelerator(slug: str) -> Accelerator:
    """Any preset, GPU or CPU-only system."""
    for accelerator in ACCELERATORS:
        if accelerator.slug == slug:
            return accelerator
    raise KeyError(slug)
