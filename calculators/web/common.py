"""Input readers and output shapes that several calculator APIs share (LoRA, memory)."""

from dataclasses import MISSING, fields

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from calculators.architecture import FAMILIES, Architecture, FieldError
from calculators.lora import ALL_LINEAR, TARGET_MODULES
from calculators.training import TrainingMemory

MAX_RANK = 4096

# A pasted architecture drives loops over layers and products of its sizes: bound them so
# a typo (or a hostile request) cannot make one request take minutes. The largest
# published models stay far below these (Llama 3.1 405B: 126 layers, hidden 16384).
MAX_LAYERS = 1024
MAX_SIZE = 2**27
_LAYER_KEYS = ("num_hidden_layers", "num_layers")
_SIZE_KEYS = (
    "hidden_size", "intermediate_size", "num_attention_heads", "num_heads", "num_key_value_heads",
    "num_kv_heads", "head_dim", "vocab_size", "max_position_embeddings", "context_length",
    "num_local_experts", "num_experts", "num_experts_per_tok", "num_experts_per_token",
    "sliding_window", "max_window_layers", "sliding_window_pattern",
)



def _check_sizes(config: dict) -> None:
    """Reject absurd sizes before Architecture builds per-layer tuples from them."""
    for keys, limit in ((_LAYER_KEYS, MAX_LAYERS), (_SIZE_KEYS, MAX_SIZE)):
        for key in keys:
            value = config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > limit:
                raise FieldError(f"architecture.{key}", f"must be at most {limit:,}, got {value:,}")


def architecture_from_json(data) -> Architecture:
    """A Hugging Face config.json (has `model_type`) or our to_dict form (has `family`).

    Errors name the key the user wrote, under "architecture." (e.g.
    "architecture.num_key_value_heads").
    """
    if not isinstance(data, dict):
        raise FieldError("architecture", "must be a JSON object: a config.json or an "
                                         "architecture from GET /api/v1/calculators/models/")
    is_hf = "model_type" in data
    if not is_hf and "family" not in data:
        raise FieldError("architecture", "paste a Hugging Face config.json (it has model_type) "
                                         f"or an architecture object (family: {', '.join(FAMILIES)})")
    _check_sizes(data)
    if isinstance(data.get("text_config"), dict):
        _check_sizes(data["text_config"])
    if not is_hf and set(data) <= {f.name for f in fields(Architecture)}:
        # Architecture.from_dict names the alphabetically first absent field, which can be
        # one with a default (attention_bias); name a field that is really required.
        required = [f.name for f in fields(Architecture)
                    if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise FieldError(f"architecture.{missing[0]}", "is required")
    try:
        return Architecture.from_hf_config(data) if is_hf else Architecture.from_dict(data)
    except FieldError as exc:
        field = "architecture" if exc.field in ("architecture", "config") else f"architecture.{exc.field}"
        raise FieldError(field, exc.message) from None
    except (TypeError, AttributeError, ArithmeticError, ValueError) as exc:
        # from_hf_config trusts the types of optional keys (layer_types,
        # sliding_window_pattern, rope_parameters...); junk there must still be a 400.
        raise FieldError("architecture", f"could not read this config ({exc})") from None


@extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=TARGET_MODULES)))
class TargetModulesField(serializers.Field):
    """A list of module names, or PEFT's shorthand "all-linear" (every linear layer in the
    blocks, not lm_head). Names are checked by calculators.lora, which owns the list."""

    default_error_messages = {"invalid": "must be a list of module names or \"all-linear\""}

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):  # form data: ?target_modules=q_proj&target_modules=v_proj
            return dictionary.getlist(self.field_name) if self.field_name in dictionary else empty
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data):
        if data == "all-linear":
            return list(ALL_LINEAR)
        if not isinstance(data, list) or len(data) > 64 or not all(isinstance(x, str) for x in data):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return list(value)



MEMORY_KINDS = ("weights", "gradients", "optimizer_states", "activations")


def memory_kind(label: str) -> str:
    """Which of weights / gradients / optimizer states / activations a breakdown row is.

    The fp32 master copy counts as optimizer state, as in the ZeRO paper (§3.1: the
    optimizer states of mixed-precision Adam are the fp32 parameters, momentum, variance).
    """
    if label.startswith("activations"):
        return "activations"
    if "Adam" in label or "master" in label:
        return "optimizer_states"
    if "gradients" in label:
        return "gradients"
    return "weights"


def memory_dict(memory: TrainingMemory) -> dict:
    by_kind = dict.fromkeys(MEMORY_KINDS, 0)
    for label, n in memory.breakdown:
        by_kind[memory_kind(label)] += n
    return {**memory.to_dict(), "by_kind": by_kind}


class TrainingMemoryRowSerializer(serializers.Serializer):
    label = serializers.CharField()
    bytes = serializers.IntegerField()


class TrainingMemoryKindsSerializer(serializers.Serializer):
    weights = serializers.IntegerField()
    gradients = serializers.IntegerField()
    optimizer_states = serializers.IntegerField(help_text="Adam moments and fp32 master weights")
    activations = serializers.IntegerField()


class TrainingMemorySerializer(serializers.Serializer):
    mode = serializers.CharField()
    total_bytes = serializers.IntegerField()
    breakdown = TrainingMemoryRowSerializer(many=True)
    by_kind = TrainingMemoryKindsSerializer()
    notes = serializers.ListField(child=serializers.CharField())
