"""POST /api/v1/calculators/bit-layout/ (+ compare/, formats/) and the page that uses them.

References: ml_dtypes / numpy casts for scalar bit patterns, gguf.quants (llama.cpp's
numpy reference) for block bytes and dequantization, gguf.GGUFReader for real blocks of
the bundled model, and calculators.bitlayout itself only where the claim is "the API
returns exactly what the pure module computes".
"""

import json
import math

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calculators import bitlayout

URL = "/api/v1/calculators/bit-layout/"
COMPARE_URL = "/api/v1/calculators/bit-layout/compare/"
FORMATS_URL = "/api/v1/calculators/bit-layout/formats/"


def _refuse_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


def post(api_client, url, body):
    response = api_client.post(url, json.dumps(body), content_type="application/json")
    # Strict JSON: NaN / Infinity literals would fail here.
    data = json.loads(response.content, parse_constant=_refuse_constant)
    return response.status_code, data


def module_json(result):
    """The pure module's answer as it must come out of the API (its own JSON form)."""
    return json.loads(json.dumps(result, allow_nan=False))


# ---------------------------------------------------------------- scalar: spot values


def test_bf16_of_one_third_is_0011111010101011_like_ml_dtypes(api_client):
    status, r = post(api_client, URL, {"format": "bf16", "value": 1 / 3})
    assert status == 200
    stored = np.array([1 / 3], np.float32).astype(ml_dtypes.bfloat16)
    assert r["bits"] == format(int(stored.view(np.uint16)[0]), "016b") == "0011111010101011"
    assert r["hex"] == "0x3eab"
    assert r["decoded"] == float(stored[0]) == 0.333984375
    assert r["abs_error"] == abs(float(stored[0]) - 1 / 3)
    assert r["rel_error"] == abs(float(stored[0]) - 1 / 3) / (1 / 3)
    assert [(f["name"], f["bits"]) for f in r["fields"]] == [
        ("sign", "0"), ("exponent", "01111101"), ("mantissa", "0101011")]


def test_fp8_e4m3_of_448_is_0_1111_110_its_largest_value(api_client):
    status, r = post(api_client, URL, {"format": "fp8_e4m3", "value": 448})
    assert status == 200
    pattern = int(np.array([448], np.float32).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)[0])
    assert r["bits"] == format(pattern, "08b") == "01111110"
    assert r["decoded"] == float(ml_dtypes.finfo(ml_dtypes.float8_e4m3fn).max) == 448.0
    assert r["neighbors"] == {"down": 416.0, "up": None}


def test_decoding_bits_reads_the_pattern_like_numpy(api_client):
    # 0x3c00 is 1.0 in IEEE half precision; with the sign bit set, -1.0.
    status, r = post(api_client, URL, {"format": "fp16", "bits": "1011110000000000"})
    assert status == 200
    assert r["decoded"] == float(np.array([0xBC00], np.uint16).view(np.float16)[0]) == -1.0
    status, r = post(api_client, URL, {"format": "fp8_e4m3", "bits": "0.1111.110"})
    assert r["decoded"] == 448.0


@pytest.mark.parametrize("fmt, value, expected", [
    ("fp16", "inf", "inf"),
    ("fp16", "-inf", "-inf"),
    ("fp16", "nan", "nan"),
    ("fp16", 1e5, "inf"),          # beyond fp16's 65504: numpy overflows to inf
    ("fp8_e4m3", 500, "nan"),      # E4M3 "fn" has no inf: ml_dtypes gives NaN
    ("fp8_e5m2", 1e6, "inf"),
])
def test_specials_come_back_as_strings_in_valid_json(api_client, fmt, value, expected):
    status, r = post(api_client, URL, {"format": fmt, "value": value})
    assert status == 200
    dtype = {"fp16": np.float16, "fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}[fmt]
    with np.errstate(over="ignore", invalid="ignore"):
        ref = float(np.array([float(value)], np.float32).astype(dtype)[0])
    assert expected == ("nan" if math.isnan(ref) else ("inf" if ref > 0 else "-inf"))
    assert r["decoded"] == expected
    assert r["abs_error"] is None and r["rel_error"] is None


def test_fp16_subnormal_is_flagged_and_matches_numpy(api_client):
    smallest = float(np.finfo(np.float16).smallest_subnormal)  # 2^-24
    status, r = post(api_client, URL, {"format": "fp16", "value": smallest * 3})
    assert status == 200
    assert r["kind"] == "subnormal"
    assert r["bits"] == format(int(np.array([smallest * 3], np.float16).view(np.uint16)[0]), "016b")
    assert r["decoded"] == smallest * 3


def test_int8_with_a_scale_rounds_half_to_even_and_stores_twos_complement(api_client):
    # numpy: round(-3.75 / 0.5) = round(-7.5) = -8 (ties to even); -8 as int8 is 0xf8.
    status, r = post(api_client, URL, {"format": "int8", "value": -3.75, "scale": 0.5})
    assert status == 200
    code = int(np.round(-3.75 / 0.5))
    assert r["bits"] == format(int(np.array([code], np.int8).view(np.uint8)[0]), "08b") == "11111000"
    assert r["decoded"] == code * 0.5 == -4.0


@pytest.mark.parametrize("fmt", bitlayout.SCALAR_FORMATS)
@pytest.mark.parametrize("value", [0.1, -2.5, 1e-6, 3.0e4, "-0", "inf", 7])
def test_scalar_answers_equal_the_pure_module(api_client, fmt, value):
    scale = 0.25 if fmt in ("nf4", "int8", "int4") else None
    body = {"format": fmt, "value": value} | ({"scale": scale} if scale else {})
    status, r = post(api_client, URL, body)
    assert status == 200
    assert r == module_json(bitlayout.encode(fmt, value, scale=scale))
    status, back = post(api_client, URL, {"format": fmt, "bits": r["bits"]} | ({"scale": scale} if scale else {}))
    assert status == 200
    assert back == module_json(bitlayout.decode(fmt, r["bits"], scale=scale))
    assert back["decoded"] == r["decoded"]


# ---------------------------------------------------------------- blocks


def block_size(fmt):
    return GGML_QUANT_SIZES[bitlayout.BLOCK_TYPES[fmt]][0]


@pytest.mark.parametrize("fmt", ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"])
def test_block_bytes_equal_gguf_quants_quantize(api_client, fmt):
    x = np.random.default_rng(8).standard_normal(32) * 0.05
    status, r = post(api_client, URL, {"format": fmt, "values": list(x)})
    assert status == 200
    qtype = bitlayout.BLOCK_TYPES[fmt]
    expected = gguf.quants.quantize(x.astype(np.float32), qtype).reshape(-1)
    assert r["bytes_hex"] == expected.tobytes().hex()
    deq = gguf.quants.dequantize(expected, qtype).astype(np.float64)
    assert r["dequantized"] == [float(v) for v in deq]
    assert r["rmse"] == pytest.approx(float(np.sqrt(np.mean((deq - x) ** 2))), rel=1e-12)
    block, type_size = GGML_QUANT_SIZES[qtype]
    assert r["bits_per_weight"] == type_size * 8 / block
    assert "".join(f["hex"] for f in r["fields"]) == r["bytes_hex"]
    assert r["values"] == list(x)


def test_q4_0_fields_are_d_then_sixteen_bytes_of_nibbles(api_client):
    x = np.linspace(-1, 1, 32)
    status, r = post(api_client, URL, {"format": "q4_0", "values": list(x)})
    raw = gguf.quants.quantize(x.astype(np.float32), GGMLQuantizationType.Q4_0).reshape(-1)
    d, qs = r["fields"]
    assert (d["name"], d["offset"], d["size"]) == ("d", 0, 2)
    assert d["values"] == float(raw[:2].view(np.float16)[0])
    # ggml-common.h block_q4_0: byte j holds weight j (low nibble) and weight j + 16 (high).
    assert qs["values"] == [int(b) & 0xF for b in raw[2:]] + [int(b) >> 4 for b in raw[2:]]


@pytest.mark.parametrize("fmt", ["q4_k", "q6_k"])
def test_k_quant_blocks_equal_the_pure_module_and_dequantize_like_gguf(api_client, fmt):
    x = np.random.default_rng(3).standard_normal(256)
    status, r = post(api_client, URL, {"format": fmt, "values": [str(v) for v in x]})  # numeric strings too
    assert status == 200
    assert {k: v for k, v in r.items() if k != "values"} == module_json(bitlayout.quantize_block(fmt, list(x)))
    raw = np.frombuffer(bytes.fromhex(r["bytes_hex"]), np.uint8)
    qtype = bitlayout.BLOCK_TYPES[fmt]
    assert raw.size == GGML_QUANT_SIZES[qtype][1]
    assert r["dequantized"] == [float(v) for v in gguf.quants.dequantize(raw, qtype)]
    assert r["bits_per_weight"] == {"q4_k": 4.5, "q6_k": 6.5625}[fmt]  # ggml-common.h comments


def test_random_block_is_a_seeded_normal_draw(api_client):
    status, r = post(api_client, URL, {"format": "q4_0", "random": 7, "std": 0.02})
    assert status == 200
    x = np.random.default_rng(7).standard_normal(32) * 0.02
    assert r["values"] == list(x)
    assert r["seed"] == 7 and r["std"] == 0.02
    expected = gguf.quants.quantize(x.astype(np.float32), GGMLQuantizationType.Q4_0).reshape(-1)
    assert r["bytes_hex"] == expected.tobytes().hex()
    status, again = post(api_client, URL, {"format": "q4_0", "random": 7, "std": 0.02})
    assert again == r


@pytest.mark.slow
def test_real_block_from_the_bundled_model(api_client):
    # Opens the GGUF (about 11 s the first time; the module caches the reader).
    status, r = post(api_client, URL, {"format": "q4_k", "from_model": True})
    assert status == 200
    reader = bitlayout._model_reader()
    q4k = [t for t in reader.tensors if t.tensor_type == GGMLQuantizationType.Q4_K]
    first = q4k[0]
    assert r["tensor"] == first.name and r["block"] == 0
    raw = np.asarray(first.data).reshape(-1)[:144]
    assert r["bytes_hex"] == bytes(raw).hex()
    assert r["dequantized"] == [float(v) for v in gguf.quants.dequantize(raw, GGMLQuantizationType.Q4_K)]
    assert r["rmse"] is None
    assert r["tensors"] == [{"name": t.name, "blocks": int(np.asarray(t.data).size // 144)} for t in q4k]

    status, r = post(api_client, URL,
                     {"format": "q6_k", "from_model": True, "tensor": "blk.0.ffn_down.weight", "block": 3})
    assert status == 200
    tensor = next(t for t in reader.tensors if t.name == "blk.0.ffn_down.weight")
    assert r["bytes_hex"] == bytes(np.asarray(tensor.data).reshape(-1)[3 * 210 : 4 * 210]).hex()


@pytest.mark.slow
@pytest.mark.parametrize("body, field", [
    ({"format": "q4_0", "from_model": True}, "format"),  # Q4_K_M file: no Q4_0 tensor
    ({"format": "q4_k", "from_model": True, "tensor": "blk.0.ffn_down.weight"}, "tensor"),  # that one is Q6_K
    ({"format": "q4_k", "from_model": True, "tensor": "no.such.tensor"}, "tensor"),
    ({"format": "q4_k", "from_model": True, "block": 10**12}, "block"),
])
def test_bad_model_block_requests_name_the_field(api_client, body, field):
    status, r = post(api_client, URL, body)
    assert status == 400
    assert list(r) == [field]


# ---------------------------------------------------------------- comparison


def test_compare_on_a_seed_equals_the_pure_module_and_independent_errors(api_client):
    status, r = post(api_client, COMPARE_URL, {"random": 5})
    assert status == 200
    x = np.random.default_rng(5).standard_normal(256)
    assert r["values"] == list(x) and r["seed"] == 5
    assert r["results"] == module_json(bitlayout.compare(list(x)))
    rows = {row["format"]: row for row in r["results"]}
    assert set(rows) == set(bitlayout.SCALAR_FORMATS) | set(bitlayout.BLOCK_FORMATS)
    fp16 = x.astype(np.float32).astype(np.float16).astype(np.float64)
    assert rows["fp16"]["rmse"] == pytest.approx(float(np.sqrt(np.mean((fp16 - x) ** 2))), rel=1e-12)
    q8 = gguf.quants.dequantize(gguf.quants.quantize(x.astype(np.float32), GGMLQuantizationType.Q8_0),
                                GGMLQuantizationType.Q8_0).reshape(-1).astype(np.float64)
    assert rows["q8_0"]["rmse"] == pytest.approx(float(np.sqrt(np.mean((q8 - x) ** 2))), rel=1e-12)
    assert rows["q8_0"]["bits_per_weight"] == 8.5


def test_compare_on_given_values(api_client):
    x = list(np.linspace(-2, 2, 256))
    status, r = post(api_client, COMPARE_URL, {"values": x})
    assert status == 200
    assert r["seed"] is None and r["values"] == x
    assert r["results"] == module_json(bitlayout.compare(x))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("body, field", [
    ({}, "format"),
    ({"format": None, "value": 1}, "format"),
    ({"format": 16, "value": 1}, "format"),
    ({"format": "fp7", "value": 1}, "format"),
    ({"format": ["fp16"], "value": 1}, "format"),
    ({"format": "fp16"}, "value"),
    ({"format": "fp16", "value": "abc"}, "value"),
    ({"format": "fp16", "value": ""}, "value"),
    ({"format": "fp16", "value": True}, "value"),
    ({"format": "fp16", "value": [1.0]}, "value"),
    ({"format": "fp16", "value": {"x": 1}}, "value"),
    ({"format": "fp16", "value": 10**400}, "value"),
    ({"format": "fp4_e2m1", "value": "nan"}, "value"),
    ({"format": "fp16", "value": 1, "bits": "0" * 16}, "bits"),
    ({"format": "fp16", "bits": "0101"}, "bits"),
    ({"format": "fp16", "bits": "01x1000000000000"}, "bits"),
    ({"format": "fp16", "bits": 1010}, "bits"),
    ({"format": "fp16", "bits": ["0"] * 16}, "bits"),
    ({"format": "fp8_e4m3", "bits": "0" * 9}, "bits"),
    ({"format": "fp16", "value": 1, "scale": 2}, "scale"),
    ({"format": "int8", "value": 1, "scale": 0}, "scale"),
    ({"format": "int8", "value": 1, "scale": "inf"}, "scale"),
    ({"format": "nf4", "value": 1, "scale": "x"}, "scale"),
    ({"format": "fp16", "values": [1.0] * 32}, "values"),
    ({"format": "q4_0"}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31}, "values"),
    ({"format": "q4_0", "values": [0.0] * 256}, "values"),
    ({"format": "q4_k", "values": [0.0] * 32}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31 + ["x"]}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31 + [None]}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31 + [[1]]}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31 + ["nan"]}, "values"),
    ({"format": "q4_0", "values": [0.0] * 31 + [1e39]}, "values"),
    ({"format": "q4_0", "values": [1e6] + [0.0] * 31}, "values"),  # its fp16 scale overflows
    ({"format": "q4_0", "values": "0 1 2"}, "values"),
    ({"format": "q4_0", "values": {"0": 1}}, "values"),
    ({"format": "q4_0", "value": 1}, "value"),
    ({"format": "q4_0", "values": [0.0] * 32, "random": 1}, "random"),
    ({"format": "q4_0", "random": -1}, "random"),
    ({"format": "q4_0", "random": 2**40}, "random"),
    ({"format": "q4_0", "random": "seed"}, "random"),
    ({"format": "q4_0", "random": 1, "std": 0}, "std"),
    ({"format": "q4_0", "random": 1, "std": "nan"}, "std"),
    ({"format": "q4_0", "random": 1, "std": 1e9}, "std"),
    ({"format": "q4_0", "random": 1, "block": 2}, "block"),
    ({"format": "q4_k", "from_model": "maybe"}, "from_model"),
    ({"format": "q4_k", "from_model": True, "block": -1}, "block"),
    ({"format": "q4_k", "from_model": True, "block": 1.5}, "block"),
    ({"format": "q4_k", "from_model": True, "tensor": 5}, "tensor"),
])
def test_bad_input_is_a_400_naming_the_field(api_client, body, field):
    status, r = post(api_client, URL, body)
    assert status == 400, r
    assert list(r) == [field], r
    assert all(isinstance(m, str) and m for m in r[field])


@pytest.mark.parametrize("body, field", [
    ({}, "values"),
    ({"values": [0.0] * 255}, "values"),
    ({"values": [0.0] * 255 + ["inf"]}, "values"),
    ({"values": [0.0] * 256, "random": 1}, "random"),
    ({"random": "x"}, "random"),
    ({"random": 1, "std": -1}, "std"),
])
def test_bad_compare_input_is_a_400_naming_the_field(api_client, body, field):
    status, r = post(api_client, COMPARE_URL, body)
    assert status == 400
    assert list(r) == [field]


@pytest.mark.parametrize("raw", ["[1, 2]", '"fp16"', "null", "{not json", '{"format": "fp16", "value": NaN}'])
def test_bodies_that_are_not_a_json_object_are_400s(api_client, raw):
    for url in (URL, COMPARE_URL):
        response = api_client.post(url, raw, content_type="application/json")
        assert response.status_code == 400
        json.loads(response.content, parse_constant=_refuse_constant)


junk = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    | st.sampled_from(["nan", "inf", "-inf", "1e400", "0b101", "0.1111.110", "1" * 16]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
fields = st.fixed_dictionaries({}, optional={
    "format": st.sampled_from(list(bitlayout.SCALAR_FORMATS + bitlayout.BLOCK_FORMATS) + ["fp7", ""]) | junk,
    "value": junk, "bits": junk, "scale": junk, "values": junk | st.lists(junk, min_size=32, max_size=32),
    "random": junk, "std": junk, "block": junk, "tensor": junk,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=fields)
def test_any_json_object_gets_a_200_or_a_field_400_never_a_500(api_client, body):
    for url in (URL, COMPARE_URL):
        status, r = post(api_client, url, body)
        assert status in (200, 400), (body, r)
        if status == 400:
            assert r and all(isinstance(v, list) for v in r.values()), r


# ---------------------------------------------------------------- formats, schema, page


def test_formats_lists_every_format_with_reference_limits(api_client):
    response = api_client.get(FORMATS_URL)
    assert response.status_code == 200
    body = response.json()
    scalar = {f["format"]: f for f in body["scalar"]}
    block = {f["format"]: f for f in body["block"]}
    assert set(scalar) == set(bitlayout.SCALAR_FORMATS) and set(block) == set(bitlayout.BLOCK_FORMATS)
    assert scalar["fp16"]["max"] == float(np.finfo(np.float16).max) == 65504.0
    assert scalar["bf16"]["mantissa_bits"] == ml_dtypes.finfo(ml_dtypes.bfloat16).nmant == 7
    for name, f in block.items():
        assert (f["block_size"], f["type_size"]) == GGML_QUANT_SIZES[bitlayout.BLOCK_TYPES[name]]
    assert scalar["fp8_e4m3"]["glossary"] == "fp8" and block["q4_k"]["glossary"] == "q4-k"


def test_anyone_may_post_no_account_needed(api_client):
    # Calculations store nothing, unlike the glossary's writes.
    assert api_client.post(URL, {"format": "fp16", "value": 1}, format="json").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_documents_the_endpoints(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    for path in (URL, COMPARE_URL, FORMATS_URL):
        assert path in paths
    assert "requestBody" in paths[URL]["post"]


GLOSSARY_SLUGS = ["fp32", "fp16", "bf16", "fp8", "fp4", "nf4", "int8", "int4", "q4-0", "q4-1", "q5-0", "q5-1",
                  "q8-0", "q4-k", "q6-k", "k-quants", "bits-per-weight", "block-wise-quantization"]


def test_page_links_every_format_to_its_glossary_entry_and_has_no_inline_code(client):
    response = client.get("/calculators/bit-layout/")
    assert response.status_code == 200
    html = response.content.decode()
    for slug in GLOSSARY_SLUGS:
        assert f'href="/glossary/{slug}/"' in html, slug
    assert 'id="bl-catalogue" type="application/json"' in html
    # CSP: scripts only from files (or inert JSON data), no inline style attributes.
    assert " style=" not in html
    for tag in html.split("<script")[1:]:
        head = tag.split(">", 1)[0]
        assert " src=" in head or 'type="application/json"' in head, head


def test_page_keeps_a_format_and_value_from_the_query_string(client):
    html = client.get("/calculators/bit-layout/?format=bf16&value=0.333").content.decode()
    assert '<option value="bf16" selected>' in html
    assert 'value="0.333"' in html
    html = client.get("/calculators/bit-layout/?format=nonsense").content.decode()
    assert '<option value="fp16" selected>' in html
