"""Model presets: real architectures from each model's published config.json.

Each preset names the Hugging Face repository its numbers come from and carries the
parameter count that repository's page reports (the safetensors total).
`Architecture.parameter_count()` equals that count for every preset; the tests hold it
to that.

Multimodal checkpoints (Gemma 3 4B/12B/27B, Llama 3.2 Vision) are left out: their
published counts include a vision tower that these architectures do not describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import Architecture, FieldError


@dataclass(frozen=True)
class Preset:
    slug: str
    name: str
    hf_repo: str  # where config.json and the parameter count come from
    official_parameter_count: int  # safetensors total on the model's Hugging Face page
    architecture: Architecture

    def to_dict(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "hf_repo": self.hf_repo,
            "official_parameter_count": self.official_parameter_count,
            "architecture": self.architecture.to_dict(),
        }


def _llama(hidden, ffn, layers, heads, kv_heads, vocab, context, *, head_dim=128,
           tie=False, rope_theta=10000.0, family="llama", sliding_window=None,
           experts=0, experts_per_token=0) -> Architecture:
    return Architecture(
        family=family, hidden_size=hidden, intermediate_size=ffn, num_layers=layers,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, vocab_size=vocab,
        context_length=context, tie_word_embeddings=tie, rope_theta=rope_theta,
        num_experts=experts, num_experts_per_token=experts_per_token,
        sliding_window=sliding_window,
        sliding_window_layers=(True,) * layers if sliding_window else (),
    )


def _qwen2(hidden, ffn, layers, heads, kv_heads, vocab, context, *, tie) -> Architecture:
    # Qwen2.5 configs: head_dim = hidden/heads, rope_theta 1e6, q/k/v biases,
    # use_sliding_window false (so no layer uses the window despite the config field).
    return Architecture(
        family="qwen2", hidden_size=hidden, intermediate_size=ffn, num_layers=layers,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=hidden // heads, vocab_size=vocab,
        context_length=context, tie_word_embeddings=tie, attention_bias=True,
        rope_theta=1000000.0,
    )


def _gemma2(hidden, ffn, layers, heads, kv_heads, head_dim) -> Architecture:
    # Gemma 2 configs: vocab 256000, 8192 positions, window 4096 on even layers
    # (transformers Gemma2: layer_types alternate sliding/full starting with sliding).
    return Architecture(
        family="gemma2", hidden_size=hidden, intermediate_size=ffn, num_layers=layers,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, vocab_size=256000,
        context_length=8192, tie_word_embeddings=True, sliding_window=4096,
        sliding_window_layers=tuple(i % 2 == 0 for i in range(layers)),
    )


def _gemma3(hidden, ffn, layers, heads, kv_heads, window) -> Architecture:
    # Gemma 3 text configs: head_dim 256, vocab 262144, 32768 positions, rope_theta 1e6 on
    # global layers (10000 on local ones), sliding_window_pattern 6: five local layers then
    # one global.
    return Architecture(
        family="gemma3", hidden_size=hidden, intermediate_size=ffn, num_layers=layers,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=256, vocab_size=262144,
        context_length=32768, tie_word_embeddings=True, sliding_window=window,
        sliding_window_layers=tuple((i + 1) % 6 != 0 for i in range(layers)),
        rope_theta=1000000.0,
    )


_PRESETS = [
    # meta-llama/Llama-2-7b-hf
    Preset("llama-2-7b", "Llama 2 7B", "meta-llama/Llama-2-7b-hf", 6_738_415_616,
           _llama(4096, 11008, 32, 32, 32, 32000, 4096)),
    # meta-llama/Llama-2-13b-hf
    Preset("llama-2-13b", "Llama 2 13B", "meta-llama/Llama-2-13b-hf", 13_015_864_320,
           _llama(5120, 13824, 40, 40, 40, 32000, 4096)),
    # meta-llama/Llama-2-70b-hf (grouped-query attention, 8 KV heads)
    Preset("llama-2-70b", "Llama 2 70B", "meta-llama/Llama-2-70b-hf", 68_976_648_192,
           _llama(8192, 28672, 80, 64, 8, 32000, 4096)),
    # mistralai/Mistral-7B-v0.1: sliding-window attention (4096) on every layer
    Preset("mistral-7b-v0.1", "Mistral 7B v0.1", "mistralai/Mistral-7B-v0.1", 7_241_732_096,
           _llama(4096, 14336, 32, 32, 8, 32000, 32768, family="mistral", sliding_window=4096)),
    # mistralai/Mistral-7B-v0.3: vocabulary 32768, rope_theta 1e6, no sliding window
    Preset("mistral-7b-v0.3", "Mistral 7B v0.3", "mistralai/Mistral-7B-v0.3", 7_248_023_552,
           _llama(4096, 14336, 32, 32, 8, 32768, 32768, family="mistral", rope_theta=1000000.0)),
    # mistralai/Mixtral-8x7B-v0.1: 8 experts, 2 active per token, sliding_window null
    Preset("mixtral-8x7b-v0.1", "Mixtral 8x7B v0.1", "mistralai/Mixtral-8x7B-v0.1",
           46_702_792_704,
           _llama(4096, 14336, 32, 32, 8, 32000, 32768, family="mixtral", rope_theta=1000000.0,
                  experts=8, experts_per_token=2)),
    # meta-llama/Llama-3.1-8B
    Preset("llama-3.1-8b", "Llama 3.1 8B", "meta-llama/Llama-3.1-8B", 8_030_261_248,
           _llama(4096, 14336, 32, 32, 8, 128256, 131072, rope_theta=500000.0)),
    # meta-llama/Llama-3.1-70B
    Preset("llama-3.1-70b", "Llama 3.1 70B", "meta-llama/Llama-3.1-70B", 70_553_706_496,
           _llama(8192, 28672, 80, 64, 8, 128256, 131072, rope_theta=500000.0)),
    # meta-llama/Llama-3.2-1B (tied embeddings, head_dim 64)
    Preset("llama-3.2-1b", "Llama 3.2 1B", "meta-llama/Llama-3.2-1B", 1_235_814_400,
           _llama(2048, 8192, 16, 32, 8, 128256, 131072, head_dim=64, tie=True,
                  rope_theta=500000.0)),
    # meta-llama/Llama-3.2-3B (tied embeddings)
    Preset("llama-3.2-3b", "Llama 3.2 3B", "meta-llama/Llama-3.2-3B", 3_212_749_824,
           _llama(3072, 8192, 28, 24, 8, 128256, 131072, tie=True, rope_theta=500000.0)),
    # Qwen/Qwen2.5-0.5B
    Preset("qwen2.5-0.5b", "Qwen2.5 0.5B", "Qwen/Qwen2.5-0.5B", 494_032_768,
           _qwen2(896, 4864, 24, 14, 2, 151936, 32768, tie=True)),
    # Qwen/Qwen2.5-1.5B
    Preset("qwen2.5-1.5b", "Qwen2.5 1.5B", "Qwen/Qwen2.5-1.5B", 1_543_714_304,
           _qwen2(1536, 8960, 28, 12, 2, 151936, 131072, tie=True)),
    # Qwen/Qwen2.5-3B
    Preset("qwen2.5-3b", "Qwen2.5 3B", "Qwen/Qwen2.5-3B", 3_085_938_688,
           _qwen2(2048, 11008, 36, 16, 2, 151936, 32768, tie=True)),
    # Qwen/Qwen2.5-7B
    Preset("qwen2.5-7b", "Qwen2.5 7B", "Qwen/Qwen2.5-7B", 7_615_616_512,
           _qwen2(3584, 18944, 28, 28, 4, 152064, 131072, tie=False)),
    # Qwen/Qwen2.5-14B
    Preset("qwen2.5-14b", "Qwen2.5 14B", "Qwen/Qwen2.5-14B", 14_770_033_664,
           _qwen2(5120, 13824, 48, 40, 8, 152064, 131072, tie=False)),
    # Qwen/Qwen2.5-32B
    Preset("qwen2.5-32b", "Qwen2.5 32B", "Qwen/Qwen2.5-32B", 32_763_876_352,
           _qwen2(5120, 27648, 64, 40, 8, 152064, 131072, tie=False)),
    # google/gemma-2-2b
    Preset("gemma-2-2b", "Gemma 2 2B", "google/gemma-2-2b", 2_614_341_888,
           _gemma2(2304, 9216, 26, 8, 4, 256)),
    # google/gemma-2-9b
    Preset("gemma-2-9b", "Gemma 2 9B", "google/gemma-2-9b", 9_241_705_984,
           _gemma2(3584, 14336, 42, 16, 8, 256)),
    # google/gemma-2-27b (head_dim 128 here, not 256)
    Preset("gemma-2-27b", "Gemma 2 27B", "google/gemma-2-27b", 27_227_128_320,
           _gemma2(4608, 36864, 46, 32, 16, 128)),
    # google/gemma-3-270m (the bundled demo model is its Q4_K_M GGUF)
    Preset("gemma-3-270m", "Gemma 3 270M", "google/gemma-3-270m", 268_098_176,
           _gemma3(640, 2048, 18, 4, 1, 512)),
    # google/gemma-3-1b-pt (text-only; the larger Gemma 3 models are multimodal)
    Preset("gemma-3-1b", "Gemma 3 1B", "google/gemma-3-1b-pt", 999_885_952,
           _gemma3(1152, 6912, 26, 4, 1, 512)),
]

_BY_SLUG = {p.slug: p for p in _PRESETS}


def all_presets() -> list[Preset]:
    return list(_PRESETS)


def get_preset(slug: str) -> Preset:
    try:
        return _BY_SLUG[slug]
    except (KeyError, TypeError):
        raise FieldError("preset", f"unknown preset {slug!r}") from None
