"""Bit-layout visualizer: the page at /calculators/bit-layout/ and its API (issue #8).

Thin layer over calculators/bitlayout.py: parse the request, pick the mode, call the
pure module, turn its BitLayoutError into HTTP 400 ``{"<field>": ["message"]}``.

One endpoint, four modes, chosen by the format and the keys sent:

* scalar format + ``value``     -> ``encode``      (round a number into the format)
* scalar format + ``bits``      -> ``decode``      (read a bit pattern)
* block format + ``values``     -> ``quantize_block``
* block format + ``random``     -> ``quantize_block`` on seeded N(0, std^2) values
* block format + ``from_model`` -> ``block_from_model`` (a real block of the bundled GGUF)

plus ``compare/`` (one 256-value vector through every format) and ``formats/`` (what
each format is: bit widths, limits, block layout).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from django.shortcuts import render
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators import bitlayout
from calculators.bitlayout import BitLayoutError

# Names shown on the page and the glossary entry each format links to (fixtures/glossary/).
SCALAR_LABELS = {
    "fp32": ("FP32", "fp32"),
    "fp16": ("FP16", "fp16"),
    "bf16": ("BF16", "bf16"),
    "fp8_e4m3": ("FP8 E4M3", "fp8"),
    "fp8_e5m2": ("FP8 E5M2", "fp8"),
    "fp4_e2m1": ("FP4 E2M1", "fp4"),
    "nf4": ("NF4", "nf4"),
    "int8": ("INT8", "int8"),
    "int4": ("INT4", "int4"),
}
# Ordered by family, then by bits per weight, as the picker lists them.
BLOCK_LABELS = {
    "q8_0": ("Q8_0", "q8-0"),
    "q5_1": ("Q5_1", "q5-1"),
    "q5_0": ("Q5_0", "q5-0"),
    "q4_1": ("Q4_1", "q4-1"),
    "q4_0": ("Q4_0", "q4-0"),
    "mxfp4": ("MXFP4", "mxfp4"),
    "q6_k": ("Q6_K", "q6-k"),
    "q5_k": ("Q5_K", "q5-k"),
    "q4_k": ("Q4_K", "q4-k"),
    "q3_k": ("Q3_K", "q3-k"),
    "q2_k": ("Q2_K", "q2-k"),
}
assert set(SCALAR_LABELS) == set(bitlayout.SCALAR_FORMATS)
assert set(BLOCK_LABELS) == set(bitlayout.BLOCK_FORMATS)

ALL_FORMATS = tuple(SCALAR_LABELS) + tuple(BLOCK_LABELS)
SEED_MAX = 2**32 - 1
STD_MAX = 1e4  # keeps every seeded value (|v| < ~6 std) inside fp16 block scales

# The module caches one GGUFReader; building it takes ~11 s the first time. Two requests
# arriving together would both build it, so the first read is serialised.
_model_lock = threading.Lock()


def format_catalogue() -> dict:
    """Every format with its label, glossary slug and ``describe`` facts."""

    def entry(name, labels):
        label, slug = labels[name]
        return {"label": label, "glossary": slug} | bitlayout.describe(name)

    return {
        "scalar": [entry(name, SCALAR_LABELS) for name in SCALAR_LABELS],
        "block": [entry(name, BLOCK_LABELS) for name in BLOCK_LABELS],
    }


def random_values(n: int, seed: int, std: float) -> list[float]:
    """``n`` draws from N(0, std^2), reproducible from ``seed`` (numpy's PCG64)."""
    return [float(v) for v in np.random.default_rng(seed).standard_normal(n) * std]


def json_safe(value):
    """Replace NaN/inf anywhere with the strings the module uses ("nan", "inf", "-inf").

    The module already does this for the numbers it knows can be special; this is the
    guarantee that no response is ever invalid JSON.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------- serializers


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}]})
class NumberOrString(serializers.Field):
    """Passed to the pure module untouched: it accepts numbers and numeric strings such
    as "1e-3", "-0", "inf", "nan", and names the field when it refuses one."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would turn the number 1010 into "1010"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BitLayoutSerializer(serializers.Serializer):
    format = StrictCharField(max_length=32, help_text="One of: " + ", ".join(ALL_FORMATS))
    value = NumberOrString(required=False, allow_null=True,
                           help_text="Scalar formats: the number to store (numeric strings, inf, nan allowed), "
                                     "or a bit pattern written in hex or binary, 0x7e or 0b0111_1110 "
                                     "(Python's literal syntax; leading zeros implied), read as `bits` is")
    bits = StrictCharField(required=False, allow_null=True, max_length=128, trim_whitespace=False,
                           help_text="Scalar formats: a bit pattern, MSB first; spaces, dots, underscores ignored. "
                                     "0x… and 0b… literals are accepted too")
    saturate = serializers.BooleanField(
        required=False, default=False,
        help_text="Float formats: the saturating cast (CUDA's __NV_SATFINITE, PTX cvt.rn.satfinite): "
                  "values past the largest finite one, and ±inf, become ±max instead of inf or NaN; "
                  "NaN stays NaN. Integer and NF4 codes always clamp. Ignored for bit patterns")
    scale = NumberOrString(required=False, allow_null=True,
                           help_text="nf4: the block absmax; int8/int4: the step. Default 1.")
    values = serializers.ListField(child=NumberOrString(allow_null=True), required=False, allow_null=True,
                                   help_text="Block formats: 32 values (256 for K-quants)")
    random = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX,
                                      help_text="Block formats: a seed; quantizes N(0, std²) draws")
    std = serializers.FloatField(required=False, default=1.0, min_value=1e-30, max_value=STD_MAX,
                                 help_text="Standard deviation of the random values")
    from_model = serializers.BooleanField(
        required=False, default=False, help_text="Block formats: take a real block from the bundled Gemma 3 270M GGUF")
    tensor = StrictCharField(required=False, allow_null=True, max_length=200,
                             help_text="With from_model: the tensor (default: the first stored in that format)")
    block = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                     help_text="With from_model: the block index (default 0)")


class BitLayoutCompareSerializer(serializers.Serializer):
    values = serializers.ListField(child=NumberOrString(allow_null=True), required=False, allow_null=True,
                                   help_text="Exactly 256 values")
    random = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX,
                                      help_text="A seed: compare on 256 N(0, std²) draws instead")
    std = serializers.FloatField(required=False, default=1.0, min_value=1e-30, max_value=STD_MAX)


class BitLayoutField(serializers.Serializer):
    name = serializers.CharField()
    bits = serializers.CharField()
    value = serializers.JSONField(
        help_text="sign ±1, unbiased exponent (null for inf/NaN), mantissa fraction, or the code")


class BitLayoutScalarResult(serializers.Serializer):
    format = serializers.CharField()
    bits = serializers.CharField()
    hex = serializers.CharField()
    fields = BitLayoutField(many=True)
    decoded = serializers.JSONField(help_text='the stored value; "nan", "inf", "-inf" as strings')
    abs_error = serializers.FloatField(allow_null=True)
    rel_error = serializers.FloatField(allow_null=True)
    neighbors = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                      help_text="next representable value down and up (null past the ends)")
    kind = serializers.CharField(help_text="normal, subnormal, zero, inf, nan, or code (nf4, int8, int4)")
    overflow = serializers.BooleanField()


class BitLayoutBlockField(serializers.Serializer):
    name = serializers.CharField()
    offset = serializers.IntegerField()
    size = serializers.IntegerField()
    hex = serializers.CharField()
    values = serializers.JSONField(help_text="decoded: a float, a list of ints, or {scales, mins}")
    description = serializers.CharField()


class BitLayoutBlockResult(serializers.Serializer):
    format = serializers.CharField()
    bytes_hex = serializers.CharField()
    fields = BitLayoutBlockField(many=True)
    dequantized = serializers.ListField(child=serializers.FloatField())
    rmse = serializers.FloatField(allow_null=True, help_text="null for a block from the model")
    max_abs_error = serializers.FloatField(allow_null=True)
    bits_per_weight = serializers.FloatField()
    values = serializers.ListField(child=serializers.FloatField(), required=False,
                                   help_text="the input (random and values modes)")
    seed = serializers.IntegerField(required=False)
    std = serializers.FloatField(required=False)
    tensor = serializers.CharField(required=False, help_text="from_model: the tensor read")
    block = serializers.IntegerField(required=False, help_text="from_model: the block index")
    tensors = serializers.ListField(child=serializers.DictField(), required=False,
                                    help_text="from_model: every tensor of this format, with its block count")


class BitLayoutCompareRow(serializers.Serializer):
    format = serializers.CharField()
    bits_per_weight = serializers.FloatField()
    rmse = serializers.FloatField(allow_null=True)
    max_abs_error = serializers.FloatField(allow_null=True)
    overflow = serializers.BooleanField()
    scaling = serializers.CharField()


class BitLayoutCompareResult(serializers.Serializer):
    values = serializers.ListField(child=serializers.FloatField())
    seed = serializers.IntegerField(allow_null=True)
    results = BitLayoutCompareRow(many=True)


# ---------------------------------------------------------------- API


def _bad(field: str, message: str) -> Response:
    return Response({field: [message]}, status=400)


def _module_error(exc: BitLayoutError, rename: dict | None = None) -> Response:
    return _bad((rename or {}).get(exc.field, exc.field), exc.message)


def _given(data: dict, key: str) -> bool:
    value = data.get(key)
    return value is not None and value is not False


def _scalar(data: dict, name: str) -> Response:
    for key in ("values", "random", "from_model", "tensor", "block"):
        if _given(data, key):
            return _bad(key, f"{name} is a scalar format: send value or bits")
    has_value, has_bits = _given(data, "value"), _given(data, "bits")
    if has_value and has_bits:
        return _bad("bits", "send value or bits, not both")
    if not (has_value or has_bits):
        return _bad("value", "send value (a number) or bits (a bit string)")
    try:
        if has_bits:
            result = bitlayout.decode(name, data["bits"], scale=data.get("scale"))
        else:
            result = bitlayout.encode(name, data["value"], scale=data.get("scale"),
                                      saturate=data["saturate"])
    except BitLayoutError as exc:
        return _module_error(exc)
    return Response(json_safe(result))


def _block(data: dict, name: str) -> Response:
    for key in ("value", "bits", "scale", "saturate"):
        if _given(data, key):
            return _bad(key, f"{name} is a block format: send values, random or from_model")
    modes = [key for key in ("values", "random", "from_model") if _given(data, key)]
    if not modes:
        n = bitlayout.describe(name)["block_size"]
        return _bad("values", f"send values ({n} numbers), random (a seed) or from_model: true")
    if len(modes) > 1:
        return _bad(modes[1], f"send only one of values, random, from_model (got {', '.join(modes)})")
    mode = modes[0]
    if mode != "from_model":
        for key in ("tensor", "block"):
            if _given(data, key):
                return _bad(key, "only with from_model: true")
    try:
        if mode == "values":
            result = bitlayout.quantize_block(name, data["values"])
            # Accepted by the module, so each value is a number or a numeric string.
            return Response(json_safe(result | {"values": [float(v) for v in data["values"]]}))
        if mode == "random":
            values = random_values(bitlayout.describe(name)["block_size"], data["random"], data["std"])
            try:
                result = bitlayout.quantize_block(name, values)
            except BitLayoutError as exc:
                return _module_error(exc, {"values": "std"})
            return Response(json_safe(result | {"values": values, "seed": data["random"], "std": data["std"]}))
        block = data.get("block")
        with _model_lock:
            result = bitlayout.block_from_model(name, data.get("tensor"), 0 if block is None else block)
            tensors = [{"name": t["name"], "blocks": t["blocks"]}
                       for t in bitlayout.model_tensors() if t["format"] == name]
        return Response(json_safe(result | {"tensors": tensors}))
    except BitLayoutError as exc:
        return _module_error(exc, {"tensor_name": "tensor"})


@extend_schema(
    summary="Bits of a number in a scalar format, or the packed bytes of a GGUF block",
    request=BitLayoutSerializer,
    responses={
        200: PolymorphicProxySerializer(component_name="BitLayoutResult",
                                        serializers=[BitLayoutScalarResult, BitLayoutBlockResult],
                                        resource_type_field_name=None),
        400: OpenApiTypes.OBJECT,
    },
    examples=[
        OpenApiExample("Encode", value={"format": "bf16", "value": 0.3333333333333333}, request_only=True),
        OpenApiExample("Decode", value={"format": "fp8_e4m3", "bits": "0.1111.110"}, request_only=True),
        OpenApiExample("Hex pattern", value={"format": "fp8_e4m3", "value": "0x7e"}, request_only=True),
        OpenApiExample("Saturating cast", value={"format": "fp8_e4m3", "value": 1000, "saturate": True},
                       request_only=True),
        OpenApiExample("Block", value={"format": "q4_0", "random": 1}, request_only=True),
        OpenApiExample("Real block", value={"format": "q4_k", "from_model": True, "block": 0}, request_only=True),
    ],
)
@api_view(["POST"])
@permission_classes([AllowAny])  # a calculation: nothing is stored, anyone may ask
def bit_layout(request):
    form = BitLayoutSerializer(data=request.data)
    if not form.is_valid():
        return Response(form.errors, status=400)
    data = form.validated_data
    name = data["format"].strip().lower()
    if name in SCALAR_LABELS:
        return _scalar(data, name)
    if name in BLOCK_LABELS:
        return _block(data, name)
    return _bad("format", f"unknown format {data['format']!r}; choose one of {', '.join(ALL_FORMATS)}")


@extend_schema(
    summary="One 256-value vector in every format: bits per weight against the error",
    request=BitLayoutCompareSerializer,
    responses={200: BitLayoutCompareResult, 400: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
@permission_classes([AllowAny])
def compare(request):
    form = BitLayoutCompareSerializer(data=request.data)
    if not form.is_valid():
        return Response(form.errors, status=400)
    data = form.validated_data
    has_values, has_random = _given(data, "values"), _given(data, "random")
    if has_values and has_random:
        return _bad("random", "send values or random, not both")
    if not (has_values or has_random):
        return _bad("values", f"send values ({bitlayout.COMPARE_LENGTH} numbers) or random (a seed)")
    if has_random:
        values = random_values(bitlayout.COMPARE_LENGTH, data["random"], data["std"])
        rename, seed = {"values": "std"}, data["random"]
    else:
        values, rename, seed = data["values"], None, None
    try:
        rows = bitlayout.compare(values)
    except BitLayoutError as exc:
        return _module_error(exc, rename)
    # The module accepted every value, so each is a number or a numeric string.
    return Response(json_safe({"values": [float(v) for v in values], "seed": seed, "results": rows}))


@extend_schema(summary="Every format the bit-layout calculator knows: widths, limits, block layouts",
               responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
@permission_classes([AllowAny])
def formats(request):
    return Response(json_safe(format_catalogue()))


# ---------------------------------------------------------------- page


def page(request):
    """The interactive page; static/js/bitlayout.js drives it through the API above."""
    catalogue = format_catalogue()
    initial_format = request.GET.get("format", "fp16").strip().lower()
    if initial_format not in SCALAR_LABELS:
        initial_format = "fp16"
    initial_block = request.GET.get("block_format", "q4_0").strip().lower()
    if initial_block not in BLOCK_LABELS:
        initial_block = "q4_0"
    return render(request, "calculators/bitlayout.html", {
        "catalogue": catalogue,
        "scalar_formats": catalogue["scalar"],
        # One link per glossary entry (both FP8 variants share "fp8").
        "scalar_links": list(dict.fromkeys((slug.upper(), slug) for _, slug in SCALAR_LABELS.values())),
        "block_formats": catalogue["block"],
        "initial_format": initial_format,
        "initial_value": request.GET.get("value", "0.1")[:200],
        "initial_scale": request.GET.get("scale", "1")[:200],
        "initial_cast": "satfinite" if request.GET.get("cast") == "satfinite" else "ieee",
        "initial_block": initial_block,
        "compare_length": bitlayout.COMPARE_LENGTH,
    })


urlpatterns = [path("bit-layout/", page, name="bitlayout")]
api_urlpatterns = [
    path("bit-layout/", bit_layout, name="bitlayout"),
    path("bit-layout/compare/", compare, name="bitlayout-compare"),
    path("bit-layout/formats/", formats, name="bitlayout-formats"),
]
