"""Transformer architectures as the calculators see them: shapes, not weights.

An `Architecture` holds the numbers from a Hugging Face `config.json` that decide every
weight shape. `tensors()` lists the weights under the names llama.cpp's converter
(`convert_hf_to_gguf.py`) gives them — names from the `gguf` package's `TENSOR_NAMES`, so
they cannot drift — with shapes in ggml order: ne0 first, i.e. the row length / input
features first (the reverse of PyTorch's `nn.Linear.weight` shape).

The tensor list of each family follows llama.cpp's loader (`load_tensors` in
src/llama-model.cpp, or `load_arch_tensors` in src/models/<arch>.cpp in newer trees), which
refuses a file whose tensors differ in name, shape or number; the tests write a file from
`tensors()` for every family and let the llama.cpp that llama-cpp-python bundles load it.

What is counted: the weights the model's safetensors hold. A few small tensors the
converter adds that are not weights (Llama 3.1's `rope_freqs.weight`, Phi-3's
`rope_factors_long/short.weight`: head_dim/2 floats each) are left out, so
`parameter_count()` agrees with the model's published count.

Each `TensorSpec` says what it is (`role`): the speed and placement calculators need to
know which bytes are routed experts (read only for the experts a token picks, and what
llama.cpp's `--n-cpu-moe` / `-ot exps=CPU` move to the CPU), shared experts and the rest.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

import gguf

# Our family names follow the Hugging Face model_type (text model).
FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma2", "gemma3",
            "phi3", "gpt_oss", "deepseek2", "llama4", "glm4_moe")

# family → GGUF general.architecture (llama.cpp converts Mistral and Mixtral as "llama").
GGUF_ARCH = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3",
    "gpt_oss": "gpt-oss", "deepseek2": "deepseek2", "llama4": "llama4", "glm4_moe": "glm4moe",
}

# Hugging Face model_type → family. Multimodal configs (gemma3, mistral3, llama4) are read
# through their text_config; DeepSeek V3 (and R1, Kimi K2) run as llama.cpp's deepseek2.
_MODEL_TYPES = {
    "llama": "llama", "mistral": "mistral", "ministral": "mistral", "mixtral": "mixtral",
    "qwen2": "qwen2", "qwen3": "qwen3", "qwen3_moe": "qwen3_moe", "gemma2": "gemma2",
    "gemma3_text": "gemma3", "phi3": "phi3", "gpt_oss": "gpt_oss", "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2", "kimi_k2": "deepseek2", "llama4_text": "llama4",
    "glm4_moe": "glm4_moe",
}
_MULTIMODAL = {"gemma3": "gemma3_text", "mistral3": "mistral", "llama4": "llama4_text"}

# Bounds that keep a pasted config from driving huge loops (the largest published models
# are far below them: DeepSeek V3 has 61 layers, Llama 3.1 405B hidden 16384).
MAX_LAYERS = 1024
MAX_DIM = 2**27
MAX_ROPE_THETA = 1e12

# Our field -> the Hugging Face config.json key it is read from, for error messages.
_HF_KEYS = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "context_length": "max_position_embeddings",
    "num_experts": "num_local_experts",
    "num_experts_per_token": "num_experts_per_tok",
    "sliding_window_layers": "layer_types",
    "expert_intermediate_size": "moe_intermediate_size",
    "num_shared_experts": "n_shared_experts",
    "leading_dense_layers": "first_k_dense_replace",
    "moe_layer_step": "interleave_moe_layer_step",
    "nextn_layers": "num_nextn_predict_layers",
}


class FieldError(ValueError):
    """Bad input, with the name of the offending field for the web layer (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# What a tensor is, for placement and speed. "expert": routed experts (a token reads
# num_experts_per_token of num_experts); everything else is read for every token, except
# the input embedding (one row per token) and the MTP layer (not run by llama.cpp).
ROLES = ("embedding", "output", "attention", "norm", "router", "ffn", "expert",
         "shared_expert", "mtp")


# common/common.h LLM_FFN_EXPS_REGEX: the tensors --n-cpu-moe and --cpu-moe keep on the CPU
_ROUTED_EXPERTS = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch|)exps")


_BLOCK = re.compile(r"^blk\.(\d+)\.")


def tensor_layer(name: str) -> int | None:
    """The block index of a GGUF tensor ("blk.7.attn_q.weight" → 7); None outside the blocks."""
    match = _BLOCK.match(name)
    return int(match.group(1)) if match else None


def tensor_role(name: str) -> str:
    """The role of a GGUF tensor by its name (works for any file, not only ours)."""
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "embedding"
    if name.startswith(("output.", "output_norm.")):
        return "output" if name.startswith("output.") else "norm"
    if ".nextn." in name:
        return "mtp"
    if _ROUTED_EXPERTS.search(name):
        return "expert"
    if "_shexp." in name:
        return "shared_expert"
    if ".ffn_gate_inp." in name or ".exp_probs_b." in name:
        return "router"
    if "norm" in name:
        return "norm"
    if ".ffn_" in name:
        return "ffn"
    return "attention"


@dataclass(frozen=True)
class TensorSpec:
    name: str  # GGUF tensor name, e.g. "blk.3.attn_q.weight"
    shape: tuple[int, ...]  # ggml order: ne0 (row length / input features) first
    layer: int | None  # block index; None for token_embd, output_norm, output

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def role(self) -> str:
        return tensor_role(self.name)


def _name(tensor: gguf.MODEL_TENSOR, suffix: str, layer: int | None = None) -> str:
    base = gguf.TENSOR_NAMES[tensor]
    if layer is not None:
        base = base.format(bid=layer)
    return f"{base}.{suffix}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    family: str  # one of FAMILIES
    hidden_size: int
    intermediate_size: int  # dense FFN width (Mixtral: per expert, see expert_width)
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int  # from the config (Gemma: 256), not always hidden/heads; MLA: the K head
    vocab_size: int
    context_length: int  # max_position_embeddings
    tie_word_embeddings: bool
    num_experts: int = 0  # routed experts; 0 = dense FFN
    num_experts_per_token: int = 0
    attention_bias: bool = False  # biases on q/k/v projections (Qwen2 has them)
    attention_out_bias: bool = False  # bias on the output projection (Llama attention_bias=true)
    sliding_window: int | None = None
    # True where layer i uses sliding-window attention. Gemma 2 alternates (even layers
    # local), Gemma 3 has 5 local then 1 global, Mistral 7B v0.1 uses it on every layer,
    # gpt-oss alternates; Llama 4's chunked attention (3 chunked, 1 global) is stored here too.
    sliding_window_layers: tuple[bool, ...] = ()
    rope_theta: float = 10000.0
    # --- mixture of experts -------------------------------------------------------------
    expert_intermediate_size: int = 0  # width of one routed expert; 0 = intermediate_size
    num_shared_experts: int = 0  # DeepSeek, GLM-4.5, Llama 4: experts every token runs
    leading_dense_layers: int = 0  # DeepSeek/GLM first_k_dense_replace: dense FFN first
    moe_layer_step: int = 1  # Llama 4 Maverick: every 2nd layer is MoE, the rest dense
    expert_score_bias: bool = False  # DeepSeek V3/GLM-4.5 e_score_correction_bias
    # --- multi-head latent attention (DeepSeek V2/V3) -----------------------------------
    q_lora_rank: int = 0  # 0 = queries are not compressed (V2-Lite)
    kv_lora_rank: int = 0  # > 0 marks MLA: the cache holds this latent, not K and V
    qk_rope_head_dim: int = 0  # MLA: the rotary part of the K head (head_dim includes it)
    v_head_dim: int = 0  # MLA: the V head (DeepSeek: 128); 0 = head_dim
    # --- other ---------------------------------------------------------------------------
    qk_norm: bool = False  # per-head RMSNorm of q and k (Qwen3, Gemma 3, GLM-4.5)
    nextn_layers: int = 0  # GLM-4.5 multi-token-prediction blocks stored after the rest

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise FieldError("family", f"must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "vocab_size", "context_length"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise FieldError(name, f"must be a positive integer, got {value!r}")
            limit = MAX_LAYERS if name == "num_layers" else MAX_DIM
            if value > limit:
                raise FieldError(name, f"must be at most {limit:,}, got {value:,}")
        for name in ("num_experts", "num_experts_per_token", "expert_intermediate_size",
                     "num_shared_experts", "leading_dense_layers", "q_lora_rank", "kv_lora_rank",
                     "qk_rope_head_dim", "v_head_dim", "nextn_layers"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise FieldError(name, f"must be a non-negative integer, got {value!r}")
            if value > MAX_DIM:
                raise FieldError(name, f"must be at most {MAX_DIM:,}, got {value:,}")
        if not _is_int(self.moe_layer_step) or not 1 <= self.moe_layer_step <= MAX_LAYERS:
            raise FieldError("moe_layer_step", f"must be a positive integer, got {self.moe_layer_step!r}")
        for name in ("tie_word_embeddings", "attention_bias", "attention_out_bias",
                     "expert_score_bias", "qk_norm"):
            if not isinstance(getattr(self, name), bool):
                raise FieldError(name, f"must be true or false, got {getattr(self, name)!r}")
        theta = self.rope_theta
        if (isinstance(theta, bool) or not isinstance(theta, (int, float))
                or not math.isfinite(theta) or not 0 < theta <= MAX_ROPE_THETA):
            raise FieldError("rope_theta", f"must be a number above 0 and at most {MAX_ROPE_THETA:g}, "
                                           f"got {theta!r}")
        if self.num_heads % self.num_kv_heads:
            raise FieldError("num_kv_heads", "must divide num_heads (grouped-query attention)")
        if self.num_experts and not 1 <= self.num_experts_per_token <= self.num_experts:
            raise FieldError("num_experts_per_token", "must be between 1 and num_experts")
        if not self.num_experts and (self.num_experts_per_token or self.num_shared_experts):
            raise FieldError("num_experts_per_token", "must be 0 for a dense model")
        if self.leading_dense_layers > self.num_layers:
            raise FieldError("leading_dense_layers", "must be at most num_layers")
        if self.nextn_layers > 4:
            raise FieldError("nextn_layers", "must be at most 4")
        if self.kv_lora_rank:
            if not 1 <= self.qk_rope_head_dim < self.head_dim:
                raise FieldError("qk_rope_head_dim", "must be at least 1 and below head_dim (qk_nope + qk_rope)")
        elif self.q_lora_rank or self.qk_rope_head_dim:
            raise FieldError("kv_lora_rank", "is required for latent attention (q_lora_rank, qk_rope_head_dim)")
        if self.sliding_window is not None and (not _is_int(self.sliding_window) or self.sliding_window < 1
                                                or self.sliding_window > MAX_DIM):
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

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def expert_width(self) -> int:
        """The FFN width of one routed expert."""
        return self.expert_intermediate_size or self.intermediate_size

    @property
    def shared_expert_width(self) -> int:
        # DeepSeek/GLM: n_shared_experts experts of the routed width, fused into one FFN
        # (llama.cpp: n_ff_shexp = n_ff_exp · n_expert_shared); Llama 4: one of that width.
        return self.expert_width * self.num_shared_experts

    @property
    def has_qk_norm(self) -> bool:
        return self.qk_norm or self.family in ("gemma3", "qwen3", "qwen3_moe")

    def is_moe_layer(self, layer: int) -> bool:
        """Whether block `layer` has routed experts (llama.cpp: n_layer_dense_lead, n_moe_layer_step)."""
        return (self.is_moe and layer >= self.leading_dense_layers
                and (layer + 1) % self.moe_layer_step == 0)

    def uses_sliding_window(self, layer: int) -> bool:
        return bool(self.sliding_window_layers) and self.sliding_window_layers[layer]

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.num_layers))

    # --- tensors -------------------------------------------------------------------

    def tensors(self) -> list[TensorSpec]:
        """Every weight tensor as llama.cpp's converter names and shapes it."""
        T = gguf.MODEL_TENSOR
        h = self.hidden_size
        specs = [TensorSpec(_name(T.TOKEN_EMBD, "weight"), (h, self.vocab_size), None)]
        for i in range(self.num_layers):
            specs.extend(self._block_tensors(i))
        for i in range(self.num_layers, self.num_layers + self.nextn_layers):
            specs.extend(self._block_tensors(i))
            specs.extend(self._nextn_tensors(i))
        specs.append(TensorSpec(_name(T.OUTPUT_NORM, "weight"), (h,), None))
        if not self.tie_word_embeddings:
            specs.append(TensorSpec(_name(T.OUTPUT, "weight"), (h, self.vocab_size), None))
        return specs

    def _attention_tensors(self, i: int, spec) -> list[TensorSpec]:
        T = gguf.MODEL_TENSOR
        h = self.hidden_size
        if self.is_mla:
            # DeepSeek V2/V3 (llama.cpp deepseek2): queries through a low-rank a/b pair (or
            # one matrix without q_lora_rank), keys and values through one shared latent
            # (kv_a_mqa: kv_lora_rank + the rotary part of K); the converter splits HF's
            # kv_b_proj into per-head k_b and v_b so attention can run on the latent.
            nope = self.head_dim - self.qk_rope_head_dim
            out = [spec(T.ATTN_KV_A_NORM, (self.kv_lora_rank,))]
            if self.q_lora_rank:
                out += [spec(T.ATTN_Q_A_NORM, (self.q_lora_rank,)),
                        spec(T.ATTN_Q_A, (h, self.q_lora_rank)),
                        spec(T.ATTN_Q_B, (self.q_lora_rank, self.q_dim))]
            else:
                out.append(spec(T.ATTN_Q, (h, self.q_dim)))
            return out + [
                spec(T.ATTN_KV_A_MQA, (h, self.kv_lora_rank + self.qk_rope_head_dim)),
                spec(T.ATTN_K_B, (nope, self.kv_lora_rank, self.num_heads)),
                spec(T.ATTN_V_B, (self.kv_lora_rank, self.value_head_dim, self.num_heads)),
                spec(T.ATTN_OUT, (self.num_heads * self.value_head_dim, h)),
            ]
        if self.family == "phi3":
            # Phi-3/3.5/4 store q, k and v as one matrix (qkv_proj)
            out = [spec(T.ATTN_QKV, (h, self.q_dim + 2 * self.kv_dim))]
        else:
            out = [spec(T.ATTN_Q, (h, self.q_dim)), spec(T.ATTN_K, (h, self.kv_dim)),
                   spec(T.ATTN_V, (h, self.kv_dim))]
        out.append(spec(T.ATTN_OUT, (self.q_dim, h)))
        if self.attention_bias:
            out += [spec(T.ATTN_Q, (self.q_dim,), "bias"), spec(T.ATTN_K, (self.kv_dim,), "bias"),
                    spec(T.ATTN_V, (self.kv_dim,), "bias")]
        if self.attention_out_bias:
            out.append(spec(T.ATTN_OUT, (h,), "bias"))
        if self.has_qk_norm:
            # RMSNorm of each query and key head over head_dim
            out += [spec(T.ATTN_Q_NORM, (self.head_dim,)), spec(T.ATTN_K_NORM, (self.head_dim,))]
        if self.family == "gpt_oss":
            out.append(spec(T.ATTN_SINKS, (self.num_heads,)))  # one learned sink logit per head
        return out

    def _ffn_tensors(self, i: int, spec) -> list[TensorSpec]:
        T = gguf.MODEL_TENSOR
        h = self.hidden_size
        if not self.is_moe_layer(i) and not (self.is_moe and i >= self.num_layers):
            ff = self.intermediate_size
            if self.family == "phi3":  # gate and up fused into ffn_up (gate_up_proj)
                return [spec(T.FFN_UP, (h, 2 * ff)), spec(T.FFN_DOWN, (ff, h))]
            return [spec(T.FFN_GATE, (h, ff)), spec(T.FFN_UP, (h, ff)), spec(T.FFN_DOWN, (ff, h))]
        e, ff = self.num_experts, self.expert_width
        out = [spec(T.FFN_GATE_INP, (h, e))]  # the router
        if self.family == "gpt_oss":
            out.append(spec(T.FFN_GATE_INP, (e,), "bias"))
        if self.expert_score_bias:
            out.append(spec(T.FFN_EXP_PROBS_B, (e,), "bias"))
        out += [spec(T.FFN_GATE_EXP, (h, ff, e)), spec(T.FFN_UP_EXP, (h, ff, e)),
                spec(T.FFN_DOWN_EXP, (ff, h, e))]
        if self.family == "gpt_oss":
            out += [spec(T.FFN_GATE_EXP, (ff, e), "bias"), spec(T.FFN_UP_EXP, (ff, e), "bias"),
                    spec(T.FFN_DOWN_EXP, (h, e), "bias")]
        if self.num_shared_experts:
            sh = self.shared_expert_width
            out += [spec(T.FFN_GATE_SHEXP, (h, sh)), spec(T.FFN_UP_SHEXP, (h, sh)),
                    spec(T.FFN_DOWN_SHEXP, (sh, h))]
        return out

    def _block_tensors(self, i: int) -> list[TensorSpec]:
        T = gguf.MODEL_TENSOR
        h = self.hidden_size

        def spec(tensor, shape, suffix="weight"):
            return TensorSpec(_name(tensor, suffix, i), shape, i)

        out = [spec(T.ATTN_NORM, (h,))]
        out += self._attention_tensors(i, spec)
        if self.family in ("gemma2", "gemma3"):
            # Gemma 2/3 norm both before and after attention and the FFN ("sandwich" norms).
            out += [spec(T.ATTN_POST_NORM, (h,)), spec(T.FFN_POST_NORM, (h,)), spec(T.FFN_NORM, (h,))]
        elif self.family in ("gpt_oss", "glm4_moe"):
            # their norm before the FFN is HF's post_attention_layernorm → post_attention_norm
            out.append(spec(T.ATTN_POST_NORM, (h,)))
        else:
            out.append(spec(T.FFN_NORM, (h,)))
        out += self._ffn_tensors(i, spec)
        return out

    def _nextn_tensors(self, i: int) -> list[TensorSpec]:
        # GLM-4.5's multi-token-prediction block: a full MoE block plus these. The checkpoint
        # keeps its own copies of the embedding and the output head (model.layers.N.embed_tokens,
        # .shared_head.head), and the converter writes them (gguf tensor_mapping
        # NEXTN_EMBED_TOKENS / NEXTN_SHARED_HEAD_HEAD): 2 x vocab x hidden more weights, which
        # published GLM-4.5-Air sizes confirm to the MiB. llama.cpp loads the block and skips
        # it (src/models/glm4-moe.cpp: TENSOR_SKIP beyond n_layer).
        T = gguf.MODEL_TENSOR
        h = self.hidden_size
        return [TensorSpec(_name(T.NEXTN_EH_PROJ, "weight", i), (2 * h, h), i),
                TensorSpec(_name(T.NEXTN_EMBED_TOKENS, "weight", i), (h, self.vocab_size), i),
                TensorSpec(_name(T.NEXTN_ENORM, "weight", i), (h,), i),
                TensorSpec(_name(T.NEXTN_HNORM, "weight", i), (h,), i),
                TensorSpec(_name(T.NEXTN_SHARED_HEAD_HEAD, "weight", i), (h, self.vocab_size), i),
                TensorSpec(_name(T.NEXTN_SHARED_HEAD_NORM, "weight", i), (h,), i)]

    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors())

    def active_parameter_count(self) -> int:
        """Parameters used per token: of the routed experts only num_experts_per_token run.

        The multi-token-prediction block is not counted (it is not run for normal decoding).
        """
        total = 0
        for t in self.tensors():
            if t.role == "mtp" or (t.layer is not None and t.layer >= self.num_layers):
                continue
            if t.role == "expert":
                total += t.n_elements * self.num_experts_per_token // self.num_experts
            else:
                total += t.n_elements
        return total

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
        """Build from a Hugging Face config.json dict (see `_HFConfig`)."""
        return _HFConfig(config).architecture()


# --- reading config.json ------------------------------------------------------------------

# transformers' defaults for keys the official multimodal configs leave out of text_config
# (Gemma3TextConfig; google/gemma-3-4b-it's text_config has no num_attention_heads,
# num_key_value_heads, head_dim or vocab_size). Llama4TextConfig and MistralConfig defaults
# are never needed by the published configs, which state their sizes.
_TEXT_DEFAULTS = {
    "gemma3": {"vocab_size": 262208, "num_attention_heads": 8, "num_key_value_heads": 4,
               "head_dim": 256, "max_position_embeddings": 131072, "rope_theta": 1000000.0,
               "sliding_window": 4096, "sliding_window_pattern": 6},
}


class _HFConfig:
    """One config.json, read with every value's type checked before it is used."""

    def __init__(self, config):
        if not isinstance(config, dict):
            raise FieldError("config", "must be a JSON object")
        model_type = config.get("model_type")
        if not isinstance(model_type, str):
            raise FieldError("model_type", f"must be a string, got {model_type!r}")
        if model_type in _MULTIMODAL:
            text = config.get("text_config")
            if isinstance(text, dict):
                # the text model only; the vision tower is a separate file (mmproj) in llama.cpp
                config = dict(text)
                model_type = config.get("model_type") or _MULTIMODAL[model_type]
                if model_type == "gemma3":  # transformers 4.50 wrote the outer type here
                    model_type = "gemma3_text"
            elif model_type != "gemma3":  # a bare "gemma3" may be text-only
                raise FieldError("text_config", f"a {model_type} config needs its text_config object")
            else:
                model_type = "gemma3_text"
        family = _MODEL_TYPES.get(model_type) if isinstance(model_type, str) else None
        if family is None:
            raise FieldError("model_type", f"unsupported model type {model_type!r}; supported: "
                             f"{', '.join(sorted(set(_MODEL_TYPES) | set(_MULTIMODAL)))}")
        self.config = {**_TEXT_DEFAULTS.get(family, {}), **config}
        self.family = family

    @classmethod
    def section(cls, config: dict) -> "_HFConfig":
        """The typed getters over one part of a config (e.g. vision_config)."""
        reader = cls.__new__(cls)
        reader.config, reader.family = config, None
        return reader

    def has(self, key) -> bool:
        return self.config.get(key) is not None

    def int(self, key, default=None, *, minimum=0):
        value = self.config.get(key)
        if value is None:
            if default is None:
                raise FieldError(key, "missing from config")
            return default
        if not _is_int(value):
            raise FieldError(key, f"must be an integer, got {value!r}")
        if value < minimum:
            raise FieldError(key, f"must be at least {minimum}, got {value}")
        limit = MAX_LAYERS if key == "num_hidden_layers" else MAX_DIM
        if value > limit:
            raise FieldError(key, f"must be at most {limit:,}, got {value:,}")
        return value

    def bool(self, key, default: bool) -> bool:
        value = self.config.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise FieldError(key, f"must be true or false, got {value!r}")
        return value

    def rope_theta(self) -> float:
        key, value = "rope_theta", self.config.get("rope_theta")
        if value is None:  # transformers >= 5 nests it in rope_parameters
            rope = self.config.get("rope_parameters")
            if rope is not None and not isinstance(rope, dict):
                raise FieldError("rope_parameters", "must be an object")
            rope = rope or {}
            inner = rope.get("full_attention", rope)
            if not isinstance(inner, dict):
                raise FieldError("rope_parameters", "must be an object")
            key, value = "rope_parameters.rope_theta", inner.get("rope_theta", 10000.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(key, f"must be a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:
            raise FieldError(key, "is too large") from None
        if not math.isfinite(value) or not 0 < value <= MAX_ROPE_THETA:
            raise FieldError(key, f"must be a number above 0 and at most {MAX_ROPE_THETA:g}, got {value!r}")
        return value

    def window_layers(self, layers: int) -> tuple[int | None, tuple[bool, ...]]:
        c, family = self.config, self.family
        if family == "llama4":
            # chunked attention (llama.cpp LLAMA_SWA_TYPE_CHUNKED, set_swa_pattern(4)):
            # three layers attend within chunks of attention_chunk_size, every 4th globally
            chunk = self.int("attention_chunk_size", 0)
            if not chunk:
                return None, ()
            return chunk, tuple(i % 4 < 3 for i in range(layers))
        if family == "phi3":
            return None, ()  # llama.cpp disables Phi's sliding window (src/models/phi3.cpp)
        window = c.get("sliding_window")
        if window is not None and not _is_int(window):
            raise FieldError("sliding_window", f"must be an integer or null, got {window!r}")
        if family == "qwen2" or family in ("qwen3", "qwen3_moe"):
            # Qwen configs carry sliding_window even when use_sliding_window is false.
            if not self.bool("use_sliding_window", False) or not window:
                return None, ()
            first = self.int("max_window_layers", layers)  # layers from here on use it
            return window, tuple(i >= first for i in range(layers))
        if not window:
            return None, ()
        layer_types = c.get("layer_types")
        if layer_types is not None:
            if (not isinstance(layer_types, list) or len(layer_types) != layers
                    or not all(isinstance(t, str) for t in layer_types)):
                raise FieldError("layer_types", "must be a list of strings, one per layer")
            return window, tuple(t == "sliding_attention" for t in layer_types)
        if family == "gemma2" or family == "gpt_oss":
            return window, tuple(i % 2 == 0 for i in range(layers))  # local on even layers
        if family == "gemma3":
            pattern = self.int("sliding_window_pattern", 6, minimum=1)
            return window, tuple((i + 1) % pattern != 0 for i in range(layers))
        return window, (True,) * layers

    def architecture(self) -> Architecture:
        c, family = self.config, self.family
        hidden = self.int("hidden_size", minimum=1)
        heads = self.int("num_attention_heads", minimum=1)
        layers = self.int("num_hidden_layers", minimum=1)
        kv_heads = self.int("num_key_value_heads", heads, minimum=1)
        if self.has("mlp_bias") and self.bool("mlp_bias", False):
            raise FieldError("mlp_bias", "MLP biases are not supported")
        # Defaults of tie_word_embeddings differ per transformers config class.
        tie = self.bool("tie_word_embeddings", family in ("gemma2", "gemma3"))
        window, window_layers = self.window_layers(layers)
        if not any(window_layers):
            window, window_layers = None, ()
        kw = dict(family=family, hidden_size=hidden, num_layers=layers, num_heads=heads,
                  num_kv_heads=kv_heads, vocab_size=self.int("vocab_size", minimum=1),
                  context_length=self.int("max_position_embeddings", minimum=1),
                  tie_word_embeddings=tie, sliding_window=window,
                  sliding_window_layers=window_layers, rope_theta=self.rope_theta())
        kw.update(self._attention(family, hidden, heads))
        kw.update(self._ffn(family, layers))
        try:
            return Architecture(**kw)
        except FieldError as exc:
            # Name the config.json key the user wrote, not our field.
            raise FieldError(_HF_KEYS.get(exc.field, exc.field), exc.message) from None

    def _attention(self, family, hidden, heads) -> dict:
        kw = {}
        if family in ("deepseek2",):
            rope, nope = self.int("qk_rope_head_dim", minimum=1), self.int("qk_nope_head_dim", minimum=1)
            kw.update(head_dim=rope + nope, qk_rope_head_dim=rope,
                      kv_lora_rank=self.int("kv_lora_rank", minimum=1),
                      q_lora_rank=self.int("q_lora_rank", 0), v_head_dim=self.int("v_head_dim", minimum=1),
                      num_kv_heads=heads)
            return kw
        head_dim = self.int("head_dim", 0)
        if not head_dim:
            if hidden % heads:
                raise FieldError("head_dim", "missing and hidden_size is not divisible by num_attention_heads")
            head_dim = hidden // heads
        kw["head_dim"] = head_dim
        bias = self.bool("attention_bias", False)
        if family == "qwen2":
            kw.update(attention_bias=True)  # Qwen2 biases q/k/v only
        elif family == "gpt_oss":
            kw.update(attention_bias=True, attention_out_bias=True)
        elif family == "glm4_moe":
            # GLM-4.5: attention_bias covers q/k/v only; use_qk_norm adds per-head norms
            kw.update(attention_bias=bias, qk_norm=self.bool("use_qk_norm", False))
        elif family == "phi3":
            pass  # no biases
        else:
            # Llama's attention_bias also biases o_proj.
            kw.update(attention_bias=bias, attention_out_bias=bias)
        return kw

    def _ffn(self, family, layers) -> dict:
        ff = self.int("intermediate_size", minimum=1)
        if family == "mixtral":
            return dict(intermediate_size=ff, num_experts=self.int("num_local_experts", minimum=1),
                        num_experts_per_token=self.int("num_experts_per_tok", minimum=1))
        if family == "qwen3_moe":
            if self.config.get("mlp_only_layers"):
                raise FieldError("mlp_only_layers", "dense layers inside a Qwen3 MoE are not supported")
            if self.int("decoder_sparse_step", 1) != 1:
                raise FieldError("decoder_sparse_step", "only 1 (every layer MoE) is supported")
            # published configs say num_experts; transformers 5 writes num_local_experts
            experts = self.int("num_experts", 0) or self.int("num_local_experts", minimum=1)
            return dict(intermediate_size=ff, num_experts=experts,
                        num_experts_per_token=self.int("num_experts_per_tok", minimum=1),
                        expert_intermediate_size=self.int("moe_intermediate_size", minimum=1))
        if family == "gpt_oss":
            return dict(intermediate_size=ff, num_experts=self.int("num_local_experts", minimum=1),
                        num_experts_per_token=self.int("num_experts_per_tok", 0)
                        or self.int("experts_per_token", minimum=1))
        if family in ("deepseek2", "glm4_moe"):
            routed = self.int("n_routed_experts", minimum=1)
            topk = self.config.get("topk_method")
            score_bias = family == "glm4_moe" or topk == "noaux_tc"
            out = dict(intermediate_size=ff, num_experts=routed,
                       num_experts_per_token=self.int("num_experts_per_tok", minimum=1),
                       expert_intermediate_size=self.int("moe_intermediate_size", minimum=1),
                       num_shared_experts=self.int("n_shared_experts", 0),
                       leading_dense_layers=self.int("first_k_dense_replace", 0),
                       expert_score_bias=score_bias)
            step = self.int("moe_layer_freq", 1, minimum=1)
            if step != 1:
                raise FieldError("moe_layer_freq", "only 1 is supported")
            if family == "glm4_moe":
                out["nextn_layers"] = self.int("num_nextn_predict_layers", 0)
            return out
        if family == "llama4":
            # Llama4TextConfig: intermediate_size is one expert's width (and the shared
            # expert's); intermediate_size_mlp the dense layers' width.
            return dict(intermediate_size=self.int("intermediate_size_mlp", minimum=1),
                        expert_intermediate_size=ff,
                        num_experts=self.int("num_local_experts", minimum=1),
                        num_experts_per_token=self.int("num_experts_per_tok", minimum=1),
                        num_shared_experts=1,
                        moe_layer_step=self.int("interleave_moe_layer_step", 1, minimum=1))
        return dict(intermediate_size=ff)


# --- the vision projector (mmproj) ----------------------------------------------------------

# mmproj file types: llama.cpp's converter writes the vision tower as its own GGUF
# (convert_hf_to_gguf --mmproj), usually in F16; llama-quantize does not touch it.
MMPROJ_TYPES = {"F16": gguf.GGMLQuantizationType.F16, "BF16": gguf.GGMLQuantizationType.BF16,
                "F32": gguf.GGMLQuantizationType.F32}


@dataclass(frozen=True)
class VisionTower:
    """Gemma 3's image encoder (SigLIP) and projector, as llama.cpp's mmproj file holds them.

    From the official config.json's vision_config (siglip_vision_model) and the text width the
    projector maps to. convert_hf_to_gguf Gemma3VisionModel names the tensors (gguf
    MODEL_TENSOR.V_*) and picks their types: the patch and position embeddings ('.embeddings.')
    F32, the input projection F16, 1-D tensors F32, the rest the file's type.
    """

    hidden_size: int  # 1152
    intermediate_size: int  # 4304
    num_layers: int  # 27
    image_size: int  # 896
    patch_size: int  # 14
    text_hidden_size: int  # the projector's output: the language model's hidden size
    num_channels: int = 3

    @classmethod
    def from_hf_config(cls, config: dict, text_hidden_size: int) -> "VisionTower":
        vision = config.get("vision_config")
        if not isinstance(vision, dict):
            raise FieldError("vision_config", "must be an object")
        get = _HFConfig.section(vision)
        return cls(hidden_size=get.int("hidden_size", minimum=1),
                   intermediate_size=get.int("intermediate_size", minimum=1),
                   num_layers=get.int("num_hidden_layers", minimum=1),
                   image_size=get.int("image_size", minimum=1), patch_size=get.int("patch_size", minimum=1),
                   text_hidden_size=text_hidden_size, num_channels=get.int("num_channels", 3, minimum=1))

    def tensors(self) -> list[TensorSpec]:
        T = gguf.MODEL_TENSOR
        h, ff, p = self.hidden_size, self.intermediate_size, self.patch_size
        positions = (self.image_size // p) ** 2

        def v(tensor, shape, suffix="weight", layer=None):
            return TensorSpec(_name(tensor, suffix, layer), shape, layer)

        out = [v(T.V_ENC_EMBD_PATCH, (p, p, self.num_channels, h)), v(T.V_ENC_EMBD_PATCH, (h,), "bias"),
               v(T.V_ENC_EMBD_POS, (h, positions))]
        for i in range(self.num_layers):
            for tensor in (T.V_ENC_ATTN_Q, T.V_ENC_ATTN_K, T.V_ENC_ATTN_V, T.V_ENC_ATTN_O):
                out += [v(tensor, (h, h), layer=i), v(tensor, (h,), "bias", i)]
            for norm in (T.V_ENC_INPUT_NORM, T.V_ENC_POST_ATTN_NORM):
                out += [v(norm, (h,), layer=i), v(norm, (h,), "bias", i)]
            out += [v(T.V_ENC_FFN_UP, (h, ff), layer=i), v(T.V_ENC_FFN_UP, (ff,), "bias", i),
                    v(T.V_ENC_FFN_DOWN, (ff, h), layer=i), v(T.V_ENC_FFN_DOWN, (h,), "bias", i)]
        out += [v(T.V_POST_NORM, (h,)), v(T.V_POST_NORM, (h,), "bias"),
                v(T.V_MM_INP_PROJ, (h, self.text_hidden_size)), v(T.V_MM_SOFT_EMB_NORM, (h,))]
        return out

    def encoder_parameter_count(self) -> int:
        """The SigLIP encoder alone (what Gemma 3's report counts as the vision encoder)."""
        return sum(t.n_elements for t in self.tensors() if not t.name.startswith("mm."))

    def mmproj_bytes(self, file_type: str = "F16") -> int:
        """Tensor bytes of the mmproj file written with --outtype file_type."""
        if file_type not in MMPROJ_TYPES:
            raise FieldError("mmproj", f"must be one of {', '.join(MMPROJ_TYPES)}, got {file_type!r}")
        chosen = gguf.GGML_QUANT_SIZES[MMPROJ_TYPES[file_type]][1]
        total = 0
        for t in self.tensors():
            if len(t.shape) <= 1 or ".patch_embd." in t.name or ".position_embd." in t.name:
                size = 4  # F32: 1-D tensors and SigLIP's embeddings
            elif t.name.startswith("mm.input_projection") and file_type != "F32":
                size = 2  # forced F16
            else:
                size = chosen
            total += t.n_elements * size
        return total
