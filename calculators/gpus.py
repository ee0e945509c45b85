"""Common accelerators and how much memory a model may use on each.

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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GiB = 1024**3


@dataclass(frozen=True)
class Accelerator:
    slug: str
    name: str
    memory_bytes: int
    unified: bool = False  # memory shared with the CPU (Apple silicon)

    @property
    def gpu_usable_bytes(self) -> int:
        """Memory the GPU may hold: all of it on a discrete card, Metal's working-set limit on a Mac."""
        if not self.unified:
            return self.memory_bytes
        # Metal recommendedMaxWorkingSetSize: 2/3 of RAM up to 32 GiB, 3/4 above (see module doc)
        fraction = (2, 3) if self.memory_bytes <= 32 * GiB else (3, 4)
        return self.memory_bytes * fraction[0] // fraction[1]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gpu_usable_bytes"] = self.gpu_usable_bytes
        return data


def _gpu(slug: str, name: str, gib: int, unified: bool = False) -> Accelerator:
    return Accelerator(slug, name, gib * GiB, unified)


GPUS: tuple[Accelerator, ...] = (
    # NVIDIA GeForce
    _gpu("rtx-3060-12gb", "NVIDIA GeForce RTX 3060 (12 GB)", 12),
    _gpu("rtx-3080-10gb", "NVIDIA GeForce RTX 3080 (10 GB)", 10),
    _gpu("rtx-3090", "NVIDIA GeForce RTX 3090 (24 GB)", 24),
    _gpu("rtx-4060-ti-16gb", "NVIDIA GeForce RTX 4060 Ti (16 GB)", 16),
    _gpu("rtx-4070", "NVIDIA GeForce RTX 4070 (12 GB)", 12),
    _gpu("rtx-4080", "NVIDIA GeForce RTX 4080 (16 GB)", 16),
    _gpu("rtx-4090", "NVIDIA GeForce RTX 4090 (24 GB)", 24),
    _gpu("rtx-5090", "NVIDIA GeForce RTX 5090 (32 GB)", 32),
    # NVIDIA data centre
    _gpu("t4", "NVIDIA T4 (16 GB)", 16),
    _gpu("l4", "NVIDIA L4 (24 GB)", 24),
    _gpu("a10", "NVIDIA A10 (24 GB)", 24),
    _gpu("l40s", "NVIDIA L40S (48 GB)", 48),
    _gpu("a100-40gb", "NVIDIA A100 (40 GB)", 40),
    _gpu("a100-80gb", "NVIDIA A100 (80 GB)", 80),
    _gpu("h100-80gb", "NVIDIA H100 (80 GB)", 80),
    # AMD
    _gpu("rx-7900-xtx", "AMD Radeon RX 7900 XTX (24 GB)", 24),
    # Apple silicon (unified memory)
    _gpu("apple-8gb", "Apple silicon Mac, 8 GB unified memory", 8, unified=True),
    _gpu("apple-16gb", "Apple silicon Mac, 16 GB unified memory", 16, unified=True),
    _gpu("apple-24gb", "Apple silicon Mac, 24 GB unified memory", 24, unified=True),
    _gpu("apple-32gb", "Apple silicon Mac, 32 GB unified memory", 32, unified=True),
    _gpu("apple-64gb", "Apple silicon Mac, 64 GB unified memory", 64, unified=True),
    _gpu("apple-128gb", "Apple silicon Mac, 128 GB unified memory", 128, unified=True),
    _gpu("apple-192gb", "Apple silicon Mac, 192 GB unified memory", 192, unified=True),
)


def get_gpu(slug: str) -> Accelerator:
    for gpu in GPUS:
        if gpu.slug == slug:
            return gpu
    raise KeyError(slug)
