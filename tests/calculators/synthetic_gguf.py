"""Write a GGUF file llama.cpp will load, from an `Architecture`: the real header (metadata
and tensor table, as llama.cpp's converter writes them for that architecture) and zero
weights (a sparse file, written instantly).

llama.cpp's loader checks every tensor's name and shape against its own list for the
architecture and refuses a file with a tensor missing, misshapen or left over; so a file
that loads is a check of `Architecture.tensors()` by llama.cpp itself, and its context
log is the reference for the KV cache.
"""

import gguf
import numpy as np

from calculators.architecture import GGUF_ARCH, Architecture, TensorSpec
from calculators.gguf_header import read_header

F16, F32 = gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32


def legacy_mla_tensors(arch: Architecture) -> list[TensorSpec]:
    """A DeepSeek tensor list as llama.cpp's converter wrote it before it split attn_kv_b.

    convert_hf_to_gguf then kept HF's kv_b_proj whole: one [kv_lora_rank,
    n_head·(qk_nope + v_head)] matrix per layer instead of the per-head attn_k_b / attn_v_b.
    """
    nope = arch.head_dim - arch.qk_rope_head_dim
    out = []
    for t in arch.tensors():
        if ".attn_k_b." in t.name:
            shape = (arch.kv_lora_rank, arch.num_heads * (nope + arch.value_head_dim))
            out.append(TensorSpec(t.name.replace("attn_k_b", "attn_kv_b"), shape, t.layer))
        elif ".attn_v_b." not in t.name:
            out.append(t)
    return out


def _metadata(w: gguf.GGUFWriter, arch: Architecture, name: str, legacy_mla: bool = False):
    a = arch
    w.add_context_length(a.context_length)
    w.add_embedding_length(a.hidden_size)
    w.add_block_count(a.num_layers + a.nextn_layers)
    w.add_feed_forward_length(a.intermediate_size)
    w.add_head_count(a.num_heads)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(float(a.rope_theta))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if a.is_mla and legacy_mla:
        # the converter before the split: full K and V heads, no key_length_mla
        w.add_head_count_kv(a.num_heads)
        w.add_key_length(a.head_dim)
        w.add_value_length(a.value_head_dim)
        w.add_kv_lora_rank(a.kv_lora_rank)
        if a.q_lora_rank:
            w.add_q_lora_rank(a.q_lora_rank)
        w.add_rope_dimension_count(a.qk_rope_head_dim)
    elif a.is_mla:
        # convert_hf_to_gguf DeepseekV2Model: the cache holds one latent "head"
        w.add_head_count_kv(1)
        w.add_key_length(a.kv_lora_rank + a.qk_rope_head_dim)
        w.add_value_length(a.kv_lora_rank)
        w.add_key_length_mla(a.head_dim)
        w.add_value_length_mla(a.value_head_dim)
        w.add_kv_lora_rank(a.kv_lora_rank)
        if a.q_lora_rank:
            w.add_q_lora_rank(a.q_lora_rank)
        w.add_rope_dimension_count(a.qk_rope_head_dim)
    else:
        w.add_head_count_kv(a.num_kv_heads)
        w.add_key_length(a.head_dim)
        w.add_value_length(a.head_dim)
        w.add_rope_dimension_count(a.head_dim)
    if a.is_moe:
        w.add_expert_count(a.num_experts)
        w.add_expert_used_count(a.num_experts_per_token)
        w.add_expert_feed_forward_length(a.expert_width)
    if a.num_shared_experts:
        w.add_expert_shared_count(a.num_shared_experts)
    if a.family in ("deepseek2", "glm4_moe"):
        w.add_leading_dense_block_count(a.leading_dense_layers)
        w.add_expert_weights_scale(1.0)
        w.add_expert_weights_norm(True)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    if a.nextn_layers:
        w.add_nextn_predict_layers(a.nextn_layers)
    if a.family == "llama4":
        w.add_interleave_moe_layer_step(a.moe_layer_step)
    if a.sliding_window and a.family != "llama4":
        w.add_sliding_window(a.sliding_window)
    if a.family == "gemma3" and a.sliding_window_layers:
        pass  # llama.cpp hard-codes Gemma 3's pattern (5 local, 1 global)


def add_tokenizer(w: gguf.GGUFWriter, n_vocab: int):
    """A SentencePiece-style vocabulary of n_vocab tokens (special, byte and filler tokens)."""
    w.add_tokenizer_model("llama")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"t{i}" for i in range(n_vocab - len(tokens))]
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259))


def write_gguf(path, arch: Architecture, name: str = "synthetic", legacy_mla: bool = False,
               matrix_type=gguf.GGMLQuantizationType.F16):
    """Write `arch` as an F16 GGUF (1-D tensors F32, like the converter; matrix_type BF16 for a
    BF16 file) and return its header.

    legacy_mla: a DeepSeek file as converted before attn_kv_b was split (legacy_mla_tensors).
    """
    w = gguf.GGUFWriter(str(path), GGUF_ARCH[arch.family])
    w.add_name(name)
    _metadata(w, arch, name, legacy_mla)
    add_tokenizer(w, arch.vocab_size)
    for t in (legacy_mla_tensors(arch) if legacy_mla else arch.tensors()):
        qtype = F32 if len(t.shape) == 1 else matrix_type
        nbytes = t.n_elements * (4 if qtype == F32 else 2)
        w.add_tensor_info(t.name, list(reversed(t.shape)),
                          np.dtype(np.float32 if qtype == F32 else np.float16), nbytes, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = read_header(path)
    with open(path, "r+b") as fh:
        fh.truncate(header.file_size)
    return header
