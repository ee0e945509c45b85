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

import math
import struct
from dataclasses import dataclass, field, replace
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
        return math.prod(self.shape)

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

    def summary(self) -> "GGUFHeader":
        """The same header with only the metadata the estimates read: the model's own
        `{arch}.*` keys, its name, file type and alignment, and the vocabulary's size.
        Strings are cut to SUMMARY_STRING characters. A chat template, a licence text or a
        junk string of many MB is dropped, so what is kept stays small whatever was sent."""
        arch = self.architecture
        kept = {key: _clip(value) for key, value in self.metadata.items()
                if key in SUMMARY_KEYS or (arch and key.startswith(f"{arch}."))}
        if "tokenizer.ggml.tokens" in self.metadata:
            kept["tokenizer.ggml.tokens"] = ArraySummary("STRING", len(self.metadata["tokenizer.ggml.tokens"]))
        return replace(self, metadata=kept)


SUMMARY_KEYS = {"general.architecture", "general.name", "general.file_type", "general.alignment"}
SUMMARY_STRING = 200


def _clip(value):
    if isinstance(value, str):
        return value[:SUMMARY_STRING]
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


# --- parsing ---------------------------------------------------------------------------
#
# One pass over the bytes, in a loop (no recursion), checking every count and length
# against the bytes left and against the bounds below *before* reading what it announces.
# The rules follow llama.cpp's own loader (ggml/src/gguf.cpp gguf_init_from_reader), so a
# header is accepted here exactly when llama.cpp could load it: non-negative counts, no
# arrays of arrays, tensor names under GGML_MAX_NAME bytes and unique, non-negative
# dimensions whose product fits in int64, rows that hold whole blocks, and tensors laid
# out back to back at the alignment. Beyond llama.cpp, an upload may not make the parser
# do much more than a real header needs: the bundled Gemma 3 has 262,144 token strings,
# Llama 3 128,256 tokens and 280,147 merges; the largest models list a few thousand
# tensors (Llama 3.1 405B: 126 layers × 9 + 4 = 1,138). bench/bench_uploads.py times the
# most these bounds accept against a real header.

MAX_TENSORS = 16_384
MAX_METADATA_KEYS = 4_096
MAX_ARRAY_STRINGS = 1_048_576  # strings in all metadata arrays together
MAX_KEPT_ITEMS = 65_536  # array items kept as Python values, all arrays together
GGML_MAX_NAME = 64  # ggml.h: a tensor name and its NUL terminator
GGUF_MAX_ARRAY_ELEMENTS = 1024 ** 3  # ggml/src/gguf.cpp
GGUF_MAX_STRING_LENGTH = 1024 ** 3  # ggml/src/gguf.cpp
INT64_MAX = 2 ** 63 - 1


class _Reader:
    """Bounds-checked reads from the upload in the file's byte order."""

    def __init__(self, data: bytes, order: str):
        self.data = data
        self.pos = 0
        self.u32 = struct.Struct(order + "I")
        self.u64 = struct.Struct(order + "Q")
        self.i64 = struct.Struct(order + "q")
        # what follows a tensor's n_dims: the dimensions (int64, as ggml reads them), the
        # ggml type and the offset, read in one go for each possible n_dims
        self.tensor_tail = [struct.Struct(f"{order}{n}qIQ") for n in range(MAX_DIMS + 1)]
        self.order = order

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise _Truncated
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def number(self, fmt: struct.Struct) -> int:
        return self.numbers(fmt)[0]

    def numbers(self, fmt: struct.Struct) -> tuple:
        start = self.pos
        if start + fmt.size > len(self.data):
            raise _Truncated
        self.pos = start + fmt.size
        return fmt.unpack_from(self.data, start)

    def scalar(self, vtype: VT):
        fmt = struct.Struct(self.order + _SCALAR[vtype])
        value = self.number(fmt)
        return bool(value) if vtype == VT.BOOL else value

    def string(self, what: str) -> str:
        return self.take(self.string_length(what)).decode("utf-8", errors="replace")

    def string_length(self, what: str) -> int:
        n = self.number(self.u64)
        if n > self.left:
            if n > GGUF_MAX_STRING_LENGTH:
                raise GGUFError(f"{what}: a string of {n:,} bytes; llama.cpp reads at most "
                                f"{GGUF_MAX_STRING_LENGTH:,}")
            raise _Truncated
        return n

    def skip_strings(self, count: int) -> None:
        # The hot loop of a long tokenizer array: kept tight on purpose.
        data, pos, end, unpack = self.data, self.pos, len(self.data), self.u64.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                raise _Truncated
            pos += 8 + unpack(data, pos)[0]
        if pos > end:
            raise _Truncated
        self.pos = pos


class _Budget:
    """What one upload may still make the parser read or keep."""

    def __init__(self):
        self.strings = MAX_ARRAY_STRINGS
        self.kept = MAX_KEPT_ITEMS


def _value_type(vtype: int, what: str) -> gguf.GGUFValueType:
    try:
        return VT(vtype)
    except ValueError:
        raise GGUFError(f"{what} has unknown value type {vtype}") from None


def _read_value(r: _Reader, key: str, budget: _Budget):
    vtype = _value_type(r.number(r.u32), f"metadata key {key!r}")
    if vtype == VT.STRING:
        return r.string(f"metadata key {key!r}")
    if vtype != VT.ARRAY:
        return r.scalar(vtype)
    item = _value_type(r.number(r.u32), f"metadata key {key!r}")
    count = r.number(r.u64)
    if item == VT.ARRAY:  # gguf.cpp: GGUF_TYPE_ARRAY items are an invalid type
        raise GGUFError(f"metadata key {key!r} is an array of arrays, which llama.cpp does not load")
    if count > GGUF_MAX_ARRAY_ELEMENTS:
        raise GGUFError(f"metadata key {key!r} is an array of {count:,} items; llama.cpp reads at "
                        f"most {GGUF_MAX_ARRAY_ELEMENTS:,}")
    # Each item takes at least its own size (a string at least its 8-byte length), so a count
    # the remaining bytes cannot hold is refused before anything is read or allocated.
    size = 8 if item == VT.STRING else struct.calcsize(_SCALAR[item])
    if count * size > r.left:
        raise _Truncated
    keep = count <= LONG_ARRAY and count <= budget.kept
    if keep:
        budget.kept -= count
    if item == VT.STRING:
        if keep:
            return [r.string(f"metadata key {key!r}") for _ in range(count)]
        if count > budget.strings:
            raise GGUFError(f"metadata key {key!r}: more strings in arrays than any model has "
                            f"(at most {MAX_ARRAY_STRINGS:,} in all)")
        budget.strings -= count
        r.skip_strings(count)
        return ArraySummary(item.name, count)
    raw = r.take(count * size)
    if not keep:
        return ArraySummary(item.name, count)
    values = np.frombuffer(raw, dtype=np.dtype(r.order + _SCALAR[item]))
    return [bool(v) if item == VT.BOOL else v.item() for v in values]


# ggml types that ggml can size (gguf.GGML_QUANT_SIZES), by number
_TENSOR_TYPES = {int(t): t for t in gguf.GGMLQuantizationType if t in gguf.GGML_QUANT_SIZES}


def _read_tensor(r: _Reader, index: int, seen: set[str]) -> TensorInfo:
    name = r.string(f"tensor {index}")
    if len(name.encode("utf-8", errors="surrogateescape")) >= GGML_MAX_NAME:
        raise GGUFError(f"tensor {index}'s name is {len(name):,} characters; llama.cpp allows "
                        f"at most {GGML_MAX_NAME - 1} bytes")
    if name in seen:
        raise GGUFError(f"tensor name {name!r} appears twice")
    seen.add(name)
    n_dims = r.number(r.u32)
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFError(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    *shape, raw_type, offset = r.numbers(r.tensor_tail[n_dims])
    shape = tuple(shape)
    if min(shape) < 0:
        raise GGUFError(f"tensor {name!r} has a negative dimension: {shape}")
    if math.prod(shape) >= INT64_MAX:
        raise GGUFError(f"tensor {name!r} with shape {shape} has 2^63 elements or more")
    qtype = _TENSOR_TYPES.get(raw_type)
    if qtype is None:
        raise GGUFError(f"tensor {name!r} has ggml type {raw_type}, unknown to this gguf version")
    if shape[0] % gguf.GGML_QUANT_SIZES[qtype][0]:
        raise GGUFError(f"tensor {name!r}: row length {shape[0]} does not fit type {qtype.name}")
    return TensorInfo(name, qtype, shape, offset)


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def parse_header(data: bytes) -> GGUFHeader:
    """Parse the header from the first bytes of a GGUF file (the whole file works too).

    Raises GGUFError (a ValueError, message starting "gguf:") when the bytes are not GGUF,
    stop before the end of the tensor table, or describe something llama.cpp would refuse.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise GGUFError("expected the file's bytes")
    data = bytes(data)
    if len(data) < 4 or data[:4] != b"GGUF":
        raise GGUFError("not a GGUF file (it does not start with the magic bytes 'GGUF')")
    if len(data) < 24:
        raise GGUFError(f"the upload is only {len(data)} bytes, too short for a GGUF header")
    # The version is a small number; read little-endian, a value with zero low bytes means
    # the file is big-endian (gguf-py GGUFReader makes the same test).
    order = "<"
    version = struct.unpack("<I", data[4:8])[0]
    if version & 0xFFFF == 0:
        order = ">"
        version = struct.unpack(">I", data[4:8])[0]
    if version not in (2, 3):
        raise GGUFError(f"unsupported GGUF version {version} (versions 2 and 3 are supported)")

    r = _Reader(data, order)
    r.pos = 8
    try:
        n_tensors = r.number(r.i64)
        n_kv = r.number(r.i64)
        if not 0 <= n_tensors <= MAX_TENSORS:
            raise GGUFError(f"the header lists {n_tensors:,} tensors; 0 to {MAX_TENSORS:,} are supported")
        if not 0 <= n_kv <= MAX_METADATA_KEYS:
            raise GGUFError(f"the header lists {n_kv:,} metadata keys; 0 to {MAX_METADATA_KEYS:,} are supported")
        budget = _Budget()
        metadata: dict[str, Any] = {}
        for index in range(n_kv):
            key = r.string(f"metadata key {index}")
            if not key:
                raise GGUFError(f"metadata key {index} is empty")
            if key in metadata:
                raise GGUFError(f"metadata key {key!r} appears twice")
            metadata[key] = _read_value(r, key, budget)
        seen: set[str] = set()
        infos = tuple(_read_tensor(r, index, seen) for index in range(n_tensors))
    except _Truncated:
        raise GGUFError(
            f"the upload stops after {len(data)} bytes, inside the header (metadata and tensor "
            "table); send more of the beginning of the file"
        ) from None

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment must be a power of two, got {alignment!r}")
    # gguf.cpp: every tensor starts where the previous one ends, padded to the alignment.
    expected = 0
    for t in infos:
        if t.offset != expected:
            raise GGUFError(f"tensor {t.name!r} starts at offset {t.offset:,}; llama.cpp expects {expected:,}")
        expected += _pad(t.n_bytes, alignment)
    if expected > 2 ** 64 - 1:
        raise GGUFError(f"the tensors add up to {expected:,} bytes, more than a file can hold")
    return GGUFHeader(version, metadata, infos, alignment, _pad(r.pos, alignment))


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


# llama.cpp reads these counts as uint32 (llama_hparams); src/llama-hparams.h LLAMA_MAX_LAYERS.
MAX_COUNT = 2 ** 32 - 1
LLAMA_MAX_LAYERS = 512


def _count(value, key: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """A metadata count, refused with the key's name unless a whole number in range."""
    if type(value) is not int:  # bool and float too: llama.cpp reads these as integers
        raise GGUFError(f"{key} must be a whole number, got {value!r:.40}")
    if not minimum <= value <= maximum:
        raise GGUFError(f"{key} is {value:,}; it must be between {minimum:,} and {maximum:,}")
    return value


def _per_layer(value, n_layer: int, key: str) -> tuple[int, ...]:
    if isinstance(value, list):
        if len(value) != n_layer:
            raise GGUFError(f"{key} has {len(value)} entries for {n_layer} layers")
        return tuple(_count(v, key) for v in value)
    return (_count(value, key),) * n_layer


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

    def count(key, default=None, required=False, minimum=0, maximum=MAX_COUNT):
        return _count(get(key, default, required), f"{arch}.{key}", minimum, maximum)

    n_layer = count("block_count", required=True, minimum=1, maximum=LLAMA_MAX_LAYERS)
    n_embd = count("embedding_length", required=True, minimum=1)
    n_head = _per_layer(get("attention.head_count", required=True), n_layer, f"{arch}.attention.head_count")
    n_head_kv = _per_layer(get("attention.head_count_kv", list(n_head)), n_layer,
                           f"{arch}.attention.head_count_kv")
    # llama_model::load_hparams: head size defaults to n_embd / n_head
    default_head = n_embd // n_head[0] if n_head[0] else 0
    head_k = count("attention.key_length", default_head)
    head_v = count("attention.value_length", default_head)
    n_ff = max(_per_layer(get("feed_forward_length", 0), n_layer, f"{arch}.feed_forward_length"))

    # vocabulary: {arch}.vocab_size, else the tokenizer's token list, else token_embd's rows
    n_vocab = get("vocab_size")
    if n_vocab is None and "tokenizer.ggml.tokens" in md:
        n_vocab = len(md["tokenizer.ggml.tokens"])
    if n_vocab is None:
        embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
        n_vocab = embd.shape[1] if embd is not None and len(embd.shape) > 1 else 0
    n_vocab = _count(n_vocab, f"{arch}.vocab_size")
    n_expert = count("expert_count", 0)
    n_expert_used = count("expert_used_count", 0, maximum=n_expert)  # llama.cpp asserts this

    window = get("attention.sliding_window")
    if window is not None:
        window = count("attention.sliding_window")
    layers: tuple[bool, ...] = ()
    pattern = get("attention.sliding_window_pattern")
    rule = SWA_PATTERNS.get(arch)
    if isinstance(pattern, list):  # explicit per-layer flags
        if len(pattern) != n_layer:
            raise GGUFError(f"{arch}.attention.sliding_window_pattern has {len(pattern)} entries "
                            f"for {n_layer} layers")
        layers = tuple(bool(v) for v in pattern)
    elif rule is not None:
        if pattern is not None:
            pattern = count("attention.sliding_window_pattern")
        n_pattern, dense_first, needs_window, default_window = rule
        if window is None:
            window = default_window
        if window and (window > 0 or not needs_window):
            layers = swa_layers(n_layer, pattern if pattern is not None else n_pattern, dense_first)
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
        head_dim_k_swa=count("attention.key_length_swa", head_k),
        head_dim_v_swa=count("attention.value_length_swa", head_v),
        n_ff=n_ff,
        n_vocab=n_vocab,
        context_length=count("context_length", 0),
        n_expert=n_expert,
        n_expert_used=n_expert_used,
        sliding_window=window if layers and window else None,
        swa_layers=layers,
        file_type=None if md.get("general.file_type") is None
        else _count(md["general.file_type"], "general.file_type"),
    )
