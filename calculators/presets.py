"""Model presets: real architectures from each model's published config.json.

Each preset names the Hugging Face repository its config.json comes from and carries the
parameter count its makers published, with that figure's precision: the exact safetensors
total where the model page shows one, otherwise the rounded figure of the model card or
report (`count_rounding` is the half-width of that rounding, `count_source` where it is
published). The tests hold `Architecture.parameter_count()` to it.

Multimodal models (Gemma 3 4B–27B, Mistral Small 3.1, Llama 4) are described by their text
model: llama.cpp runs the vision tower from a separate projector file (mmproj). Where the
published total includes the vision tower, `vision_parameters` says how much of it does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .architecture import Architecture, FieldError, VisionTower


@dataclass(frozen=True)
class Preset:
    slug: str
    name: str
    hf_repo: str  # where config.json and the parameter count come from
    official_parameter_count: int  # as published (safetensors total, or the card's figure)
    architecture: Architecture
    count_rounding: int = 0  # the published figure is exact to ± this many parameters
    count_source: str = ""  # where the figure is published; default: the model page
    # the most the published figure holds besides the text model (a vision tower that llama.cpp
    # loads from a separate mmproj file); exact where the makers publish it (Gemma 3: 417M)
    vision_parameters: int = 0
    # the vision tower llama.cpp loads from the mmproj file, where we model it (Gemma 3)
    vision: VisionTower | None = None
    # mixture-of-experts models: the parameters used per token as the makers publish them
    # (rounded, and often without the embeddings), and where
    official_active_parameter_count: int = 0
    active_count_source: str = ""

    @property
    def source_url(self) -> str:
        return self.count_source or f"https://huggingface.co/{self.hf_repo}"

    def to_dict(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "hf_repo": self.hf_repo,
            "official_parameter_count": self.official_parameter_count,
            "count_rounding": self.count_rounding,
            "count_source": self.source_url,
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



def _hf(config: dict) -> Architecture:
    return Architecture.from_hf_config(config)


def _qwen3(hidden, ffn, layers, heads, tie):
    # Qwen3 dense configs: head_dim 128, 8 KV heads, vocab 151936, 40960 positions, rope 1e6
    return _hf(dict(model_type="qwen3", hidden_size=hidden, intermediate_size=ffn,
                    num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=8,
                    head_dim=128, vocab_size=151936, max_position_embeddings=40960,
                    tie_word_embeddings=tie, rope_theta=1000000.0))


def _qwen3_moe(hidden, moe_ffn, layers, heads, kv_heads, context=40960, rope_theta=1000000.0):
    return _hf(dict(model_type="qwen3_moe", hidden_size=hidden, intermediate_size=hidden * 3,
                    moe_intermediate_size=moe_ffn, num_hidden_layers=layers,
                    num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=128,
                    vocab_size=151936, max_position_embeddings=context, tie_word_embeddings=False,
                    num_experts=128, num_experts_per_tok=8, rope_theta=rope_theta))


def _gpt_oss(layers, experts):
    return _hf(dict(model_type="gpt_oss", hidden_size=2880, intermediate_size=2880,
                    num_hidden_layers=layers, num_attention_heads=64, num_key_value_heads=8,
                    head_dim=64, vocab_size=201088, max_position_embeddings=131072,
                    tie_word_embeddings=False, num_local_experts=experts, num_experts_per_tok=4,
                    sliding_window=128, rope_theta=150000.0))


def _phi3(hidden, ffn, layers, heads, kv_heads, vocab, context, tie=False):
    return _hf(dict(model_type="phi3", hidden_size=hidden, intermediate_size=ffn,
                    num_hidden_layers=layers, num_attention_heads=heads,
                    num_key_value_heads=kv_heads, vocab_size=vocab,
                    max_position_embeddings=context, tie_word_embeddings=tie))


def _deepseek(**kw):
    base = dict(model_type="deepseek_v3", hidden_size=7168, intermediate_size=18432,
                moe_intermediate_size=2048, num_hidden_layers=61, num_attention_heads=128,
                num_key_value_heads=128, q_lora_rank=1536, kv_lora_rank=512, qk_rope_head_dim=64,
                qk_nope_head_dim=128, v_head_dim=128, n_routed_experts=256, num_experts_per_tok=8,
                n_shared_experts=1, first_k_dense_replace=3, vocab_size=129280,
                max_position_embeddings=163840, tie_word_embeddings=False, topk_method="noaux_tc")
    return _hf({**base, **kw})


# google/gemma-3-{4b,12b,27b}-it config.json vision_config: the same SigLIP encoder in each
_GEMMA3_VISION = dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304,
                      num_hidden_layers=27, num_attention_heads=16, image_size=896, patch_size=14)


def _gemma3_config(**text) -> dict:
    # the official multimodal config.json: sizes the text_config leaves out take
    # transformers' Gemma3TextConfig defaults (8 heads, 4 KV heads, head_dim 256, vocab 262208)
    return dict(model_type="gemma3", vision_config=_GEMMA3_VISION,
                text_config=dict(model_type="gemma3_text", sliding_window=1024, **text))


def _gemma3_mm(**text):
    return _hf(_gemma3_config(**text))


def _gemma3_vision(**text) -> VisionTower:
    return VisionTower.from_hf_config(_gemma3_config(**text), text_hidden_size=text["hidden_size"])


def _llama4(experts, step):
    return _hf(dict(model_type="llama4", text_config=dict(
        model_type="llama4_text", hidden_size=5120, intermediate_size=8192,
        intermediate_size_mlp=16384, num_hidden_layers=48, num_attention_heads=40,
        num_key_value_heads=8, head_dim=128, num_local_experts=experts, num_experts_per_tok=1,
        interleave_moe_layer_step=step, vocab_size=202048, max_position_embeddings=1048576,
        attention_chunk_size=8192, rope_theta=500000.0, tie_word_embeddings=False)))


def _glm45(hidden, ffn, moe_ffn, layers, experts, dense, qk_norm):
    return _hf(dict(model_type="glm4_moe", hidden_size=hidden, intermediate_size=ffn,
                    moe_intermediate_size=moe_ffn, num_hidden_layers=layers,
                    num_attention_heads=96, num_key_value_heads=8, head_dim=128,
                    n_routed_experts=experts, num_experts_per_tok=8, n_shared_experts=1,
                    first_k_dense_replace=dense, attention_bias=True, use_qk_norm=qk_norm,
                    vocab_size=151552, max_position_embeddings=131072,
                    num_nextn_predict_layers=1, tie_word_embeddings=False))


def _mistral(hidden, ffn, layers, heads, vocab, context, rope_theta=1000000.0, **kw):
    return _hf(dict(model_type="mistral", hidden_size=hidden, intermediate_size=ffn,
                    num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=8,
                    head_dim=128, vocab_size=vocab, max_position_embeddings=context,
                    tie_word_embeddings=False, rope_theta=rope_theta, **kw))


B = 1_000_000_000
M = 1_000_000
_QWEN3_CARD = "https://huggingface.co/Qwen/{} (model card: Number of Parameters)"
_GEMMA3_REPORT = ("https://arxiv.org/abs/2503.19786 (Gemma 3 Technical Report, Table 1: "
                  "vision encoder 417M + embedding + non-embedding parameters)")
_GPT_OSS_CARD = "https://arxiv.org/abs/2508.10925 (gpt-oss-120b & gpt-oss-20b Model Card, Table 1)"

_PRESETS += [
    # --- Qwen3 (config.json of each repository; exact safetensors totals on the pages) --------
    Preset("qwen3-0.6b", "Qwen3 0.6B", "Qwen/Qwen3-0.6B", 600 * M, _qwen3(1024, 3072, 28, 16, True),
           count_rounding=50 * M, count_source=_QWEN3_CARD.format("Qwen3-0.6B")),
    Preset("qwen3-1.7b", "Qwen3 1.7B", "Qwen/Qwen3-1.7B", 1700 * M, _qwen3(2048, 6144, 28, 16, True),
           count_rounding=50 * M, count_source=_QWEN3_CARD.format("Qwen3-1.7B")),
    Preset("qwen3-4b", "Qwen3 4B", "Qwen/Qwen3-4B", 4_022_468_096, _qwen3(2560, 9728, 36, 32, True)),
    Preset("qwen3-8b", "Qwen3 8B", "Qwen/Qwen3-8B", 8_190_735_360, _qwen3(4096, 12288, 36, 32, False)),
    Preset("qwen3-14b", "Qwen3 14B", "Qwen/Qwen3-14B", 14_768_307_200, _qwen3(5120, 17408, 40, 40, False)),
    Preset("qwen3-32b", "Qwen3 32B", "Qwen/Qwen3-32B", 32_762_123_264, _qwen3(5120, 25600, 64, 64, False)),
    Preset("qwen3-30b-a3b", "Qwen3 30B-A3B (MoE)", "Qwen/Qwen3-30B-A3B", 30_532_122_624,
           _qwen3_moe(2048, 768, 48, 32, 4)),
    Preset("qwen3-235b-a22b", "Qwen3 235B-A22B (MoE)", "Qwen/Qwen3-235B-A22B", 235_093_634_560,
           _qwen3_moe(4096, 1536, 94, 64, 4)),
    # Qwen3-Coder-30B-A3B-Instruct: Qwen3-30B-A3B's shapes, 262,144 positions, rope_theta 1e7
    Preset("qwen3-coder-30b-a3b", "Qwen3 Coder 30B-A3B (MoE)", "Qwen/Qwen3-Coder-30B-A3B-Instruct",
           30_532_122_624, _qwen3_moe(2048, 768, 48, 32, 4, context=262144, rope_theta=10000000.0)),
    # --- Qwen2.5 and models built on it ----------------------------------------------------------
    Preset("qwen2.5-72b", "Qwen2.5 72B", "Qwen/Qwen2.5-72B", 72_706_203_648,
           _qwen2(8192, 29568, 80, 64, 8, 152064, 131072, tie=False)),
    Preset("qwen2.5-coder-32b", "Qwen2.5 Coder 32B", "Qwen/Qwen2.5-Coder-32B", 32_763_876_352,
           _qwen2(5120, 27648, 64, 40, 8, 152064, 32768, tie=False)),
    Preset("qwq-32b", "QwQ 32B", "Qwen/QwQ-32B", 32_763_876_352,
           _qwen2(5120, 27648, 64, 40, 8, 152064, 40960, tie=False)),
    Preset("deepseek-r1-distill-qwen-32b", "DeepSeek R1 Distill Qwen 32B",
           "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 32_763_876_352,
           _qwen2(5120, 27648, 64, 40, 8, 152064, 131072, tie=False)),
    Preset("deepseek-r1-distill-llama-8b", "DeepSeek R1 Distill Llama 8B",
           "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 8_030_261_248,
           _llama(4096, 14336, 32, 32, 8, 128256, 131072, rope_theta=500000.0)),
    # --- Llama 3.3 / 3.1 405B ---------------------------------------------------------------------
    Preset("llama-3.3-70b", "Llama 3.3 70B Instruct", "meta-llama/Llama-3.3-70B-Instruct",
           70_553_706_496, _llama(8192, 28672, 80, 64, 8, 128256, 131072, rope_theta=500000.0)),
    Preset("llama-3.1-405b", "Llama 3.1 405B", "meta-llama/Llama-3.1-405B", 405_853_388_800,
           _llama(16384, 53248, 126, 128, 8, 128256, 131072, rope_theta=500000.0)),
    # --- Gemma 3, multimodal: the text model; the report gives its parts to the million ---------
    Preset("gemma-3-4b", "Gemma 3 4B", "google/gemma-3-4b-it", 4_301 * M,
           _gemma3_mm(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34),
           count_rounding=6 * M, count_source=_GEMMA3_REPORT, vision_parameters=417 * M,
           vision=_gemma3_vision(hidden_size=2560)),
    Preset("gemma-3-12b", "Gemma 3 12B", "google/gemma-3-12b-it", 12_188 * M,
           _gemma3_mm(hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
                      num_attention_heads=16, num_key_value_heads=8),
           count_rounding=7 * M, count_source=_GEMMA3_REPORT, vision_parameters=417 * M,
           vision=_gemma3_vision(hidden_size=3840)),
    Preset("gemma-3-27b", "Gemma 3 27B", "google/gemma-3-27b-it", 27_433 * M,
           _gemma3_mm(hidden_size=5376, intermediate_size=21504, num_hidden_layers=62,
                      num_attention_heads=32, num_key_value_heads=16, head_dim=128),
           count_rounding=8 * M, count_source=_GEMMA3_REPORT, vision_parameters=417 * M,
           vision=_gemma3_vision(hidden_size=5376)),
    # --- gpt-oss: MXFP4 experts, attention sinks, a 128-token window on every other layer ------
    Preset("gpt-oss-20b", "gpt-oss 20B", "openai/gpt-oss-20b", 20_910 * M, _gpt_oss(24, 32),
           count_rounding=5 * M, count_source=_GPT_OSS_CARD),
    Preset("gpt-oss-120b", "gpt-oss 120B", "openai/gpt-oss-120b", 116_830 * M, _gpt_oss(36, 128),
           count_rounding=5 * M, count_source=_GPT_OSS_CARD),
    # --- Phi (model_type phi3: fused qkv and gate/up) ---------------------------------------------
    Preset("phi-3-mini-4k", "Phi-3 mini 4k", "microsoft/Phi-3-mini-4k-instruct", 3_821_079_552,
           _phi3(3072, 8192, 32, 32, 32, 32064, 4096)),
    Preset("phi-3.5-mini", "Phi-3.5 mini", "microsoft/Phi-3.5-mini-instruct", 3_821_079_552,
           _phi3(3072, 8192, 32, 32, 32, 32064, 131072)),
    Preset("phi-3-medium-4k", "Phi-3 medium 4k", "microsoft/Phi-3-medium-4k-instruct",
           13_960_238_080, _phi3(5120, 17920, 40, 40, 10, 32064, 4096)),
    Preset("phi-4", "Phi-4", "microsoft/phi-4", 14_659_507_200, _phi3(5120, 17920, 40, 40, 10, 100352, 16384)),
    Preset("phi-4-mini", "Phi-4 mini", "microsoft/Phi-4-mini-instruct", 3_836_021_760,
           _phi3(3072, 8192, 32, 24, 8, 200064, 131072, tie=True)),
    # --- DeepSeek (llama.cpp deepseek2: latent attention, shared experts, dense first layers) ---
    Preset("deepseek-v2-lite", "DeepSeek V2 Lite", "deepseek-ai/DeepSeek-V2-Lite", 15_700 * M,
           _deepseek(model_type="deepseek_v2", hidden_size=2048, intermediate_size=10944,
                     moe_intermediate_size=1408, num_hidden_layers=27, num_attention_heads=16,
                     num_key_value_heads=16, q_lora_rank=None, n_routed_experts=64,
                     num_experts_per_tok=6, n_shared_experts=2, first_k_dense_replace=1,
                     vocab_size=102400, topk_method="greedy"),
           count_rounding=50 * M, count_source="https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite "
                                               "(model card: 15.7B total parameters)"),
    Preset("deepseek-v2", "DeepSeek V2", "deepseek-ai/DeepSeek-V2", 236 * B,
           _deepseek(model_type="deepseek_v2", hidden_size=5120, intermediate_size=12288,
                     moe_intermediate_size=1536, num_hidden_layers=60, n_routed_experts=160,
                     num_experts_per_tok=6, n_shared_experts=2, first_k_dense_replace=1,
                     vocab_size=102400, topk_method="group_limited_greedy"),
           count_rounding=500 * M, count_source="https://huggingface.co/deepseek-ai/DeepSeek-V2 "
                                                "(model card: 236B total parameters)"),
    Preset("deepseek-v3", "DeepSeek V3", "deepseek-ai/DeepSeek-V3", 671 * B, _deepseek(),
           count_rounding=500 * M, count_source="https://arxiv.org/abs/2412.19437 (DeepSeek-V3 "
                                                "Technical Report: 671B total, without the 14B MTP module)"),
    Preset("deepseek-r1", "DeepSeek R1", "deepseek-ai/DeepSeek-R1", 671 * B, _deepseek(),
           count_rounding=500 * M, count_source="https://huggingface.co/deepseek-ai/DeepSeek-R1 "
                                                "(model card: 671B total parameters)"),
    Preset("kimi-k2", "Kimi K2", "moonshotai/Kimi-K2-Instruct", 1000 * B,
           _deepseek(model_type="kimi_k2", num_attention_heads=64, num_key_value_heads=64,
                     n_routed_experts=384, first_k_dense_replace=1, vocab_size=163840,
                     max_position_embeddings=131072),
           count_rounding=50 * B, count_source="https://huggingface.co/moonshotai/Kimi-K2-Instruct "
                                               "(model card: 1T total parameters)"),
    # --- Llama 4 (text model; the published totals include the vision encoder) ------------------
    Preset("llama-4-scout", "Llama 4 Scout 17B-16E", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
           109 * B, _llama4(16, 1), count_rounding=500 * M, vision_parameters=2 * B,
           count_source="https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct "
                        "(model card: 109B total, 17B active)"),
    Preset("llama-4-maverick", "Llama 4 Maverick 17B-128E",
           "meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400 * B, _llama4(128, 2),
           count_rounding=5 * B, vision_parameters=2 * B,
           count_source="https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct "
                        "(model card: 400B total, 17B active)"),
    # --- GLM-4.5 (the multi-token-prediction block is counted: llama.cpp stores it) -------------
    Preset("glm-4.5", "GLM-4.5", "zai-org/GLM-4.5", 355 * B, _glm45(5120, 12288, 1536, 92, 160, 3, True),
           count_rounding=5 * B, count_source="https://huggingface.co/zai-org/GLM-4.5 "
                                              "(model card: 355B total, 32B active)"),
    Preset("glm-4.5-air", "GLM-4.5 Air", "zai-org/GLM-4.5-Air", 106 * B,
           _glm45(4096, 10944, 1408, 46, 128, 1, False), count_rounding=5 * B,
           count_source="https://huggingface.co/zai-org/GLM-4.5-Air (model card: 106B total, 12B active)"),
    # --- Mistral --------------------------------------------------------------------------------
    Preset("mistral-nemo-12b", "Mistral Nemo 12B", "mistralai/Mistral-Nemo-Base-2407", 12_247_782_400,
           _mistral(5120, 14336, 40, 32, 131072, 1024000)),
    Preset("ministral-8b", "Ministral 8B", "mistralai/Ministral-8B-Instruct-2410", 8_019_808_256,
           _mistral(4096, 12288, 36, 32, 131072, 32768, rope_theta=100000000.0)),
    Preset("mistral-small-3.1-24b", "Mistral Small 3.1 24B", "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
           24 * B, _hf(dict(model_type="mistral3", text_config=dict(
               model_type="mistral", hidden_size=5120, intermediate_size=32768, num_hidden_layers=40,
               num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=131072,
               max_position_embeddings=131072, rope_theta=1000000000.0, tie_word_embeddings=False))),
           count_rounding=500 * M, vision_parameters=500 * M,
           count_source="https://huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503 "
                        "(model card: 24 billion parameters)"),
    Preset("codestral-22b", "Codestral 22B", "mistralai/Codestral-22B-v0.1", 22_247_282_688,
           _mistral(6144, 16384, 56, 48, 32768, 32768)),
    # mistralai/Mistral-Large-Instruct-2407: the card's "123B parameters", dense, 88 layers
    Preset("mistral-large-2407", "Mistral Large 2 (2407)", "mistralai/Mistral-Large-Instruct-2407",
           122_610_069_504, _mistral(12288, 28672, 88, 96, 32768, 131072)),
    # mistralai/Magistral-Small-2506: Mistral Small 3.1's text model trained to reason (no vision)
    Preset("magistral-small-2506", "Magistral Small (2506)", "mistralai/Magistral-Small-2506",
           23_572_403_200, _mistral(5120, 32768, 40, 32, 131072, 131072, rope_theta=1000000000.0)),
    Preset("mixtral-8x22b", "Mixtral 8x22B", "mistralai/Mixtral-8x22B-v0.1", 140_630_071_296,
           _llama(6144, 16384, 56, 48, 8, 32768, 65536, family="mixtral", rope_theta=1000000.0,
                  experts=8, experts_per_token=2)),
]

# Active parameters per token as published: (count, where).
_PUBLISHED_ACTIVE = {
    "mixtral-8x7b-v0.1": (12_900 * M, "https://mistral.ai/news/mixtral-of-experts "
                                      "(46.7B total, 12.9B used per token)"),
    "mixtral-8x22b": (39 * B, "https://mistral.ai/news/mixtral-8x22b (39B active of 141B)"),
    "qwen3-30b-a3b": (3_300 * M, _QWEN3_CARD.format("Qwen3-30B-A3B") + ": 3.3B activated"),
    "qwen3-235b-a22b": (22 * B, _QWEN3_CARD.format("Qwen3-235B-A22B") + ": 22B activated"),
    "qwen3-coder-30b-a3b": (3_300 * M, _QWEN3_CARD.format("Qwen3-Coder-30B-A3B-Instruct")
                            + ": 3.3B activated"),
    "gpt-oss-20b": (3_610 * M, _GPT_OSS_CARD + ": 3.61B active"),
    "gpt-oss-120b": (5_130 * M, _GPT_OSS_CARD + ": 5.13B active"),
    "deepseek-v2-lite": (2_400 * M, "https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite "
                                    "(model card: 2.4B activated)"),
    "deepseek-v2": (21 * B, "https://huggingface.co/deepseek-ai/DeepSeek-V2 (model card: 21B activated)"),
    "deepseek-v3": (37 * B, "https://arxiv.org/abs/2412.19437 (37B activated per token)"),
    "deepseek-r1": (37 * B, "https://huggingface.co/deepseek-ai/DeepSeek-R1 (model card: 37B activated)"),
    "kimi-k2": (32 * B, "https://huggingface.co/moonshotai/Kimi-K2-Instruct (model card: 32B activated)"),
    "llama-4-scout": (17 * B, "https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct "
                              "(model card: 17B active)"),
    "llama-4-maverick": (17 * B, "https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct "
                                 "(model card: 17B active)"),
    "glm-4.5": (32 * B, "https://huggingface.co/zai-org/GLM-4.5 (model card: 32B active)"),
    "glm-4.5-air": (12 * B, "https://huggingface.co/zai-org/GLM-4.5-Air (model card: 12B active)"),
}
_PRESETS = [replace(p, official_active_parameter_count=_PUBLISHED_ACTIVE[p.slug][0],
                    active_count_source=_PUBLISHED_ACTIVE[p.slug][1])
            if p.slug in _PUBLISHED_ACTIVE else p for p in _PRESETS]

_BY_SLUG = {p.slug: p for p in _PRESETS}


def all_presets() -> list[Preset]:
    return list(_PRESETS)


def get_preset(slug: str) -> Preset:
    try:
        return _BY_SLUG[slug]
    except (KeyError, TypeError):
        raise FieldError("preset", f"unknown preset {slug!r}") from None
