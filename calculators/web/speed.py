"""How fast will it run (issue #18): the speed API, and the speed section of the memory page.

A thin layer over `calculators.speed` (the estimate) and `calculators.gpus` (the hardware
figures). The model comes in exactly as the memory calculator takes it, read by the
memory API's own serializer and source resolver (preset, pasted config.json, or the first
bytes of a GGUF file).

- `POST /api/v1/calculators/speed/`: generation and prompt-processing tokens/s, what bounds
  each, bytes read per generated token, and the same against context depth (and, on
  request, for every common quant mix).
- `POST /calculators/memory/speed/`: the speed section of the memory page (an HTML
  partial), from the memory form's fields plus the speed controls. The memory page
  renders the same section on GET through the `speed_section` template tag.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from calculators import memory, placement, speed
from calculators.gpus import ACCELERATORS, Accelerator, get_accelerator
from calculators.quant_mix import MIXES
from calculators.web import memory as memory_web
from calculators.web import memory_input, memory_results
from calculators.web.memory_input import NO_GPU, InvalidInput, MemoryInputSerializer, Source, resolve_source

MAX_GPU_LAYERS = memory_input.MAX_GPU_LAYERS
MAX_THROUGHPUT = 100_000  # GB/s or TFLOPS: far above any machine, far below nonsense
# The mixes compared side by side, largest first (a subset of the memory page's table).
COMPARED_MIXES = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K")
MAX_SERIES_POINTS = 16

# calculators.speed / calculators.memory parameter names → this API's names
_FIELDS = {"n_ubatch": "ubatch_size", "n_batch": "batch_size", "n_prompt": "prompt_tokens",
           "file": "gguf", "shape": "architecture", "tensors": "model", "preset": "model",
           "host_bandwidth_gbs": "cpu_memory_bandwidth_gbs"}


def _positive(self, value):
    if value is not None and value <= 0:
        raise serializers.ValidationError("must be greater than 0")
    return value


class SpeedInputSerializer(MemoryInputSerializer):
    """The memory calculator's model inputs, plus depth and the hardware."""

    # memory-only inputs (training, context size, verdicts, how several GPUs share the
    # model, where the KV cache and mapped weights live) do not apply
    context_length = parallel = swa_full = kv_unified = mode = sequence_length = None
    micro_batch_size = gradient_checkpointing = attention = rank = target_modules = None
    system_ram_gb = gpu_layers = gpu_count = vram_gb = split_mode = tensor_split = None
    kv_offload = load_mode = None

    n_gpu_layers = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                            max_value=MAX_GPU_LAYERS,
                                            help_text="llama.cpp's -ngl; default: every layer on the GPU")
    n_cpu_moe = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_GPU_LAYERS,
                                         help_text="llama.cpp's --n-cpu-moe: keep the experts of the "
                                                   "first N layers in host memory")
    depth = serializers.IntegerField(required=False, default=0, min_value=0, max_value=memory.MAX_CONTEXT,
                                     help_text="tokens already in the context (llama-bench's -d)")
    prompt_tokens = serializers.IntegerField(required=False, default=512, min_value=1,
                                             max_value=memory.MAX_CONTEXT,
                                             help_text="prompt length for prompt processing (llama-bench's -p)")
    backend = serializers.ChoiceField(choices=speed.BACKENDS, required=False, allow_null=True,
                                      help_text="default: the usual one for the gpu preset")
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64,
                                help_text="a hardware preset (GPUs, Apple chips, CPU-only systems; see "
                                          f"`hardware` in the answer), or {NO_GPU} for a CPU-only machine "
                                          "of cpu_memory_bandwidth_gbs (and compute_tflops, default "
                                          f"{speed.DEFAULT_HOST_COMPUTE_TFLOPS})")
    memory_bandwidth_gbs = serializers.FloatField(required=False, allow_null=True, max_value=MAX_THROUGHPUT,
                                                  help_text="instead of (or overriding) the preset's: GB/s")
    compute_tflops = serializers.FloatField(required=False, allow_null=True, max_value=MAX_THROUGHPUT,
                                            help_text="instead of (or overriding) the preset's: dense FP16 "
                                                      "matrix TFLOPS")
    int8_tops = serializers.FloatField(required=False, allow_null=True, max_value=MAX_THROUGHPUT,
                                       help_text="instead of (or overriding) the preset's: dense INT8 TOPS, "
                                                 "which CUDA multiplies quantized weights at in prompt "
                                                 "processing (tensor cores, Turing and newer); default with "
                                                 "custom figures: none (the FP16 rate)")
    cpu_memory_bandwidth_gbs = serializers.FloatField(
        required=False, allow_null=True, max_value=MAX_THROUGHPUT,
        help_text=f"host memory bandwidth for layers kept on the CPU (default "
                  f"{speed.DEFAULT_HOST_BANDWIDTH_GBS} GB/s, two channels of DDR5-4800)")
    compare_quants = serializers.BooleanField(required=False, default=False,
                                              help_text="also estimate every common quant mix")

    validate_memory_bandwidth_gbs = validate_compute_tflops = validate_cpu_memory_bandwidth_gbs = _positive
    validate_int8_tops = _positive

    def validate_gpu(self, value):
        if value is None or value == NO_GPU:
            return value
        try:
            get_accelerator(value)
        except KeyError:
            raise serializers.ValidationError(
                f"unknown hardware {value!r}; choose one of {', '.join(a.slug for a in ACCELERATORS)}") from None
        return value

    def validate(self, data):
        data = super().validate(data)
        if data.get("gpu") == NO_GPU:
            if data.get("backend") not in (None, "cpu"):
                raise serializers.ValidationError({"backend": ["a machine without a GPU runs the cpu backend"]})
            data["backend"] = "cpu"
            return data
        accel = get_accelerator(data["gpu"]) if data.get("gpu") else None
        bandwidth = data.get("memory_bandwidth_gbs")
        compute = data.get("compute_tflops")
        if accel is None and bandwidth is None and compute is None:
            raise serializers.ValidationError({"gpu": ["required: a hardware preset, or "
                                                       "memory_bandwidth_gbs and compute_tflops"]})
        if accel is None and (bandwidth is None or compute is None):
            missing = "memory_bandwidth_gbs" if bandwidth is None else "compute_tflops"
            raise serializers.ValidationError({missing: ["required for custom hardware (no gpu preset given)"]})
        if accel is not None and not accel.has_speed_figures and (bandwidth is None or compute is None):
            raise serializers.ValidationError({"gpu": [
                f"{accel.name} has no speed figures (it stands for a memory size); choose a chip "
                "such as apple-m2-max, or give memory_bandwidth_gbs and compute_tflops"]})
        backend = data.get("backend")
        if accel is not None:
            if backend is None:
                data["backend"] = accel.backends[0]
            elif backend not in accel.backends:
                raise serializers.ValidationError({"backend": [
                    f"{backend} does not run on {accel.name}; choose one of {', '.join(accel.backends)}"]})
        elif backend is None:
            raise serializers.ValidationError({"backend": ["required with custom hardware: one of "
                                                           + ", ".join(speed.BACKENDS)]})
        return data


def hardware(params: dict) -> tuple[speed.Hardware, Accelerator | None]:
    if params.get("gpu") == NO_GPU:
        bandwidth = (params.get("memory_bandwidth_gbs") or params.get("cpu_memory_bandwidth_gbs")
                     or speed.DEFAULT_HOST_BANDWIDTH_GBS)
        compute = params.get("compute_tflops") or speed.DEFAULT_HOST_COMPUTE_TFLOPS
        return speed.Hardware(bandwidth, compute, "cpu", name="CPU only"), None
    accel = get_accelerator(params["gpu"]) if params.get("gpu") else None
    bandwidth = params.get("memory_bandwidth_gbs") or accel.memory_bandwidth_gbs
    compute = params.get("compute_tflops") or accel.compute_tflops
    # a preset's INT8 figure belongs with its FP16 one: custom compute drops it unless given
    int8 = params.get("int8_tops") or (accel.int8_tops if accel and not params.get("compute_tflops") else None)
    custom = (accel is None or params.get("memory_bandwidth_gbs") or params.get("compute_tflops")
              or params.get("int8_tops"))
    name = (accel.name if accel else "Custom hardware") + (" (custom figures)" if custom and accel else "")
    hw = speed.Hardware(bandwidth, compute, params["backend"], unified=bool(accel and accel.unified),
                        host_bandwidth_gbs=params.get("cpu_memory_bandwidth_gbs"), name=name, int8_tops=int8,
                        architecture=accel.architecture if accel else "")
    return hw, accel


def _invalid(exc: Exception, source: Source) -> InvalidInput:
    field = getattr(exc, "field", None)
    if field is None:  # a model whose metadata has the wrong types
        return InvalidInput("gguf" if source.kind == "gguf" else "architecture",
                            f"could not use this model ({exc.__class__.__name__}: {exc})")
    return InvalidInput(_FIELDS.get(field, field), getattr(exc, "message", str(exc)))


def _default_quant(params: dict, source: Source) -> str | None:
    quant = params.get("quant")
    return quant if quant is not None or source.kind == "gguf" else memory_input.DEFAULT_QUANT


def n_cpu_moe(params: dict, source: Source) -> int:
    """--n-cpu-moe, or every block for --cpu-moe."""
    return source.n_layer if params.get("cpu_moe") else params["n_cpu_moe"]


def _estimate(source: Source, params: dict, hw: speed.Hardware, quant: str | None) -> speed.SpeedEstimate:
    kv = params.get("kv_cache_type") or "f16"
    try:
        return speed.estimate(
            source.model, hw, quant=quant, depth=params["depth"], n_prompt=params["prompt_tokens"],
            n_gpu_layers=source.n_layer + 1 if params.get("n_gpu_layers") is None else params["n_gpu_layers"],
            n_cpu_moe=n_cpu_moe(params, source), flash_attention=params["flash_attention"],
            n_ubatch=params["ubatch_size"], n_batch=params["batch_size"],
            cache_type_k=params.get("cache_type_k") or kv, cache_type_v=params.get("cache_type_v") or kv,
            imatrix=params["imatrix"])
    except ValueError as exc:  # InputError, FieldError, QuantMixError, GGUFError
        raise _invalid(exc, source) from None
    except (TypeError, KeyError, IndexError, ArithmeticError) as exc:
        raise _invalid(exc, source) from None


def depth_series(source: Source, est: speed.SpeedEstimate, hw: speed.Hardware, params: dict) -> list[dict]:
    """Tokens/s at powers of two of context depth, up to the model's training context."""
    top = max(est.depth, source.trained_context or 0, 4096)
    depths = sorted({0, est.depth} | {2**i for i in range(8, 31) if 2**i <= top})
    if len(depths) > MAX_SERIES_POINTS:  # keep the chart readable: every other power of two
        depths = sorted({0, est.depth, *depths[-1::-2]})
    points = []
    for depth in depths:
        gen = speed.generation(est.profile, hw, depth)
        pp = speed.prompt_processing(est.profile, hw, depth, params["prompt_tokens"], params["ubatch_size"],
                                     params["batch_size"])
        points.append({"depth": depth, "generation_tokens_per_second": gen.tokens_per_second,
                       "prompt_tokens_per_second": pp.tokens_per_second,
                       "kv_cache_bytes": gen.kv_cache_bytes})
    return points


def quant_rows(source: Source, params: dict, hw: speed.Hardware, chosen: speed.SpeedEstimate,
               chosen_quant: str | None) -> list[dict]:
    """The same model and hardware under each common mix, relative to the chosen one."""
    names = list(COMPARED_MIXES)
    if chosen_quant and chosen_quant.upper() in MIXES and chosen_quant.upper() not in names:
        names.append(chosen_quant.upper())
    rows = []
    for name in names:
        try:
            est = chosen if chosen_quant and name == chosen_quant.upper() else _estimate(source, params, hw, name)
        except InvalidInput:
            continue  # a mix this model cannot take (e.g. block sizes that do not divide a row)
        rows.append({
            "quant": name,
            "weights_bytes": est.profile.weights_bytes,
            "generation_tokens_per_second": est.generation.tokens_per_second,
            "prompt_tokens_per_second": est.prompt.tokens_per_second,
            "generation_speedup": est.generation.tokens_per_second / chosen.generation.tokens_per_second,
            "chosen": bool(chosen_quant) and name == chosen_quant.upper(),
        })
    rows.sort(key=lambda row: -row["weights_bytes"])
    return rows


def calculate(source: Source, params: dict) -> dict:
    hw, accel = hardware(params)
    quant = _default_quant(params, source)
    est = _estimate(source, params, hw, quant)
    gen, pp, prof = est.generation, est.prompt, est.profile
    constants = speed.CONSTANTS[speed.constants_key(hw)]
    n_gpu_layers = 0 if hw.backend == "cpu" else min(
        source.n_layer + 1, source.n_layer + 1 if params.get("n_gpu_layers") is None else params["n_gpu_layers"])
    data = {
        "model": source.to_dict(),
        "quant": quant.upper() if quant else None,
        "hardware": {
            "slug": accel.slug if accel else None,
            "name": hw.name,
            "memory_bandwidth_gbs": hw.memory_bandwidth_gbs,
            "compute_tflops": hw.compute_tflops,
            "int8_tops": hw.int8_tops,
            "backend": hw.backend,
            "unified": hw.unified,
            "cpu_memory_bandwidth_gbs": hw.host_bandwidth,
            "source": accel.source if accel else None,
        },
        "settings": {
            "depth": est.depth, "prompt_tokens": est.n_prompt, "n_gpu_layers": n_gpu_layers,
            "n_layer": source.n_layer, "n_cpu_moe": min(n_cpu_moe(params, source), source.n_layer) if prof.is_moe else 0,
            "flash_attention": est.flash_attention, "flash_attention_mode": params["flash_attention"],
            "flash_attention_reason": est.flash_attention_reason, "batch_size": params["batch_size"],
            "ubatch_size": params["ubatch_size"],
        },
        "generation_tokens_per_second": gen.tokens_per_second,
        "prompt_tokens_per_second": pp.tokens_per_second,
        "generation_bound": gen.bound,
        "prompt_bound": pp.bound,
        "bytes_per_token": {
            "weights": gen.weights_bytes, "kv_cache": gen.kv_cache_bytes,
            "total": gen.weights_bytes + gen.kv_cache_bytes, "gpu": gen.gpu_bytes, "cpu": gen.cpu_bytes,
        },
        "generation": {"ms_per_token": 1000 / gen.tokens_per_second, "memory_ms": gen.memory_ms,
                       "compute_ms": gen.compute_ms, "overhead_ms": gen.overhead_ms},
        "prompt": {"ms": 1000 * est.n_prompt / pp.tokens_per_second, "compute_ms": pp.compute_ms,
                   "attention_ms": pp.attention_ms, "memory_ms": pp.memory_ms, "overhead_ms": pp.overhead_ms,
                   "flops_per_token": pp.flops_per_token},
        "active_parameters": prof.active_parameters,
        "weights_bytes": prof.weights_bytes,
        "is_moe": prof.is_moe,
        "constants": {"bandwidth_fraction": constants.bandwidth_fraction,
                      "kernel_overhead_us": constants.kernel_overhead_us,
                      "operations_per_layer": prof.operations_per_layer,
                      "layer_overhead_us": constants.kernel_overhead_us * prof.operations_per_layer,
                      "compute_fraction": constants.compute_fraction,
                      "blas_fraction": constants.blas_fraction,
                      "attention_fraction": constants.attention_fraction,
                      "vector_fraction": constants.vector_fraction},
        "depth_series": depth_series(source, est, hw, params),
        "quants": quant_rows(source, params, hw, est, quant) if params.get("compare_quants") else None,
        "notes": list(est.notes),
    }
    bandwidth_given = params.get("memory_bandwidth_gbs") or params.get("cpu_memory_bandwidth_gbs")
    if params.get("gpu") == NO_GPU and not (bandwidth_given and params.get("compute_tflops")):
        data["notes"].append(f"No GPU: a desktop CPU is assumed where no figure is given ("
                             f"{speed.DEFAULT_HOST_BANDWIDTH_GBS:g} GB/s, two channels of DDR5-4800; "
                             f"{speed.DEFAULT_HOST_COMPUTE_TFLOPS:.2f} TFLOPS, eight AVX2 cores at 4.5 GHz).")
    return data


# --- API -----------------------------------------------------------------------------------

class SpeedHardwareSerializer(serializers.Serializer):
    slug = serializers.CharField(allow_null=True, help_text="the preset, or null for custom figures")
    name = serializers.CharField()
    memory_bandwidth_gbs = serializers.FloatField()
    compute_tflops = serializers.FloatField(help_text="dense FP16 matrix throughput")
    int8_tops = serializers.FloatField(allow_null=True, help_text="dense INT8 throughput where it beats FP16")
    backend = serializers.ChoiceField(choices=speed.BACKENDS)
    unified = serializers.BooleanField(help_text="GPU and CPU share one memory")
    cpu_memory_bandwidth_gbs = serializers.FloatField(help_text="what layers on the CPU read at")
    source = serializers.CharField(allow_null=True, help_text="where the preset's figures come from")


class SpeedSettingsSerializer(serializers.Serializer):
    depth = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    n_gpu_layers = serializers.IntegerField(help_text="layers on the GPU, n_layer + 1 = all")
    n_layer = serializers.IntegerField()
    n_cpu_moe = serializers.IntegerField(help_text="blocks whose experts stay on the CPU")
    flash_attention = serializers.BooleanField(help_text="whether llama.cpp runs flash attention")
    flash_attention_mode = serializers.ChoiceField(choices=placement.FLASH_ATTENTION_CHOICES, help_text="as asked: -fa")
    flash_attention_reason = serializers.CharField(help_text="why auto resolved as it did")
    batch_size = serializers.IntegerField()
    ubatch_size = serializers.IntegerField()


class SpeedBytesSerializer(serializers.Serializer):
    weights = serializers.FloatField(help_text="weights read per generated token (MoE: routed experts only)")
    kv_cache = serializers.FloatField(help_text="KV cache read per generated token at `depth`")
    total = serializers.FloatField()
    gpu = serializers.FloatField()
    cpu = serializers.FloatField()


class SpeedGenerationSerializer(serializers.Serializer):
    ms_per_token = serializers.FloatField()
    memory_ms = serializers.FloatField()
    compute_ms = serializers.FloatField()
    overhead_ms = serializers.FloatField(help_text="fixed cost of each graph operation: kernel launches")


class SpeedPromptSerializer(serializers.Serializer):
    ms = serializers.FloatField(help_text="for the whole prompt")
    compute_ms = serializers.FloatField(help_text="the weight matrices")
    attention_ms = serializers.FloatField(help_text="attention over the context (and, without flash "
                                                    "attention, its scores through memory)")
    memory_ms = serializers.FloatField()
    overhead_ms = serializers.FloatField()
    flops_per_token = serializers.FloatField()


class SpeedConstantsSerializer(serializers.Serializer):
    bandwidth_fraction = serializers.FloatField(help_text="of the peak bandwidth, generating")
    kernel_overhead_us = serializers.FloatField(help_text="fixed cost of one graph operation (a kernel launch)")
    operations_per_layer = serializers.FloatField(help_text="llama.cpp graph operations per layer of this model")
    layer_overhead_us = serializers.FloatField(help_text="kernel_overhead_us × operations_per_layer")
    compute_fraction = serializers.FloatField(help_text="of the matrix rate (CUDA: INT8), processing prompts")
    blas_fraction = serializers.FloatField(allow_null=True, help_text="CUDA: of the FP16 rate in cuBLAS "
                                                                      "(float weights; GPUs without INT8 tensor cores)")
    attention_fraction = serializers.FloatField(help_text="of the FP16 rate, in flash attention")
    vector_fraction = serializers.FloatField(help_text="of the peak compute, in generation's one-token products")


class SpeedPointSerializer(serializers.Serializer):
    depth = serializers.IntegerField()
    generation_tokens_per_second = serializers.FloatField()
    prompt_tokens_per_second = serializers.FloatField()
    kv_cache_bytes = serializers.FloatField()


class SpeedQuantSerializer(serializers.Serializer):
    quant = serializers.CharField()
    weights_bytes = serializers.IntegerField()
    generation_tokens_per_second = serializers.FloatField()
    prompt_tokens_per_second = serializers.FloatField()
    generation_speedup = serializers.FloatField(help_text="generation speed ÷ the chosen quant's")
    chosen = serializers.BooleanField()


class SpeedResponseSerializer(serializers.Serializer):
    model = memory_results.MemoryModelInfoSerializer()
    quant = serializers.CharField(allow_null=True, help_text="null: the GGUF file's own types")
    hardware = SpeedHardwareSerializer()
    settings = SpeedSettingsSerializer()
    generation_tokens_per_second = serializers.FloatField()
    prompt_tokens_per_second = serializers.FloatField()
    generation_bound = serializers.ChoiceField(choices=("memory", "compute", "overhead"))
    prompt_bound = serializers.ChoiceField(choices=("memory", "compute", "attention", "overhead"))
    bytes_per_token = SpeedBytesSerializer()
    generation = SpeedGenerationSerializer()
    prompt = SpeedPromptSerializer()
    active_parameters = serializers.IntegerField(help_text="weights multiplied per generated token")
    weights_bytes = serializers.IntegerField(help_text="all weights (the file's tensor data)")
    is_moe = serializers.BooleanField()
    constants = SpeedConstantsSerializer(help_text="the backend's fitted efficiency constants")
    depth_series = SpeedPointSerializer(many=True)
    quants = SpeedQuantSerializer(many=True, allow_null=True, help_text="with compare_quants")
    notes = serializers.ListField(child=serializers.CharField())


@extend_schema(
    summary="How fast will it run? Generation and prompt-processing tokens/s with llama.cpp",
    request={"application/json": SpeedInputSerializer, "multipart/form-data": SpeedInputSerializer},
    responses={200: SpeedResponseSerializer, 400: OpenApiResponse(
        description='{"<field>": ["message"]}, e.g. "gpu", "backend", "depth", "memory_bandwidth_gbs", '
                    '"quant", "gguf", "architecture.hidden_size"')},
    examples=[
        OpenApiExample("A preset on a preset GPU", request_only=True, value={
            "model": "llama-3.1-8b", "quant": "Q4_K_M", "gpu": "rtx-4090", "depth": 4096}),
        OpenApiExample("Experts on the CPU", request_only=True, value={
            "model": "mixtral-8x7b-v0.1", "quant": "Q4_K_M", "gpu": "rtx-3090", "n_cpu_moe": 16,
            "cpu_memory_bandwidth_gbs": 89.6}),
        OpenApiExample("Custom hardware", request_only=True, value={
            "model": "qwen2.5-7b", "quant": "Q8_0", "memory_bandwidth_gbs": 273, "compute_tflops": 125,
            "backend": "cuda"}),
    ],
)
@memory_web.api_endpoint
def speed_api(request):
    try:
        params = memory_web.api_params(request, SpeedInputSerializer)
        return Response(calculate(resolve_source(params), params))
    except InvalidInput as exc:
        return Response({exc.field: [exc.message]}, status=400)


# --- the memory page's speed section ---------------------------------------------------------

SPEED_DEFAULTS = {"backend": "", "depth": "0", "memory_bandwidth_gbs": "", "compute_tflops": "",
                  "cpu_memory_bandwidth_gbs": ""}
SPEED_ERROR_SLOTS = tuple(SPEED_DEFAULTS)


def section_context(query, memory_values: dict) -> dict:
    """The speed section for the memory form's values plus the speed controls in `query`.

    With -ngl and the experts left to the page (blank), the section estimates the
    placement the memory page answers with: the most layers and fewest experts on the CPU
    that fit the chosen GPU.
    """
    values = {name: str(query.get(name, default))[:100] for name, default in SPEED_DEFAULTS.items()}
    context = {"speed_values": values, "backends": speed.BACKENDS, "speed_errors": {}, "speed": None}
    if memory_values.get("mode", "inference") != "inference":
        context["speed_off"] = "Speed applies to running a model (the Run task)."
        return context
    memory_data, errors, header = memory_web.request_data(memory_values, {})
    if errors:
        context["speed_errors"] = errors
        return context
    fields = SpeedInputSerializer().fields
    data = {name: value for name, value in memory_data.items() if name in fields}
    if "gpu_layers" in memory_data:  # the memory form's name for -ngl
        data["n_gpu_layers"] = memory_data["gpu_layers"]
    for name in SPEED_DEFAULTS:
        if values[name].strip():
            data[name] = values[name]
    data["compare_quants"] = True
    form = SpeedInputSerializer(data=data, context={"gguf_header": header})
    if not form.is_valid():
        detail = dict(form.errors)
        if "gpu" in detail and "vram_gb" in memory_data:  # "Another GPU": sizes but no speed figures
            detail = {"memory_bandwidth_gbs": ["for a GPU not in the list, type its memory bandwidth and "
                                               "FP16 compute (its data sheet gives both) and choose a backend"]}
        context["speed_errors"] = _errors(detail)
        return context
    params = dict(form.validated_data)
    try:
        source = resolve_source(params, header, memory_values.get("gguf_key") if header else None)
        placed = _answer_placement(memory_data, header, source, params)
        result = calculate(source, params)
    except InvalidInput as exc:
        context["speed_errors"] = _errors({exc.field: [exc.message]})
        return context
    if placed:
        result["notes"].insert(0, placed)
    if memory_values.get("gpu_count", "1").strip() not in ("", "1") or "," in memory_values.get("vram_gb", ""):
        result["notes"].append("With several GPUs splitting the model by layers, each token passes through "
                               "them in turn: the time adds up as if one card held every layer.")
    context["speed"] = result
    context["speed_chart"] = {"series": result["depth_series"], "quants": result["quants"],
                              "quant": result["quant"], "depth": result["settings"]["depth"]}
    context["speed_comparison"] = _comparison(result)
    return context


def _answer_placement(memory_data: dict, header, source: Source, params: dict) -> str | None:
    """Sets -ngl and --n-cpu-moe in `params` to the memory page's answer, when the form leaves
    them blank and names a GPU; returns a note saying so, or None."""
    if ("gpu_layers" in memory_data or params["n_cpu_moe"] or params["cpu_moe"]
            or params["backend"] == "cpu" or memory_data.get("gpu") == NO_GPU):
        return None
    form = MemoryInputSerializer(data=memory_data, context={"gguf_header": header})
    if not form.is_valid():
        return None  # the memory section above names the fault
    answer = memory_results.guarded(source, form.validated_data,
                                    lambda: placement.solve(memory_results.planner(source, form.validated_data)))
    if answer is None:
        return None
    p = answer.placement
    params["n_gpu_layers"], params["n_cpu_moe"] = p.n_gpu_layers, p.n_cpu_moe
    if p.n_gpu_layers > source.n_layer and not p.n_cpu_moe:
        return None  # everything on the GPU, as the API assumes anyway
    where = memory_results.hardware(form.validated_data).name
    return (f"Placed as the memory answer above ({' '.join(answer.flags())}): what fits in the memory of "
            f"{where} runs on the GPU, the rest on the CPU.")


def _errors(detail: dict) -> dict[str, str]:
    """Serializer errors → the section's slots; the model's own fields read "field: message"."""
    errors: dict[str, str] = {}
    for field, messages in detail.items():
        text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        slot = field if field in SPEED_ERROR_SLOTS else "form"
        if slot == "form" and field != "non_field_errors":
            text = f"{field}: {text}"
        errors[slot] = f"{errors[slot]} {text}" if slot in errors else text
    return errors


def _comparison(result: dict) -> str | None:
    """One sentence: the chosen mix against Q8_0 (or against F16 when Q8_0 is chosen)."""
    rows = {row["quant"]: row for row in result["quants"] or []}
    chosen = result["quant"]
    other = "F16" if chosen == "Q8_0" else "Q8_0"
    if chosen not in rows or other not in rows or chosen == other:
        return None
    ratio = rows[chosen]["generation_tokens_per_second"] / rows[other]["generation_tokens_per_second"]
    where = result["hardware"]["name"]
    if ratio >= 1:
        return f"{chosen} generates {ratio:.1f}× faster than {other} on {where}."
    return f"{chosen} generates {1 / ratio:.1f}× slower than {other} on {where}."


@require_POST
def speed_section(request):
    """The memory page's script: the speed section for the form as it stands."""
    memory_values = memory_web.form_values(request.POST)
    context = section_context(request.POST, memory_values)
    status = 400 if context["speed_errors"] else 200
    return render(request, "calculators/_speed.html#speed-results", context, status=status)


urlpatterns = [
    path("memory/speed/", speed_section, name="memory-speed"),
]
api_urlpatterns = [
    path("speed/", speed_api, name="calculators-speed"),
]
