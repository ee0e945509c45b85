"""Transformer architectures as the calculators see them: shapes, not weights.

An `Architecture` holds the handful of numbers from a Hugging Face `config.json`
that decide every weight shape. `tensors()` lists the weights under the names the
GGUF converter gives them (llama.cpp `convert_hf_to_gguf.py`, names taken from the
`gguf` package's `TENSOR_NAMES` so they cannot drift), with shapes in ggml order:
ne0 first, i.e. the row length / input features first. That is the reverse of the
PyTorch `nn.Linear.weight` shape (out_features, in_features).

What is counted: the weights the model's safetensors hold. llama.cpp's converter also
writes a few small tensors that are not weights (e.g. `rope_freqs.weight`, head_dim/2
floats for Llama 3.1's rope scaling); they are left out, so `parameter_count()` agrees
with the count on the model's Hugging Face page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import gguf

FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "gemma2", "gemma3")

# Our field -> the Hugging Face config.json key it is read from, for error messages.
_HF_KEYS = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "context_length": "max_position_embeddings",
    "num_experts": "num_local_experts",
    "num_experts_per_token": "num_experts_per_tok",
    "sliding_window_layers": "layer_types",
}


class FieldError(ValueError):
    """Bad input, with the name of the offending field for the web layer (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TensorSpec:
    name: str  # GGUF tensor name, e.g. "blk.3.attn_q.weight"
    shape: tuple[int, ...]  # ggml order: ne0 (row length / input features) first
    layer: int | None  # block index; None for token_embd, output_norm, output

    @property
    def n_elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


def _name(tensor: gguf.MODEL_TENSOR, suffix: str, layer: int | None = None) -> str:
    base = gguf.TENSOR_NAMES[tensor]
    if layer is not None:
        base = base.format(bid=layer)
    return f"{base}.{suffix}"


@dataclass(frozen=True)
class Architecture:
    family: str  # one of FAMILIES
    hidden_size: int
    intermediate_size: int  # per expert for MoE models
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int  # from the config (Gemma: 256), not always hidden/heads
    vocab_size: int
    context_length: int  # max_position_embeddings
    tie_word_embeddings: bool
    num_experts: int = 0  # 0 = dense FFN
    num_experts_per_token: int = 0
    attention_bias: bool = False  # biases on q/k/v projections (Qwen2 has them)
    attention_out_bias: bool = False  # bias on the output projection (Llama attention_bias=true)
    sliding_window: int | None = None
    # True where layer i uses sliding-window attention. Gemma 2 alternates (even layers
    # local), Gemma 3 has 5 local then 1 global, Mistral 7B v0.1 uses it on every layer.
    sliding_window_layers: tuple[bool, ...] = ()
    rope_theta: float = 10000.0

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise FieldError("family", f"must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "vocab_size", "context_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FieldError(name, f"must be a positive integer, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise FieldError("num_kv_heads", "must divide num_heads (grouped-query attention)")
        for name in ("num_experts", "num_experts_per_token"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FieldError(name, f"must be a non-negative integer, got {value!r}")
        if self.num_experts and not 1 <= self.num_experts_per_token <= self.num_experts:
            raise FieldError("num_experts_per_token", "must be between 1 and num_experts")
        if not self.num_experts and self.num_experts_per_token:
            raise FieldError("num_experts_per_token", "must be 0 for a dense model")
        if self.sliding_window is not None and (
            isinstance(self.sliding_window, bool) or not isinstance(self.sliding_window, int)
            or self.sliding_window < 1
        ):
            raise FieldError("sliding_window", "must be a positive integer or null")
        if self.sliding_window_layers:
            if len(self.sliding_window_layers) != self.num_layers:
                raise FieldError("sliding_window_layers", "must have one entry per layer")
            if any(self.sliding_window_layers) and self.sliding_window is None:
                raise FieldError("sliding_window", "is required when some layers use it")

    # --- derived sizes -------------------------------------------------------------

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def uses_sliding_window(self, layer: int) -> bool:
        return bool(self.sliding_window_layers) and self.sliding_window_layers[layer]

    # --- tensors -------------------------------------------------------------------

    def tensors(self) -> list[TensorSpec]:
        """Every weight tensor as llama.cpp's converter names and shapes it."""
        T = gguf.MODEL_TENSOR
        h = self.hidden_size
        specs = [TensorSpec(_name(T.TOKEN_EMBD, "weight"), (h, self.vocab_size), None)]
        for i in range(self.num_layers):
            specs.extend(self._block_tensors(i))
        specs.append(TensorSpec(_name(T.OUTPUT_NORM, "weight"), (h,), None))
        if not self.tie_word_embeddings:
            specs.append(TensorSpec(_name(T.OUTPUT, "weight"), (h, self.vocab_size), None))
        return specs

    def _block_tensors(self, i: int) -> list[TensorSpec]:
        T = gguf.MODEL_TENSOR
        h, ff = self.hidden_size, self.intermediate_size

        def spec(tensor, shape, suffix="weight"):
            return TensorSpec(_name(tensor, suffix, i), shape, i)

        out = [
            spec(T.ATTN_NORM, (h,)),
            spec(T.ATTN_Q, (h, self.q_dim)),
            spec(T.ATTN_K, (h, self.kv_dim)),
            spec(T.ATTN_V, (h, self.kv_dim)),
            spec(T.ATTN_OUT, (self.q_dim, h)),
        ]
        if self.attention_bias:
            out += [
                spec(T.ATTN_Q, (self.q_dim,), "bias"),
                spec(T.ATTN_K, (self.kv_dim,), "bias"),
                spec(T.ATTN_V, (self.kv_dim,), "bias"),
            ]
        if self.attention_out_bias:
            out.append(spec(T.ATTN_OUT, (h,), "bias"))
        if self.family == "gemma3":
            # Gemma 3 normalises queries and keys per head (RMSNorm over head_dim).
            out += [spec(T.ATTN_Q_NORM, (self.head_dim,)), spec(T.ATTN_K_NORM, (self.head_dim,))]
        if self.family in ("gemma2", "gemma3"):
            # Gemma 2/3 norm both before and after attention and the FFN ("sandwich" norms).
            out.append(spec(T.ATTN_POST_NORM, (h,)))
            out.append(spec(T.FFN_POST_NORM, (h,)))
        out.append(spec(T.FFN_NORM, (h,)))
        if self.is_moe:
            e = self.num_experts
            out += [
                spec(T.FFN_GATE_INP, (h, e)),  # the router
                spec(T.FFN_GATE_EXP, (h, ff, e)),
                spec(T.FFN_UP_EXP, (h, ff, e)),
                spec(T.FFN_DOWN_EXP, (ff, h, e)),
            ]
        else:
            out += [
                spec(T.FFN_GATE, (h, ff)),
                spec(T.FFN_UP, (h, ff)),
                spec(T.FFN_DOWN, (ff, h)),
            ]
        return out

    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors())

    def active_parameter_count(self) -> int:
        """Parameters used per token: for MoE only num_experts_per_token experts run."""
        if not self.is_moe:
            return self.parameter_count()
        expert_weights = 3 * self.hidden_size * self.intermediate_size * self.num_layers
        idle = self.num_experts - self.num_experts_per_token
        return self.parameter_count() - idle * expert_weights

    # --- (de)serialisation ---------------------------------------------------------

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sliding_window_layers"] = list(self.sliding_window_layers)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Architecture":
        if not isinstance(data, dict):
            raise FieldError("architecture", "must be an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FieldError(unknown[0], "unknown field")
        kwargs = dict(data)
        if "sliding_window_layers" in kwargs:
            layers = kwargs["sliding_window_layers"]
            if not isinstance(layers, (list, tuple)) or not all(isinstance(x, bool) for x in layers):
                raise FieldError("sliding_window_layers", "must be a list of booleans")
            kwargs["sliding_window_layers"] = tuple(layers)
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            missing = sorted(known - set(data))
            raise FieldError(missing[0] if missing else "architecture", "is required") from exc

    @classmethod
    def from_hf_config(cls, config: dict) -> "Architecture":
        """Build from a Hugging Face config.json dict.

        Defaults follow the transformers config classes (e.g. num_key_value_heads falls
        back to num_attention_heads, Gemma's head_dim to 256). For the multimodal Gemma 3
        config only the text model (`text_config`) is described.
        """
        if not isinstance(config, dict):
            raise FieldError("config", "must be a JSON object")
        model_type = config.get("model_type")
        if model_type == "gemma3" and isinstance(config.get("text_config"), dict):
            config = config["text_config"]  # text model only; the vision tower is not counted
            model_type = "gemma3_text"
        family = {
            "llama": "llama", "mistral": "mistral", "mixtral": "mixtral", "qwen2": "qwen2",
            "gemma2": "gemma2", "gemma3_text": "gemma3",
        }.get(model_type)
        if family is None:
            raise FieldError("model_type", f"unsupported model type {model_type!r}; "
                             "supported: llama, mistral, mixtral, qwen2, gemma2, gemma3_text")

        def need(key):
            if key not in config or config[key] is None:
                raise FieldError(key, "missing from config")
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError(key, f"must be an integer, got {value!r}")
            return value

        hidden = need("hidden_size")
        heads = need("num_attention_heads")
        layers = need("num_hidden_layers")
        kv_heads = config.get("num_key_value_heads") or heads
        head_dim = config.get("head_dim") or (256 if family.startswith("gemma") else None)
        if head_dim is None:
            if hidden % heads:
                raise FieldError("head_dim", "missing and hidden_size is not divisible by num_attention_heads")
            head_dim = hidden // heads
        if config.get("mlp_bias"):
            raise FieldError("mlp_bias", "MLP biases are not supported")
        # Defaults of tie_word_embeddings differ per transformers config class.
        tie = config.get("tie_word_embeddings", family in ("gemma2", "gemma3"))

        sliding_window = config.get("sliding_window")
        window_layers: tuple[bool, ...] = ()
        if family == "qwen2":
            # Qwen2 configs carry sliding_window even when use_sliding_window is false.
            sliding_window = sliding_window if config.get("use_sliding_window") else None
            if sliding_window:
                # transformers Qwen2: layers from max_window_layers on use the window.
                first = config.get("max_window_layers", layers)
                window_layers = tuple(i >= first for i in range(layers))
        elif sliding_window:
            layer_types = config.get("layer_types")
            if layer_types:
                window_layers = tuple(t == "sliding_attention" for t in layer_types)
            elif family == "gemma2":
                # transformers Gemma2: layer i is local when i is even.
                window_layers = tuple(i % 2 == 0 for i in range(layers))
            elif family == "gemma3":
                # transformers Gemma3: global every `sliding_window_pattern`-th layer.
                pattern = config.get("sliding_window_pattern", 6)
                window_layers = tuple((i + 1) % pattern != 0 for i in range(layers))
            else:
                window_layers = (True,) * layers
        if not any(window_layers):
            sliding_window, window_layers = None, ()

        rope_theta = config.get("rope_theta")
        if rope_theta is None:  # transformers >= 5 nests it in rope_parameters
            rope = config.get("rope_parameters") or {}
            rope = rope.get("full_attention", rope)
            rope_theta = rope.get("rope_theta", 10000.0)

        try:
            rope_theta = float(rope_theta)
        except (TypeError, ValueError):
            raise FieldError("rope_theta", f"must be a number, got {rope_theta!r}") from None

        has_bias = family == "qwen2" or bool(config.get("attention_bias"))
        try:
            return cls(
                family=family,
                hidden_size=hidden,
                intermediate_size=need("intermediate_size"),
                num_layers=layers,
                num_heads=heads,
                num_kv_heads=kv_heads,
                head_dim=head_dim,
                vocab_size=need("vocab_size"),
                context_length=need("max_position_embeddings"),
                tie_word_embeddings=bool(tie),
                num_experts=config.get("num_local_experts", 0) if family == "mixtral" else 0,
                num_experts_per_token=config.get("num_experts_per_tok", 0) if family == "mixtral" else 0,
                attention_bias=has_bias,
                # Qwen2 biases q/k/v only; Llama's attention_bias also biases o_proj.
                attention_out_bias=has_bias and family != "qwen2",
                sliding_window=sliding_window,
                sliding_window_layers=window_layers,
                rope_theta=rope_theta,
            )
        except FieldError as exc:
            # Name the config.json key the user wrote, not our field.
            key = _HF_KEYS.get(exc.field, exc.field)
            raise FieldError(key, exc.message) from None
