"""The LoRA calculator (issue #9): its page, its API, and the model presets endpoint.

Thin layer over the pure modules: `calculators.lora` counts the adapter the way PEFT
does, `calculators.training` sizes training memory, `calculators.presets` holds the
published architectures. This module parses input, calls them, and renders.

- `POST /api/v1/calculators/lora/`: one adapter on a preset or a pasted architecture.
- `GET /api/v1/calculators/models/` (and `models/<slug>/`): the presets, shared with the
  memory calculator.
- `GET /calculators/lora/`: the page. Its form uses GET so every result has a shareable
  URL; htmx asks the same view for the changed parts only.
"""

from __future__ import annotations

import math

from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django_htmx.http import replace_url, reswap
from drf_spectacular.utils import (
    OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.decorators import (
    api_view, authentication_classes, permission_classes,
)
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators.architecture import FAMILIES, Architecture, FieldError
from calculators.lora import (
    ALL_LINEAR, ATTENTION_MODULES, METHODS, TARGET_MODULES, LoraEstimate, lora_parameters,
)
from calculators.presets import Preset, all_presets, get_preset
from calculators.training import ATTENTION_KINDS, TrainingMemory, training_memory
from calculators.web.common import (
    MAX_RANK, TargetModulesField, TrainingMemorySerializer, architecture_from_json, memory_dict,
)
from config.api import loads as loads_json

# PEFT's LoraConfig defaults (src/peft/tuners/lora/config.py): r=8, lora_alpha=8.
PEFT_DEFAULT_ALPHA = 8
# The ranks the rank chart always shows; the chosen rank is added to them.
CHART_RANKS = tuple(2**i for i in range(9))  # 1 … 256

# --- reading the input -------------------------------------------------------------


class LoraRequestSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=100,
                                  help_text="a preset slug from GET /api/v1/calculators/models/")
    architecture = serializers.JSONField(
        required=False,
        help_text="instead of model: a Hugging Face config.json, or the architecture object "
                  "the models endpoint returns")
    rank = serializers.IntegerField(min_value=1, max_value=MAX_RANK, help_text="LoRA rank r")
    alpha = serializers.FloatField(required=False, default=PEFT_DEFAULT_ALPHA, max_value=1e6,
                                   help_text="lora_alpha; only the scaling alpha/r depends on it")
    use_rslora = serializers.BooleanField(required=False, default=False,
                                          help_text="rank-stabilised scaling alpha/sqrt(r)")
    target_modules = TargetModulesField(help_text="modules to adapt, or \"all-linear\"")
    method = serializers.ChoiceField(choices=METHODS, required=False, default="lora")
    sequence_length = serializers.IntegerField(required=False, default=2048, min_value=1,
                                               max_value=1_048_576)
    micro_batch_size = serializers.IntegerField(required=False, default=1, min_value=1,
                                                max_value=4096)
    gradient_checkpointing = serializers.BooleanField(required=False, default=True)
    attention = serializers.ChoiceField(choices=ATTENTION_KINDS, required=False, default="flash",
                                        help_text="flash (FlashAttention/SDPA) or eager")

    def validate_alpha(self, value):
        if value <= 0:
            raise serializers.ValidationError("must be greater than 0")
        return value

    def validate(self, data):
        if "model" in data and "architecture" in data:
            raise serializers.ValidationError({"model": ["give either model or architecture, not both"]})
        if "model" not in data and "architecture" not in data:
            raise serializers.ValidationError(
                {"model": ["required: a preset slug, or an architecture instead"]})
        return data


# --- computing ---------------------------------------------------------------------


def _resolve_model(params: dict) -> tuple[Architecture, int, dict]:
    if "model" in params:
        try:
            preset = get_preset(params["model"])
        except FieldError as exc:
            raise FieldError("model", exc.message) from None
        info = {"slug": preset.slug, "name": preset.name, "hf_repo": preset.hf_repo}
        return preset.architecture, preset.official_parameter_count, info
    arch = architecture_from_json(params["architecture"])
    return arch, arch.parameter_count(), {"slug": None, "name": "Pasted architecture", "hf_repo": None}


def _memory(arch: Architecture, mode: str, est: LoraEstimate | None, params: dict) -> TrainingMemory:
    return training_memory(
        arch, mode,
        sequence_length=params["sequence_length"],
        micro_batch_size=params["micro_batch_size"],
        gradient_checkpointing=params["gradient_checkpointing"],
        attention=params["attention"],
        lora=est,
    )


def _scaling(alpha: float, rank: int, rslora: bool) -> float:
    # PEFT LoraLayer.update_layer: scaling = lora_alpha / r, or lora_alpha / sqrt(r) with
    # use_rslora (Kalajdzievski 2023, "A Rank Stabilization Scaling Factor").
    return alpha / math.sqrt(rank) if rslora else alpha / rank


def _module_row(row) -> dict:
    if row.module == "embed_tokens":
        shape = [row.a_shape[1], row.b_shape[0]]  # nn.Embedding.weight: (vocab, hidden)
    else:
        shape = [row.b_shape[0], row.a_shape[1]]  # nn.Linear.weight: (out, in)
    return {
        "module": row.module,
        "hf_name": row.hf_name,
        "shape": shape,
        "lora_A": list(row.a_shape),
        "lora_B": list(row.b_shape),
        "magnitude": row.magnitude,
        "experts": row.experts,
        "parameters_per_module": row.params_per_module,
        "modules": row.count,
        "parameters": row.total,
    }


def calculate(params: dict) -> dict:
    """The API's answer for validated `params`. Raises FieldError on bad model input."""
    arch, base, model_info = _resolve_model(params)
    rank, method = params["rank"], params["method"]
    est = lora_parameters(arch, rank, params["target_modules"], method, base_parameters=base)
    scaling = _scaling(params["alpha"], rank, params["use_rslora"])
    memory = {
        "full": memory_dict(_memory(arch, "full", None, params)),
        "lora": memory_dict(_memory(arch, "lora", est, params)),
        "qlora": memory_dict(_memory(arch, "qlora", est, params)),
    }
    formula = "alpha/sqrt(r)" if params["use_rslora"] else "alpha/r"
    notes = [
        f"Scaling {formula} = {scaling:g}: the update is W + {scaling:g}·BA. Alpha changes "
        "only this factor, not the parameter count, the file size or the memory.",
        *est.notes,
    ]
    if method == "dora":
        notes.append("The lora and qlora memory figures are for this DoRA adapter on a bf16 "
                     "and an NF4 base (QDoRA).")
    return {
        "model": model_info,
        "architecture": arch.to_dict(),
        "method": method,
        "rank": rank,
        "alpha": params["alpha"],
        "use_rslora": params["use_rslora"],
        "scaling": scaling,
        "target_modules": list(est.target_modules),
        "trainable_parameters": est.trainable,
        "base_parameters": est.base,
        "all_parameters": est.all_params,
        "trainable_percent": est.percent,
        "per_module": [_module_row(row) for row in est.rows],
        "per_layer": [{"layer": i, "parameters": n} for i, n in enumerate(est.per_layer)],
        "outside_layers": est.outside_layers,
        "adapter_bytes": {"fp16": est.adapter_bytes_fp16, "fp32": est.adapter_bytes_fp32},
        "memory": memory,
        "notes": notes,
    }


def chart_series(params: dict) -> dict:
    """What the page's charts draw: the adapter as r grows, and three target sets."""
    arch, base, _ = _resolve_model(params)
    method, chosen = params["method"], params["rank"]

    def point(rank, targets):
        est = lora_parameters(arch, rank, targets, method, base_parameters=base)
        return (est.trainable, _memory(arch, "lora", est, params).total_bytes,
                _memory(arch, "qlora", est, params).total_bytes)

    ranks = sorted(set(CHART_RANKS) | {chosen})
    by_rank = [point(r, params["target_modules"]) for r in ranks]
    yours = tuple(m for m in TARGET_MODULES if m in params["target_modules"])
    sets = [("Attention only", ATTENTION_MODULES), ("All linear", ALL_LINEAR), ("Your set", yours)]
    by_set = [point(chosen, targets) for _, targets in sets]
    return {
        "method": method,
        "rank": chosen,
        "ranks": ranks,
        "trainable": [p[0] for p in by_rank],
        "lora_bytes": [p[1] for p in by_rank],
        "qlora_bytes": [p[2] for p in by_rank],
        "sets": [{"label": label, "modules": list(targets), "trainable": p[0],
                  "lora_bytes": p[1], "qlora_bytes": p[2]}
                 for (label, targets), p in zip(sets, by_set)],
    }


# --- API ---------------------------------------------------------------------------


class LoraModuleRowSerializer(serializers.Serializer):
    # A CharField: the same choices as target_modules would be a second enum name.
    module = serializers.CharField(help_text="the target module name, e.g. q_proj")
    hf_name = serializers.CharField(help_text="where PEFT finds it in the transformers model")
    shape = serializers.ListField(child=serializers.IntegerField(),
                                  help_text="PyTorch shape of the adapted weight (out, in); "
                                            "for embed_tokens (vocab, hidden)")
    lora_A = serializers.ListField(child=serializers.IntegerField())
    lora_B = serializers.ListField(child=serializers.IntegerField())
    magnitude = serializers.IntegerField(help_text="DoRA magnitude vector length, 0 otherwise")
    experts = serializers.IntegerField(help_text="1, or the experts a fused 3-D expert weight holds "
                                                 "(adapted through PEFT's target_parameters)")
    parameters_per_module = serializers.IntegerField()
    modules = serializers.IntegerField(help_text="adapted modules of this kind in the model")
    parameters = serializers.IntegerField()


class LoraLayerRowSerializer(serializers.Serializer):
    layer = serializers.IntegerField()
    parameters = serializers.IntegerField()


class LoraAdapterBytesSerializer(serializers.Serializer):
    fp16 = serializers.IntegerField()
    fp32 = serializers.IntegerField()


class LoraMemorySerializer(serializers.Serializer):
    full = TrainingMemorySerializer()
    lora = TrainingMemorySerializer(help_text="the adapter on a bf16 base")
    qlora = TrainingMemorySerializer(help_text="the adapter on an NF4 base")


class ArchitectureSerializer(serializers.Serializer):
    family = serializers.ChoiceField(choices=FAMILIES)
    hidden_size = serializers.IntegerField()
    intermediate_size = serializers.IntegerField()
    num_layers = serializers.IntegerField()
    num_heads = serializers.IntegerField()
    num_kv_heads = serializers.IntegerField()
    head_dim = serializers.IntegerField()
    vocab_size = serializers.IntegerField()
    context_length = serializers.IntegerField()
    tie_word_embeddings = serializers.BooleanField()
    num_experts = serializers.IntegerField()
    num_experts_per_token = serializers.IntegerField()
    attention_bias = serializers.BooleanField()
    attention_out_bias = serializers.BooleanField()
    sliding_window = serializers.IntegerField(allow_null=True)
    sliding_window_layers = serializers.ListField(child=serializers.BooleanField())
    rope_theta = serializers.FloatField()


class LoraModelInfoSerializer(serializers.Serializer):
    slug = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    hf_repo = serializers.CharField(allow_null=True)


class LoraResponseSerializer(serializers.Serializer):
    model = LoraModelInfoSerializer()
    architecture = ArchitectureSerializer()
    method = serializers.ChoiceField(choices=METHODS)
    rank = serializers.IntegerField()
    alpha = serializers.FloatField()
    use_rslora = serializers.BooleanField()
    scaling = serializers.FloatField(help_text="alpha/r (alpha/sqrt(r) with use_rslora)")
    target_modules = serializers.ListField(child=serializers.CharField())
    trainable_parameters = serializers.IntegerField(help_text="as PEFT's print_trainable_parameters")
    base_parameters = serializers.IntegerField()
    all_parameters = serializers.IntegerField(help_text="base + trainable, PEFT's \"all params\"")
    trainable_percent = serializers.FloatField(help_text="trainable / all params × 100, as PEFT")
    per_module = LoraModuleRowSerializer(many=True)
    per_layer = LoraLayerRowSerializer(many=True)
    outside_layers = serializers.IntegerField(help_text="trainable parameters on embed_tokens/lm_head")
    adapter_bytes = LoraAdapterBytesSerializer(help_text="tensor data of adapter_model.safetensors")
    memory = LoraMemorySerializer()
    notes = serializers.ListField(child=serializers.CharField())


def _validation_error(exc: FieldError) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field: [exc.message]})


@extend_schema(
    summary="LoRA, DoRA and QLoRA: trainable parameters, adapter size and training memory",
    request=LoraRequestSerializer,
    responses={200: LoraResponseSerializer,
               400: OpenApiResponse(description='{"<field>": ["message"]}, e.g. "rank", '
                                                '"target_modules", "architecture.num_key_value_heads"')},
    examples=[OpenApiExample("PEFT's README example", request_only=True, value={
        "model": "llama-2-7b", "rank": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"],
        "method": "lora"})],
)
@api_view(["POST"])
@authentication_classes([])  # a pure computation: no account, no CSRF, nothing stored
@permission_classes([AllowAny])
def lora_api(request):
    form = LoraRequestSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    try:
        result = calculate(form.validated_data)
    except FieldError as exc:
        raise _validation_error(exc) from None
    return Response(LoraResponseSerializer(result).data)


class PresetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    hf_repo = serializers.CharField(help_text="the Hugging Face repository the numbers come from")
    parameters = serializers.IntegerField(source="official_parameter_count",
                                          help_text="parameter count on the model's Hugging Face page")
    active_parameters = serializers.SerializerMethodField(help_text="used per token (MoE: active experts)")
    architecture = serializers.SerializerMethodField()

    def get_active_parameters(self, preset: Preset) -> int:
        return preset.architecture.active_parameter_count()

    @extend_schema_field(ArchitectureSerializer)
    def get_architecture(self, preset: Preset) -> dict:
        return preset.architecture.to_dict()


@extend_schema(summary="Model presets: published architectures and parameter counts")
class PresetList(generics.ListAPIView):
    serializer_class = PresetSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return all_presets()


@extend_schema(summary="One model preset")
class PresetDetail(generics.RetrieveAPIView):
    serializer_class = PresetSerializer
    permission_classes = [AllowAny]

    def get_object(self):
        try:
            return get_preset(self.kwargs["slug"])
        except FieldError:
            raise Http404 from None


# --- page --------------------------------------------------------------------------

# The form's fields and what a first visit shows: Llama 3.1 8B, r=16, alpha=32 on every
# linear layer, a common QLoRA recipe.
DEFAULTS = {
    "source": "preset",
    "model": "llama-3.1-8b",
    "architecture": "",
    "rank": "16",
    "alpha": "32",
    "use_rslora": False,
    "target_modules": list(ALL_LINEAR),
    "method": "lora",
    "sequence_length": "2048",
    "micro_batch_size": "1",
    "gradient_checkpointing": True,
    "attention": "flash",
}
_TEXT_FIELDS = ("source", "model", "architecture", "rank", "alpha", "method", "sequence_length",
                "micro_batch_size", "attention")
_CHECKBOXES = ("use_rslora", "gradient_checkpointing")
ERROR_SLOTS = ("model", "architecture", "rank", "alpha", "target_modules", "method",
               "sequence_length", "micro_batch_size", "gradient_checkpointing", "attention",
               "use_rslora", "form")
# Names that need a word on the form; the others show as they are.
MODULE_LABELS = {
    "qkv_proj": "qkv_proj (Phi)", "q_a_proj": "q_a_proj (DeepSeek)", "q_b_proj": "q_b_proj (DeepSeek)",
    "kv_a_proj_with_mqa": "kv_a_proj_with_mqa (DeepSeek)", "kv_b_proj": "kv_b_proj (DeepSeek)",
    "gate_up_proj": "gate_up_proj (Phi)", "router": "router (Llama 4)",
    "experts": "experts (MoE, target_parameters)",
    "embed_tokens": "embed_tokens (embeddings)", "lm_head": "lm_head (output)",
}


def form_values(query) -> dict:
    """What the form shows: the query as typed, defaults for what it leaves out.

    The form sends `form=1`, so there an absent checkbox means unchecked; a hand-written
    URL such as ?model=llama-2-7b&rank=8 keeps the defaults for what it does not name.
    """
    if not query:
        return dict(DEFAULTS)
    from_form = "form" in query
    values = {name: query.get(name, DEFAULTS[name])[:100_000] for name in _TEXT_FIELDS}
    for name in _CHECKBOXES:
        values[name] = name in query if from_form else DEFAULTS[name]
    if from_form or "target_modules" in query:
        values["target_modules"] = query.getlist("target_modules")[:64]
    else:
        values["target_modules"] = list(DEFAULTS["target_modules"])
    return values


def _errors_from(detail) -> dict[str, str]:
    """DRF's {"field": ["message", ...]} → one line per page slot."""
    errors = {}
    if not isinstance(detail, dict):
        return {"form": " ".join(map(str, detail))}
    for field, messages in detail.items():
        text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        if field.startswith("architecture."):
            field, text = "architecture", f"{field.removeprefix('architecture.')}: {text}"
        if field not in ERROR_SLOTS:
            field = "form"
        errors[field] = f"{errors[field]} {text}" if field in errors else text
    return errors


def _request_data(values: dict) -> tuple[dict, dict[str, str]]:
    data = {name: values[name] for name in ("rank", "alpha", "method", "sequence_length",
                                            "micro_batch_size", "attention", *_CHECKBOXES)}
    data["target_modules"] = values["target_modules"]
    if values["source"] == "paste":
        text = values["architecture"].strip()
        if not text:
            return data, {"architecture": "paste a config.json, or choose a preset"}
        try:
            data["architecture"] = loads_json(text)
        except ValueError as exc:
            return data, {"architecture": str(exc)}
    elif values["model"]:
        data["model"] = values["model"]
    return data, {}


def _gib(n: int) -> float:
    return n / 2**30


def _layer_groups(per_layer: list[dict]) -> list[dict]:
    """Consecutive layers with the same count, as one row each."""
    groups = []
    for row in per_layer:
        if groups and groups[-1]["parameters"] == row["parameters"]:
            groups[-1]["last"] = row["layer"]
            groups[-1]["count"] += 1
        else:
            groups.append({"first": row["layer"], "last": row["layer"], "count": 1,
                           "parameters": row["parameters"]})
    for group in groups:
        group["total"] = group["count"] * group["parameters"]
    return groups


def _page_context(result: dict) -> dict:
    memory = result["memory"]
    adapter = "DoRA" if result["method"] == "dora" else "LoRA"
    columns = [
        ("full", "Full fine-tuning", "bf16 weights, Adam"),
        ("lora", adapter, "bf16 frozen base"),
        ("qlora", f"Q{adapter}", "NF4 frozen base"),
    ]
    highlight = "qlora" if result["method"] == "qlora" else "lora"
    kinds = [
        ("weights", "Weights", None),
        ("gradients", "Gradients", None),
        ("optimizer_states", "Adam states", "adam-optimizer"),
        ("activations", "Activations", "gradient-checkpointing"),
    ]
    memory_rows = []
    for kind, label, slug in kinds:
        cells = [memory[mode]["by_kind"][kind] for mode, _, _ in columns]
        memory_rows.append({"label": label, "slug": slug,
                            "cells": [{"bytes": n, "gib": _gib(n)} for n in cells]})
    memory_columns = []
    for mode, title, detail in columns:
        m = memory[mode]
        memory_columns.append({
            "mode": mode, "title": title, "detail": detail, "highlight": mode == highlight,
            "total": m["total_bytes"], "total_gib": _gib(m["total_bytes"]),
            "breakdown": [{**row, "gib": _gib(row["bytes"])} for row in m["breakdown"]],
            "notes": m["notes"],
        })
    return {
        "memory_columns": memory_columns,
        "memory_rows": memory_rows,
        "layer_groups": _layer_groups(result["per_layer"]),
        "adapter_mib": {k: v / 2**20 for k, v in result["adapter_bytes"].items()},
        "peft_line": (f"trainable params: {result['trainable_parameters']:,} || "
                      f"all params: {result['all_parameters']:,} || "
                      f"trainable%: {result['trainable_percent']:.4f}"),
    }


def _chart_context(charts: dict, result: dict) -> dict:
    """Add the memory comparison to the chart data and the rank chart as table rows."""
    charts["memory"] = {mode: result["memory"][mode]["by_kind"] for mode in ("full", "lora", "qlora")}
    rank_rows = [{"rank": r, "trainable": t, "lora_gib": _gib(lb), "qlora_gib": _gib(qb)}
                 for r, t, lb, qb in zip(charts["ranks"], charts["trainable"],
                                         charts["lora_bytes"], charts["qlora_bytes"])]
    return {"charts": charts, "rank_rows": rank_rows}


def lora_page(request):
    values = form_values(request.GET)
    data, errors = _request_data(values)
    result = charts = None
    if not errors:
        form = LoraRequestSerializer(data=data)
        try:
            form.is_valid(raise_exception=True)
            result = calculate(form.validated_data)
            charts = chart_series(form.validated_data)
        except serializers.ValidationError as exc:
            errors = _errors_from(exc.detail)
        except FieldError as exc:
            errors = _errors_from({exc.field: [exc.message]})

    context = {
        "values": values,
        "errors": errors,
        "error_slots": [(name, errors.get(name, "")) for name in ERROR_SLOTS],
        "result": result,
        "charts": charts,
        "presets": all_presets(),
        "modules": [(name, MODULE_LABELS.get(name, name)) for name in TARGET_MODULES],
        "attention_only": ",".join(ATTENTION_MODULES),
        "all_linear": ",".join(ALL_LINEAR),
        "methods": METHODS,
        **(_page_context(result) if result else {}),
        **(_chart_context(charts, result) if result else {}),
    }
    if request.htmx:
        response = render(request, "calculators/lora_update.html", context)
        if errors:
            # Keep the last good numbers on screen; only the error messages change.
            reswap(response, "none")
            replace_url(response, False)
        return response
    return render(request, "calculators/lora.html", context, status=400 if errors else 200)


urlpatterns = [
    path("lora/", lora_page, name="lora"),
]
api_urlpatterns = [
    path("lora/", lora_api, name="calculators-lora"),
    path("models/", PresetList.as_view(), name="calculators-models"),
    path("models/<str:slug>/", PresetDetail.as_view(), name="calculators-model"),
]
