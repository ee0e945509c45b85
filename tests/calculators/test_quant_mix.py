"""llama.cpp's per-tensor quantization rules, checked against real files and published sizes."""

import pathlib

import gguf
import numpy as np
import pytest
import yaml

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
from tests.calculators.synthetic_gguf import legacy_mla_tensors
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
# tests/calculators/published_sizes.yaml: file sizes as their pages publish them, with the URL
# of each table. The prediction counts tensor bytes only; a file adds its tokenizer and
# metadata (1–16 MB for these vocabularies), so a row passes when the published size is
# within its rounding plus that allowance plus 0.1 % (split files add a header per part).
# A size from llama.cpp's loader log is tensor bytes already: only its rounding is allowed.

PUBLISHED_SIZES = pathlib.Path(__file__).with_name("published_sizes.yaml")
METADATA_BYTES = 16_000_000
UNITS = {"gb": 10**9, "gib": 2**30, "bytes": 1}


def _published_rows():
    rows = []
    for group in yaml.safe_load(PUBLISHED_SIZES.read_text()):
        arch = (get_preset(group["model"]).architecture if "model" in group
                else Architecture.from_hf_config(group["config"]))
        for row in group["files"]:
            (unit,) = [u for u in UNITS if u in row]
            key = f"rounding_{unit}"
            rows.append(dict(row, url=group["url"], arch=arch, imatrix=group["imatrix"],
                             published=row[unit] * UNITS[unit], shown=f"{row[unit]} {unit}",
                             rounding=row.get(key, group[key]) * UNITS[unit],
                             tensor_bytes=group.get("tensor_bytes", False),
                             layout=group.get("layout")))
    return rows


def predicted_file_bytes(arch: Architecture, mix: str, imatrix: bool, layout: str | None = None) -> int:
    from calculators.architecture import GGUF_ARCH

    kv_heads = 1 if arch.is_mla else arch.num_kv_heads
    facts = ModelFacts(GGUF_ARCH[arch.family], arch.num_layers + arch.nextn_layers, arch.num_heads,
                       kv_heads, arch.num_experts)
    tensors = legacy_mla_tensors(arch) if layout == "attn_kv_b" else arch.tensors()
    return sum(t.n_bytes for t in assign_types(tensors, mix, facts, imatrix=imatrix))


ROWS = _published_rows()


def _predicted(row) -> int:
    return predicted_file_bytes(row["arch"], row["quant"], row["imatrix"], row["layout"])


def test_the_reference_table_covers_many_files_and_architectures():
    assert len(ROWS) >= 60
    assert len({row["arch"].family for row in ROWS if "older_rules" not in row}) >= 12
    assert all(row["url"].startswith("https://") for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_predicted_size_matches_the_published_file(row):
    predicted = _predicted(row)
    published = row["published"]
    if "older_rules" in row:
        # made with an older llama.cpp whose rule for this tensor kind differs: the current
        # rules predict a different, still close size (the note in the YAML says which way)
        assert predicted != pytest.approx(published, abs=row["rounding"])
        assert abs(predicted - published) / published < 0.025
        return
    if row["tensor_bytes"]:
        allowance = row["rounding"]
    else:
        allowance = row["rounding"] + METADATA_BYTES + 0.001 * published
    assert abs(published - predicted) <= allowance, (
        f"{row['file']}: published {row['shown']}, predicted {predicted / 1e9:.3f} GB")


def test_the_old_and_the_split_deepseek_layouts_differ_only_in_row_lengths():
    # attn_kv_b (512-wide rows) takes the mix's K-quant; attn_k_b's 128-wide rows fall back
    # to a 32-block type, and attn_v_b is not an "attention V" for the use_more_bits rule.
    arch = get_preset("deepseek-v3").architecture
    old, new = legacy_mla_tensors(arch), arch.tensors()
    assert sum(t.n_elements for t in old) == sum(t.n_elements for t in new)
    for mix in ("Q8_0", "Q4_1"):
        assert predicted_file_bytes(arch, mix, True, "attn_kv_b") == predicted_file_bytes(arch, mix, True)
    assert predicted_file_bytes(arch, "Q4_K_M", True, "attn_kv_b") != predicted_file_bytes(arch, "Q4_K_M", True)


def worst_errors_by_family() -> dict[str, float]:
    """Largest |published − predicted| / published per family (stock-recipe rows)."""
    worst: dict[str, float] = {}
    for row in ROWS:
        if "older_rules" in row:
            continue
        error = abs(row["published"] - _predicted(row)) / row["published"]
        family = row["arch"].family
        worst[family] = max(worst.get(family, 0.0), error)
    return worst


if __name__ == "__main__":  # python -m tests.calculators.test_quant_mix: the summary
    for family, error in sorted(worst_errors_by_family().items()):
        count = sum(row["arch"].family == family for row in ROWS)
        print(f"{family:12s} {count:3d} files  worst error {100 * error:.2f} %")
    print(f"{len(ROWS)} files, {len({row['arch'].family for row in ROWS})} architectures")


def test_thebloke_q2_k_files_were_made_with_older_rules():
    # TheBloke's Mistral-7B-v0.1 Q2_K (3.08 GB, llama.cpp ac43576, 2023) predates the
    # current Q2_K rules (attn_v Q3_K/Q4_K by GQA, ffn_down Q3_K); a recent quantization of
    # the same model (mradermacher, above) is 2.72 GB, which the current rules reproduce.
    arch = get_preset("mistral-7b-v0.1").architecture
    predicted = sum(t.n_bytes for t in assign_types(arch.tensors(), "Q2_K", ModelFacts("llama", 32, 32, 8)))
    assert predicted / 1e9 == pytest.approx(2.72, rel=0.015)
    assert predicted / 1e9 < 3.08 * 0.9
