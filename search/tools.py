"""The site's tools as search documents, and what a question tells the memory calculator.

No Django imports. Each tool is described the way its page is: what it computes or shows,
in the words people use for it; search.indexing writes them as documents, so questions
such as "will a 70B model fit on two 3090s" find the calculator beside the entries.
`memory_prefill` reads the model, quant, GPU and context a question names, so the result
opens the calculator already filled in; `model_name_prefill` hands a quoted model name to
the name decoder.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from calculators.gpus import GPUS
from calculators.presets import all_presets
from calculators.quant_mix import MIXES


@dataclass(frozen=True)
class Tool:
    title: str
    url: str
    category: str
    aliases: tuple[str, ...]
    summary: str
    text: str


CALCULATOR, LIVE_DEMO = "Calculator", "Live demo"

TOOLS: dict[str, Tool] = {
    "memory": Tool(
        "Memory calculator: will it fit?", "/calculators/memory/", CALCULATOR,
        ("VRAM calculator", "GPU memory calculator", "will it fit"),
        "How much GPU memory (VRAM) and system RAM a model needs to run with llama.cpp, and "
        "whether it fits on your graphics card.",
        "Choose a model (Llama, Qwen, Mistral, Mixtral, Gemma), paste its config.json or open a "
        "GGUF file; pick a quantization such as Q4_K_M, Q5_K_M or Q8_0, the context length and "
        "a GPU (RTX 3060, 3090, 4090, 5090, A100, H100, Radeon, an Apple silicon Mac). The "
        "calculator adds up the weights tensor by tensor, the KV cache, the compute and output "
        "buffers, and shows how many layers fit on the GPU and what stays on the CPU when the "
        "model is too big for one card or is split over several GPUs, and how fast it will "
        "generate in tokens per second. It also sizes the memory to train or fine-tune a "
        "model: full fine-tuning, LoRA and QLoRA."),
    "bit-layout": Tool(
        "Bit layouts of number formats", "/calculators/bit-layout/", CALCULATOR,
        ("number format explorer", "floating point bits"),
        "What a number becomes in FP32, FP16, BF16, FP8, FP4, NF4 or an integer type: sign, "
        "exponent and mantissa bits, rounding and range.",
        "Type a value and see the bits each format stores, the value it rounds to and the error. "
        "Compare the range and precision of half precision, bfloat16, float8 (E4M3, E5M2), "
        "MXFP4 and 4-bit NormalFloat, and see how GGUF quantization blocks such as Q4_0, Q8_0 "
        "and the K-quants Q4_K and Q6_K pack weights with their scales."),
    "lora": Tool(
        "LoRA, DoRA and QLoRA calculator", "/calculators/lora/", CALCULATOR,
        ("adapter size calculator", "trainable parameters calculator"),
        "How many parameters a LoRA adapter trains for a rank and a set of target modules, how "
        "large the adapter file is, and the memory fine-tuning needs.",
        "Choose a model and the rank, alpha and target modules (q_proj, k_proj, v_proj, o_proj, "
        "the MLP projections or all linear layers) and see the trainable parameters as a share "
        "of the whole model, counted the way PEFT counts them, for LoRA, DoRA and QLoRA."),
    "model-name": Tool(
        "Model name decoder", "/calculators/model-name/", CALCULATOR,
        ("model name explainer",),
        "What each part of a model's repository or file name means: family and version, total "
        "and active parameters, instruct or base, format and quantization.",
        "Paste a Hugging Face repository or GGUF file name such as Qwen3-30B-A3B-Instruct or "
        "gemma-3-27b-it-Q4_K_M.gguf and see the parameter count (8x7B, A3B active experts), "
        "the variant (it, instruct, chat, base), the format (GGUF, EXL2, AWQ, MLX) and the "
        "quantization (Q4_K_M, bpw, 4bit), each linked to its glossary entry."),
    "sampling": Tool(
        "Sampler playground", "/calculators/sampling/", CALCULATOR,
        ("sampling settings playground", "sampler chain"),
        "What each sampling setting does to the next-token probabilities: temperature, top-k, "
        "top-p, min-p, typical sampling, repetition penalties, DRY, XTC and mirostat.",
        "Move the sliders and watch which tokens survive each step of llama.cpp's sampler chain "
        "and how often each is drawn; reorder the samplers, compare llama.cpp's order with "
        "Hugging Face transformers' (temperature first), on example distributions or live ones "
        "from a real model. See how a higher temperature makes the output more random and a "
        "cut-off makes it more focused."),
    "next-token": Tool(
        "Next-token explorer (live demo)", "/live/next-token/", LIVE_DEMO,
        ("next token probabilities",),
        "The probabilities a real model gives each candidate for the next token, with the "
        "entropy; pick one to append it and go on.",
        "A live language model running with llama.cpp shows its top candidates for the next "
        "token after your prompt, as logits turned into probabilities by softmax."),
    "generate": Tool(
        "Streaming generation (live demo)", "/live/generate/", LIVE_DEMO,
        ("text generation demo",),
        "A real model writing token by token as it streams, each token tinted by how likely the "
        "model found it, with every sampler setting and the speed in tokens per second.",
        "Set the temperature, top-k, top-p, min-p and the repetition penalties, a seed and a "
        "maximum length, and watch the text the model generates change; stop it at any time."),
    "json-mode": Tool(
        "JSON mode and grammars (live demo)", "/live/json-mode/", LIVE_DEMO,
        ("structured output demo", "constrained generation demo"),
        "Make a real model answer in valid JSON that follows a schema, or in any format a GBNF "
        "grammar describes, and check that the output parses.",
        "Constrained decoding removes every token that would break the grammar before sampling, "
        "so the output always matches the JSON schema or the grammar."),
    "tokenizer": Tool(
        "Tokenizer demo (live)", "/live/tokenizer/", LIVE_DEMO,
        ("token counter",),
        "Your text split into a real model's tokens: token ids, the bytes of each token, and how "
        "many tokens the text takes in the context window.",
        "See how words, numbers, code and other languages break into subword tokens with the "
        "model's vocabulary, and count tokens."),
    "perplexity": Tool(
        "Perplexity of a text (live demo)", "/live/perplexity/", LIVE_DEMO,
        ("perplexity calculator",),
        "How surprised a real model is by a text: its perplexity overall and the probability "
        "it gave each token.",
        "Paste a text to score it token by token with the negative log-likelihood and see which "
        "words the model expected and which surprised it."),
}


# --- what a question tells the memory calculator ---------------------------------------------

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|\d+x\d+)\s*([bm])(?![a-z])", re.I)
_CONTEXT = re.compile(r"(?<![\w.])(\d+)\s*k\b(?=[^.?!]*\b(?:context|ctx|tokens?)\b)", re.I)
# Names people use for a card: "3090", "rtx 4060 ti", "a100 40gb", "7900 xtx", "m2 mac 64gb".
_CARD_NAMES = re.compile(r"\b(RTX \d{4}(?: Ti)?|T4|L4|A10|L40S|A100|H100|RX \d{4} XTX)\b")


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.casefold())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.casefold())


def _model(text: str) -> str | None:
    squashed = _squash(text)
    named = [p for p in all_presets() if _squash(p.name) in squashed]
    if named:
        return max(named, key=lambda p: len(p.name)).slug
    sizes = {f"{number}{unit}".casefold() for number, unit in _SIZE.findall(text)}
    if not sizes:
        return None
    words = set(_words(text))
    sized = [p for p in all_presets() if _words(p.name)[-1] in sizes
             or (len(_words(p.name)) > 2 and _words(p.name)[-2] in sizes)]
    family = [p for p in sized if _words(p.name)[0].rstrip("0123456789.") in
              {w.rstrip("0123456789.") for w in words}]
    # A size alone ("a 70B model") means the usual model of that size: Llama's where there
    # is one. Presets are listed oldest first within a family: take the newest.
    chosen = family or [p for p in sized if p.slug.startswith("llama")] or sized
    return chosen[-1].slug if chosen else None


_COUNTS = {"two": 2, "dual": 2, "three": 3, "four": 4, "eight": 8}


def _gpu(text: str) -> tuple[str | None, int]:
    """The card a question names ("3090", "rtx 4060 ti", "a100 40gb", "m2 mac 64gb") and how
    many of them ("two 3090s", "2x 4090", "dual a100")."""
    lowered = text.casefold()
    memory = {int(n) for n in re.findall(r"(\d+)\s*gb", lowered)}
    if "mac" in _words(text) or "apple" in lowered or re.search(r"\bm[1-5]\b", lowered):
        macs = [g for g in GPUS if g.unified and g.memory_bytes // 1024**3 in memory]
        return (macs[0].slug if macs else None), 1
    found, count = None, 1
    for gpu in GPUS:
        if gpu.unified:
            continue
        card = _CARD_NAMES.search(gpu.name)
        if card is None:
            continue
        number = card.group(1).replace("RTX ", "").replace("RX ", "").casefold()
        named = re.search(rf"(?:(\d+|{'|'.join(_COUNTS)})\s*(?:x|×)?\s*)?(?:nvidia\s+|geforce\s+|rtx\s+|rx\s+)*"
                          rf"(?<![\w.]){re.escape(number)}(?:s|'s)?(?![\w.])", lowered)
        if named:
            size = gpu.memory_bytes // 1024**3
            if found is None or size in memory:
                found = gpu.slug
                if named.group(1):
                    count = int(_COUNTS.get(named.group(1), named.group(1)))
    return found, count


# "fits in 48gb", "a 24 GB graphics card", "16gb vram": a card's memory without its name.
_VRAM = re.compile(r"(\d+(?:\.\d+)?)\s*gb(?!\s*(?:of\s+)?(?:system\s+)?ram)\b", re.I)


def _quant(text: str) -> str | None:
    for word in re.findall(r"[a-z0-9]+(?:[_\-][a-z0-9]+)*", text.casefold()):
        name = word.upper().replace("-", "_")
        if name in MIXES:
            return name
        if name in {"Q8", "INT8"}:
            return "Q8_0"
        if name == "FP16":
            return "F16"
    return None


def memory_prefill(text: str) -> dict[str, str]:
    """The memory calculator's query parameters a question names: model, quant, the GPU
    (and how many) or a GPU memory size, and the context length."""
    return dict(_memory_prefill(text))


@lru_cache(maxsize=256)  # one search asks twice: does the tool answer, and its address
def _memory_prefill(text: str) -> tuple[tuple[str, str], ...]:
    gpu, count = _gpu(text)
    params = {"model": _model(text), "quant": _quant(text), "gpu": gpu}
    if gpu and count > 1:
        params["gpu_count"] = str(min(count, 16))
    if gpu is None and (size := _VRAM.search(text)):
        params["gpu"], params["vram_gb"] = "custom", size.group(1)
    if context := _CONTEXT.search(text):
        params["context_length"] = str(min(int(context.group(1)) * 1024, 8_388_608))
    return tuple((name, value) for name, value in params.items() if value)


# A name with its parts joined by hyphens, slashes or dots: Qwen3-30B-A3B, org/model-GGUF.
_MODEL_NAME = re.compile(r"(?<![\w/.-])(?=[\w./-]*\d)[\w.]+(?:[-/][\w.]+)+", re.I)


def model_name_prefill(text: str) -> dict[str, str]:
    """The model name a question quotes, for the model name decoder."""
    found = _MODEL_NAME.search(text)
    return {"name": found.group(0)} if found else {}


PREFILLS = {"memory": memory_prefill, "model-name": model_name_prefill}


def url_for(key: str, question: str) -> str:
    """The tool's address, filled in from the question where the tool takes input that way."""
    tool = TOOLS[key]
    if key in PREFILLS and (params := PREFILLS[key](question)):
        return f"{tool.url}?{urlencode(params)}"
    return tool.url
