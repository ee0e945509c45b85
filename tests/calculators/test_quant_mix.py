"""llama.cpp's per-tensor quantization rules, checked against real files and published sizes."""

import gguf
import numpy as np
import pytest

from calculators.architecture import Architecture
from calculators.presets import get_preset
from calculators.quant_mix import (
    MIXES,
    ModelFacts,
    QuantMixError,
    assign_types,
    default_type,
    mix_name,
    parse_mix,
    tensor_nbytes,
)
from tests.calculators.test_gguf_header import bundled_reader

T = gguf.GGMLQuantizationType


def _bundled_facts(reader) -> ModelFacts:
    def field(key):
        return reader.fields[key].contents()

    return ModelFacts(field("general.architecture"), field("gemma3.block_count"),
                      field("gemma3.attention.head_count"), field("gemma3.attention.head_count_kv"))


def _bundled_tensors(reader):
    return [(t.name, [int(d) for d in t.shape]) for t in reader.tensors]


def test_every_tensor_type_of_the_bundled_q4_k_m_file_is_predicted():
    reader = bundled_reader()
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_K_M
    predicted = assign_types(_bundled_tensors(reader), "Q4_K_M", _bundled_facts(reader))
    mismatches = [(p.name, p.type.name, t.tensor_type.name)
                  for p, t in zip(predicted, reader.tensors) if p.type != t.tensor_type]
    assert mismatches == []
    # the mix really is mixed: five types in one "Q4_K_M" file
    assert {p.type for p in predicted} == {T.F32, T.Q4_K, T.Q5_0, T.Q6_K, T.Q8_0}


def test_predicted_weight_bytes_equal_the_readers_n_bytes_exactly():
    reader = bundled_reader()
    predicted = assign_types(_bundled_tensors(reader), "Q4_K_M", _bundled_facts(reader))
    for p, t in zip(predicted, reader.tensors):
        assert p.n_bytes == int(t.n_bytes), p.name
    assert sum(p.n_bytes for p in predicted) == sum(int(t.n_bytes) for t in reader.tensors)


def test_the_bundled_q4_k_m_file_stores_7_36_bits_per_weight():
    reader = bundled_reader()
    bits = 8 * sum(int(t.n_bytes) for t in reader.tensors) / sum(int(t.n_elements) for t in reader.tensors)
    assert bits == pytest.approx(7.36, abs=0.005)  # not 4.5: see the fallback test below
    predicted = assign_types(_bundled_tensors(reader), "Q4_K_M", _bundled_facts(reader))
    predicted_bits = 8 * sum(p.n_bytes for p in predicted) / sum(p.n_elements for p in predicted)
    assert predicted_bits == pytest.approx(bits, rel=1e-12)


def test_the_gemma_3_270m_preset_predicts_the_bundled_file_tensor_for_tensor():
    reader = bundled_reader()
    arch = get_preset("gemma-3-270m").architecture
    facts = ModelFacts("gemma3", arch.num_layers, arch.num_heads, arch.num_kv_heads)
    predicted = {p.name: p for p in assign_types(arch.tensors(), "Q4_K_M", facts)}
    assert set(predicted) == {t.name for t in reader.tensors}
    for t in reader.tensors:
        assert predicted[t.name].shape == tuple(int(d) for d in t.shape)
        assert predicted[t.name].type == t.tensor_type


def test_rows_not_divisible_by_256_fall_back_to_32_blocks():
    # llama-quant.cpp tensor_type_fallback; Gemma 3 270M's 640-wide rows are such a case.
    facts = ModelFacts("llama", 8, 8, 8)

    def one(mix, ne0, name="blk.0.ffn_up.weight"):
        (t,) = assign_types([(name, (ne0, 64))], mix, facts)
        return t.type, t.fallback

    assert one("Q4_K_S", 640) == (T.Q5_0, True)
    assert one("Q5_K_S", 640) == (T.Q5_1, True)
    assert one("Q6_K", 640) == (T.Q8_0, True)
    assert one("Q3_K_S", 640) == (T.Q4_0, True)
    assert one("IQ4_XS", 640) == (T.IQ4_NL, True)
    assert one("Q4_K_S", 512) == (T.Q4_K, False)
    assert one("Q4_K_S", 48) == (T.F16, True)  # not even a multiple of 32
    assert one("Q4_0", 48) == (T.F16, True)


def test_one_dimensional_tensors_and_norms_stay_f32():
    facts = ModelFacts("llama", 8, 8, 8)
    types = assign_types([("blk.0.attn_norm.weight", (4096,)), ("blk.0.attn_q.bias", (4096,)),
                          ("output_norm.weight", (4096,)), ("blk.0.ffn_gate_inp.weight", (4096, 8))],
                         "Q4_K_M", facts)
    assert [t.type for t in types] == [T.F32, T.F32, T.F32, T.F32]


def test_output_weight_gets_q6_k_even_in_a_q4_0_file():
    facts = ModelFacts("llama", 32, 32, 32)
    types = assign_types([("token_embd.weight", (4096, 32000)), ("output.weight", (4096, 32000))],
                         "Q4_0", facts)
    assert [t.type for t in types] == [T.Q4_0, T.Q6_K]
    # ...but Q8_0 stays Q8_0, and a falcon output is Q8_0 (llama_tensor_get_type_impl)
    assert assign_types([("output.weight", (4096, 32000))], "Q8_0", facts)[0].type == T.Q8_0
    falcon = ModelFacts("falcon", 32, 71, 1)
    assert assign_types([("output.weight", (4544, 65024))], "Q4_K_M", falcon)[0].type == T.Q8_0


def test_q4_k_m_gives_q6_k_to_attn_v_and_ffn_down_on_the_use_more_bits_layers():
    # use_more_bits: the first and last eighth of the layers and every third in between
    n = 32
    arch = Architecture("llama", 4096, 11008, n, 32, 32, 128, 32000, 4096, False)
    types = {t.name: t.type for t in assign_types(arch.tensors(), "Q4_K_M", ModelFacts("llama", n, 32, 32))}
    more = [i for i in range(n) if i < 4 or i >= 28 or (i - 4) % 3 == 2]
    assert [i for i in range(n) if types[f"blk.{i}.attn_v.weight"] == T.Q6_K] == more
    assert [i for i in range(n) if types[f"blk.{i}.ffn_down.weight"] == T.Q6_K] == more
    assert len(more) == 16  # "half of the attention.wv and feed_forward.w2 tensors"


def test_mixtral_rules_for_eight_experts():
    # llama_tensor_get_type_impl: n_expert == 8 → attn_v and attn_k Q8_0, attn_output Q5_K
    arch = get_preset("mixtral-8x7b-v0.1").architecture
    types = {t.name: t.type for t in assign_types(arch.tensors(), "Q4_K_M", ModelFacts("llama", 32, 32, 8, 8))}
    assert types["blk.7.attn_v.weight"] == types["blk.7.attn_k.weight"] == T.Q8_0
    assert types["blk.7.attn_output.weight"] == T.Q5_K
    assert types["blk.7.ffn_gate_inp.weight"] == T.F32  # the router is never quantized
    assert types["blk.0.ffn_down_exps.weight"] == T.Q6_K  # layer from the name, 3-D tensor


def test_tensor_nbytes_matches_what_gguf_quants_packs():
    # gguf.quants is llama.cpp's numpy reference implementation of the block formats; it
    # can pack the ones below (the K-quants' sizes are checked by the bundled file, whose
    # offsets llama.cpp's C code wrote: see test_gguf_header's file-size test).
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 512)).astype(np.float32)
    checked = 0
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K,
                  T.Q6_K, T.IQ4_NL, T.IQ4_XS, T.BF16, T.F16, T.F32, T.TQ1_0, T.TQ2_0, T.MXFP4):
        try:
            packed = gguf.quants.quantize(data, qtype)
        except NotImplementedError:
            continue
        assert tensor_nbytes(qtype, (512, 3)) == packed.nbytes, qtype.name
        checked += 1
    assert checked >= 10


def test_mix_names_parse_and_map_to_llama_cpp_file_types():
    assert parse_mix("q4_k_m") == gguf.LlamaFileType.MOSTLY_Q4_K_M == 15
    assert mix_name(15) == "Q4_K_M"
    assert default_type("Q4_K_M") == T.Q4_K
    assert default_type("IQ2_S") == T.IQ2_XS  # llama_ftype_get_default_type
    assert {"Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q2_K", "Q6_K",
            "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16", "F32", "IQ4_XS", "IQ4_NL"} <= set(MIXES)


def test_an_unknown_mix_is_an_error_naming_the_quant_field():
    with pytest.raises(QuantMixError) as info:
        assign_types([], "Q4_K_XL", ModelFacts("llama", 1, 1, 1))
    assert info.value.field == "quant"
    assert isinstance(info.value, ValueError)


# --- published file sizes ------------------------------------------------------------------
#
# Sizes are the "Files and versions" listings on huggingface.co, in GB (10^9 bytes) to three
# significant figures (so ±0.1 % of rounding). A file also holds its tokenizer and metadata:
# 1-9 MB here (Llama 3.1's 128k-token vocabulary and merges are the largest), ≤ 0.2 % of
# each file and inside the tolerance. The estimate counts tensor bytes only.
#
# Architectures come from each model's config.json (values restated below).

LLAMA_1_7B = dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                  max_position_embeddings=2048, tie_word_embeddings=False)  # huggyllama/llama-7b
LLAMA_2_13B = dict(model_type="llama", hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                   num_attention_heads=40, num_key_value_heads=40, vocab_size=32000,
                   max_position_embeddings=4096, tie_word_embeddings=False)  # meta-llama/Llama-2-13b-hf
MISTRAL_7B_V01 = dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                      max_position_embeddings=32768, sliding_window=4096,
                      tie_word_embeddings=False)  # mistralai/Mistral-7B-v0.1
LLAMA_31_8B = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                   num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                   max_position_embeddings=131072, tie_word_embeddings=False)  # meta-llama/Llama-3.1-8B-Instruct
LLAMA_31_70B = dict(model_type="llama", hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                    num_attention_heads=64, num_key_value_heads=8, vocab_size=128256,
                    max_position_embeddings=131072, tie_word_embeddings=False)  # meta-llama/Llama-3.1-70B-Instruct
MIXTRAL_8X7B = dict(model_type="mixtral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                    max_position_embeddings=32768, num_local_experts=8, num_experts_per_tok=2,
                    tie_word_embeddings=False)  # mistralai/Mixtral-8x7B-v0.1

PUBLISHED = [
    # https://huggingface.co/TheBloke/Llama-2-13B-GGUF/tree/c52ddf4cb436f6c33a7e1ae01eab03ee755a8e03
    # (made with llama.cpp commit bd33e5a)
    ("llama-2-13b.Q4_K_M.gguf", LLAMA_2_13B, "Q4_K_M", False, 7.87),
    ("llama-2-13b.Q4_0.gguf", LLAMA_2_13B, "Q4_0", False, 7.37),
    ("llama-2-13b.Q3_K_M.gguf", LLAMA_2_13B, "Q3_K_M", False, 6.34),
    ("llama-2-13b.Q5_0.gguf", LLAMA_2_13B, "Q5_0", False, 8.97),
    # https://huggingface.co/TheBloke/Mistral-7B-v0.1-GGUF/tree/d4ae605152c8de0d6570cf624c083fa57dd0d551
    ("mistral-7b-v0.1.Q4_K_M.gguf", MISTRAL_7B_V01, "Q4_K_M", False, 4.37),
    ("mistral-7b-v0.1.Q4_0.gguf", MISTRAL_7B_V01, "Q4_0", False, 4.11),
    # https://huggingface.co/mradermacher/Mistral-7B-v0.1-GGUF/tree/60a366c0b44dda37d791663030d0ea5f60ba994d
    ("Mistral-7B-v0.1.Q2_K.gguf", MISTRAL_7B_V01, "Q2_K", False, 2.72),
    ("Mistral-7B-v0.1.Q6_K.gguf", MISTRAL_7B_V01, "Q6_K", False, 5.94),
    ("Mistral-7B-v0.1.Q8_0.gguf", MISTRAL_7B_V01, "Q8_0", False, 7.7),
    # https://huggingface.co/RichardErkhov/huggyllama_-_llama-7b-gguf/tree/db7ea8a8be0fee3e478f12cf83ed184d985fd87e
    # (LLaMA 1 7B: the same shapes as Llama 2 7B)
    ("llama-7b.Q4_K_M.gguf", LLAMA_1_7B, "Q4_K_M", False, 4.08),
    ("llama-7b.Q5_K_M.gguf", LLAMA_1_7B, "Q5_K_M", False, 4.78),
    ("llama-7b.Q3_K_L.gguf", LLAMA_1_7B, "Q3_K_L", False, 3.6),
    ("llama-7b.IQ3_M.gguf", LLAMA_1_7B, "IQ3_M", False, 3.11),
    # https://huggingface.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/tree/256b6230d2324b6707e5136a0b29a6dadf5b52f1
    # (bartowski quantizes with an importance matrix)
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", LLAMA_31_8B, "Q4_K_M", True, 4.92),
    ("Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", LLAMA_31_8B, "Q8_0", True, 8.54),
    ("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", LLAMA_31_8B, "IQ4_XS", True, 4.45),
    ("Meta-Llama-3.1-8B-Instruct-bf16.gguf", LLAMA_31_8B, "BF16", True, 16.1),
    # https://huggingface.co/bartowski/Meta-Llama-3.1-70B-Instruct-GGUF/tree/8c7f39831765524486811c6b2df61903268cbd83
    # Q3_K_S exercises the 70B rule (attn_v Q3_K → Q5_K); without it the estimate is 0.6 % low.
    ("Meta-Llama-3.1-70B-Instruct-IQ4_XS.gguf", LLAMA_31_70B, "IQ4_XS", True, 37.9),
    ("Meta-Llama-3.1-70B-Instruct-Q3_K_S.gguf", LLAMA_31_70B, "Q3_K_S", True, 30.9),
    # .../tree/e7da3d3471d1c18ffc017524ad14efbfd8d59c02/Meta-Llama-3.1-70B-Instruct-Q8_0:
    # two split files, 39.8 GB + 35.2 GB
    ("Meta-Llama-3.1-70B-Instruct-Q8_0-0000[12]-of-00002.gguf", LLAMA_31_70B, "Q8_0", True, 75.0),
    # https://huggingface.co/mradermacher/Mixtral-8x7B-v0.1-GGUF/tree/main (5 months before capture)
    ("Mixtral-8x7B-v0.1.Q4_K_M.gguf", MIXTRAL_8X7B, "Q4_K_M", False, 28.4),
    ("Mixtral-8x7B-v0.1.Q3_K_M.gguf", MIXTRAL_8X7B, "Q3_K_M", False, 22.5),
]


@pytest.mark.parametrize("filename,config,mix,imatrix,published_gb", PUBLISHED,
                         ids=[row[0] for row in PUBLISHED])
def test_predicted_size_matches_the_published_file_within_1_5_percent(filename, config, mix, imatrix, published_gb):
    arch = Architecture.from_hf_config(config)
    gguf_arch = "llama"  # llama.cpp converts Llama, Mistral and Mixtral as "llama"
    facts = ModelFacts(gguf_arch, arch.num_layers, arch.num_heads, arch.num_kv_heads, arch.num_experts)
    predicted = sum(t.n_bytes for t in assign_types(arch.tensors(), mix, facts, imatrix=imatrix))
    assert predicted / 1e9 == pytest.approx(published_gb, rel=0.015)


def test_thebloke_q2_k_files_were_made_with_older_rules():
    # TheBloke's Mistral-7B-v0.1 Q2_K (3.08 GB, llama.cpp ac43576, 2023) predates the
    # current Q2_K rules (attn_v Q3_K/Q4_K by GQA, ffn_down Q3_K); a recent quantization of
    # the same model (mradermacher, above) is 2.72 GB, which the current rules reproduce.
    arch = Architecture.from_hf_config(MISTRAL_7B_V01)
    predicted = sum(t.n_bytes for t in assign_types(arch.tensors(), "Q2_K", ModelFacts("llama", 32, 32, 8)))
    assert predicted / 1e9 == pytest.approx(2.72, rel=0.015)
    assert predicted / 1e9 < 3.08 * 0.9
