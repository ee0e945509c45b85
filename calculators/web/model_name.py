"""The model-name decoder's page and API, over calculators.model_name.

- `GET /api/v1/model-name/?name=…`: the parts of a name and what it leaves out, as JSON;
  a name that is not one answers 400 {"name": [reason]}.
- `/calculators/model-name/?name=…`: the page; the form works without script, and htmx
  swaps in the result as one types.
"""

from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from django.shortcuts import render
from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from calculators.model_name import MAX_NAME_LENGTH, DecodedName, NotAModelName, decode

EXAMPLES = [
    "unsloth/gemma-3-27b-it-GGUF/gemma-3-27b-it-UD-Q4_K_XL.gguf",
    "TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF",
    "microsoft/Phi-3.5-mini-instruct",
    "Qwen/Qwen3-30B-A3B-Thinking-2507-FP8",
    "DeepSeek-R1-UD-IQ1_S-00001-of-00003.gguf",
    "LoneStriker/Llama-3.3-70B-Instruct-2.4bpw-h6-exl2",
    "mlx-community/Qwen3-4B-4bit",
    "unsloth/llama-3-8B-instruct-bnb-4bit",
]


class ModelNameQuerySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, help_text=(
        "a Hugging Face repository (owner/name), a file name, a path or URL to a file, or "
        "owner/name:QUANT"))


_ENTRY = inline_serializer("ModelNameEntry", {"slug": serializers.CharField(),
                                              "term": serializers.CharField(),
                                              "url": serializers.CharField()}, allow_null=True)
ModelNameResult = inline_serializer("ModelName", {
    "name": serializers.CharField(),
    "publisher": serializers.CharField(allow_null=True),
    "family": serializers.CharField(allow_null=True),
    "parameters_b": serializers.FloatField(allow_null=True, help_text="total parameters, billions"),
    "active_parameters_b": serializers.FloatField(allow_null=True, help_text="mixture of experts: "
                                                  "parameters used per token, billions; else null"),
    "parameters_source": serializers.ChoiceField(["official", "name"], allow_null=True, help_text=(
        "official: published by the makers (see parameters_url), for the memory calculator's "
        "presets and a few models it cannot model; name: the rounded size the name gives")),
    "parameters_url": serializers.CharField(allow_null=True),
    "variant": serializers.ChoiceField(["base", "instruct", "chat", "reasoning"], allow_null=True),
    "format": serializers.CharField(allow_null=True, help_text="gguf, safetensors, mlx, exl2, exl3, "
                                    "gptq, awq, bitsandbytes, pytorch, onnx, ggml"),
    "quant": serializers.CharField(allow_null=True, help_text=(
        "the quantization exactly as the name spells it (q4_k_m stays lower case): Q4_K_M, "
        "UD-Q4_K_XL, IQ4_XS, 4bit, 3.5bpw, bnb-4bit, unsloth-bnb-4bit, FP8 … For GPTQ and AWQ "
        "the bit width where the name gives one (Qwen2.5-7B-Instruct-GPTQ-Int4 → Int4; the "
        "method is in format), else the method as spelled (Llama-2-13B-chat-GPTQ → GPTQ)")),
    "quant_type": serializers.CharField(allow_null=True, help_text=(
        "quant in one spelling, for comparing: llama.cpp types in capitals (q4_k_m → Q4_K_M, "
        "UD_Q4_K_XL → UD-Q4_K_XL), bitsandbytes as bnb-4bit, bit widths in lower case (4bit, "
        "4.0bpw), the rest in capitals (Int4 → INT4, fp8 → FP8)")),
    "shard": inline_serializer("ModelNameShard", {"index": serializers.IntegerField(),
                                                  "count": serializers.IntegerField()},
                               allow_null=True),
    "preset": serializers.CharField(allow_null=True, help_text="the memory calculator's preset"),
    "notes": serializers.ListField(child=serializers.CharField()),
    "parts": inline_serializer("ModelNamePart", {
        "text": serializers.CharField(), "kind": serializers.CharField(),
        "meaning": serializers.CharField(), "entry": _ENTRY}, many=True),
    "memory_calculator_url": serializers.CharField(allow_null=True),
})


def entries_for(decoded: DecodedName) -> dict[str, dict]:
    """The glossary entries the parts name, for those that exist: slug → {slug, term, url}."""
    from glossary.models import Entry

    slugs = {part.entry for part in decoded.parts if part.entry}
    return {slug: {"slug": slug, "term": term, "url": Entry(slug=slug).get_absolute_url()}
            for slug, term in Entry.objects.filter(slug__in=slugs).values_list("slug", "term")}


def memory_calculator_url(decoded: DecodedName) -> str | None:
    query = decoded.calculator_query()
    return f"/calculators/memory/?{urlencode(query)}" if query else None


def as_json(decoded: DecodedName) -> dict:
    entries = entries_for(decoded)
    return {
        "name": decoded.name, "publisher": decoded.publisher, "family": decoded.family,
        "parameters_b": decoded.parameters_b, "active_parameters_b": decoded.active_parameters_b,
        "parameters_source": decoded.parameters_source, "parameters_url": decoded.parameters_url,
        "variant": decoded.variant, "format": decoded.format, "quant": decoded.quant,
        "quant_type": decoded.quant_type,
        "shard": decoded.shard, "preset": decoded.preset, "notes": decoded.notes,
        "parts": [{"text": part.text, "kind": part.kind, "meaning": part.meaning,
                   "entry": entries.get(part.entry)} for part in decoded.parts],
        "memory_calculator_url": memory_calculator_url(decoded),
    }


@extend_schema(
    summary="What a model's name says: family, size, active parameters, variant, format, quant",
    parameters=[OpenApiParameter("name", OpenApiTypes.STR, required=True,
                                 description=ModelNameQuerySerializer().fields["name"].help_text)],
    responses={200: ModelNameResult, 400: OpenApiTypes.OBJECT},
    examples=[OpenApiExample("A GGUF file", value={"name": "gemma-3-27b-it-UD-Q4_K_XL.gguf"},
                             parameter_only=("name", "query"))],
)
@api_view(["GET"])
@permission_classes([AllowAny])  # reads a string; nothing is stored
def model_name_api(request):
    query = ModelNameQuerySerializer(data=request.query_params)
    if not query.is_valid():
        return Response(query.errors, status=400)
    try:
        decoded = decode(query.validated_data["name"])
    except NotAModelName as error:
        return Response({error.field: [error.message]}, status=400)
    return Response(as_json(decoded))


def model_name_page(request):
    text = request.GET.get("name", "")[: MAX_NAME_LENGTH + 1]
    result, error = None, None
    if text.strip():
        try:
            result = as_json(decode(text))
        except NotAModelName as problem:
            error = problem.message
        else:  # 46.703B, 12.9B, 671B: as many digits as the figure has, no more
            result["parameters_text"] = f"{result['parameters_b']:g}B" if result["parameters_b"] else None
            result["active_text"] = (f"{result['active_parameters_b']:g}B"
                                     if result["active_parameters_b"] else None)
    context = {"text": text, "result": result, "error": error, "examples": EXAMPLES,
               "max_length": MAX_NAME_LENGTH}
    template = "calculators/model_name.html#result" if request.htmx else "calculators/model_name.html"
    return render(request, template, context, status=400 if error and not request.htmx else 200)


urlpatterns = [path("model-name/", model_name_page, name="model-name")]
api_urlpatterns = [path("model-name/", model_name_api, name="model-name")]
