"""The memory calculator's answers, as the API returns them and the page draws them.

`calculate` (one estimate, or a training estimate), `mixes` (every quant mix) and
`context_series` (KV cache against weights as the context grows) call the pure modules
(calculators.memory, calculators.placement, calculators.training) and return plain dicts;
the serializers below document their shape in the OpenAPI schema, and the API tests check
that the responses have exactly these keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from rest_framework import serializers

from calculators import memory, placement
from calculators.architecture import FieldError, VisionTower
from calculators.gpus import GPUS, Accelerator, get_gpu
from calculators.lora import lora_parameters
from calculators.placement import Device, Options
from calculators.quant_mix import MIXES
from calculators.training import training_memory
# Shared with the LoRA calculator: the training breakdown grouped by kind.
from calculators.web.common import TrainingMemorySerializer, memory_dict, memory_kind
from calculators.web.memory_input import (
    DEFAULT_QUANT, KINDS, MODES, NO_GPU, TABLE_MIXES, TRAINING_KINDS, GiB, InvalidInput, Source, as_invalid_input,
    mix_slug,
)


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


def guarded(source: Source, params: dict, work):
    """Run `work`, turning the pure modules' errors into InvalidInput with the API's names."""
    try:
        return work()
    except ValueError as exc:  # FieldError, InputError, QuantMixError and GGUFError among them
        if hasattr(exc, "field"):
            raise as_invalid_input(exc, params) from None
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
    return guarded(source, params, lambda: placement.Planner(
        source.model, devices, _options(params), system_ram_bytes=_system_ram_bytes(params), **settings))


def _place(source: Source, params: dict, plan: placement.Planner, **kwargs) -> placement.Placement:
    return guarded(source, params, lambda: plan.place(**kwargs))


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
    answer = guarded(source, params, lambda: placement.solve(plan)) if chosen else None
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
        raise as_invalid_input(exc, params) from None
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
