"""The memory calculator, "Will it fit?" (issue #7): its page and its API.

A thin layer over the pure modules: `calculators.memory` estimates what llama.cpp
allocates (weights tensor by tensor, KV cache, compute and output buffers),
`calculators.placement` puts it on the GPUs and the CPU under llama.cpp's placement options
and finds what fits (`fit`), `calculators.gguf_header` reads an uploaded GGUF header,
`calculators.training` sizes full fine-tuning / LoRA / QLoRA, `calculators.gpus` lists the
cards. This module parses input, calls them, and renders.

- `POST /api/v1/calculators/memory/`: one estimate (or a training estimate): first the
  answer for the chosen hardware (`fit`), then the settings as given, placed on each GPU,
  with a verdict per GPU. JSON, or multipart with a `gguf` part: the first few MiB of a file.
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
import math
import pickle
import re
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

from calculators import memory, placement
from calculators.architecture import Architecture, FieldError, VisionTower
from calculators.gguf_header import GGUFError, GGUFHeader, parse_header
from calculators.gpus import GPUS, Accelerator, get_gpu
from calculators.placement import Device, Options
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
MAX_GPUS = placement.MAX_DEVICES
MAX_VRAM_GB = 65_536  # a custom card's size, GiB
NO_GPU = "none"  # gpu=none: CPU only

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


# --- errors ----------------------------------------------------------------------------

# The pure modules name their own parameters; the API's names differ for a few.
_FIELD_NAMES = {
    "n_gpu_layers": "gpu_layers",
    "devices": "vram_gb",
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


@extend_schema_field({"type": "string", "enum": list(placement.FLASH_ATTENTION_CHOICES), "default": "auto",
                      "description": "llama.cpp's -fa: auto (llama.cpp's default: on where every layer's "
                                     "device has a kernel for it), on or off; true and false mean on and off"})
class FlashAttentionField(serializers.Field):
    default_error_messages = {"invalid": "choose auto, on or off (true and false mean on and off)"}
    _WORDS = {"auto": "auto", "on": "on", "true": "on", "1": "on", "enabled": "on",
              "off": "off", "false": "off", "0": "off", "disabled": "off"}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return "on" if data else "off"
        if isinstance(data, str) and data.strip().lower() in self._WORDS:
            return self._WORDS[data.strip().lower()]
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(serializers.ListField(child=serializers.FloatField()))
class NumberListField(serializers.Field):
    """A list of numbers, or (in a form) their text: "24, 12"."""

    default_error_messages = {
        "invalid": "must be a list of numbers, e.g. [24, 12] or \"24, 12\"",
        "count": "give 1 to {max_items} numbers",
        "range": "each must be {rule}, got {value}",
    }

    def __init__(self, *, max_items: int, above: float | None = None, at_least: float | None = None,
                 at_most: float, **kwargs):
        self.max_items, self.above, self.at_least, self.at_most = max_items, above, at_least, at_most
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            items = [part for part in re.split(r"[,;\s]+", data.strip()) if part]
        elif isinstance(data, list):
            items = data
        else:
            self.fail("invalid")
        if not 1 <= len(items) <= self.max_items:
            self.fail("count", max_items=self.max_items)
        numbers = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                self.fail("invalid")
            try:
                value = float(item)
            except (ValueError, OverflowError):
                self.fail("invalid")
            if not math.isfinite(value):
                self.fail("invalid")
            if self.above is not None and value <= self.above:
                self.fail("range", rule=f"greater than {self.above:g}", value=f"{value:g}")
            if self.at_least is not None and value < self.at_least:
                self.fail("range", rule=f"at least {self.at_least:g}", value=f"{value:g}")
            if value > self.at_most:
                self.fail("range", rule=f"at most {self.at_most:g}", value=f"{value:g}")
            numbers.append(value)
        return numbers

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
    flash_attention = FlashAttentionField(required=False, default="auto")
    gpu_layers = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                          max_value=MAX_GPU_LAYERS,
                                          help_text="llama.cpp's -ngl (LM Studio: GPU Offload): the output "
                                                    "layer first, then the last blocks; default: every layer")
    n_cpu_moe = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_GPU_LAYERS,
                                         help_text="--n-cpu-moe N (LM Studio: Number of layers for which to "
                                                   "force MoE weights onto CPU): the experts of the first N "
                                                   "blocks stay in system RAM")
    cpu_moe = serializers.BooleanField(required=False, default=False,
                                       help_text="--cpu-moe, the same as -ot exps=CPU: every expert in system RAM")
    kv_offload = serializers.BooleanField(required=False, default=True,
                                          help_text="false: --no-kv-offload (LM Studio: Offload KV Cache to GPU "
                                                    "Memory, off), the KV cache in system RAM")
    load_mode = serializers.ChoiceField(choices=placement.LOAD_MODES, required=False, default="mmap",
                                        help_text="how weights left on the CPU are held: mmap (llama.cpp's "
                                                  "default; LM Studio: Try mmap()), no-mmap (--no-mmap), "
                                                  "mlock (--mlock; LM Studio: Keep Model in Memory)")
    split_mode = serializers.ChoiceField(choices=placement.SPLIT_MODES, required=False, default="layer",
                                         help_text="several GPUs: -sm layer (whole layers per GPU) or none "
                                                   "(the first GPU only)")
    tensor_split = NumberListField(required=False, allow_null=True, max_items=MAX_GPUS, at_least=0,
                                   at_most=1e9, help_text="-ts: the share of layers per GPU, e.g. [3, 1]; "
                                                          "default: in proportion to each GPU's memory")
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
                                help_text="an accelerator slug (see `verdicts`): the hardware `verdict` and "
                                          "`fit` answer for")
    gpu_count = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_GPUS,
                                         help_text="how many of `gpu`")
    vram_gb = NumberListField(required=False, allow_null=True, max_items=MAX_GPUS, above=0,
                              at_most=MAX_VRAM_GB, help_text="instead of gpu: each GPU's memory in GiB, "
                                                             "e.g. [24, 12] for two cards")
    system_ram_gb = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                           max_value=1_000_000,
                                           help_text="system RAM in GiB: adds a verdict for the "
                                                     "part that stays on the CPU")

    def validate_gpu(self, value):
        if value is None or value == NO_GPU:
            return value
        try:
            get_gpu(value)
        except KeyError:
            raise serializers.ValidationError(
                f"unknown accelerator {value!r}; choose one of {', '.join(g.slug for g in GPUS)}, "
                f"or {NO_GPU} for CPU only") from None
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
        if data.get("vram_gb") is not None and data.get("gpu") is not None:
            raise serializers.ValidationError(
                {"vram_gb": ["give gpu (a card from the list) or vram_gb (sizes in GiB), not both"]})
        if data.get("gpu_count", 1) > 1 and data.get("gpu") in (None, NO_GPU):
            raise serializers.ValidationError(
                {"gpu_count": ["goes with gpu; for cards of your own sizes list each one in vram_gb"]})
        n_gpus = (len(data["vram_gb"]) if data.get("vram_gb") else 0 if data.get("gpu") == NO_GPU
                  else data.get("gpu_count", 1))
        if data.get("tensor_split") and len(data["tensor_split"]) > n_gpus:
            raise serializers.ValidationError(
                {"tensor_split": [f"{len(data['tensor_split'])} values for {n_gpus} GPU{'s' if n_gpus > 1 else ''}"]})
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
    vision: VisionTower | None = None  # a multimodal preset's image encoder (its mmproj file)

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
                      parameters=preset.official_parameter_count, vision=preset.vision)
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


@dataclass(frozen=True)
class Hardware:
    """The GPUs a request names: a card from the list (times gpu_count) or custom sizes."""

    slug: str  # the card's slug, or "custom"
    name: str
    devices: tuple[Device, ...]

    @property
    def memory_bytes(self) -> int:
        return sum(d.memory_bytes for d in self.devices)

    def accelerator(self) -> Accelerator | None:
        """One card of it, for the single-GPU views (training, the mix table's line)."""
        if not self.devices:
            return None
        if self.slug != "custom":
            return get_gpu(self.slug)
        return Accelerator("custom", self.devices[0].name, self.devices[0].memory_bytes)


def hardware(params: dict) -> Hardware | None:
    if params.get("vram_gb"):
        sizes = params["vram_gb"]
        devices = tuple(Device(f"GPU {i} ({gb:g} GiB)", round(gb * GiB)) for i, gb in enumerate(sizes))
        name = " + ".join(f"{gb:g} GiB" for gb in sizes) + (" GPUs" if len(sizes) > 1 else " GPU")
        return Hardware("custom", name, devices)
    if params.get("gpu") == NO_GPU:
        return Hardware(NO_GPU, "CPU only", ())
    if params.get("gpu"):
        card = get_gpu(params["gpu"])
        count = params.get("gpu_count", 1)
        return Hardware(card.slug, f"{count} × {card.name}" if count > 1 else card.name,
                        (Device.from_accelerator(card),) * count)
    return None


def _settings(params: dict, source: Source) -> dict:
    """memory.estimate's keyword arguments (placement.Planner passes them on)."""
    both = params.get("kv_cache_type") or "f16"
    quant = params.get("quant")
    if quant is None and source.kind != "gguf":
        quant = DEFAULT_QUANT
    return dict(
        quant=quant,
        imatrix=params["imatrix"],
        context_length=params["context_length"],
        cache_type_k=params.get("cache_type_k") or both,
        cache_type_v=params.get("cache_type_v") or both,
        n_seq=params["parallel"],
        n_ubatch=params["ubatch_size"],
        n_batch=params["batch_size"],
        swa_full=params["swa_full"],
        kv_unified=params["kv_unified"],
    )


def _options(params: dict) -> Options:
    split = params.get("tensor_split")
    return Options(n_gpu_layers=params.get("gpu_layers"), n_cpu_moe=params["n_cpu_moe"],
                   cpu_moe=params["cpu_moe"], kv_offload=params["kv_offload"], load_mode=params["load_mode"],
                   flash_attention=params["flash_attention"], split_mode=params["split_mode"],
                   tensor_split=tuple(split) if split else None)


def _system_ram_bytes(params: dict) -> int | None:
    gb = params.get("system_ram_gb")
    return None if gb is None else max(1, round(gb * GiB))


def _guarded(source: Source, params: dict, work):
    """Run `work`, turning the pure modules' errors into InvalidInput with the API's names."""
    try:
        return work()
    except ValueError as exc:  # FieldError, InputError, QuantMixError and GGUFError among them
        if hasattr(exc, "field"):
            raise _rename(exc, params) from None
        # A header whose metadata has the wrong types (a string where a count belongs)
        raise InvalidInput("gguf" if source.kind == "gguf" else "architecture",
                           f"could not use this model ({exc})") from None
    except (TypeError, KeyError, IndexError, ArithmeticError) as exc:
        raise InvalidInput("gguf" if source.kind == "gguf" else "architecture",
                           f"could not use this model ({exc.__class__.__name__}: {exc})") from None


def planner(source: Source, params: dict, **overrides) -> placement.Planner:
    """The request's model, GPUs and placement options; `overrides` replace settings."""
    chosen = hardware(params)
    # without hardware, one GPU of unknown size: every figure, no verdict
    devices = chosen.devices if chosen else (Device("GPU", None),)
    settings = {**_settings(params, source), **overrides}
    return _guarded(source, params, lambda: placement.Planner(
        source.model, devices, _options(params), system_ram_bytes=_system_ram_bytes(params), **settings))


def _place(source: Source, params: dict, plan: placement.Planner, **kwargs) -> placement.Placement:
    return _guarded(source, params, lambda: plan.place(**kwargs))


def _device_dict(use: placement.DeviceUse) -> dict:
    return {
        "index": use.index,
        "name": use.name,
        "available_bytes": use.available_bytes,
        "bytes": use.bytes,
        "verdict": use.verdict,
        "blocks": len(use.blocks),
        "first_block": use.blocks[0] if use.blocks else None,
        "last_block": use.blocks[-1] if use.blocks else None,
        "output_layer": use.output_layer,
        "by_kind": {kind: use.kind_bytes(kind) for kind, _ in KINDS},
        "parts": [{"kind": p.kind, "label": p.label, "bytes": p.bytes} for p in use.parts],
    }


def placement_dict(p: placement.Placement) -> dict:
    return {
        "gpus": [_device_dict(d) for d in p.gpus],
        "host": {**_device_dict(p.host), "ram_verdict": p.ram_verdict},
        "pipeline_parallel": p.pipeline_parallel,
    }


def fit_dict(answer: placement.Answer, chosen: Hardware, source: Source, params: dict) -> dict:
    p = answer.placement
    flags = answer.flags()
    context = params["context_length"]
    command = ["llama-server", "-m", _model_file(source, params), "-c", str(context), *flags,
               "-fa", params["flash_attention"]]
    if params.get("cache_type_k") or params.get("kv_cache_type"):
        settings = _settings(params, source)
        if settings["cache_type_k"] != "f16" or settings["cache_type_v"] != "f16":
            command += ["-ctk", settings["cache_type_k"].lower(), "-ctv", settings["cache_type_v"].lower()]
    if not params["kv_offload"]:
        command.append("--no-kv-offload")
    command += {"mmap": [], "no-mmap": ["--no-mmap"], "mlock": ["--mlock"]}[params["load_mode"]]
    if params["parallel"] > 1:
        command += ["-np", str(params["parallel"])]
    return {
        "hardware": chosen.name,
        "fits": answer.fits,
        "n_gpu_layers": p.n_gpu_layers,
        "n_layer": p.layout.n_layer,
        "moe": p.layout.has_experts,
        "n_cpu_moe": p.n_cpu_moe,
        "tensor_split": list(answer.options.tensor_split) if answer.options.tensor_split else None,
        "context_length": context,
        "longest_context": answer.longest_context,
        "full_offload_context": answer.full_offload_context,
        "context_limit": answer.context_limit,
        "flash_attention": p.flash_attention,
        "gpu_bytes": p.gpu_bytes,
        "cpu_bytes": p.host.bytes,
        "flags": flags,
        "command": " ".join(command),
        "placement": placement_dict(p),
        "notes": list(answer.notes),
    }


def _model_file(source: Source, params: dict) -> str:
    """A file name for the command line, as Hugging Face repositories name GGUF files."""
    if source.kind == "gguf":
        return "model.gguf"
    quant = (params.get("quant") or DEFAULT_QUANT).upper()
    base = source.hf_repo.split("/")[-1] if source.hf_repo else "model"
    return f"{base}-{quant}.gguf"


def _verdict_row(device: str, name: str, p: placement.Placement) -> dict | None:
    if not p.gpus:  # CPU only: system RAM is the hardware
        if p.ram_verdict is None:
            return None
        return {"device": device, "name": name, "available_bytes": p.system_ram_bytes,
                "needed_bytes": p.host.bytes, "verdict": p.ram_verdict, "fits": p.ram_verdict != "does-not-fit"}
    verdict = p.verdict
    available = sum(d.available_bytes or 0 for d in p.gpus)
    return {"device": device, "name": name, "available_bytes": available, "needed_bytes": p.gpu_bytes,
            "verdict": verdict, "fits": verdict != "does-not-fit"}


def _breakdown(p: placement.Placement) -> list[dict]:
    several = len(p.gpus) > 1
    rows = []
    for use in (*p.gpus, p.host):
        for part in use.parts:
            label = f"GPU {use.index}: {part.label}" if several and use.index is not None else part.label
            rows.append({"label": label, "bytes": part.bytes, "device": "cpu" if use.index is None else "gpu",
                         "gpu_index": use.index, "kind": part.kind})
    return rows


def inference(source: Source, params: dict) -> dict:
    plan = planner(source, params)
    p = _place(source, params, plan)
    est = p.layout.estimate
    chosen = hardware(params)
    n_layer = source.n_layer
    settings = _settings(params, source)
    # every card in the list, each alone, with the same options
    verdicts = [_verdict_row(card.slug, card.name,
                             _place(source, params, plan, devices=(Device.from_accelerator(card),)))
                for card in GPUS]
    if p.ram_verdict is not None:
        verdicts.append({"device": "system-ram", "name": "System RAM", "available_bytes": p.system_ram_bytes,
                         "needed_bytes": p.host.bytes, "verdict": p.ram_verdict,
                         "fits": p.ram_verdict != "does-not-fit"})
    answer = _guarded(source, params, lambda: placement.solve(plan)) if chosen else None
    rows = _breakdown(p)
    return {
        # the answer first: what to set on this hardware
        "fit": fit_dict(answer, chosen, source, params) if answer else None,
        "verdict": _verdict_row(chosen.slug, chosen.name, p) if chosen else None,
        "parameters": est.parameters,
        "weights_bytes": est.weights_bytes,
        "bits_per_weight": est.bits_per_weight,
        "kv_cache_bytes": est.kv_cache_bytes,
        "compute_buffer_bytes": sum(r["bytes"] for r in rows if r["kind"] == "compute"),
        "output_buffer_bytes": est.output_buffer_bytes,
        "overhead_bytes": sum(r["bytes"] for r in rows if r["kind"] == "overhead"),
        "total_bytes": p.total_bytes,
        "gpu_bytes": p.gpu_bytes,
        "cpu_bytes": p.host.bytes,
        "tensors": [t.to_dict() for t in est.tensors],
        "breakdown": rows,
        "notes": list(p.model_notes),
        "model": source.to_dict(),
        "mode": "inference",
        "quant": settings["quant"].upper() if settings["quant"] else None,
        "settings": {
            "context_length": params["context_length"],
            "n_ctx": est.n_ctx,
            "cache_type_k": settings["cache_type_k"].lower(),
            "cache_type_v": settings["cache_type_v"].lower(),
            "flash_attention": p.flash_attention,
            "flash_attention_mode": params["flash_attention"],
            "flash_attention_reason": p.flash_attention_reason,
            "gpu_layers": p.n_gpu_layers if chosen or p.n_gpu_layers else min(
                n_layer + 1, n_layer + 1 if params.get("gpu_layers") is None else params["gpu_layers"]),
            "n_layer": n_layer,
            "n_cpu_moe": p.n_cpu_moe,
            "kv_offload": p.kv_offload,
            "load_mode": p.load_mode,
            "split_mode": params["split_mode"],
            "tensor_split": list(p.tensor_split) if len(p.tensor_split) > 1 else None,
            "parallel": params["parallel"],
            "batch_size": params["batch_size"],
            "ubatch_size": params["ubatch_size"],
            "swa_full": params["swa_full"],
            "kv_unified": params["kv_unified"],
        },
        "kv_caches": [{"label": c.label, "cells": c.cells, "streams": c.streams, "layers": len(c.layers),
                       "type_k": c.type_k, "type_v": c.type_v, "k_bytes": c.k_bytes, "v_bytes": c.v_bytes,
                       "bytes": c.bytes} for c in est.kv_caches],
        "verdicts": verdicts,
        "placement": placement_dict(p),
        "mmproj": mmproj_dict(source.vision),
        "training": None,
    }


def mmproj_dict(vision: VisionTower | None) -> dict | None:
    """The vision projector: a second file llama.cpp loads only with --mmproj."""
    if vision is None:
        return None
    return {"file_type": "F16", "parameters": sum(t.n_elements for t in vision.tensors()),
            "bytes": vision.mmproj_bytes("F16"), "bytes_bf16": vision.mmproj_bytes("BF16"),
            "bytes_f32": vision.mmproj_bytes("F32")}


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
    step = SimpleNamespace(gpu_bytes=total, cpu_bytes=0, total_bytes=total)
    verdicts = [v.to_dict() for v in memory.fit_verdicts(step, system_ram_bytes=_system_ram_bytes(params))]
    chosen_hw = hardware(params)
    card = chosen_hw.accelerator() if chosen_hw else None
    chosen = memory.fit_verdicts(step, gpus=(card,))[0].to_dict() if card else None
    parameters = source.parameters or arch.parameter_count()
    weights = by_kind["by_kind"]["weights"]
    return {
        "fit": None,
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
        "placement": None,
        "mmproj": None,
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
    chosen = hardware(params)
    rows = []
    for name in names:
        p = _place(source, params, planner(source, params, quant=name))
        est = p.layout.estimate
        verdict = (p.verdict if chosen.devices else p.ram_verdict) if chosen else None
        rows.append({
            "quant": name,
            "glossary": mix_slug(name),
            "parameters": est.parameters,
            "weights_bytes": est.weights_bytes,
            "bits_per_weight": est.bits_per_weight,
            "total_bytes": p.total_bytes,
            "gpu_bytes": p.gpu_bytes,
            "cpu_bytes": p.host.bytes,
            "verdict": verdict,
            "fits": None if verdict is None else verdict != "does-not-fit",
        })
    rows.sort(key=lambda row: -row["weights_bytes"])
    current = _settings(params, source)["quant"]
    return {"model": source.to_dict(), "gpu": _hardware_dict(chosen) if chosen else None,
            "quant": current.upper() if current else None, "mixes": rows}


def _hardware_dict(chosen: Hardware) -> dict | None:
    if not chosen.devices:
        return None
    if chosen.slug != "custom" and len(chosen.devices) == 1:
        return get_gpu(chosen.slug).to_dict()
    return {"slug": chosen.slug, "name": chosen.name, "memory_bytes": chosen.memory_bytes, "unified": False,
            "gpu_usable_bytes": chosen.memory_bytes}


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
    known: dict[int, placement.Placement | None] = {}
    plan = planner(source, params)

    def at(ctx: int) -> placement.Placement | None:
        if ctx not in known:
            try:
                known[ctx] = _place(source, params, plan, context_length=ctx)
            except InvalidInput as exc:
                if exc.field != "context_length":  # too small for the parallel sequences
                    raise
                known[ctx] = None
        return known[ctx]

    def kv(p: placement.Placement) -> int:
        return p.layout.estimate.kv_cache_bytes

    weights = _place(source, params, plan).layout.estimate.weights_bytes
    chosen = params["context_length"]
    top = min(memory.MAX_CONTEXT, max(chosen, source.trained_context or 0, 4096))
    contexts = sorted(set(_pow2_range(256, top)) | {chosen, top})
    points = [(c, at(c)) for c in contexts]
    points = [(c, r) for c, r in points if r is not None]

    # bracket the crossing, then bisect on integers
    crossing = None
    over = [c for c, r in points if kv(r) > weights]
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
            if r is not None and kv(r) > weights:
                hi = probe
                break
            lo = probe
    if hi is not None:
        while hi - lo > 1:  # invariant: at(lo) is not over (or invalid), at(hi) is
            mid = (lo + hi) // 2
            r = at(mid)
            if r is not None and kv(r) > weights:
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
        "points": [{"context_length": c, "n_ctx": r.layout.estimate.n_ctx, "kv_cache_bytes": kv(r),
                    "total_bytes": r.total_bytes, "gpu_bytes": r.gpu_bytes} for c, r in points],
        "kv_overtakes_weights_at": crossing,
        "kv_cache_bytes_there": kv(crossing_estimate) if crossing else None,
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
    gpu_index = serializers.IntegerField(required=False, allow_null=True,
                                         help_text="inference: which GPU (0, 1, …); null for the CPU")
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
    flash_attention = serializers.BooleanField(help_text="whether llama.cpp runs flash attention")
    flash_attention_mode = serializers.ChoiceField(choices=placement.FLASH_ATTENTION_CHOICES,
                                                   help_text="as requested: auto, on or off")
    flash_attention_reason = serializers.CharField(help_text="why auto resolved as it did")
    gpu_layers = serializers.IntegerField(help_text="layers offloaded, n_layer + 1 = all")
    n_layer = serializers.IntegerField()
    n_cpu_moe = serializers.IntegerField(help_text="blocks whose experts stay on the CPU")
    kv_offload = serializers.BooleanField()
    load_mode = serializers.ChoiceField(choices=placement.LOAD_MODES)
    split_mode = serializers.ChoiceField(choices=placement.SPLIT_MODES)
    tensor_split = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                         help_text="each GPU's share of the layers (several GPUs)")
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


class MemoryPartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k for k, _ in KINDS])
    label = serializers.CharField()
    bytes = serializers.IntegerField()


class MemoryByKindSerializer(serializers.Serializer):
    weights = serializers.IntegerField()
    kv_cache = serializers.IntegerField()
    compute = serializers.IntegerField()
    output = serializers.IntegerField()
    overhead = serializers.IntegerField()


class MemoryDeviceSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="GPU 0, 1, …; null for the CPU")
    name = serializers.CharField()
    available_bytes = serializers.IntegerField(allow_null=True, help_text="null: not known")
    bytes = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=("fits", "tight", "does-not-fit"), allow_null=True)
    blocks = serializers.IntegerField(help_text="repeating layers held here")
    first_block = serializers.IntegerField(allow_null=True)
    last_block = serializers.IntegerField(allow_null=True)
    output_layer = serializers.BooleanField()
    by_kind = MemoryByKindSerializer()
    parts = MemoryPartSerializer(many=True)


class MemoryHostSerializer(MemoryDeviceSerializer):
    ram_verdict = serializers.ChoiceField(choices=("fits", "tight", "does-not-fit"), allow_null=True,
                                          help_text="the CPU part against system_ram_gb, if given")


class MemoryPlacementSerializer(serializers.Serializer):
    gpus = MemoryDeviceSerializer(many=True)
    host = MemoryHostSerializer()
    pipeline_parallel = serializers.BooleanField(help_text="several GPUs, everything offloaded: llama.cpp "
                                                           "keeps 4 copies of the graph inputs per GPU")


class MemoryFitSerializer(serializers.Serializer):
    hardware = serializers.CharField()
    fits = serializers.BooleanField()
    n_gpu_layers = serializers.IntegerField(help_text="-ngl: the most layers that fit (n_layer + 1 = all)")
    n_layer = serializers.IntegerField()
    moe = serializers.BooleanField(help_text="the model has experts")
    n_cpu_moe = serializers.IntegerField(help_text="--n-cpu-moe: the fewest blocks whose experts must stay "
                                                   "on the CPU (n_layer: --cpu-moe)")
    tensor_split = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                         help_text="-ts: layers per GPU, when llama.cpp's default split "
                                                   "does not fit")
    context_length = serializers.IntegerField(help_text="the context the answer is for (the request's)")
    longest_context = serializers.IntegerField(allow_null=True, help_text="the longest context this "
                                               "placement holds, up to the model's training context")
    full_offload_context = serializers.IntegerField(allow_null=True, help_text="the longest context at "
                                                    "which every layer stays on the GPUs (what --fit tries "
                                                    "first); null if none")
    context_limit = serializers.IntegerField(help_text="the ceiling searched: the training context")
    flash_attention = serializers.BooleanField()
    gpu_bytes = serializers.IntegerField()
    cpu_bytes = serializers.IntegerField()
    flags = serializers.ListField(child=serializers.CharField())
    command = serializers.CharField(help_text="a llama-server command line with these settings")
    placement = MemoryPlacementSerializer()
    notes = serializers.ListField(child=serializers.CharField())


class MemoryTrainingSerializer(TrainingMemorySerializer):
    trainable_parameters = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)
    target_modules = serializers.ListField(child=serializers.CharField())


class MemoryMmprojSerializer(serializers.Serializer):
    file_type = serializers.CharField(help_text="the type the bytes are for (F16, as published)")
    parameters = serializers.IntegerField(help_text="vision encoder and projector")
    bytes = serializers.IntegerField(help_text="tensor bytes of the F16 mmproj file")
    bytes_bf16 = serializers.IntegerField()
    bytes_f32 = serializers.IntegerField()


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
    verdicts = MemoryVerdictSerializer(many=True, help_text="each card in the list alone, same options")
    verdict = MemoryVerdictSerializer(allow_null=True, help_text="on the chosen hardware (gpu × gpu_count, "
                                                                 "or vram_gb), if given")
    placement = MemoryPlacementSerializer(allow_null=True, help_text="inference: what each GPU and the CPU hold")
    fit = MemoryFitSerializer(allow_null=True, help_text="inference on chosen hardware: the most that fits")
    mmproj = MemoryMmprojSerializer(allow_null=True, help_text="multimodal presets: the vision projector "
                                                               "file, not in the totals above")
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
    summary="Will it fit? What fits on your GPUs, and the memory to run (or train) a model, per device",
    request=_REQUEST,
    responses={200: MemoryResponseSerializer, 400: _ERRORS},
    examples=[
        OpenApiExample("A preset", request_only=True, value={
            "model": "llama-3.1-8b", "quant": "Q4_K_M", "context_length": 8192,
            "kv_cache_type": "q8_0", "flash_attention": "auto", "gpu": "rtx-4090"}),
        OpenApiExample("Mixtral on a 24 GB card: `fit` keeps experts on the CPU", request_only=True, value={
            "model": "mixtral-8x7b-v0.1", "quant": "Q4_K_M", "context_length": 8192, "gpu": "rtx-3090",
            "system_ram_gb": 64}),
        OpenApiExample("Two cards of your own sizes, experts of 8 blocks on the CPU", request_only=True, value={
            "model": "mixtral-8x7b-v0.1", "vram_gb": [16, 12], "n_cpu_moe": 8, "tensor_split": [3, 2],
            "kv_offload": True, "load_mode": "mmap"}),
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
    "flash_attention": "auto",
    "gpu_layers": "",
    "n_cpu_moe": "",
    "cpu_moe": False,
    "kv_offload": True,
    "load_mode": "mmap",
    "split_mode": "layer",
    "tensor_split": "",
    "parallel": "1",
    "batch_size": "2048",
    "ubatch_size": "512",
    "swa_full": False,
    "kv_unified": False,
    "gpu": "rtx-4090",
    "gpu_count": "1",
    "vram_gb": "",
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
                "kv_cache_type", "flash_attention", "gpu_layers", "n_cpu_moe", "load_mode", "split_mode",
                "tensor_split", "parallel", "batch_size", "ubatch_size", "gpu", "gpu_count", "vram_gb",
                "system_ram_gb", "mode", "sequence_length", "micro_batch_size", "attention", "rank")
_CHECKBOXES = ("imatrix", "cpu_moe", "kv_offload", "swa_full", "kv_unified", "gradient_checkpointing")
# Page inputs sent to the serializer when not blank.
_PARAMS = ("quant", "context_length", "kv_cache_type", "flash_attention", "gpu_layers", "n_cpu_moe",
           "load_mode", "split_mode", "tensor_split", "parallel", "batch_size", "ubatch_size", "gpu",
           "gpu_count", "vram_gb", "system_ram_gb", "mode", "sequence_length", "micro_batch_size",
           "attention", "rank")
ERROR_SLOTS = ("model", "architecture", "gguf", "quant", "imatrix", "context_length", "kv_cache_type",
               "flash_attention", "gpu_layers", "n_cpu_moe", "cpu_moe", "kv_offload", "load_mode",
               "split_mode", "tensor_split", "parallel", "batch_size", "ubatch_size", "swa_full",
               "kv_unified", "gpu", "gpu_count", "vram_gb", "system_ram_gb", "mode", "sequence_length",
               "micro_batch_size", "gradient_checkpointing", "attention", "rank", "target_modules", "form")
CUSTOM_GPU = "custom"  # the GPU list's last entry: sizes typed into vram_gb
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
    if data.get("gpu") == CUSTOM_GPU:
        data.pop("gpu")
        data.pop("gpu_count", None)
        if "vram_gb" not in data:
            return data, {"vram_gb": "type each GPU's memory in GiB, e.g. 24 or 24, 12"}, None
    else:
        data.pop("vram_gb", None)
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
    """The stacked bar: bytes per kind on each GPU and on the CPU."""
    if result["training"]:
        sums = {k: sum(r["bytes"] for r in result["breakdown"] if r["kind"] == k) for k, _ in TRAINING_KINDS}
        return {"devices": ["GPU"], "available": [None],
                "kinds": [{"kind": k, "label": label, "bytes": [sums[k]]} for k, label in TRAINING_KINDS]}
    return _device_bars(result["placement"])


def _device_bars(placed: dict) -> dict:
    """Bytes per kind for each device of a placement_dict, with what each may hold."""
    devices = [*placed["gpus"], placed["host"]]
    several = len(placed["gpus"]) > 1
    return {
        "devices": [("CPU / system RAM" if d["index"] is None else f"GPU {d['index']}" if several else "GPU")
                    for d in devices],
        "available": [d["available_bytes"] for d in devices],
        "kinds": [{"kind": k, "label": label, "bytes": [d["by_kind"][k] for d in devices]} for k, label in KINDS],
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
    if result["fit"]:
        fit = result["fit"]
        placed = fit["placement"]
        context["fit"] = fit
        context["fit_tensor_split"] = ",".join(f"{x:g}" for x in fit["tensor_split"] or ())
        host = {**placed["host"], "verdict": placed["host"]["verdict"] or placed["host"]["ram_verdict"]}
        context["fit_devices"] = _with_gib([*placed["gpus"], host], "bytes", "available_bytes")
        chart["fit"] = _device_bars(placed)
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
        "flash_attention_choices": (("auto", "auto (llama.cpp's default)"), ("on", "on"), ("off", "off")),
        "load_modes": (("mmap", "memory-mapped, llama.cpp's default (LM Studio: Try mmap())"),
                       ("no-mmap", "read into RAM (--no-mmap)"),
                       ("mlock", "locked in RAM (--mlock; LM Studio: Keep Model in Memory)")),
        "split_modes": (("layer", "by layer (-sm layer)"), ("none", "first GPU only (-sm none)")),
        "custom_gpu": CUSTOM_GPU,
        "no_gpu": NO_GPU,
        "max_gpus": MAX_GPUS,
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
