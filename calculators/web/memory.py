"""The memory calculator, "Will it fit?" (issue #7): its page and its API.

A thin layer over the pure modules: `calculators.memory` estimates what llama.cpp
allocates (weights tensor by tensor, KV cache, compute and output buffers),
`calculators.placement` puts it on the GPUs and the CPU under llama.cpp's placement options
and finds what fits (`fit`), `calculators.gguf_header` reads an uploaded GGUF header,
`calculators.training` sizes full fine-tuning / LoRA / QLoRA, `calculators.gpus` lists the
cards. calculators/web/memory_input.py reads the input, calculators/web/memory_results.py
calls the pure modules and shapes their answers; this module holds the views.

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

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.decorators import (
    api_view, authentication_classes, parser_classes, permission_classes,
)
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators import memory
from calculators.gguf_header import GGUFHeader
from calculators.gpus import GPUS
from calculators.lora import ALL_LINEAR, TARGET_MODULES
from calculators.presets import all_presets
from calculators.quant_mix import MIXES
from calculators.training import ATTENTION_KINDS
from calculators.web.memory_input import (
    DEFAULT_CONTEXT, DEFAULT_QUANT, GGUF_SLICE_BYTES, KINDS, MAX_GPUS, MAX_UPLOAD_BYTES, NO_GPU, TRAINING_KINDS,
    GiB, InvalidInput, MemoryInputSerializer, MemoryMixesInputSerializer, MiB, Source, check_body_size, header_from_cache,
    resolve_source,
)
from calculators.web.memory_results import (
    MemoryContextResponseSerializer, MemoryMixesResponseSerializer, MemoryResponseSerializer, calculate,
    context_series, mixes, training,
)
from config.api import JSONParser


def api_params(request, serializer_class) -> dict:
    check_body_size(request)
    form = serializer_class(data=request.data)
    form.is_valid(raise_exception=True)
    return form.validated_data


def _run(request, serializer_class, compute):
    try:
        params = api_params(request, serializer_class)
        return Response(compute(resolve_source(params), params))
    except InvalidInput as exc:
        return Response({exc.field: [exc.message]}, status=400)


_REQUEST = {"application/json": MemoryInputSerializer, "multipart/form-data": MemoryInputSerializer}
_ERRORS = OpenApiResponse(description='{"<field>": ["message"]}, e.g. "context_length", "quant", '
                                      '"kv_cache_type", "gguf", "model", "architecture.hidden_size"')
def api_endpoint(view):
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
@api_endpoint
def memory_api(request):
    return _run(request, MemoryInputSerializer, calculate)


@extend_schema(
    summary="Every quant mix of a model: size, bits per weight, and whether it fits on `gpu`",
    request={"application/json": MemoryMixesInputSerializer, "multipart/form-data": MemoryMixesInputSerializer},
    responses={200: MemoryMixesResponseSerializer, 400: _ERRORS},
    examples=[OpenApiExample("Mistral 7B on a 12 GB card", request_only=True, value={
        "model": "mistral-7b-v0.1", "context_length": 8192, "gpu": "rtx-3060-12gb"})],
)
@api_endpoint
def mixes_api(request):
    return _run(request, MemoryMixesInputSerializer,
                lambda source, params: mixes(source, params, params.get("quants")))


@extend_schema(
    summary="KV cache against weights as the context grows",
    request=_REQUEST,
    responses={200: MemoryContextResponseSerializer, 400: _ERRORS},
)
@api_endpoint
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


def request_data(values: dict, files) -> tuple[dict, dict[str, str], GGUFHeader | None]:
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
    data, errors, header = request_data(values, files)
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
        check_body_size(request)
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
