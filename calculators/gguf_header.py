"""Read a GGUF file's header — metadata and tensor table — from its first bytes only.

The browser uploads only the first few MiB of a (multi-GB) GGUF file. Everything the
memory estimator needs is in the header: the key/value metadata, then one entry per
tensor (name, shape, type, offset). The tensor data that follows is not needed.

Why not `gguf.GGUFReader`: it memory-maps a whole file *on disk* and builds a numpy
view of every tensor's data, so a truncated file fails
(checked with gguf 0.19: the first 8 MiB of the bundled Gemma 3 270M file raise
"ValueError: cannot reshape array of size 1860928 into shape (262144,680)"), and an
upload held in memory would first have to be written to disk. The header layout is
small and fixed by the GGUF spec (ggml docs/gguf.md; gguf-py gguf_reader.py reads it the
same way), so it is parsed here from a bytes buffer; the tests check the result against
GGUFReader on the full file. Value types come from `gguf.GGUFValueType`, tensor types
from `gguf.GGMLQuantizationType`, sizes from `gguf.GGML_QUANT_SIZES`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import gguf
import numpy as np

from calculators.quant_mix import tensor_nbytes

VT = gguf.GGUFValueType

# GGUF_DEFAULT_ALIGNMENT (ggml/include/gguf.h); a file may override it in general.alignment.
DEFAULT_ALIGNMENT = 32
# GGML_MAX_DIMS (ggml.h)
MAX_DIMS = 4
# Arrays longer than this (tokenizer vocabularies, merges, scores) are kept as their
# length only: the estimator needs the count, and 262k token strings are no use to a page.
LONG_ARRAY = 1024

_SCALAR = {
    VT.UINT8: "B", VT.INT8: "b", VT.UINT16: "H", VT.INT16: "h", VT.UINT32: "I",
    VT.INT32: "i", VT.FLOAT32: "f", VT.UINT64: "Q", VT.INT64: "q", VT.FLOAT64: "d",
    VT.BOOL: "?",
}


class GGUFError(ValueError):
    """The upload is not a readable GGUF header. `field` names the form field."""

    field = "file"

    def __init__(self, message: str):
        super().__init__(f"gguf: {message}")
        self.message = message


class _Truncated(Exception):
    pass


@dataclass(frozen=True)
class ArraySummary:
    """A long metadata array, kept as its element type and length."""

    item_type: str  # GGUFValueType name, e.g. "STRING"
    length: int

    def __len__(self) -> int:
        return self.length


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: gguf.GGMLQuantizationType
    shape: tuple[int, ...]  # ggml order: ne0 (row length) first
    offset: int  # from the start of the tensor data section

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def n_bytes(self) -> int:
        return tensor_nbytes(self.type, self.shape)


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any] = field(repr=False)
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    alignment: int
    data_offset: int  # where the tensor data section starts (= bytes of header + padding)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def file_size(self) -> int:
        """Size of the whole file: header, then the data section up to the last tensor's end."""
        end = max((t.offset + t.n_bytes for t in self.tensors), default=0)
        return self.data_offset + end

    def hyperparameters(self) -> "Hyperparameters":
        return hyperparameters(self)


# --- parsing ---------------------------------------------------------------------------

class _Cursor:
    def __init__(self, data: bytes, order: str):
        self.data = memoryview(data)
        self.pos = 0
        self.order = order

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, code: str):
        size = struct.calcsize(code)
        return struct.unpack(self.order + code, self.take(size))[0]

    def string(self) -> str:
        n = self.scalar("Q")
        return bytes(self.take(n)).decode("utf-8", errors="replace")

    def value(self, vtype: int):
        if vtype == VT.STRING:
            return self.string()
        if vtype == VT.ARRAY:
            item_type = self.scalar("I")
            count = self.scalar("Q")
            return self.array(item_type, count)
        code = _SCALAR.get(_value_type(vtype))
        return self.scalar(code)

    def array(self, item_type: int, count: int):
        item = _value_type(item_type)
        if item in _SCALAR:
            size = struct.calcsize(_SCALAR[item])
            raw = self.take(count * size)  # bounds-checked before any allocation
            if count > LONG_ARRAY:
                return ArraySummary(item.name, count)
            values = np.frombuffer(raw, dtype=np.dtype(self.order + _SCALAR[item]))
            return [bool(v) if item == VT.BOOL else v.item() for v in values]
        if item == VT.STRING:
            if count > LONG_ARRAY:
                for _ in range(count):
                    self.take(self.scalar("Q"))
                return ArraySummary(item.name, count)
            return [self.string() for _ in range(count)]
        # nested arrays occur in no model file we know of; read them generically
        values = [self.value(item) for _ in range(count)]
        return ArraySummary(item.name, count) if count > LONG_ARRAY else values


def _value_type(vtype: int) -> gguf.GGUFValueType:
    try:
        return VT(vtype)
    except ValueError:
        raise GGUFError(f"unknown metadata value type {vtype}") from None


def parse_header(data: bytes) -> GGUFHeader:
    """Parse the header from the first bytes of a GGUF file (the whole file works too).

    Raises GGUFError (a ValueError, message starting "gguf:") when the bytes are not GGUF
    or stop before the end of the tensor table.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise GGUFError("expected the file's bytes")
    if len(data) < 4 or bytes(data[:4]) != b"GGUF":
        raise GGUFError("not a GGUF file (it does not start with the magic bytes 'GGUF')")
    if len(data) < 24:
        raise GGUFError(f"the upload is only {len(data)} bytes, too short for a GGUF header")
    # The version is a small number; read little-endian, a value with zero low bytes means
    # the file is big-endian (gguf-py GGUFReader makes the same test).
    order = "<"
    version = struct.unpack("<I", bytes(data[4:8]))[0]
    if version & 0xFFFF == 0:
        order = ">"
        version = struct.unpack(">I", bytes(data[4:8]))[0]
    if version not in (2, 3):
        raise GGUFError(f"unsupported GGUF version {version} (versions 2 and 3 are supported)")

    cur = _Cursor(bytes(data), order)
    cur.pos = 8
    try:
        n_tensors = cur.scalar("Q")
        n_kv = cur.scalar("Q")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            metadata[key] = cur.value(cur.scalar("I"))
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.scalar("I")
            if not 1 <= n_dims <= MAX_DIMS:
                raise GGUFError(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
            shape = tuple(cur.scalar("Q") for _ in range(n_dims))
            raw_type = cur.scalar("I")
            offset = cur.scalar("Q")
            try:
                qtype = gguf.GGMLQuantizationType(raw_type)
            except ValueError:
                raise GGUFError(f"tensor {name!r} has ggml type {raw_type}, unknown to this gguf version") from None
            if qtype not in gguf.GGML_QUANT_SIZES or shape[0] % gguf.GGML_QUANT_SIZES[qtype][0]:
                raise GGUFError(f"tensor {name!r}: row length {shape[0]} does not fit type {qtype.name}")
            infos.append(TensorInfo(name, qtype, shape, offset))
    except _Truncated:
        raise GGUFError(
            f"the upload stops after {len(data)} bytes, inside the header (metadata and tensor "
            "table); send more of the beginning of the file"
        ) from None

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment must be a power of two, got {alignment!r}")
    data_offset = -(-cur.pos // alignment) * alignment
    return GGUFHeader(version, metadata, tuple(infos), alignment, data_offset)


def read_header(path, max_bytes: int = 64 * 1024 * 1024) -> GGUFHeader:
    """Parse a file on disk, reading only its first `max_bytes` bytes."""
    with open(path, "rb") as fh:
        return parse_header(fh.read(max_bytes))


# --- hyperparameters --------------------------------------------------------------------

# Which layers use sliding-window attention is not in most GGUF files: llama.cpp hard-codes
# a pattern per architecture (src/models/<arch>.cpp load_arch_hparams → load_swa_pattern,
# llama_hparams::set_swa_pattern), unless {arch}.attention.sliding_window_pattern is set.
# arch → (n_pattern, dense_first, needs a sliding_window > 0 in the file, default window)
SWA_PATTERNS: dict[str, tuple[int, bool, bool, int | None]] = {
    "gemma2": (2, False, False, 4096),  # gemma2.cpp: n_swa defaults to 4096
    "gemma3": (6, False, True, None),  # gemma3.cpp: SWA only if sliding_window > 0
    "cohere2": (4, False, False, None),
    "gpt-oss": (2, False, False, None),  # openai-moe.cpp
    "olmo2": (4, False, True, None),
    # llama4.cpp: chunked attention in 8192-token chunks on 3 layers of 4, unless the file
    # sets sliding_window to 0
    "llama4": (4, False, False, 8192),
}


def swa_layers(n_layer: int, n_pattern: int, dense_first: bool = False) -> tuple[bool, ...]:
    """llama_hparams::set_swa_pattern: which layers are sliding-window layers."""
    if dense_first:
        return tuple(n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer))
    return tuple(n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer))


@dataclass(frozen=True)
class Hyperparameters:
    """What llama.cpp's loader reads from the metadata (llama_model::load_hparams)."""

    arch: str
    name: str
    n_layer: int
    n_embd: int
    n_head: tuple[int, ...]  # per layer
    n_head_kv: tuple[int, ...]  # per layer
    head_dim_k: int
    head_dim_v: int
    head_dim_k_swa: int
    head_dim_v_swa: int
    n_ff: int
    n_vocab: int
    context_length: int
    n_expert: int
    n_expert_used: int
    sliding_window: int | None
    swa_layers: tuple[bool, ...]
    file_type: int | None

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers) and self.swa_layers[il]


def _per_layer(value, n_layer: int, key: str) -> tuple[int, ...]:
    if isinstance(value, list):
        if len(value) != n_layer:
            raise GGUFError(f"{key} has {len(value)} entries for {n_layer} layers")
        return tuple(int(v) for v in value)
    return (int(value),) * n_layer


def hyperparameters(header: GGUFHeader) -> Hyperparameters:
    md = header.metadata
    arch = header.architecture
    if not arch:
        raise GGUFError("general.architecture is missing")

    def get(key, default=None, required=False):
        full = f"{arch}.{key}"
        if full not in md:
            if required:
                raise GGUFError(f"{full} is missing")
            return default
        return md[full]

    n_layer = int(get("block_count", required=True))
    if n_layer < 1:
        raise GGUFError(f"{arch}.block_count must be at least 1")
    n_embd = int(get("embedding_length", required=True))
    n_head = _per_layer(get("attention.head_count", required=True), n_layer, f"{arch}.attention.head_count")
    n_head_kv = _per_layer(get("attention.head_count_kv", list(n_head)), n_layer,
                           f"{arch}.attention.head_count_kv")
    # llama_model::load_hparams: head size defaults to n_embd / n_head
    default_head = n_embd // n_head[0] if n_head[0] else 0
    head_k = int(get("attention.key_length", default_head))
    head_v = int(get("attention.value_length", default_head))
    n_ff = get("feed_forward_length", 0)
    n_ff = max(n_ff) if isinstance(n_ff, list) else int(n_ff)

    # vocabulary: {arch}.vocab_size, else the tokenizer's token list, else token_embd's rows
    n_vocab = get("vocab_size")
    if n_vocab is None and "tokenizer.ggml.tokens" in md:
        n_vocab = len(md["tokenizer.ggml.tokens"])
    if n_vocab is None:
        embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
        n_vocab = embd.shape[1] if embd is not None and len(embd.shape) > 1 else 0

    window = get("attention.sliding_window")
    layers: tuple[bool, ...] = ()
    pattern = get("attention.sliding_window_pattern")
    rule = SWA_PATTERNS.get(arch)
    if isinstance(pattern, list):  # explicit per-layer flags
        layers = tuple(bool(v) for v in pattern)
    elif rule is not None:
        n_pattern, dense_first, needs_window, default_window = rule
        if window is None:
            window = default_window
        if window and (window > 0 or not needs_window):
            layers = swa_layers(n_layer, int(pattern) if pattern is not None else n_pattern, dense_first)
    if not any(layers):
        layers = ()

    return Hyperparameters(
        arch=arch,
        name=str(md.get("general.name", "")),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        head_dim_k_swa=int(get("attention.key_length_swa", head_k)),
        head_dim_v_swa=int(get("attention.value_length_swa", head_v)),
        n_ff=n_ff,
        n_vocab=int(n_vocab),
        context_length=int(get("context_length", 0)),
        n_expert=int(get("expert_count", 0)),
        n_expert_used=int(get("expert_used_count", 0)),
        sliding_window=int(window) if layers and window else None,
        swa_layers=layers,
        file_type=md.get("general.file_type"),
    )
