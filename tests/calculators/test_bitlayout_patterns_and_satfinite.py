"""Issue 20.11: hex and binary bit patterns in the value box, and the saturating cast.

References, none of them our module:

* Python's own integer literals (`int("0x7e", 0)`) and ml_dtypes' view of the bit pattern
  for what `0x7e` means in each format;
* NVIDIA's conversion with `__NV_SATFINITE`: `__nv_cvt_double_to_fp8` in `cuda_fp8.hpp`
  (CUDA Toolkit headers, NVIDIA Corporation,
  https://gitlab.com/nvidia/headers/cuda-individual/cudart/-/blob/main/cuda_fp8.hpp),
  rewritten below as bit arithmetic on the double, the way the header does it — not as
  "clamp then cast", which is how our module works. `__nv_cvt_float_to_fp8` first rounds
  to float, like our fp32-first rule;
* PyTorch's CPU cast to float8_e4m3fn, a third party's implementation that saturates too.
"""

import json
import math
import struct

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calculators import bitlayout
from calculators.bitlayout import BitLayoutError

URL = "/api/v1/calculators/bit-layout/"

# (significand bits incl. the implicit one, exponent bias, largest finite pattern,
#  overflow threshold as double bits, smallest normal as double bits,
#  half the smallest subnormal as double bits) — the constants cuda_fp8.hpp uses.
NV_FP8 = {
    "fp8_e4m3": (4, 7, 0x7E, 0x407D000000000000, 0x3F90000000000000, 0x3F50000000000000),
    "fp8_e5m2": (3, 15, 0x7B, 0x40EE000000000000 - 1, 0x3F10000000000000, 0x3EE0000000000000),
}


def nvidia_satfinite(fmt: str, x: float) -> int:
    """The fp8 byte NVIDIA's satfinite conversion gives for the float `x` (a Python float
    that is already a float32 value)."""
    sig, bias, maxnorm, overflow, minnorm, min_denorm_half = NV_FP8[fmt]
    mant_mask = (1 << (sig - 1)) - 1
    half_ulp = 1 << (53 - sig - 1)
    xbits = struct.unpack("<Q", struct.pack("<d", x))[0]
    sign = (xbits >> 63) << 7
    absx = xbits & 0x7FFFFFFFFFFFFFFF
    exponent = (((xbits >> 52) & 0x7FF) - 1023 + bias) & 0xFF
    mantissa = (xbits >> (53 - sig)) & mant_mask
    if absx <= min_denorm_half:
        byte = 0
    elif absx > 0x7FF0000000000000:  # NaN
        byte = 0x7F if fmt == "fp8_e4m3" else 0x7E | mantissa
    elif absx > overflow:  # too large, or infinite: the largest finite value
        byte = maxnorm
    elif absx >= minnorm:
        byte = (exponent << (sig - 1)) | mantissa
        rest = xbits & ((half_ulp << 1) - 1)
        if rest > half_ulp or (rest == half_ulp and mantissa & 1):
            byte += 1
    else:  # subnormal
        shift = (1 - exponent) & 0xFF
        mantissa |= 1 << (sig - 1)
        byte = mantissa >> shift
        rest = (xbits | (1 << 52)) & ((half_ulp << (shift + 1)) - 1)
        if rest > (half_ulp << shift) or (rest == (half_ulp << shift) and byte & 1):
            byte += 1
    return (byte | sign) & 0xFF


def as_float32(x: float) -> float:
    return float(np.float32(x))


EDGE_VALUES = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 240.0, 447.9, 448.0, 449.0, 463.9, 464.0, 464.1, 480.0,
               500.0, -500.0, 1e4, 57344.0, 60000.0, 61439.0, 61440.0, 61441.0, 65504.0, 1e6, -1e6, 1e38,
               2.0**-6, 2.0**-7, 2.0**-9, 2.0**-10, 2.0**-11, 3 * 2.0**-11, 2.0**-14, 2.0**-16, 2.0**-17,
               2.0**-18, math.inf, -math.inf]


def stored_byte(result) -> int:
    return int(result["bits"], 2)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("value", EDGE_VALUES)
def test_satfinite_gives_nvidias_byte_on_edge_values(fmt, value):
    result = bitlayout.encode(fmt, value, saturate=True)
    assert stored_byte(result) == nvidia_satfinite(fmt, as_float32(value)), (fmt, value, result["bits"])


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
@settings(max_examples=400, deadline=None)
@given(value=st.floats(allow_nan=False, width=32))
def test_satfinite_gives_nvidias_byte_on_any_float32(fmt, value):
    assert stored_byte(bitlayout.encode(fmt, value, saturate=True)) == nvidia_satfinite(fmt, value)


def test_satfinite_e4m3_agrees_with_torchs_saturating_cast():
    values = np.concatenate([np.linspace(-2000, 2000, 4001), np.geomspace(1e-5, 1e5, 500)]).astype(np.float32)
    expected = torch.from_numpy(values).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    got = [stored_byte(bitlayout.encode("fp8_e4m3", float(v), saturate=True)) for v in values]
    assert got == expected.tolist()


def test_satfinite_keeps_nan_and_flags_the_clamp():
    assert bitlayout.encode("fp8_e4m3", "nan", saturate=True)["kind"] == "nan"
    r = bitlayout.encode("fp8_e5m2", "inf", saturate=True)
    assert r["decoded"] == 57344.0 and r["overflow"] is True and r["kind"] == "normal"
    r = bitlayout.encode("fp16", -1e6, saturate=True)
    assert r["decoded"] == -65504.0 and r["overflow"] is True
    assert bitlayout.encode("bf16", 1e39, saturate=True)["decoded"] == float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    # In range, the saturating cast is the IEEE one.
    for value in (0.1, 447.9, 2.0**-9):
        assert bitlayout.encode("fp8_e4m3", value, saturate=True) == bitlayout.encode("fp8_e4m3", value)


def test_the_ieee_cast_still_overflows():
    assert bitlayout.encode("fp8_e4m3", 500)["decoded"] == "nan"
    assert bitlayout.encode("fp8_e5m2", 61440)["decoded"] == "inf"


# ---------------------------------------------------------------- bit patterns


@pytest.mark.parametrize("fmt,text", [
    ("fp8_e4m3", "0x7e"), ("fp8_e4m3", "0b0111_1110"), ("fp8_e4m3", "0X7E"), ("fp8_e5m2", "0x7b"),
    ("fp16", "0x3c00"), ("fp16", "0x7e"), ("bf16", "0x3eab"), ("fp32", "0x3f800000"),
    ("fp4_e2m1", "0b0111"), ("fp4_e2m1", "0x7"), ("fp8_e4m3", "0xff"), ("fp16", "0x7c00"),
])
def test_a_hex_or_binary_value_is_read_as_the_stored_bits(fmt, text):
    pattern = int(text.replace("_", ""), 0)
    info = bitlayout.FLOAT_FORMATS[fmt]
    expected = np.array([pattern], dtype=info.storage).view(info.dtype)[0]
    result = bitlayout.encode(fmt, text)
    assert int(result["bits"], 2) == pattern
    decoded = result["decoded"]
    if math.isnan(float(expected)):
        assert decoded == "nan"
    else:
        assert decoded == (float(expected) if math.isfinite(float(expected)) else ("inf" if expected > 0 else "-inf"))
    assert result["abs_error"] in (0.0, None)


def test_patterns_for_integer_and_lookup_codes_are_twos_complement_and_indices():
    assert bitlayout.encode("int8", "0xff")["decoded"] == -1.0
    assert bitlayout.encode("int4", "0b1000")["decoded"] == -8.0
    assert bitlayout.encode("nf4", "0xf", scale=2)["decoded"] == 2.0


def test_the_bits_field_takes_prefixed_patterns_too():
    assert bitlayout.decode("fp8_e4m3", "0x7e")["decoded"] == 448.0


@pytest.mark.parametrize("fmt,text,words", [
    ("fp8_e4m3", "0x1ff", "9 bits"), ("fp4_e2m1", "0x10", "5 bits"), ("fp8_e4m3", "0x", "hex"),
    ("fp8_e4m3", "0xzz", "hex"), ("fp8_e4m3", "0b012", "binary"), ("fp8_e4m3", "0x7e_", "hex"),
])
def test_bad_patterns_are_refused_naming_the_value(fmt, text, words):
    with pytest.raises(BitLayoutError) as error:
        bitlayout.encode(fmt, text)
    assert error.value.field == "value" and words in error.value.message


def post(api_client, body):
    response = api_client.post(URL, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_the_api_reads_0x7e_as_fp8_e4m3s_largest_value(api_client):
    status, r = post(api_client, {"format": "fp8_e4m3", "value": "0x7e"})
    assert status == 200 and r["decoded"] == 448.0 and r["bits"] == "01111110"
    status, r = post(api_client, {"format": "fp8_e4m3", "value": "0b0111_1110"})
    assert status == 200 and r["decoded"] == 448.0


def test_the_api_offers_the_saturating_cast(api_client):
    status, r = post(api_client, {"format": "fp8_e4m3", "value": 1000, "saturate": True})
    assert status == 200 and r["decoded"] == 448.0 and r["overflow"] is True
    status, r = post(api_client, {"format": "fp8_e4m3", "value": 1000})
    assert status == 200 and r["decoded"] == "nan"
    status, r = post(api_client, {"format": "fp8_e4m3", "value": 1, "saturate": "sometimes"})
    assert status == 400 and "saturate" in r


def test_the_api_names_value_for_a_pattern_too_wide(api_client):
    status, r = post(api_client, {"format": "fp8_e5m2", "value": "0x100"})
    assert status == 400 and "9 bits" in r["value"][0]


def test_the_schema_documents_patterns_and_saturate(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["BitLayoutRequest"]["properties"]
    assert "0x" in fields["value"]["description"] and "0b" in fields["value"]["description"]
    assert "satfinite" in fields["saturate"]["description"]
