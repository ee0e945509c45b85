"""The memory calculator, "Will it fit?" (issue #7): its page and its API.

A thin layer over the pure modules: `calculators.memory` estimates what llama.cpp
allocates (weights tensor by tensor, KV cache, compute and output buffers, GPU/CPU
split), `calculators.gguf_header` reads an uploaded GGUF header, `calculators.training`
sizes full fine-tuning / LoRA / QLoRA, `calculators.gpus` lists the cards. This module
parses input, calls them, and renders.

- `POST /api/v1/calculators/memory/`: one estimate (or a training estimate), with a fit
  verdict per GPU. JSON, or multipart with a `gguf` part: the first few MiB of a file.
- `POST /api/v1/calculators/memory/mixes/`: the same model under every quant mix.
- `POST /api/v1/calculators/memory/context/`: KV cache against weights as the context
  grows, and the context at which the KV cache overtakes the weights.
- `/calculators/memory/`: the page. GET renders it from the query string (works without
  script, shareable); the page's script POSTs the form (with the slice of a local GGUF
  file) to the same URL and swaps in the returned results.

The preset list lives at `GET /api/v1/calculators/models/` (calculators/web/lora.py).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from types import SimpleNamespace

from django.core.cache import caches
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import (
    api_view, authentication_classes, parser_classes, permission_classes,
)
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators import memory
from calculators.architecture import Architecture, FieldError
from calculators.gguf_header import GGUFError, GGUFHeader, parse_header
from calculators.gpus import GPUS, get_gpu
from calculators.lora import ALL_LINEAR, TARGET_MODULES, lora_parameters
from calculators.presets import all_presets, get_preset
from calculators.quant_mix import MIXES, mix_name
from calculators.training import ATTENTION_KINDS, training_memory
# Shared with the LoRA calculator: reading a pasted config.json (with its size limits),
# the target-modules field, and the training breakdown grouped by kind.
from calculators.web.common import (
    MAX_RANK, TargetModulesField, TrainingMemorySerializer, architecture_from_json, memory_dict, memory_kind,
)
from config.api import JSONParser, loads as loads_json

MiB = 1024**2
GiB = 1024**3

# The page sends the first 8 MiB of a local file (File.slice in static/js/memory.js);
# a header needs less for every model we know of (the bundled Gemma 3 270M: 6.2 MiB, most
# of it the 262k-token vocabulary). Larger uploads are refused before they are read.
GGUF_SLICE_BYTES = 8 * MiB
MAX_UPLOAD_BYTES = 64 * MiB
# Room for the other multipart fields and the part headers around a 64 MiB file.
_BODY_SLACK = 1 * MiB
# A header's summary stays in the "gguf-headers" cache (settings.CACHES) for its timeout,
# so the page uploads a file only once; a summary larger than this is not kept (it would
# take more than its share of the cache's MAX_ENTRIES × this many bytes).
GGUF_SUMMARY_MAX_BYTES = 1 * MiB

MODES = ("inference", "full", "lora", "qlora")
DEFAULT_QUANT = "Q4_K_M"
DEFAULT_CONTEXT = 4096
MAX_GPU_LAYERS = 1_000_000

# The mixes the table shows, largest first (names as llama-quantize spells them).
TABLE_MIXES = ("F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_K_S",
               "Q4_0", "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_XXS",
               "Q2_K", "IQ2_M", "IQ2_XXS", "IQ1_M")

# Breakdown rows by what they hold, for the stacked bar. The labels come from
# calculators.memory.estimate; the API tests check that each kind sums to its figure.
KINDS = (
    ("weights", "Weights"),
    ("kv_cache", "KV cache"),
    ("compute", "Compute buffer"),
    ("output", "Output buffer"),
    ("overhead", "Overhead"),
)
TRAINING_KINDS = (
    ("weights", "Weights"),
    ("gradients", "Gradients"),
    ("optimizer_states", "Optimizer states"),
    ("activations", "Activations"),
)

# Where a mix or a type is explained in the glossary.
MIX_SLUGS = {
    "F32": "fp32", "F16": "fp16", "BF16": "bf16", "Q8_0": "q8-0", "Q6_K": "q6-k",
    "Q5_K_M": "q5-k-m", "Q5_K_S": "q5-k", "Q5_0": "q5-0", "Q5_1": "q5-1", "Q4_K_M": "q4-k-m",
    "Q4_K_S": "q4-k-s", "Q4_1": "q4-1", "Q4_0": "q4-0", "IQ4_XS": "iq4-xs", "IQ4_NL": "i-quants",
    "Q3_K_L": "q3-k-l", "Q3_K_M": "q3-k", "Q3_K_S": "q3-k", "Q2_K": "q2-k", "Q2_K_S": "q2-k",
    "IQ2_XXS": "iq2-xxs", "MXFP4_MOE": "mxfp4",
}


def mix_slug(mix: str) -> str:
    return MIX_SLUGS.get(mix, "i-quants" if mix.startswith("IQ") else "quant-mix")


def breakdown_kind(label: str) -> str:
    """Which part of the stacked bar a row of memory.estimate's breakdown belongs to."""
    if label.startswith("weights"):
        return "weights"
    if label.startswith("KV cache"):
        return "kv_cache"
    if label.startswith("compute buffer"):
        return "compute"
    if label.startswith("output buffer"):
        return "output"
    if label.startswith("output layer"):
        return "overhead"  # the GPU copy of tied token embeddings
    return "other"


# --- errors ----------------------------------------------------------------------------

# The pure modules name their own parameters; the API's names differ for a few.
_FIELD_NAMES = {
    "n_gpu_layers": "gpu_layers",
    "n_seq": "parallel",
    "n_ubatch": "ubatch_size",
    "n_batch": "batch_size",
    "system_ram_bytes": "system_ram_gb",
    "file": "gguf",
    "shape": "architecture",
    "tensors": "model",
    "preset": "model",
}


class InvalidInput(ValueError):
    """One bad field, in the API's own names: becomes HTTP 400 {field: [message]}."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _rename(exc: Exception, params: dict | None = None) -> InvalidInput:
    field = getattr(exc, "field", "model")
    message = getattr(exc, "message", str(exc))
    if isinstance(exc, GGUFError):
        field = "gguf"
    elif field in ("cache_type_k", "cache_type_v") and params is not None and field not in params:
        field = "kv_cache_type"  # the caller set both types through kv_cache_type
    return InvalidInput(_FIELD_NAMES.get(field, field), message)


# --- reading the input -------------------------------------------------------------------


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": "a Hugging Face config.json, or the architecture object "
                                     "GET /api/v1/calculators/models/ returns"})
class ArchitectureField(serializers.Field):
    """A JSON object, or (in multipart form data) the text of one."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = loads_json(data)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return data

    def to_representation(self, value):
        return value


def _cache_type_field(help_text):
    return serializers.CharField(required=False, allow_null=True, max_length=16, help_text=help_text)


class MemoryInputSerializer(serializers.Serializer):
    """What every memory endpoint reads. Exactly one of model, architecture, gguf."""

    model = serializers.CharField(required=False, allow_null=True, max_length=100,
                                  help_text="a preset slug from GET /api/v1/calculators/models/")
    architecture = ArchitectureField(required=False, allow_null=True,
                                     help_text="instead of model: a config.json or an architecture object")
    gguf = serializers.FileField(required=False, allow_null=True, allow_empty_file=True,
                                 help_text="instead of model (multipart only): the first bytes of a "
                                           f"GGUF file, at most {MAX_UPLOAD_BYTES // MiB} MiB; "
                                           f"{GGUF_SLICE_BYTES // MiB} MiB holds any header we know of")
    quant = serializers.CharField(required=False, allow_null=True, max_length=20,
                                  help_text=f"quant mix, e.g. Q4_K_M (default {DEFAULT_QUANT} for a "
                                            "model or architecture; a GGUF file keeps its own types "
                                            "unless this re-quantizes it)")
    imatrix = serializers.BooleanField(required=False, default=False,
                                       help_text="the mix was made with an importance matrix")
    context_length = serializers.IntegerField(required=False, default=DEFAULT_CONTEXT, min_value=1,
                                              max_value=memory.MAX_CONTEXT,
                                              help_text="llama.cpp's n_ctx: tokens of context in total")
    kv_cache_type = _cache_type_field(f"K and V cache type: {', '.join(memory.CACHE_TYPES)} (default f16)")
    cache_type_k = _cache_type_field("K cache type, overriding kv_cache_type")
    cache_type_v = _cache_type_field("V cache type, overriding kv_cache_type; quantized types need "
                                     "flash_attention")
    flash_attention = serializers.BooleanField(required=False, default=False)
    gpu_layers = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                          max_value=MAX_GPU_LAYERS,
                                          help_text="llama.cpp's -ngl; default: every layer")
    parallel = serializers.IntegerField(required=False, default=1, min_value=1,
                                        max_value=memory.LLAMA_MAX_SEQ,
                                        help_text="parallel sequences (llama-server --parallel)")
    batch_size = serializers.IntegerField(required=False, default=2048, min_value=1,
                                          max_value=memory.MAX_CONTEXT, help_text="-b, logical batch")
    ubatch_size = serializers.IntegerField(required=False, default=512, min_value=1,
                                           max_value=memory.MAX_CONTEXT, help_text="-ub, physical batch")
    swa_full = serializers.BooleanField(required=False, default=False,
                                        help_text="full-size cache for sliding-window layers (--swa-full)")
    kv_unified = serializers.BooleanField(required=False, default=False,
                                          help_text="one KV buffer for all sequences (--kv-unified)")
    mode = serializers.ChoiceField(choices=MODES, required=False, default="inference",
                                   help_text="inference with llama.cpp, or training: full, lora, qlora")
    sequence_length = serializers.IntegerField(required=False, default=2048, min_value=1,
                                               max_value=1_048_576, help_text="training only")
    micro_batch_size = serializers.IntegerField(required=False, default=1, min_value=1,
                                                max_value=4096, help_text="training only")
    gradient_checkpointing = serializers.BooleanField(required=False, default=True,
                                                      help_text="training only")
    attention = serializers.ChoiceField(choices=ATTENTION_KINDS, required=False, default="flash",
                                        help_text="training only: flash (FlashAttention/SDPA) or eager")
    rank = serializers.IntegerField(required=False, default=16, min_value=1, max_value=MAX_RANK,
                                    help_text="LoRA/QLoRA rank")
    target_modules = TargetModulesField(required=False, default=list(ALL_LINEAR),
                                        help_text="LoRA/QLoRA: modules to adapt, or \"all-linear\"")
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64,
                                help_text="an accelerator slug (see `verdicts`): its verdict is "
                                          "also returned as `verdict`")
    system_ram_gb = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                           max_value=1_000_000,
                                           help_text="system RAM in GiB: adds a verdict for the "
                                                     "part that stays on the CPU")

    def validate_gpu(self, value):
        if value is None:
            return None
        try:
            get_gpu(value)
        except KeyError:
            raise serializers.ValidationError(
                f"unknown accelerator {value!r}; choose one of {', '.join(g.slug for g in GPUS)}") from None
        return value

    def validate_system_ram_gb(self, value):
        if value is not None and value <= 0:
            raise serializers.ValidationError("must be greater than 0")
        return value

    def validate(self, data):
        given = [name for name in ("model", "architecture", "gguf") if data.get(name) is not None]
        if self.context.get("gguf_header") is not None:
            given.append("gguf")  # the page's header, parsed on an earlier request
        if len(given) > 1:
            raise serializers.ValidationError(
                {"model": [f"give one of model, architecture or gguf, not {' and '.join(given)}"]})
        if not given:
            raise serializers.ValidationError(
                {"model": ["required: a preset slug, or an architecture, or a gguf file"]})
        return data


class MemoryMixesInputSerializer(MemoryInputSerializer):
    quants = serializers.ListField(child=serializers.CharField(max_length=20), required=False,
                                   max_length=len(MIXES), allow_empty=False,
                                   help_text=f"mixes to compare (default: {', '.join(TABLE_MIXES)})")


@dataclass(frozen=True)
class Source:
    """The model a request describes."""

    kind: str  # "preset", "architecture" or "gguf"
    model: Architecture | GGUFHeader
    name: str
    slug: str | None = None
    hf_repo: str | None = None
    gguf_key: str | None = None  # the cache key of an uploaded header
    parameters: int | None = None  # the preset's published count

    @property
    def architecture(self) -> Architecture | None:
        return self.model if isinstance(self.model, Architecture) else None

    @property
    def n_layer(self) -> int:
        if isinstance(self.model, Architecture):
            return self.model.num_layers
        return _gguf_layers(self.model)

    @property
    def trained_context(self) -> int:
        if isinstance(self.model, Architecture):
            return self.model.context_length
        return _gguf_int(self.model, "context_length") or 0

    def to_dict(self) -> dict:
        data = {"source": self.kind, "slug": self.slug, "name": self.name, "hf_repo": self.hf_repo,
                "n_layer": self.n_layer, "context_length": self.trained_context,
                "architecture": None, "gguf": None}
        if isinstance(self.model, Architecture):
            data["architecture"] = self.model.to_dict()
        else:
            file_type = self.model.metadata.get("general.file_type")
            try:
                mix = mix_name(file_type) if isinstance(file_type, int) else None
            except ValueError:
                mix = None
            data["gguf"] = {"architecture": self.model.architecture, "version": self.model.version,
                            "tensor_count": len(self.model.tensors), "header_bytes": self.model.data_offset,
                            "file_type": mix, "key": self.gguf_key}
        return data


def _gguf_int(header: GGUFHeader, key: str) -> int | None:
    value = header.metadata.get(f"{header.architecture}.{key}")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _gguf_layers(header: GGUFHeader) -> int:
    return _gguf_int(header, "block_count") or 0


def header_from_upload(upload) -> tuple[GGUFHeader, str]:
    """Parse an uploaded slice (an UploadedFile); keep its summary, never the upload."""
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise InvalidInput("gguf", f"the upload is {upload.size:,} bytes; send at most "
                                   f"{MAX_UPLOAD_BYTES // MiB} MiB (the first {GGUF_SLICE_BYTES // MiB} MiB "
                                   "of a GGUF file hold its header)")
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput("gguf", f"send at most {MAX_UPLOAD_BYTES // MiB} MiB")
    header = _parse(data).summary()
    key = hashlib.sha256(data).hexdigest()
    if len(pickle.dumps(header)) <= GGUF_SUMMARY_MAX_BYTES:
        caches["gguf-headers"].set(key, header)
    return header, key


def header_from_cache(key: str) -> GGUFHeader | None:
    if not isinstance(key, str) or len(key) != 64:
        return None
    return caches["gguf-headers"].get(key)


def _parse(data: bytes) -> GGUFHeader:
    try:
        header = parse_header(data)
        header.hyperparameters()  # every count the estimates loop over, checked up front
    except GGUFError as exc:
        raise InvalidInput("gguf", exc.message) from None
    return header


def resolve_source(params: dict, header: GGUFHeader | None = None, gguf_key: str | None = None) -> Source:
    if params.get("model") is not None:
        try:
            preset = get_preset(params["model"])
        except FieldError as exc:
            raise InvalidInput("model", exc.message) from None
        return Source("preset", preset.architecture, preset.name, preset.slug, preset.hf_repo,
                      parameters=preset.official_parameter_count)
    if params.get("architecture") is not None:
        try:
            arch = architecture_from_json(params["architecture"])
        except FieldError as exc:
            raise InvalidInput(exc.field, exc.message) from None
        return Source("architecture", arch, "Pasted architecture")
    if header is None:
        header, gguf_key = header_from_upload(params["gguf"])
    name = str(header.metadata.get("general.name") or "Uploaded GGUF file")
    return Source("gguf", header, name, gguf_key=gguf_key)


# --- computing ---------------------------------------------------------------------------


def _estimate_kwargs(params: dict, source: Source) -> dict:
    both = params.get("kv_cache_type") or "f16"
    gpu_layers = params.get("gpu_layers")
    quant = params.get("quant")
    if quant is None and source.kind != "gguf":
        quant = DEFAULT_QUANT
    return dict(
        quant=quant,
        imatrix=params["imatrix"],
        context_length=params["context_length"],
        cache_type_k=params.get("cache_type_k") or both,
        cache_type_v=params.get("cache_type_v") or both,
        flash_attention=params["flash_attention"],
        # none given: every layer, output layer included (llama.cpp's -ngl 999 idiom)
        n_gpu_layers=source.n_layer + 1 if gpu_layers is None else gpu_layers,
        n_seq=params["parallel"],
        n_ubatch=params["ubatch_size"],
        n_batch=params["batch_size"],
        swa_full=params["swa_full"],
        kv_unified=params["kv_unified"],
    )


def _estimate(source: Source, params: dict, **overrides) -> memory.MemoryEstimate:
    kwargs = {**_estimate_kwargs(params, source), **overrides}
    try:
        return memory.estimate(source.model, **kwargs)
    except ValueError as exc:  # FieldError, InputError, QuantMixError and GGUFError among them
        if hasattr(exc, "field"):
            raise _rename(exc, params) from None
        # A header whose metadata has the wrong types (a string where a count belongs)
        raise InvalidInput("gguf" if source.kind == "gguf" else "architecture",
                           f"could not use this model ({exc})") from None
    except (TypeError, KeyError, IndexError, ArithmeticError) as exc:
        raise InvalidInput("gguf" if source.kind == "gguf" else "architecture",
                           f"could not use this model ({exc.__class__.__name__}: {exc})") from None


def _system_ram_bytes(params: dict) -> int | None:
    gb = params.get("system_ram_gb")
    return None if gb is None else max(1, round(gb * GiB))


def _verdicts(result, params: dict) -> tuple[list[dict], dict | None]:
    verdicts = [v.to_dict() for v in memory.fit_verdicts(result, system_ram_bytes=_system_ram_bytes(params))]
    chosen = next((v for v in verdicts if v["device"] == params.get("gpu")), None)
    return verdicts, chosen


def _effective_gpu_layers(params: dict, n_layer: int) -> int:
    gpu_layers = params.get("gpu_layers")
    return n_layer + 1 if gpu_layers is None else min(n_layer + 1, gpu_layers)


def inference(source: Source, params: dict) -> dict:
    result = _estimate(source, params)
    kwargs = _estimate_kwargs(params, source)
    verdicts, chosen = _verdicts(result, params)
    data = result.to_dict()
    for row in data["breakdown"]:
        row["kind"] = breakdown_kind(row["label"])
    n_layer = source.n_layer
    data.update({
        "model": source.to_dict(),
        "mode": "inference",
        "quant": kwargs["quant"].upper() if kwargs["quant"] else None,
        "settings": {
            "context_length": params["context_length"],
            "n_ctx": result.n_ctx,
            "cache_type_k": kwargs["cache_type_k"].lower(),
            "cache_type_v": kwargs["cache_type_v"].lower(),
            "flash_attention": params["flash_attention"],
            "gpu_layers": _effective_gpu_layers(params, n_layer),
            "n_layer": n_layer,
            "parallel": params["parallel"],
            "batch_size": params["batch_size"],
            "ubatch_size": params["ubatch_size"],
            "swa_full": params["swa_full"],
            "kv_unified": params["kv_unified"],
        },
        "kv_caches": [{"label": c.label, "cells": c.cells, "streams": c.streams, "layers": len(c.layers),
                       "type_k": c.type_k, "type_v": c.type_v, "k_bytes": c.k_bytes, "v_bytes": c.v_bytes,
                       "bytes": c.bytes} for c in result.kv_caches],
        "verdicts": verdicts,
        "verdict": chosen,
        "training": None,
    })
    return data


def training(source: Source, params: dict) -> dict:
    mode = params["mode"]
    arch = source.architecture
    if arch is None:
        raise InvalidInput("mode", "training estimates need a preset or a config.json; a GGUF "
                                   "header does not describe the PyTorch model")
    adapter = None
    try:
        if mode != "full":
            adapter = lora_parameters(arch, params["rank"], params["target_modules"],
                                      method="qlora" if mode == "qlora" else "lora",
                                      base_parameters=source.parameters)
        mem = training_memory(arch, mode, sequence_length=params["sequence_length"],
                              micro_batch_size=params["micro_batch_size"],
                              gradient_checkpointing=params["gradient_checkpointing"],
                              attention=params["attention"], lora=adapter)
    except FieldError as exc:
        raise _rename(exc, params) from None
    by_kind = memory_dict(mem)
    total = mem.total_bytes
    # One training step runs on one GPU; fit_verdicts reads only these three figures.
    verdicts, chosen = _verdicts(SimpleNamespace(gpu_bytes=total, cpu_bytes=0, total_bytes=total), params)
    parameters = source.parameters or arch.parameter_count()
    weights = by_kind["by_kind"]["weights"]
    return {
        "model": source.to_dict(),
        "mode": mode,
        "quant": None,
        "settings": None,
        "parameters": parameters,
        "weights_bytes": weights,
        "bits_per_weight": weights * 8 / parameters if parameters else 0.0,
        "kv_cache_bytes": None,
        "compute_buffer_bytes": None,
        "output_buffer_bytes": None,
        "overhead_bytes": None,
        "total_bytes": total,
        "gpu_bytes": total,
        "cpu_bytes": 0,
        "tensors": [],
        "breakdown": [{"label": label, "bytes": n, "device": "gpu",
                       "kind": memory_kind(label)} for label, n in mem.breakdown],
        "notes": list(mem.notes),
        "kv_caches": [],
        "verdicts": verdicts,
        "verdict": chosen,
        "training": {
            **by_kind,
            "trainable_parameters": adapter.trainable if adapter else parameters,
            "rank": adapter.rank if adapter else None,
            "target_modules": list(adapter.target_modules) if adapter else [],
        },
    }


def calculate(source: Source, params: dict) -> dict:
    return inference(source, params) if params["mode"] == "inference" else training(source, params)


def mixes(source: Source, params: dict, quants=None) -> dict:
    """Every mix for this model under the same settings, largest first."""
    names = []
    for quant in quants or TABLE_MIXES:
        name = quant.strip().upper() if isinstance(quant, str) else quant
        if name not in MIXES:
            raise InvalidInput("quants", f"unknown quantization {quant!r}; choose from {', '.join(MIXES)}")
        if name not in names:
            names.append(name)
    chosen_gpu = params.get("gpu")
    gpu = get_gpu(chosen_gpu) if chosen_gpu else None
    rows = []
    for name in names:
        result = _estimate(source, params, quant=name)
        verdict = memory.fit_verdicts(result, gpus=(gpu,))[0].verdict if gpu else None
        rows.append({
            "quant": name,
            "glossary": mix_slug(name),
            "parameters": result.parameters,
            "weights_bytes": result.weights_bytes,
            "bits_per_weight": result.bits_per_weight,
            "total_bytes": result.total_bytes,
            "gpu_bytes": result.gpu_bytes,
            "cpu_bytes": result.cpu_bytes,
            "verdict": verdict,
            "fits": None if verdict is None else verdict != "does-not-fit",
        })
    rows.sort(key=lambda row: -row["weights_bytes"])
    current = _estimate_kwargs(params, source)["quant"]
    return {"model": source.to_dict(), "gpu": gpu.to_dict() if gpu else None,
            "quant": current.upper() if current else None, "mixes": rows}


def _pow2_range(low: int, high: int) -> list[int]:
    out, n = [], 1
    while n < low:
        n *= 2
    while n <= high:
        out.append(n)
        n *= 2
    return out


def context_series(source: Source, params: dict) -> dict:
    """KV cache and total memory as the context grows, everything else as given.

    The KV cache grows with the context (llama.cpp allocates it padded to 256 cells); the
    weights do not. `kv_overtakes_weights_at` is the smallest context (in tokens, up to
    10M) whose KV cache is larger than the weights, found by bisection on the estimator
    itself (the KV cache never shrinks as the context grows).
    """
    known: dict[int, memory.MemoryEstimate | None] = {}

    def at(ctx: int) -> memory.MemoryEstimate | None:
        if ctx not in known:
            try:
                known[ctx] = _estimate(source, params, context_length=ctx)
            except InvalidInput as exc:
                if exc.field != "context_length":  # too small for the parallel sequences
                    raise
                known[ctx] = None
        return known[ctx]

    base = _estimate(source, params)
    weights = base.weights_bytes
    chosen = params["context_length"]
    top = min(memory.MAX_CONTEXT, max(chosen, source.trained_context or 0, 4096))
    contexts = sorted(set(_pow2_range(256, top)) | {chosen, top})
    points = [(c, at(c)) for c in contexts]
    points = [(c, r) for c, r in points if r is not None]

    # bracket the crossing, then bisect on integers
    crossing = None
    over = [c for c, r in points if r.kv_cache_bytes > weights]
    if over:
        hi = over[0]
        below = [c for c, r in points if c < hi]
        lo = below[-1] if below else 0
    else:
        lo, hi = points[-1][0] if points else 0, None
        probe = max(lo, 1)
        while probe < memory.MAX_CONTEXT:
            probe = min(memory.MAX_CONTEXT, probe * 4)
            r = at(probe)
            if r is not None and r.kv_cache_bytes > weights:
                hi = probe
                break
            lo = probe
    if hi is not None:
        while hi - lo > 1:  # invariant: at(lo) is not over (or invalid), at(hi) is
            mid = (lo + hi) // 2
            r = at(mid)
            if r is not None and r.kv_cache_bytes > weights:
                hi = mid
            else:
                lo = mid
        crossing = hi
        crossing_estimate = at(hi)
    return {
        "model": source.to_dict(),
        "weights_bytes": weights,
        "context_length": chosen,
        "trained_context": source.trained_context or None,
        "points": [{"context_length": c, "n_ctx": r.n_ctx, "kv_cache_bytes": r.kv_cache_bytes,
                    "total_bytes": r.total_bytes, "gpu_bytes": r.gpu_bytes} for c, r in points],
        "kv_overtakes_weights_at": crossing,
        "kv_cache_bytes_there": crossing_estimate.kv_cache_bytes if crossing else None,
    }


# --- API -----------------------------------------------------------------------------------


class MemoryTensorSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="ggml type, e.g. Q4_K")
    shape = serializers.ListField(child=serializers.IntegerField(), help_text="ggml order: ne0 first")
    bytes = serializers.IntegerField()


class MemoryBreakdownSerializer(serializers.Serializer):
    label = serializers.CharField()
    bytes = serializers.IntegerField()
    device = serializers.ChoiceField(choices=("gpu", "cpu"))
    kind = serializers.ChoiceField(choices=[k for k, _ in KINDS + TRAINING_KINDS],
                                   help_text="the part of the stacked bar it belongs to")


class MemoryVerdictSerializer(serializers.Serializer):
    device = serializers.CharField(help_text="accelerator slug, or system-ram")
    name = serializers.CharField()
    available_bytes = serializers.IntegerField()
    needed_bytes = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=("fits", "tight", "does-not-fit"),
                                      help_text="tight: fits only without llama.cpp's 1 GiB --fit margin")
    fits = serializers.BooleanField()


class MemoryGGUFInfoSerializer(serializers.Serializer):
    architecture = serializers.CharField()
    version = serializers.IntegerField()
    tensor_count = serializers.IntegerField()
    header_bytes = serializers.IntegerField(help_text="where the tensor data starts")
    file_type = serializers.CharField(allow_null=True, help_text="the file's mix, from general.file_type")
    key = serializers.CharField(help_text="sha256 of the upload")


class MemoryModelInfoSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=("preset", "architecture", "gguf"))
    slug = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    hf_repo = serializers.CharField(allow_null=True)
    n_layer = serializers.IntegerField()
    context_length = serializers.IntegerField(help_text="the model's training context")
    architecture = serializers.DictField(allow_null=True)
    gguf = MemoryGGUFInfoSerializer(allow_null=True)


class MemorySettingsSerializer(serializers.Serializer):
    context_length = serializers.IntegerField()
    n_ctx = serializers.IntegerField(help_text="cells llama.cpp allocates (padded to 256)")
    cache_type_k = serializers.CharField()
    cache_type_v = serializers.CharField()
    flash_attention = serializers.BooleanField()
    gpu_layers = serializers.IntegerField(help_text="layers offloaded, n_layer + 1 = all")
    n_layer = serializers.IntegerField()
    parallel = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    ubatch_size = serializers.IntegerField()
    swa_full = serializers.BooleanField()
    kv_unified = serializers.BooleanField()


class MemoryKVCacheSerializer(serializers.Serializer):
    label = serializers.CharField()
    cells = serializers.IntegerField()
    streams = serializers.IntegerField()
    layers = serializers.IntegerField()
    type_k = serializers.CharField()
    type_v = serializers.CharField()
    k_bytes = serializers.IntegerField()
    v_bytes = serializers.IntegerField()
    bytes = serializers.IntegerField()


class MemoryTrainingSerializer(TrainingMemorySerializer):
    trainable_parameters = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)
    target_modules = serializers.ListField(child=serializers.CharField())


class MemoryResponseSerializer(serializers.Serializer):
    model = MemoryModelInfoSerializer()
    mode = serializers.ChoiceField(choices=MODES)
    quant = serializers.CharField(allow_null=True, help_text="null: the GGUF file's own types")
    settings = MemorySettingsSerializer(allow_null=True, help_text="inference only")
    parameters = serializers.IntegerField()
    weights_bytes = serializers.IntegerField()
    bits_per_weight = serializers.FloatField()
    kv_cache_bytes = serializers.IntegerField(allow_null=True)
    compute_buffer_bytes = serializers.IntegerField(allow_null=True, help_text="an estimate")
    output_buffer_bytes = serializers.IntegerField(allow_null=True)
    overhead_bytes = serializers.IntegerField(allow_null=True)
    total_bytes = serializers.IntegerField()
    gpu_bytes = serializers.IntegerField()
    cpu_bytes = serializers.IntegerField()
    tensors = MemoryTensorSerializer(many=True)
    breakdown = MemoryBreakdownSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    kv_caches = MemoryKVCacheSerializer(many=True)
    verdicts = MemoryVerdictSerializer(many=True)
    verdict = MemoryVerdictSerializer(allow_null=True, help_text="the verdict for `gpu`, if given")
    training = MemoryTrainingSerializer(allow_null=True)


class MemoryMixRowSerializer(serializers.Serializer):
    quant = serializers.CharField()
    glossary = serializers.CharField(help_text="glossary slug explaining the mix")
    parameters = serializers.IntegerField()
    weights_bytes = serializers.IntegerField()
    bits_per_weight = serializers.FloatField()
    total_bytes = serializers.IntegerField()
    gpu_bytes = serializers.IntegerField()
    cpu_bytes = serializers.IntegerField()
    verdict = serializers.CharField(allow_null=True, help_text="on `gpu`, if given")
    fits = serializers.BooleanField(allow_null=True)


class MemoryAcceleratorSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    memory_bytes = serializers.IntegerField()
    unified = serializers.BooleanField()
    gpu_usable_bytes = serializers.IntegerField()


class MemoryMixesResponseSerializer(serializers.Serializer):
    model = MemoryModelInfoSerializer()
    gpu = MemoryAcceleratorSerializer(allow_null=True)
    quant = serializers.CharField(allow_null=True, help_text="the request's own mix")
    mixes = MemoryMixRowSerializer(many=True)


class MemoryContextPointSerializer(serializers.Serializer):
    context_length = serializers.IntegerField()
    n_ctx = serializers.IntegerField()
    kv_cache_bytes = serializers.IntegerField()
    total_bytes = serializers.IntegerField()
    gpu_bytes = serializers.IntegerField()


class MemoryContextResponseSerializer(serializers.Serializer):
    model = MemoryModelInfoSerializer()
    weights_bytes = serializers.IntegerField()
    context_length = serializers.IntegerField()
    trained_context = serializers.IntegerField(allow_null=True)
    points = MemoryContextPointSerializer(many=True)
    kv_overtakes_weights_at = serializers.IntegerField(
        allow_null=True, help_text="smallest context (tokens) whose KV cache exceeds the weights; "
                                   "null if none up to 10M")
    kv_cache_bytes_there = serializers.IntegerField(allow_null=True)


def _check_body_size(request) -> None:
    """Refuse an oversized upload from its Content-Length, before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_UPLOAD_BYTES + _BODY_SLACK:
        raise InvalidInput("gguf", f"the request is {length:,} bytes; send at most the first "
                                   f"{MAX_UPLOAD_BYTES // MiB} MiB of a GGUF file "
                                   f"({GGUF_SLICE_BYTES // MiB} MiB hold any header)")


def _api_params(request, serializer_class) -> dict:
    _check_body_size(request)
    form = serializer_class(data=request.data)
    form.is_valid(raise_exception=True)
    return form.validated_data


def _run(request, serializer_class, compute):
    try:
        params = _api_params(request, serializer_class)
        return Response(compute(resolve_source(params), params))
    except InvalidInput as exc:
        return Response({exc.field: [exc.message]}, status=400)


_REQUEST = {"application/json": MemoryInputSerializer, "multipart/form-data": MemoryInputSerializer}
_ERRORS = OpenApiResponse(description='{"<field>": ["message"]}, e.g. "context_length", "quant", '
                                      '"kv_cache_type", "gguf", "model", "architecture.hidden_size"')
def _api(view):
    view = parser_classes([JSONParser, MultiPartParser, FormParser])(view)
    view = authentication_classes([])(view)  # no account, no CSRF, nothing stored
    view = permission_classes([AllowAny])(view)
    return api_view(["POST"])(view)


@extend_schema(
    summary="Will it fit? Memory to run (or train) a model, split GPU/CPU, with a verdict per GPU",
    request=_REQUEST,
    responses={200: MemoryResponseSerializer, 400: _ERRORS},
    examples=[
        OpenApiExample("A preset", request_only=True, value={
            "model": "llama-3.1-8b", "quant": "Q4_K_M", "context_length": 8192,
            "kv_cache_type": "q8_0", "flash_attention": True, "gpu": "rtx-4090"}),
        OpenApiExample("QLoRA training", request_only=True, value={
            "model": "llama-3.1-8b", "mode": "qlora", "sequence_length": 2048, "rank": 16,
            "target_modules": "all-linear", "gpu": "rtx-4090"}),
    ],
)
@_api
def memory_api(request):
    return _run(request, MemoryInputSerializer, calculate)


@extend_schema(
    summary="Every quant mix of a model: size, bits per weight, and whether it fits on `gpu`",
    request={"application/json": MemoryMixesInputSerializer, "multipart/form-data": MemoryMixesInputSerializer},
    responses={200: MemoryMixesResponseSerializer, 400: _ERRORS},
    examples=[OpenApiExample("Mistral 7B on a 12 GB card", request_only=True, value={
        "model": "mistral-7b-v0.1", "context_length": 8192, "gpu": "rtx-3060-12gb"})],
)
@_api
def mixes_api(request):
    return _run(request, MemoryMixesInputSerializer,
                lambda source, params: mixes(source, params, params.get("quants")))


@extend_schema(
    summary="KV cache against weights as the context grows",
    request=_REQUEST,
    responses={200: MemoryContextResponseSerializer, 400: _ERRORS},
)
@_api
def context_api(request):
    return _run(request, MemoryInputSerializer, context_series)


# --- page ----------------------------------------------------------------------------------

DEFAULTS = {
    "source": "preset",
    "model": "llama-3.1-8b",
    "architecture": "",
    "gguf_key": "",
    "quant": DEFAULT_QUANT,
    "imatrix": False,
    "context_length": "8192",
    "kv_cache_type": "f16",
    "flash_attention": False,
    "gpu_layers": "",
    "parallel": "1",
    "batch_size": "2048",
    "ubatch_size": "512",
    "swa_full": False,
    "kv_unified": False,
    "gpu": "rtx-4090",
    "system_ram_gb": "",
    "mode": "inference",
    "sequence_length": "2048",
    "micro_batch_size": "1",
    "gradient_checkpointing": True,
    "attention": "flash",
    "rank": "16",
    "target_modules": list(ALL_LINEAR),
}
_TEXT_FIELDS = ("source", "model", "architecture", "gguf_key", "quant", "context_length",
                "kv_cache_type", "gpu_layers", "parallel", "batch_size", "ubatch_size", "gpu",
                "system_ram_gb", "mode", "sequence_length", "micro_batch_size", "attention", "rank")
_CHECKBOXES = ("imatrix", "flash_attention", "swa_full", "kv_unified", "gradient_checkpointing")
# Page inputs sent to the serializer when not blank.
_PARAMS = ("quant", "context_length", "kv_cache_type", "gpu_layers", "parallel", "batch_size",
           "ubatch_size", "gpu", "system_ram_gb", "mode", "sequence_length", "micro_batch_size",
           "attention", "rank")
ERROR_SLOTS = ("model", "architecture", "gguf", "quant", "imatrix", "context_length", "kv_cache_type",
               "flash_attention", "gpu_layers", "parallel", "batch_size", "ubatch_size", "swa_full",
               "kv_unified", "gpu", "system_ram_gb", "mode", "sequence_length", "micro_batch_size",
               "gradient_checkpointing", "attention", "rank", "target_modules", "form")
CONTEXT_STEPS = tuple(2**i for i in range(8, 24))  # the slider: 256 … 8M tokens


def form_values(query) -> dict:
    """What the form shows: the input as typed, defaults for what it leaves out.

    The form sends `form=1`, so there an absent checkbox means unchecked; a hand-written
    URL such as ?model=qwen2.5-7b&context_length=32768 keeps the other defaults.
    """
    if not query:
        return {**DEFAULTS, "target_modules": list(DEFAULTS["target_modules"])}
    from_form = "form" in query
    values = {name: str(query.get(name, DEFAULTS[name]))[:100_000] for name in _TEXT_FIELDS}
    for name in _CHECKBOXES:
        values[name] = name in query if from_form else DEFAULTS[name]
    if from_form or "target_modules" in query:
        values["target_modules"] = query.getlist("target_modules")[:64]
    else:
        values["target_modules"] = list(DEFAULTS["target_modules"])
    return values


def _request_data(values: dict, files) -> tuple[dict, dict[str, str], GGUFHeader | None]:
    """Form values → serializer input; a GGUF source comes as a file or a cache key."""
    data = {name: values[name] for name in _PARAMS if str(values[name]).strip() != ""}
    for name in _CHECKBOXES:
        data[name] = values[name]
    data["target_modules"] = values["target_modules"]
    if data.get("quant") == "file":
        del data["quant"]  # a GGUF file's own types
    source = values["source"]
    if source == "paste":
        text = values["architecture"].strip()
        if not text:
            return data, {"architecture": "paste a config.json, or choose a preset"}, None
        data["architecture"] = text
    elif source == "gguf":
        if "gguf" in files:
            data["gguf"] = files["gguf"]
        elif header := header_from_cache(values["gguf_key"]):
            return data, {}, header
        else:
            message = ("choose a .gguf file (reading it needs JavaScript)" if not values["gguf_key"]
                       else "the file's header is no longer on the server; choose the file again")
            return data, {"gguf": message}, None
    elif values["model"]:
        data["model"] = values["model"]
    return data, {}, None


def _errors_from(detail) -> dict[str, str]:
    """DRF's {"field": ["message", ...]} → one line per page slot."""
    errors: dict[str, str] = {}
    if not isinstance(detail, dict):
        return {"form": " ".join(map(str, detail))}
    for field, messages in detail.items():
        text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        if field.startswith("architecture."):
            field, text = "architecture", f"{field.removeprefix('architecture.')}: {text}"
        elif field in ("cache_type_k", "cache_type_v"):
            field = "kv_cache_type"
        elif field == "quants":
            field = "quant"
        if field not in ERROR_SLOTS:
            field = "form"
        errors[field] = f"{errors[field]} {text}" if field in errors else text
    return errors


def _gib(n: int | None) -> float | None:
    return None if n is None else n / GiB


def _bars(result: dict) -> dict:
    """The stacked bar: bytes per kind and device."""
    kinds = TRAINING_KINDS if result["training"] else KINDS
    devices = ("gpu",) if result["training"] else ("gpu", "cpu")
    sums = {(k, d): 0 for k, _ in kinds for d in devices}
    for row in result["breakdown"]:
        if (row["kind"], row["device"]) in sums:
            sums[(row["kind"], row["device"])] += row["bytes"]
    return {
        "devices": [{"gpu": "GPU", "cpu": "CPU / system RAM"}[d] for d in devices],
        "kinds": [{"kind": k, "label": label, "bytes": [sums[(k, d)] for d in devices]} for k, label in kinds],
    }


def _training_comparison(source: Source, params: dict) -> list[dict]:
    rows = []
    for mode, title in (("full", "Full fine-tuning"), ("lora", "LoRA"), ("qlora", "QLoRA")):
        try:
            r = training(source, {**params, "mode": mode})
        except InvalidInput:
            continue
        kinds = r["training"]["by_kind"]
        rows.append({"mode": mode, "title": title, "total_bytes": r["total_bytes"],
                     "total_gib": _gib(r["total_bytes"]), "by_kind": kinds,
                     "cells": [{"bytes": kinds[k], "gib": _gib(kinds[k])} for k, _ in TRAINING_KINDS],
                     "verdict": r["verdict"], "chosen": mode == params["mode"]})
    return rows


def _with_gib(rows: list[dict], *keys: str) -> list[dict]:
    """Copies of `rows` with a `<key>_gib` beside each byte count, for the templates."""
    return [{**row, **{f"{k}_gib": _gib(row[k]) for k in keys}} for row in rows]


def _figures(result: dict) -> list[dict]:
    """The headline numbers, in the order the page shows them."""
    rows = [("total", "Total", result["total_bytes"], None),
            ("gpu", "On the GPU", result["gpu_bytes"], "gpu-offload"),
            ("cpu", "On the CPU", result["cpu_bytes"], "memory-mapping-mmap"),
            ("weights", "Weights", result["weights_bytes"], "quant-mix")]
    if result["training"] is None:
        rows += [("kv", "KV cache", result["kv_cache_bytes"], "kv-cache"),
                 ("compute", "Compute buffers", result["compute_buffer_bytes"], None)]
    else:
        kinds = result["training"]["by_kind"]
        rows += [("optimizer", "Optimizer states", kinds["optimizer_states"], "adam-optimizer"),
                 ("activations", "Activations", kinds["activations"], "gradient-checkpointing")]
    return [{"id": key, "label": label, "bytes": n, "gib": _gib(n), "slug": slug} for key, label, n, slug in rows]


def _page_results(source: Source, params: dict) -> dict:
    result = calculate(source, params)
    bars = _bars(result)
    context = {
        "result": result,
        "figures": _figures(result),
        "breakdown": _with_gib(result["breakdown"], "bytes"),
        "verdicts": _with_gib(result["verdicts"], "needed_bytes", "available_bytes"),
        "verdict": _with_gib([result["verdict"]], "needed_bytes", "available_bytes")[0] if result["verdict"] else None,
        "model_info": result["model"],
    }
    chart = {"mode": result["mode"], "bars": bars}
    if result["training"] is None:
        table = mixes(source, params)
        series = context_series(source, params)
        context["mixes"] = [{**row, "weights_gb": row["weights_bytes"] / 1e9}
                            for row in _with_gib(table["mixes"], "weights_bytes", "total_bytes", "gpu_bytes")]
        context["mix_gpu"] = table["gpu"]
        context["series"] = series
        context["crossing_beyond_training"] = bool(
            series["kv_overtakes_weights_at"] and series["trained_context"]
            and series["kv_overtakes_weights_at"] > series["trained_context"])
        chart["mixes"] = table["mixes"]
        chart["quant"] = result["quant"]
        chart["gpu"] = table["gpu"]
        chart["series"] = {k: v for k, v in series.items() if k != "model"}
    else:
        context["comparison"] = _training_comparison(source, params)
        context["training_rows"] = _with_gib(
            [{"label": row["label"], "bytes": row["bytes"]} for row in result["training"]["breakdown"]], "bytes")
        chart["comparison"] = context["comparison"]
    context["chart"] = chart
    return context


def _compute_for_page(values: dict, files) -> tuple[dict, dict, Source | None]:
    data, errors, header = _request_data(values, files)
    if errors:
        return {}, errors, None
    form = MemoryInputSerializer(data=data, context={"gguf_header": header})
    if not form.is_valid():
        return {}, _errors_from(form.errors), None
    params = dict(form.validated_data)
    try:
        source = resolve_source(params, header, values["gguf_key"] if header else None)
        return _page_results(source, params), {}, source
    except InvalidInput as exc:
        return {}, _errors_from({exc.field: [exc.message]}), None


def _context(values: dict, errors: dict, results: dict) -> dict:
    return {
        "values": values,
        "errors": errors,
        "error_slots": [(name, errors.get(name, "")) for name in ERROR_SLOTS],
        "presets": all_presets(),
        "gpus": GPUS,
        "mixes_all": list(MIXES),
        "cache_types": list(memory.CACHE_TYPES),
        "modes": (("inference", "Run (llama.cpp)"), ("full", "Full fine-tuning"), ("lora", "LoRA"),
                  ("qlora", "QLoRA")),
        "attention_kinds": ATTENTION_KINDS,
        "target_modules_all": TARGET_MODULES,
        "context_steps": CONTEXT_STEPS,
        "slider_index": _slider_index(values["context_length"]),
        "slider_max": len(CONTEXT_STEPS) - 1,
        "gguf_slice_mib": GGUF_SLICE_BYTES // MiB,
        "max_upload_mib": MAX_UPLOAD_BYTES // MiB,
        **results,
    }


def _slider_index(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = DEFAULT_CONTEXT
    return min(range(len(CONTEXT_STEPS)), key=lambda i: abs(CONTEXT_STEPS[i] - value))


@require_http_methods(["GET", "POST"])
def memory_page(request):
    """GET: the whole page. POST (the page's script): the results partial, or the errors as JSON."""
    if request.method == "GET":
        values = form_values(request.GET)
        results, errors, _ = _compute_for_page(values, {})
        return render(request, "calculators/memory.html", _context(values, errors, results),
                      status=400 if errors else 200)
    try:
        _check_body_size(request)
        values = form_values(request.POST)
        results, errors, source = _compute_for_page(values, request.FILES)
    except InvalidInput as exc:
        results, errors, source = {}, {exc.field: exc.message}, None
    if errors:
        # Keep the last good numbers on screen; the script shows these next to the fields.
        truncated = "gguf" in errors and "stops after" in errors["gguf"]
        return JsonResponse({"errors": errors, "need_more_bytes": truncated}, status=400)
    context = _context(values, errors, results)
    context["gguf_key"] = source.gguf_key if source else ""
    return render(request, "calculators/memory_results.html", context)


urlpatterns = [
    path("memory/", memory_page, name="memory"),
]
api_urlpatterns = [
    path("memory/", memory_api, name="calculators-memory"),
    path("memory/mixes/", mixes_api, name="calculators-memory-mixes"),
    path("memory/context/", context_api, name="calculators-memory-context"),
]
