"""The memory calculator's input: the fields, the model it names, the hardware it names.

`MemoryInputSerializer` checks a request (JSON, or a form from the page), `resolve_source`
turns its model (a preset, a pasted config.json or an uploaded GGUF header) into an
`Architecture`, and `hardware` its GPUs into devices. The API and the page
(calculators/web/memory.py) and the speed estimator (calculators/web/speed.py) share them.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import re
from dataclasses import dataclass

from django.core.cache import caches
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calculators import memory, placement
from calculators.architecture import Architecture, FieldError, VisionTower
from calculators.gguf_header import GGUFError, GGUFHeader, parse_header
from calculators.gpus import GPUS, get_gpu
from calculators.lora import ALL_LINEAR
from calculators.presets import get_preset
from calculators.quant_mix import MIXES, mix_name
from calculators.training import ATTENTION_KINDS
# Shared with the LoRA calculator: reading a pasted config.json (with its size limits)
# and the target-modules field.
from calculators.web.common import MAX_RANK, TargetModulesField, architecture_from_json
from config.api import loads as loads_json

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


def as_invalid_input(exc: Exception, params: dict | None = None) -> InvalidInput:
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


def check_body_size(request) -> None:
    """Refuse an oversized upload from its Content-Length, before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_UPLOAD_BYTES + _BODY_SLACK:
        raise InvalidInput("gguf", f"the request is {length:,} bytes; send at most the first "
                                   f"{MAX_UPLOAD_BYTES // MiB} MiB of a GGUF file "
                                   f"({GGUF_SLICE_BYTES // MiB} MiB hold any header)")
