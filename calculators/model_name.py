"""Reading a model's name: what each piece of a Hugging Face repository or file name says.

`gemma-3-27b-it-UD-Q4_K_XL.gguf` is family and version (Gemma 3), total parameters (27B),
training stage (it: instruction-tuned), the quantization (Unsloth Dynamic, Q4_K blocks,
their XL mix) and the format (GGUF). `decode(name)` cuts a name into such parts, says what
each means and which glossary entry explains it, and adds what the name does not say: the
published parameter count when the model is one of the calculator presets (Mixtral 8x7B
has 46.7B parameters, not 8 × 7 = 56B), the size behind a word such as Phi's "mini", and
the families whose every release is a reasoning model.

Pure Python with no Django imports; calculators/web/model_name.py parses input and renders.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .presets import Preset, all_presets
from .quant_mix import MIXES

MAX_NAME_LENGTH = 400
# The largest released models have about 2T parameters; 100T is no model's size.
MAX_PARAMETERS_B = 100_000
_ALLOWED = re.compile(r"[A-Za-z0-9._\-/:+@=&?%~ ]+")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


class NotAModelName(ValueError):
    """Input that is not a model name; `field` names the input at fault (HTTP 400)."""

    def __init__(self, message: str, field: str = "name"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Part:
    text: str  # the piece as the name writes it
    kind: str  # publisher family version size active experts variant label date context
    #            quant format shard extension unknown
    meaning: str
    entry: str | None = None  # slug of the glossary entry that explains it


@dataclass
class DecodedName:
    name: str
    publisher: str | None = None
    family: str | None = None
    parameters_b: float | None = None
    active_parameters_b: float | None = None
    # "official": published by the maker (a preset, or a family's named size), cited by
    # parameters_url; "name": the figure the name gives, which is rounded (Qwen2.5-7B: 7.62B).
    parameters_source: str | None = None
    parameters_url: str | None = None
    variant: str | None = None  # base, instruct, chat, reasoning
    format: str | None = None  # gguf, safetensors, mlx, exl2, exl3, gptq, awq, bitsandbytes, …
    # the quantization as the name spells it (q4_k_m stays q4_k_m): a bit width where the name
    # gives one (GPTQ-Int4 → Int4: `format` says GPTQ), else the method (AWQ, GPTQ); see quant_type
    quant: str | None = None
    shard: dict | None = None  # {"index": 1, "count": 3}
    preset: str | None = None  # the calculator preset this is (or is a quantization of)
    preset_name: str | None = None
    notes: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    @property
    def quant_type(self) -> str | None:
        """`quant` in one spelling, for comparing and for the calculator: llama.cpp's type names
        in capitals (q4_k_m → Q4_K_M, UD_Q4_K_XL → UD-Q4_K_XL), bitsandbytes as bnb-4bit,
        bit widths in lower case (4bit, 4.0bpw), the rest in capitals (Int4 → INT4, fp8 → FP8)."""
        if self.quant is None:
            return None
        if m := _GGUF_QUANT.fullmatch(self.quant):
            return ("UD-" if m.group("ud") else "") + m.group("q").upper()
        low = self.quant.lower()
        if m := re.search(r"bnb-[48]bit$", low):
            return m.group(0)
        if re.fullmatch(r"\d+(?:\.\d+)?(?:bpw|bit)", low):
            return low
        return self.quant.upper()

    def calculator_query(self) -> dict | None:
        """Query parameters that open the memory calculator on this model, or None.

        The calculator sizes llama.cpp's GGUF mixes. A GGUF quant it knows goes along;
        Unsloth's UD-…_XL mixes, which llama-quantize does not make, go as the nearest
        mix of the same block type (Q4_K_XL → Q4_K_M).
        """
        if self.preset is None:
            return None
        query = {"model": self.preset}
        if self.format == "gguf" and self.quant and (mix := calculator_mix(self.quant_type)):
            query["quant"] = mix
        return query


def calculator_mix(quant: str) -> str | None:
    """The memory calculator's mix for a GGUF quant name, or None."""
    plain = quant.upper().removeprefix("UD-")
    for candidate in (plain, plain.removesuffix("_XL") + "_M", plain.removesuffix("_XL")):
        if candidate in MIXES:
            return candidate
    return None


# --- what the pieces of names mean ----------------------------------------------------------

# Hugging Face accounts: the makers, and those who publish others' models converted or
# quantized. owner (lower case) → (display name, role)
PUBLISHERS = {
    "meta-llama": ("Meta", "maker"), "google": ("Google", "maker"), "qwen": ("Qwen (Alibaba)", "maker"),
    "microsoft": ("Microsoft", "maker"), "mistralai": ("Mistral AI", "maker"),
    "deepseek-ai": ("DeepSeek", "maker"), "openai": ("OpenAI", "maker"),
    "moonshotai": ("Moonshot AI", "maker"), "zai-org": ("Z.ai", "maker"), "thudm": ("Zhipu AI", "maker"),
    "ibm-granite": ("IBM", "maker"), "nvidia": ("NVIDIA", "maker"), "allenai": ("Ai2", "maker"),
    "huggingfacetb": ("Hugging Face", "maker"), "tiiuae": ("TII", "maker"), "01-ai": ("01.AI", "maker"),
    "cohereforai": ("Cohere", "maker"), "tinyllama": ("TinyLlama", "maker"),
    "unsloth": ("Unsloth", "quantizer"), "bartowski": ("bartowski", "quantizer"),
    "thebloke": ("TheBloke", "quantizer"), "mradermacher": ("mradermacher", "quantizer"),
    "lmstudio-community": ("LM Studio community", "quantizer"),
    "mlx-community": ("MLX community", "quantizer"), "turboderp": ("turboderp", "quantizer"),
    "lonestriker": ("LoneStriker", "quantizer"), "ggml-org": ("ggml-org", "quantizer"),
    "neuralmagic": ("Neural Magic", "quantizer"), "redhatai": ("Red Hat AI", "quantizer"),
    "hugging-quants": ("Hugging Quants", "quantizer"), "nm-testing": ("Neural Magic", "quantizer"),
}
_PUBLISHER_ENTRIES = {"unsloth": "unsloth", "mlx-community": "mlx", "lmstudio-community": "lm-studio",
                      "ggml-org": "llama-cpp", "turboderp": "exllamav2"}


@dataclass(frozen=True)
class Family:
    pattern: str  # how names write it, at the start of a piece
    name: str
    maker: str | None
    entry: str | None
    variant: str | None = None  # what every release of the family is, whatever the suffix


# Longest first where one name contains another (TinyLlama before Llama). A pattern with "-"
# spans pieces of the name (gpt-oss, command-r-plus), whatever separates them there.
FAMILIES = [
    Family(r"tinyllama", "TinyLlama", "the TinyLlama project", "llama-model-family"),
    Family(r"codellama", "Code Llama", "Meta", "llama-model-family"),
    Family(r"llama", "Llama", "Meta", "llama-model-family"),
    Family(r"(?:function|med|translate|code|recurrent|pali)?gemma", "Gemma", "Google", "gemma"),
    Family(r"qwq", "QwQ", "Qwen (Alibaba)", "qwen", "reasoning"),
    Family(r"qvq", "QVQ", "Qwen (Alibaba)", "qwen", "reasoning"),
    Family(r"qwen", "Qwen", "Qwen (Alibaba)", "qwen"),
    Family(r"mixtral", "Mixtral", "Mistral AI", "mixtral"),
    Family(r"magistral", "Magistral", "Mistral AI", "mistral", "reasoning"),
    Family(r"codestral|devstral|ministral|mistral|pixtral", "Mistral", "Mistral AI", "mistral"),
    Family(r"phi", "Phi", "Microsoft", "phi"),
    Family(r"deepseek", "DeepSeek", "DeepSeek", "deepseek"),
    Family(r"gpt-oss", "gpt-oss", "OpenAI", "gpt-oss", "reasoning"),
    Family(r"kimi", "Kimi", "Moonshot AI", None),
    Family(r"glm", "GLM", "Z.ai", None),
    Family(r"granite", "Granite", "IBM", None),
    Family(r"smollm", "SmolLM", "Hugging Face", None),
    Family(r"olmoe", "OLMoE", "Ai2", "mixture-of-experts"),
    Family(r"olmo", "OLMo", "Ai2", None),
    Family(r"nemotron", "Nemotron", "NVIDIA", None),
    # Cohere publishes Command R and R+ only instruction-tuned (no base model)
    Family(r"command-r-plus|command-r\+", "Command R+", "Cohere", None, "instruct"),
    Family(r"command-r", "Command R", "Cohere", None, "instruct"),
    Family(r"falcon", "Falcon", "TII", None),
    Family(r"yi", "Yi", "01.AI", None),
    Family(r"mamba", "Mamba", None, "mamba"),
    Family(r"rwkv", "RWKV", None, "rwkv"),
]
_FAMILY = re.compile(r"(?:" + "|".join(f.pattern for f in FAMILIES) + r")", re.I)
# the families whose names span several pieces, matched with the pieces joined by "-"
_SPANNING_FAMILY = re.compile("|".join(f.pattern for f in FAMILIES if "-" in f.pattern), re.I)

# Size words that stand for a published size: (family, version, word) → (billions, source).
SIZE_WORDS = {
    ("Phi", "3", "mini"): (3.8, "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct"),
    ("Phi", "3", "small"): (7.0, "https://huggingface.co/microsoft/Phi-3-small-8k-instruct"),
    ("Phi", "3", "medium"): (14.0, "https://huggingface.co/microsoft/Phi-3-medium-4k-instruct"),
    ("Phi", "3.5", "mini"): (3.8, "https://huggingface.co/microsoft/Phi-3.5-mini-instruct"),
    ("Phi", "4", "mini"): (3.8, "https://huggingface.co/microsoft/Phi-4-mini-instruct"),
}


@dataclass(frozen=True)
class PublishedCount:
    """The makers' parameter count of a model the memory calculator cannot model (an
    architecture it does not describe: hybrid Mamba-2, Gemma 4, Phi-3.5-MoE, Cohere's).
    The presets (calculators/presets.py) carry the counts of the models it can."""

    hf_repo: str  # the makers' repository; its name is matched like a preset's
    name: str
    official_parameter_count: int
    source_url: str  # the page that publishes the figures, then where on it
    official_active_parameter_count: int = 0  # mixture of experts: used per token
    effective_parameter_count: int = 0  # Gemma's E-sizes: used per token, without per-layer embeddings


_M = 1_000_000
PUBLISHED_COUNTS = [
    PublishedCount("google/gemma-4-E2B-it", "Gemma 4 E2B", 5_100 * _M,
                   "https://huggingface.co/google/gemma-4-E2B-it (model card: 2.3B effective, "
                   "5.1B with embeddings)", effective_parameter_count=2_300 * _M),
    PublishedCount("google/gemma-4-E4B-it", "Gemma 4 E4B", 8_000 * _M,
                   "https://huggingface.co/google/gemma-4-E4B-it (model card: 4.5B effective, "
                   "8B with embeddings)", effective_parameter_count=4_500 * _M),
    PublishedCount("google/gemma-4-26B-A4B-it", "Gemma 4 26B A4B", 25_200 * _M,
                   "https://huggingface.co/google/gemma-4-26B-A4B-it (model card: 25.2B total, "
                   "3.8B active)", official_active_parameter_count=3_800 * _M),
    PublishedCount("google/gemma-4-31B-it", "Gemma 4 31B", 30_700 * _M,
                   "https://huggingface.co/google/gemma-4-31B-it (model card: 30.7B parameters)"),
    PublishedCount("microsoft/Phi-3.5-MoE-instruct", "Phi-3.5 MoE", 41_900 * _M,
                   "https://arxiv.org/abs/2506.18349 (SlimMoE, Microsoft: Phi-3.5-MoE has 41.9B "
                   "total and 6.6B activated parameters)", official_active_parameter_count=6_600 * _M),
    PublishedCount("ibm-granite/granite-4.0-h-small", "Granite 4.0 H Small", 32_000 * _M,
                   "https://huggingface.co/ibm-granite/granite-4.0-h-small (model card: 32B total, "
                   "9B active)", official_active_parameter_count=9_000 * _M),
    PublishedCount("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "Nemotron 3 Nano 30B-A3B", 31_600 * _M,
                   "https://huggingface.co/nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 (model card: "
                   "31.6B total, 3.2B active, 3.6B with the embeddings)",
                   official_active_parameter_count=3_200 * _M),
    PublishedCount("CohereForAI/c4ai-command-r-plus-08-2024", "Command R+", 104_000 * _M,
                   "https://huggingface.co/CohereForAI/c4ai-command-r-plus-08-2024 (model card: "
                   "104B parameters, as the first release of April 2024)"),
]

VARIANTS = {
    "it": ("instruct", "instruction-tuned: trained further to follow instructions and chat "
                       "(Google's suffix)", "instruct-model"),
    "instruct": ("instruct", "instruction-tuned: trained to follow instructions and hold a "
                             "conversation through its chat template", "instruct-model"),
    "chat": ("chat", "the chat model: instruction-tuned for conversation", "instruct-model"),
    "pt": ("base", "pretrained: the base model before instruction tuning (Google's suffix)",
           "base-model"),
    "base": ("base", "the base model: pretrained only; it continues text rather than answers",
             "base-model"),
    "thinking": ("reasoning", "a reasoning model: it writes out its thinking before the answer",
                 "reasoning-model"),
    "reasoning": ("reasoning", "a reasoning model: it writes out its thinking before the answer",
                  "reasoning-model"),
    "think": ("reasoning", "a reasoning model: it writes out its thinking before the answer",
              "reasoning-model"),
    "r1": ("reasoning", "R1: DeepSeek's reasoning model, trained with reinforcement learning to "
                        "think before it answers", "reasoning-model"),
}

# Words that label a specialisation, a release or a community change.
LABELS = {
    "coder": ("trained further for programming", None),
    "code": ("trained further for programming", None),
    "math": ("trained further for mathematics", None),
    "vl": ("vision-language: takes images as well as text (llama.cpp loads the vision part "
           "from a separate mmproj file)", "multimodal-projector"),
    "vision": ("takes images as well as text (llama.cpp loads the vision part from a separate "
               "mmproj file)", "multimodal-projector"),
    "distill": ("distilled: a smaller model trained on the outputs of a larger one; the family "
                "after it is the student's", "knowledge-distillation"),
    "preview": ("a preview release", None),
    "abliterated": ("a community change that removes refusals; not the maker's release", None),
    "uncensored": ("a community fine-tune without the maker's refusals; not the maker's release",
                   None),
    "heretic": ("a community change that removes refusals; not the maker's release", None),
    "qat": ("quantization-aware training: the maker trained the model to survive 4-bit "
            "quantization, so this 4-bit file loses less than an ordinary one",
            "quantization-aware-training"),
    "moe": ("a mixture-of-experts model", "mixture-of-experts"),
    "lite": ("the smaller release of the family", None),
    "air": ("the smaller release of the family", None),
    "flash": ("the faster, smaller release of the family", None),
    "omni": ("takes audio and images as well as text", None),
    "hf": ("converted to the Hugging Face Transformers layout", "transformers-library"),
    "dynamic": ("activation scales computed on the fly for each batch", None),
    "kv": ("the KV cache is quantized as well", "kv-cache-quantization"),
    "sft": ("supervised fine-tuning", "supervised-fine-tuning"),
    "dpo": ("tuned with direct preference optimization", "dpo"),
    "mini": ("the family's “mini” size", "parameter-count"),
    "small": ("the family's “small” size", "parameter-count"),
    "medium": ("the family's “medium” size", "parameter-count"),
    "large": ("the family's “large” size", "parameter-count"),
    "nano": ("the family's smallest size", "parameter-count"),
    "nemo": ("Mistral NeMo, the 12B model Mistral AI made with NVIDIA", "mistral"),
    "h": ("hybrid: mostly Mamba-2 layers with a few attention layers (IBM Granite 4.0's H models)",
          "mamba"),
    "c4ai": ("Cohere For AI, Cohere's research lab, which released the weights", None),
    "scout": ("Llama 4's smaller mixture of experts", "llama-model-family"),
    "maverick": ("Llama 4's larger mixture of experts", "llama-model-family"),
}

# Labels that tell models apart (Qwen2.5-Coder-7B is not Qwen2.5-7B); the others (abliterated,
# qat, hf …) mark a copy of the same model, with the same parameters.
MODEL_LABELS = {"coder", "code", "math", "vl", "vision", "lite", "air", "flash", "omni", "mini",
                "small", "medium", "large", "nano", "nemo", "scout", "maverick", "moe"}

FORMATS = {
    "gguf": ("gguf", "GGUF: the single-file format of llama.cpp, Ollama and LM Studio", "gguf"),
    "ggml": ("ggml", "GGML: llama.cpp's format before GGUF (2023), no longer loaded", "ggml"),
    "safetensors": ("safetensors", "safetensors: the tensor file format of Hugging Face "
                                   "repositories", "safetensors"),
    "mlx": ("mlx", "MLX: Apple's array framework; the weights load with mlx-lm on Apple silicon",
            "mlx"),
    "exl2": ("exl2", "EXL2: ExLlamaV2's format, at a chosen average bits per weight", "exl2"),
    "exl3": ("exl3", "EXL3: ExLlamaV3's format, trellis-coded quantization at a chosen bits per "
                     "weight", "exllamav2"),
    "awq": ("awq", "AWQ: activation-aware 4-bit weight quantization, for vLLM and Transformers",
            "awq"),
    "gptq": ("gptq", "GPTQ: weights quantized layer by layer against calibration data", "gptq"),
    "onnx": ("onnx", "ONNX: the exchange format of ONNX Runtime", "onnx"),
}

EXTENSIONS = {
    ".gguf": ("gguf", "gguf"), ".safetensors": ("safetensors", "safetensors"),
    ".bin": ("pytorch", "pytorch-checkpoint"), ".pth": ("pytorch", "pytorch-checkpoint"),
    ".pt": ("pytorch", "pytorch-checkpoint"), ".onnx": ("onnx", "onnx"), ".ggml": ("ggml", "ggml"),
}

OTHER_QUANTS = {
    "int4": ("4-bit integer weights", "int4"),
    "int8": ("8-bit integer weights", "int8"),
    "w4a16": ("4-bit weights, 16-bit activations", "int4"),
    "w8a8": ("8-bit weights and activations", "int8"),
    "nvfp4": ("NVIDIA's 4-bit floating-point format, for Blackwell GPUs", "nvfp4"),
    "mxfp4": ("4-bit floats sharing one scale per 32 weights (OCP MX)", "mxfp4"),
    "fp8": ("8-bit floating-point weights, for GPUs with FP8 units (Ada, Hopper, Blackwell)", "fp8"),
    "fp4": ("4-bit floating-point weights", "fp4"),
    "bf16": ("unquantized bfloat16 weights", "bf16"),
    "fp16": ("unquantized 16-bit floating-point weights", "fp16"),
}

# GGUF types and mixes as llama.cpp names them, and Unsloth's _XL mixes.
_GGUF_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(?P<ud>UD[-_])?(?P<q>"
    r"IQ[1-4]_(?:XXS|XS|NL|S|M)|Q[2-8]_K(?:_(?:XXS|XS|XL|S|M|L))?|Q[4-8]_[01](?:_[48]_[48])?"
    r"|TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|F32)(?![A-Za-z0-9])", re.I)
_SHARD = re.compile(r"[-_.]?(\d{5})-of-(\d{5})", re.I)
_DATE = re.compile(r"(2[3-9])(0[1-9]|1[0-2])|(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")


def _gguf_entry(quant: str) -> str:
    q = quant.upper()
    direct = {"Q4_K_M": "q4-k-m", "Q4_K_S": "q4-k-s", "Q5_K_M": "q5-k-m", "Q3_K_L": "q3-k-l",
              "Q2_K": "q2-k", "Q3_K": "q3-k", "Q4_K": "q4-k", "Q5_K": "q5-k", "Q6_K": "q6-k",
              "Q8_0": "q8-0", "Q4_0": "q4-0", "Q4_1": "q4-1", "Q5_0": "q5-0", "Q5_1": "q5-1",
              "IQ4_XS": "iq4-xs", "IQ4_NL": "iq4-xs", "IQ2_XXS": "iq2-xxs", "BF16": "bf16",
              "F16": "fp16", "F32": "fp32", "MXFP4": "mxfp4", "MXFP4_MOE": "mxfp4"}
    if q in direct:
        return direct[q]
    if q.startswith("IQ"):
        return "i-quants"
    if q.startswith("TQ"):
        return "ternary-bitnet"
    return "k-quants" if "_K" in q else "legacy-quants"


def _gguf_meaning(quant: str, unsloth_dynamic: bool) -> str:
    q = quant.upper()
    if q in ("BF16", "F16", "F32"):
        return f"{q}: unquantized {q[-2:]}-bit floating-point weights"
    if q.startswith("MXFP4"):
        return (f"{q}: the experts in MXFP4 (4-bit floats sharing a scale per 32 weights), the "
                "other tensors at higher precision")
    if q.startswith("TQ"):
        return f"{q}: ternary weights (−1, 0, +1), for models trained that way"
    text = f"{q}: a llama.cpp quantization, about {re.search(r'[1-8]', q).group()} bits for most weights"
    if q.startswith("IQ"):
        text += "; an i-quant, made with an importance matrix"
    elif "_K" in q:
        size = {"S": "small", "M": "medium", "L": "large", "XL": "extra large"}.get(q.rsplit("_", 1)[-1])
        text += "; a K-quant" + (f" mix ({size}: how many tensors get a larger type)" if size else "")
    else:
        text += "; a legacy block quant (one scale per 32 weights)"
    if unsloth_dynamic:
        text = ("UD-" + text + ". UD is Unsloth Dynamic: their own choice of a type for each "
                "tensor of this model" + ("; XL is their mix, larger than llama-quantize's _L/_M"
                                          if q.endswith("_XL") else ""))
    return text


# --- reading a name ---------------------------------------------------------------------------

@dataclass
class _Reading:
    """What one name (a file name or a repository name) says, piece by piece."""

    parts: list[tuple[int, Part]] = field(default_factory=list)
    model_tokens: list[str] = field(default_factory=list)  # the pieces that name the model itself
    family: Family | None = None
    version: str = ""
    parameters_b: float | None = None
    active_b: float | None = None
    effective_b: float | None = None
    experts: tuple[int, float] | None = None  # 8x7B → (8, 7.0)
    size_word: tuple[float, str] | None = None
    variant: str | None = None
    format: str | None = None
    quant: str | None = None
    shard: dict | None = None
    distilled: bool = False
    stem: str = ""  # the name without extension, with shard and GGUF quant blanked out

    def add(self, position: int, part: Part) -> None:
        self.parts.append((position, part))

    def set_format(self, fmt: str, strong: bool = False) -> None:
        if self.format in (None, "safetensors", "pytorch") or strong:
            self.format = fmt


def _pieces(stem: str) -> list[tuple[int, str]]:
    """(position, text) for each piece between - _ spaces and dots that are not in numbers."""
    pieces, start = [], 0
    for m in re.finditer(r"[-_ ]+|(?<!\d)\.|\.(?!\d)", stem):
        if m.start() > start:
            pieces.append((start, stem[start:m.start()]))
        start = m.end()
    if start < len(stem):
        pieces.append((start, stem[start:]))
    return pieces


def _billions(number: str, unit: str) -> float:
    return round(float(number) * {"t": 1000.0, "b": 1.0, "m": 0.001}[unit.lower()], 6)


def read(name: str) -> _Reading:
    """Read one file or repository name (no owner, no path)."""
    reading = _Reading()
    stem = name
    for extension, (fmt, entry) in EXTENSIONS.items():
        if stem.lower().endswith(extension):
            stem = stem[: -len(extension)]
            reading.set_format(fmt, strong=True)
            reading.add(len(stem), Part(extension, "extension", f"a {fmt} file", entry))
            break
    if shard := _SHARD.search(stem):
        index, count = int(shard.group(1)), int(shard.group(2))
        if not 1 <= index <= count:
            raise NotAModelName(f"“{shard.group(0).strip('-_.')}” cannot be: the part number runs "
                                "from 1 to the number of parts.")
        reading.shard = {"index": index, "count": count}
        reading.add(shard.start(), Part(shard.group(0).strip("-_."), "shard",
                                        f"part {index} of {count} of a model split into several "
                                        "files; given the first, llama.cpp loads the others",
                                        "sharded-model-files"))
        stem = stem[: shard.start()] + " " * len(shard.group(0)) + stem[shard.end():]
    if quant := _GGUF_QUANT.search(stem):
        q, dynamic = quant.group("q"), bool(quant.group("ud"))
        reading.quant = quant.group(0)
        if q.upper() not in ("BF16", "F16", "F32"):
            reading.set_format("gguf")
        entry = "unsloth-dynamic-quants" if dynamic else _gguf_entry(q)
        reading.add(quant.start(), Part(quant.group(0), "quant", _gguf_meaning(q, dynamic), entry))
        stem = stem[: quant.start()] + " " * len(quant.group(0)) + stem[quant.end():]
    reading.stem = stem
    pieces = _pieces(stem)
    i = 0
    while i < len(pieces):
        used, part = _classify(reading, pieces, i)
        if part is None:
            part = Part(pieces[i][1], "unknown", "not something this reader knows")
        reading.add(pieces[i][0], part)
        if part.kind in ("family", "version", "size", "active", "experts") or (
                part.kind == "label" and part.text.lower() in MODEL_LABELS):
            reading.model_tokens.append(part.text)
        i += used
    reading.parts.sort(key=lambda pair: pair[0])
    return reading


def _spanning_family(reading: _Reading, pieces: list[tuple[int, str]], i: int) -> tuple[str, int] | None:
    """A family name written over several pieces from pieces[i] (gpt-oss, Command-R-Plus):
    (its text as the name writes it, the pieces it takes), or None."""
    for count in (3, 2):
        if i + count <= len(pieces) and _SPANNING_FAMILY.fullmatch(
                "-".join(text for _, text in pieces[i:i + count])):
            end = pieces[i + count - 1][0] + len(pieces[i + count - 1][1])
            return reading.stem[pieces[i][0]:end], count
    return None


def _replace_part(reading: _Reading, position: int, part: Part) -> None:
    reading.parts = [(at, part if at == position else old) for at, old in reading.parts]


def _classify(reading: _Reading, pieces: list[tuple[int, str]], i: int) -> tuple[int, Part | None]:
    """What pieces[i] (and perhaps the next) means: (pieces used, the part)."""
    text = pieces[i][1]
    low = text.lower()
    after = pieces[i + 1][1].lower() if i + 1 < len(pieces) else ""
    before = pieces[i - 1][1].lower() if i else ""

    # Sizes: 8B, 0.5B, 270m, 1T; 8x7B; A3B (active); 17B-16E (Llama 4); E4B (effective).
    if m := re.fullmatch(r"(\d+)x(\d+(?:\.\d+)?)([BMT])", text, re.I):
        experts, size = int(m.group(1)), _billions(m.group(2), m.group(3))
        reading.experts = (experts, size)
        return 1, Part(text, "experts", f"{experts} experts, each the size of a {m.group(2)}"
                       f"{m.group(3).upper()} model's feed-forward layers. They share attention "
                       f"and embeddings, so the total is less than {experts} × {m.group(2)} = "
                       f"{experts * size:g}B", "mixture-of-experts")
    if m := re.fullmatch(r"A(\d+(?:\.\d+)?)([BM])", text, re.I):
        reading.active_b = _billions(m.group(1), m.group(2))
        return 1, Part(text, "active", f"about {reading.active_b:g}B parameters active for each "
                       "token: a mixture of experts, whose router picks a few experts per token",
                       "active-parameters")
    if m := re.fullmatch(r"E(\d+(?:\.\d+)?)B", text, re.I):
        reading.effective_b = float(m.group(1))
        return 1, Part(text, "size", f"about {m.group(1)}B “effective” parameters, the ones used "
                       "for each token; the file holds more (per-layer embeddings that can stay in "
                       "system RAM)", "parameter-count")
    if m := re.fullmatch(r"(\d+)E", text, re.I):
        reading.experts = reading.experts or (int(m.group(1)), 0.0)
        return 1, Part(text, "experts", f"{m.group(1)} experts in each mixture-of-experts layer",
                       "mixture-of-experts")
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([BMT])", text, re.I):
        billions = _billions(m.group(1), m.group(2))
        if billions > MAX_PARAMETERS_B:
            raise NotAModelName(f"“{text}” is not a size a model has (the largest have about 2T "
                                "parameters).")
        if re.fullmatch(r"\d+e", after):  # Llama 4: 17B-16E, 17B active and 16 experts
            reading.active_b = billions
            return 1, Part(text, "active", f"{billions:g}B parameters active per token; the total "
                           "is not in the name", "active-parameters")
        if reading.parameters_b is None:
            reading.parameters_b = billions
            return 1, Part(text, "size", f"about {billions:g}B parameters in total", "parameter-count")
        if reading.active_b is None and billions < reading.parameters_b:
            reading.active_b = billions  # Qwen3-30B-3B-style second size
            return 1, Part(text, "active", f"about {billions:g}B parameters active per token",
                           "active-parameters")
        if reading.active_b is None and i and re.fullmatch(r"[\d.]+[BMT]", pieces[i - 1][1], re.I):
            # OLMoE-1B-7B: a smaller size right before a larger one is the active count
            reading.active_b, reading.parameters_b = reading.parameters_b, billions
            _replace_part(reading, pieces[i - 1][0], Part(
                pieces[i - 1][1], "active", f"about {reading.active_b:g}B parameters active per "
                "token: this maker writes the active size first", "active-parameters"))
            return 1, Part(text, "size", f"about {billions:g}B parameters in total", "parameter-count")
        return 1, Part(text, "size", f"a size of {billions:g}B", "parameter-count")
    if m := re.fullmatch(r"(\d+)k", text, re.I):
        return 1, Part(text, "context", f"a context length of {m.group(1)}K tokens", "context-length")

    # Quantizations spelled outside llama.cpp's names.
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)bpw", text, re.I):
        reading.quant = text
        all_pieces = {p.lower() for _, p in pieces}
        reading.set_format("exl3" if "exl3" in all_pieces else "exl2", strong=True)
        return 1, Part(text, "quant", f"{m.group(1)} bits per weight on average: ExLlama gives each "
                       "layer the type that keeps the error lowest within that budget",
                       "bits-per-weight")
    if m := re.fullmatch(r"h(\d)", low):
        return 1, Part(text, "quant", f"the output layer (the head) at {m.group(1)} bits", "exl2")
    if low == "bnb" and re.fullmatch(r"[48]bit", after):
        bits = after[0]
        reading.quant = reading.stem[pieces[i][0]:pieces[i + 1][0] + 4]
        reading.set_format("bitsandbytes", strong=True)
        return 2, Part(reading.quant, "quant", f"bitsandbytes {bits}-bit "
                       f"({'NF4' if bits == '4' else 'LLM.int8()'}), quantized as Transformers loads "
                       "the model; the usual start for QLoRA", "nf4" if bits == "4" else "llm-int8")
    if low == "unsloth" and after == "bnb" and i + 2 < len(pieces) and pieces[i + 2][1].lower() == "4bit":
        reading.quant = reading.stem[pieces[i][0]:pieces[i + 2][0] + 4]
        reading.set_format("bitsandbytes", strong=True)
        return 3, Part(reading.quant, "quant", "Unsloth's dynamic 4-bit: bitsandbytes NF4, except "
                       "the layers that suffer most from 4 bits, which stay in 16 bits",
                       "unsloth-dynamic-quants")
    if m := re.fullmatch(r"(\d)bit", low):
        reading.quant = reading.quant or text
        return 1, Part(text, "quant", f"{m.group(1)}-bit weights (in MLX: groups of 64 weights "
                       "sharing a 16-bit scale and bias)", "mlx")
    if re.fullmatch(r"q[2-8]", low):
        reading.quant = reading.quant or text
        return 1, Part(text, "quant", f"a {low[1]}-bit quantization; the name does not say which "
                       "llama.cpp type or mix", "quantization")
    if low in ("dwq", "dq"):
        return 1, Part(text, "quant", "distilled weight quantization (MLX): the quantized model was "
                       "tuned to match the full-precision one", "mlx")
    if low in OTHER_QUANTS:
        meaning, entry = OTHER_QUANTS[low]
        # a bit width (GPTQ-Int4, AWQ-INT4) says more than the method, which `format` names
        if reading.quant is None or reading.quant.lower() in ("awq", "gptq") \
                or low in ("fp8", "nvfp4", "mxfp4"):
            reading.quant = text
        return 1, Part(text, "quant", meaning, entry)
    if low == "i1":
        return 1, Part(text, "quant", "made with an importance matrix (mradermacher's i1 marks it), "
                       "which keeps the weights that matter most more precise", "importance-matrix")
    if low in FORMATS:
        fmt, meaning, entry = FORMATS[low]
        if fmt in ("awq", "gptq") and reading.quant is None:
            reading.quant = text
        reading.set_format(fmt, strong=fmt in ("exl2", "exl3", "mlx", "awq", "gptq"))
        return 1, Part(text, "format", meaning, entry)

    # Training stage and labels.
    if low in VARIANTS:
        variant, meaning, entry = VARIANTS[low]
        if reading.variant is None or variant == "reasoning":
            reading.variant = variant
        return 1, Part(text, "variant", meaning, entry)
    if low == "distill":
        reading.distilled = True
    if low in LABELS and not (reading.family and (reading.family.name, reading.version, low) in SIZE_WORDS):
        meaning, entry = LABELS[low]
        return 1, Part(text, "label", meaning, entry)
    if reading.family and (key := (reading.family.name, reading.version, low)) in SIZE_WORDS:
        size, url = SIZE_WORDS[key]
        reading.size_word = (size, url)
        return 1, Part(text, "size", f"{reading.family.name} {reading.version}'s “{text}” size: "
                       f"{size:g}B parameters", "parameter-count")

    # Versions and release dates.
    if m := re.fullmatch(r"v(\d+(?:\.\d+)*)", low):
        return 1, Part(text, "version", f"version {m.group(1)}")
    if reading.family and re.fullmatch(r"0[1-9]|1[0-2]", text) and re.fullmatch(r"20[2-9]\d", after):
        return 2, Part(reading.stem[pieces[i][0]:pieces[i + 1][0] + 4], "date",
                       f"the release of {_MONTHS[int(text) - 1]} {after}")
    if reading.family and (m := _DATE.fullmatch(text)):
        if m.group(1):
            return 1, Part(text, "date", f"the release of {_MONTHS[int(text[2:]) - 1]} 20{text[:2]}")
        return 1, Part(text, "date", f"the release of {_MONTHS[int(text[:2]) - 1]} {int(text[2:])}")
    if reading.family and re.fullmatch(r"\d+(?:\.\d+)*", text):
        if not reading.version:
            reading.version = text
        return 1, Part(text, "version", f"version {text} of {reading.family.name}")

    # Families, perhaps with a version glued on (Qwen2.5, Qwen3, gemma3).
    family_text, used = _spanning_family(reading, pieces, i) or (text, 1)
    if low == "meta" and after.startswith("llama"):
        return 1, Part(text, "label", "Meta, the maker of Llama", "llama-model-family")
    if i == 0 and PUBLISHERS.get(low, ("", None))[1] == "maker":
        return 1, Part(text, "label", f"{PUBLISHERS[low][0]}, the maker, whose account name the "
                       "uploader kept in the name", None)
    if m := _FAMILY.match(re.sub(r"[_ ]", "-", family_text)):
        family = next(f for f in FAMILIES if re.fullmatch(f.pattern, m.group(0), re.I))
        rest = family_text[m.end():]
        if rest and not re.fullmatch(r"\.?\d+(?:\.\d+)*", rest):
            return 1, Part(text, "label", f"a model of its own, built on {family.name}", family.entry)
        if reading.distilled or before == "distill":
            return used, Part(family_text, "label", f"the student is a {family.name} model (of the "
                              "size that follows)", family.entry)
        if reading.family is not None and reading.family is not family:
            # Llama-3.1-Nemotron-70B: NVIDIA's training of Llama 3.1 70B, the same architecture
            return used, Part(family_text, "label", f"{family.name}: "
                              + (f"{family.maker}'s " if family.maker else "a ")
                              + f"model built on {reading.family.name}", family.entry)
        if reading.family is None:
            reading.family = family
            reading.version = rest.lstrip(".")
            if family.variant and reading.variant is None:
                reading.variant = family.variant
        meaning = f"{family.name}, the model family" + (f" of {family.maker}" if family.maker else "")
        if rest:
            meaning += f", version {rest.lstrip('.')}"
        if family.variant == "reasoning":
            meaning += "; every release of it is a reasoning model"
        return used, Part(family_text, "family", meaning, family.entry)
    return 1, None


# --- from a pasted text to a decoded name -----------------------------------------------------

def split_input(text: str) -> tuple[str | None, str | None, str, str | None]:
    """A pasted name, repository, path or URL → (owner, repository, file or name, tag).

    Accepts "owner/repo", "owner/repo/file.gguf", Hugging Face URLs (…/resolve/main/…,
    …/blob/main/…, …/tree/main), "hf.co/owner/repo:Q4_K_M" (the form Ollama and llama.cpp's
    -hf take) and bare file or model names.
    """
    text = text.strip()
    if "://" in text:
        url = urlsplit(text)
        text = url.netloc + unquote(url.path)
    text = re.sub(r"^(?:www\.)?(?:huggingface\.co|hf\.co)/", "", text, flags=re.I)
    tag = None
    if ":" in text:
        text, tag = text.rsplit(":", 1)
    pieces = [p for p in text.split("/") if p]
    if len(pieces) > 3 and pieces[2] in ("resolve", "blob", "tree"):
        pieces = pieces[:2] + pieces[4:]  # owner/repo/resolve/main/file → owner/repo/file
    elif len(pieces) == 4 and pieces[2] == "tree":
        pieces = pieces[:2]
    if not pieces:
        return None, None, "", tag
    if len(pieces) == 1:
        return None, None, pieces[0], tag
    owner, repo = pieces[0], pieces[1]
    return owner, repo, pieces[-1] if len(pieces) > 2 else repo, tag


def decode(text: str) -> DecodedName:
    """Decode a model name; NotAModelName for input that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise NotAModelName("Paste a model name: a Hugging Face repository or a file name.")
    text = text.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise NotAModelName(f"A model name has at most {MAX_NAME_LENGTH} characters; this has {len(text)}.")
    if not _ALLOWED.fullmatch(text):
        bad = sorted({c for c in text if not _ALLOWED.fullmatch(c)})
        raise NotAModelName("Model names hold letters, digits and . _ - / : only, not "
                            + " ".join(repr(c) for c in bad[:5]) + ".")
    owner, repo, name, tag = split_input(text)
    if not name:
        raise NotAModelName("Paste a model name: a Hugging Face repository or a file name.")

    reading = read(name)
    if repo and repo != name:
        _fill_from_repository(reading, read(repo))
    decoded = DecodedName(name=text)
    if owner:
        decoded.parts.append(_owner_part(decoded, owner))
    decoded.parts += [part for _, part in reading.parts]
    if tag:
        _read_tag(reading, decoded, tag)
    for attribute in ("variant", "format", "quant", "shard"):
        setattr(decoded, attribute, getattr(reading, attribute))
    decoded.family = reading.family.name if reading.family else None
    decoded.parameters_b, decoded.active_parameters_b = reading.parameters_b, reading.active_b
    understood = any(p.kind in ("family", "size", "active", "experts", "quant", "format", "variant",
                                "extension") for p in decoded.parts)
    if not understood and not is_repository_id(owner, repo):
        raise NotAModelName(f"Nothing in “{text}” reads as a model name: no family, size, "
                            "variant, format or quantization.")
    if not understood:
        # owner/name is a repository whatever it holds: say what can be said
        decoded.notes.append("No family, size or format in this name that this decoder knows: "
                             "the repository's model card says what the model is.")
    _add_what_names_leave_out(decoded, reading, owner)
    return decoded


_REPOSITORY_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")


def is_repository_id(owner: str | None, repo: str | None) -> bool:
    """Whether owner/repo is a Hugging Face repository id: letters, digits and - _ . inside,
    neither starting nor ending with - or ., no "--" or "..", at most 96 characters each."""
    return all(part and _REPOSITORY_PART.fullmatch(part) and "--" not in part and ".." not in part
               for part in (owner, repo))


def _fill_from_repository(reading: _Reading, repository: _Reading) -> None:
    """A file in a repository: the repository's name adds what the file's leaves out
    (bartowski/…-GGUF says GGUF; turboderp/…-exl2 says EXL2)."""
    taken = set()
    if reading.format in (None, "safetensors") and repository.format:
        reading.format = repository.format
        taken.add("format")
    for attribute, kinds in (("quant", {"quant"}), ("variant", {"variant"})):
        if getattr(reading, attribute) is None and getattr(repository, attribute) is not None:
            setattr(reading, attribute, getattr(repository, attribute))
            taken |= kinds
    if not reading.model_tokens or reading.family is None and repository.family is not None:
        for attribute in ("family", "version", "parameters_b", "active_b", "effective_b",
                          "experts", "size_word"):
            setattr(reading, attribute, getattr(repository, attribute))
        reading.model_tokens = repository.model_tokens
        taken |= {"family", "version", "size", "active", "experts", "label"}
    reading.parts += [(10_000 + position, part) for position, part in repository.parts
                      if part.kind in taken]


def _owner_part(decoded: DecodedName, owner: str) -> Part:
    display, role = PUBLISHERS.get(owner.lower(), (owner, None))
    decoded.publisher = display
    if role == "maker":
        meaning = f"the repository of {display}, the model's maker"
    elif role == "quantizer":
        meaning = f"uploaded by {display}, who publishes other makers' models converted or quantized"
    else:
        meaning = "the Hugging Face account that published it"
    return Part(owner, "publisher", meaning, _PUBLISHER_ENTRIES.get(owner.lower(), "hugging-face"))


def _read_tag(reading: _Reading, decoded: DecodedName, tag: str) -> None:
    if m := _GGUF_QUANT.fullmatch(tag):
        q, dynamic = m.group("q"), bool(m.group("ud"))
        reading.quant = tag
        reading.set_format("gguf", strong=True)
        decoded.parts.append(Part(tag, "quant", _gguf_meaning(q, dynamic) + "; the :tag picks this "
                                  "file from the repository",
                                  "unsloth-dynamic-quants" if dynamic else _gguf_entry(q)))
    else:
        decoded.parts.append(Part(tag, "unknown", "a tag after the repository name"))


_IGNORED_IN_KEYS = {"instruct", "it", "chat", "base", "pt", "hf", "meta", "thinking", "preview",
                    "original", "distill"}


def model_key(tokens: list[str]) -> frozenset[str]:
    """The pieces that name a model, compared loosely: "Qwen2.5", "7B" → {"qwen", "2.5", "7b"}.

    Training-stage words and release dates are left out: an instruct model, a 2507 refresh
    and a quantization of a preset model all have the preset's architecture and count.
    """
    key = set()
    for token in tokens:
        low = token.lower()
        if low in _IGNORED_IN_KEYS or _DATE.fullmatch(low):
            continue
        if (m := re.fullmatch(r"([a-z]{2,}|[kr])[-.]?(\d+(?:\.\d+)*)", low)) and not \
                re.fullmatch(r"a\d.*|e\d.*", low):
            key.update(m.groups())
        else:
            key.add(low)
    return frozenset(key)


def _without_versions(key: frozenset[str]) -> frozenset[str]:
    return frozenset(k for k in key if not re.fullmatch(r"v\d+(?:\.\d+)*", k))


@functools.cache
def _known_by_key() -> tuple[dict, dict]:
    """The presets and PUBLISHED_COUNTS by their model key, and by the key without "v0.1"-style
    versions (where only one model has that key: Mixtral 8x7B has one release, Mistral 7B
    several)."""
    exact, unversioned = {}, {}
    for model in [*all_presets(), *PUBLISHED_COUNTS]:
        key = model_key(read(model.hf_repo.split("/")[1]).model_tokens)
        exact.setdefault(key, model)
        unversioned.setdefault(_without_versions(key), []).append(model)
    return exact, {key: models[0] for key, models in unversioned.items() if len(models) == 1}


def match_known_model(tokens: list[str]) -> Preset | PublishedCount | None:
    """The preset or published count whose repository name has these model tokens, however
    the name is decorated (Instruct or not, a date, an uploader's prefix, a quant suffix)."""
    if not tokens:
        return None
    exact, unversioned = _known_by_key()
    key = model_key(tokens)
    if key in exact:
        return exact[key]
    return unversioned.get(key) if key == _without_versions(key) else None


def _add_what_names_leave_out(decoded: DecodedName, reading: _Reading, owner: str | None) -> None:
    known = None if reading.distilled and not reading.family else match_known_model(reading.model_tokens)
    if known is not None:
        if isinstance(known, Preset):
            decoded.preset, decoded.preset_name = known.slug, known.name
        decoded.parameters_b = round(known.official_parameter_count / 1e9, 3)
        url, _, where = known.source_url.partition(" ")
        decoded.parameters_source, decoded.parameters_url = "official", url
        if known.official_active_parameter_count:
            decoded.active_parameters_b = round(known.official_active_parameter_count / 1e9, 3)
        decoded.notes.append(f"{known.name} has {decoded.parameters_b:g}B parameters as published"
                             + (f", {decoded.active_parameters_b:g}B of them active for each token"
                                if decoded.active_parameters_b else "")
                             + (f" {where}" if where else "") + ".")
        if getattr(known, "effective_parameter_count", 0):
            decoded.notes.append(f"{known.effective_parameter_count / 1e9:g}B of them are “effective”: "
                                 "used for each token; the rest are per-layer embeddings, which can "
                                 "stay in system RAM.")
        if not isinstance(known, Preset):
            decoded.notes.append("The memory calculator cannot model this architecture yet.")
        if reading.experts and reading.experts[1]:
            experts, size = reading.experts
            decoded.notes.append(f"Not {experts} × {size:g}B = {experts * size:g}B: the experts "
                                 "share attention, embeddings and norms; only the feed-forward "
                                 "layers are repeated.")
    elif reading.size_word:
        decoded.parameters_b, decoded.parameters_url = reading.size_word
        decoded.parameters_source = "official"
    elif reading.experts and reading.experts[1] and decoded.parameters_b is None:
        experts, size = reading.experts
        decoded.notes.append(f"{experts}x{size:g}B is not {experts * size:g}B parameters: the experts "
                             "share attention and embeddings. The total is on the model card.")
    elif reading.effective_b is not None and decoded.parameters_b is None:
        decoded.notes.append("An E-size counts the parameters used for each token; the file holds "
                             "more (per-layer embeddings), so it is larger than the size suggests.")
    elif decoded.parameters_b is not None:
        decoded.parameters_source = "name"
        decoded.notes.append(f"{decoded.parameters_b:g}B is the size the name gives, rounded; the "
                             "exact count is on the model card.")
    if decoded.active_parameters_b is not None and decoded.parameters_b is not None \
            and decoded.active_parameters_b >= decoded.parameters_b:
        raise NotAModelName("The name gives at least as many active parameters as parameters in all.")

    if decoded.format is None and owner:
        # A Hugging Face repository that names no other format holds safetensors.
        decoded.format = "mlx" if owner.lower() == "mlx-community" else "safetensors"
    if decoded.format == "mlx" and decoded.quant is None:
        decoded.notes.append("No bit width in the name: MLX community uploads without one are "
                             "usually 16-bit.")
    if decoded.format == "gguf" and decoded.quant is None:
        decoded.notes.append("A GGUF repository holds one file per quantization; the file name "
                             "says which.")
    if decoded.format == "pytorch":
        decoded.notes.append("A PyTorch pickle (.bin, .pt) can run code when it is loaded; prefer "
                             "safetensors.")
    if decoded.shard:
        decoded.notes.append(f"Part {decoded.shard['index']} of {decoded.shard['count']}: download "
                             "every part; the model's size is the sum of them.")
