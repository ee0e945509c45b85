"""calculators.speed: the estimate against published llama.cpp speeds and physical facts.

The published rows live in tests/calculators/llama_bench_results.yaml and
llama_bench_independent.yaml with their sources, pooled under the evaluation protocol of
calculators.speed_fit (held out by hardware hash, a build window, fixed before fitting).
The error floors are checked on the held-out rows in the window. Other expected numbers come
from outside our code: published parameter counts, file sizes as llama-bench prints them,
llama.cpp's own compute graphs, and hand arithmetic on config.json values written out here.
"""

import collections
import dataclasses
import datetime
import functools
import math
import re
from pathlib import Path

import pytest

from calculators import speed, speed_fit
from calculators.gpus import ACCELERATORS, ARCHITECTURE_NAMES, CPU_SYSTEMS, GPUS, get_accelerator
from calculators.memory import InputError
from calculators.presets import get_preset
from tests.calculators.synthetic_gguf import write_gguf
from tests.calculators.test_memory import TINY_FAMILIES, _tiny, run_llama_cpp

GiB = 2**30


@functools.lru_cache(maxsize=1)
def measurements():
    return speed_fit.load()


def held_out(group):
    """The protocol's scored rows: held out, in the build window."""
    rows, _ = measurements()
    return [m for m in rows if speed_fit.PARTS["held out"](m) and speed_fit.GROUPS[group](m)]


def hw(slug, backend=None, **kw):
    accel = get_accelerator(slug)
    return speed.Hardware(accel.memory_bandwidth_gbs, accel.compute_tflops, backend or accel.backends[0],
                          accel.unified, name=accel.name, int8_tops=accel.int8_tops,
                          architecture=accel.architecture, **kw)


def arch(slug):
    return get_preset(slug).architecture


# --- the evidence and the fit -------------------------------------------------------------

def test_every_published_row_cites_its_source_build_and_hardware():
    import yaml

    for path in (speed_fit.DATA, speed_fit.LATER):
        _check_rows_cite(yaml.safe_load(path.read_text()))


def _check_rows_cite(data):
    for row in data["rows"]:
        assert row["source"].startswith("https://github.com/"), row["id"]
        assert row.get("date") and row.get("build"), row["id"]
        assert row["backend"] in speed.BACKENDS, row["id"]
        accel = get_accelerator(row["hardware"])  # a preset, with cited figures
        assert accel.has_speed_figures and accel.source.startswith("https://"), row["id"]
        assert row["backend"] in accel.backends, row["id"]
        assert row["model"] in (data.get("models") or {}) or get_preset(row["model"]), row["id"]
        assert all(t["tps"] > 0 for t in row["tests"]), row["id"]
    assert len({row["id"] for row in data["rows"]}) == len(data["rows"])


def test_every_published_row_is_used():
    _, skipped = measurements()
    assert skipped == []


def test_the_split_is_by_hardware_and_leaves_rows_on_both_sides():
    rows, _ = measurements()
    held = {m.hardware for m in rows if m.held_out}
    fitted = {m.hardware for m in rows if not m.held_out}
    assert held and fitted and not held & fitted
    assert all(speed_fit.is_held_out(m.hardware) == m.held_out for m in rows)
    # the files are pooled, and each has rows on both sides of the split
    for dataset in ("llama_bench_results", "llama_bench_independent", "llama_bench_later"):
        assert {m.held_out for m in rows if m.dataset == dataset} == {True, False}


def test_the_build_window_is_a_year_before_the_newest_row():
    rows, _ = measurements()
    newest = max(m.date for m in rows)
    start = newest - datetime.timedelta(days=365)
    assert speed_fit.WINDOW_DAYS == 365
    assert all(m.in_window == (m.date >= start) for m in rows)
    assert {m.in_window for m in rows} == {True, False}
    assert speed_fit.row_date("2025-08") == datetime.date(2025, 8, 1)
    assert speed_fit.row_date(datetime.date(2025, 8, 7)) == datetime.date(2025, 8, 7)


def test_the_fit_never_reads_the_held_out_rows_nor_those_outside_the_window():
    rows, _ = measurements()
    scrambled = [dataclasses.replace(m, measured=m.measured * (1 if m.fitted else 7)) for m in rows]
    assert speed_fit.fit(scrambled) == speed_fit.fit(rows)


def test_the_constants_in_the_code_are_the_fit():
    rows, _ = measurements()
    assert speed_fit.fit(rows) == speed.CONSTANTS


@pytest.mark.parametrize("variant, parent", sorted(speed_fit.VARIANT_OF.items()))
def test_a_vendors_variant_gets_its_backends_constants_without_rows_of_its_own(variant, parent):
    rows, _ = measurements()
    assert any(speed.constants_key(m.hw) == variant and m.fitted for m in rows)
    fitted = speed_fit.fit([m for m in rows if speed.constants_key(m.hw) != variant])
    assert fitted[variant] == fitted[parent]


@pytest.mark.parametrize("group, floor, minimum", [
    ("generation, dense", 0.15, 20),
    ("generation, MoE", 0.25, 8),
    ("prompt processing, all", 0.30, 15),
])
def test_held_out_median_error_is_within_the_floor(group, floor, minimum):
    pairs = speed_fit.errors(held_out(group))
    summary = speed_fit.summarise(pairs)
    assert summary.count >= minimum
    assert summary.median_error <= floor, summary


def test_the_page_states_the_held_out_errors_the_evidence_gives():
    """The memory page tells people how far off the estimate typically is: the held-out medians,
    to the percent, as they stand after the last fit."""
    page = (Path(speed.__file__).resolve().parent.parent / "templates" / "calculators" / "_speed.html").read_text()
    stated = re.search(r"about (\d+) % for generation with dense models, (\d+) % with mixtures of experts "
                       r"and (\d+) % for prompt\s+processing", " ".join(page.split()))
    assert stated, "the page no longer states the typical errors"
    for group, percent in zip(("generation, dense", "generation, MoE", "prompt processing, all"), stated.groups()):
        median = speed_fit.summarise(speed_fit.errors(held_out(group))).median_error
        assert int(percent) == round(median * 100), (group, median)


def test_a_toolchain_regression_is_set_apart_only_on_the_evidence_of_the_same_build_elsewhere():
    """speed_fit.REGRESSION_FACTOR: a measurement is scored apart only when its source measured
    the same build at least twice as fast under another release or driver of the toolchain; then it is
    neither fitted nor among the held-out rows, and the report lists it on its own."""
    rows, _ = measurements()
    apart = [m for m in rows if m.regression]
    assert {m.row for m in apart} == {"kyuz0sh-b7938-rocm-gpt-oss-20b", "kyuz0sh-b7938-rocm-gpt-oss-120b",
                                      "kyuz0sh-b7938-rocm-llama-2-7b-q4_0",
                                      "kyuz0-sh-8743-llama-2-7b_q4_0-vulkan_amdvlk-fa1"}
    assert all(m.kind == "pp" and m.regression["compared_with"]["tps"] >= 2 * m.measured for m in apart)
    assert not any(m.fitted or speed_fit.PARTS["held out"](m) for m in apart)
    assert speed_fit.report(rows)["toolchain regressions"]["all"].count == len(apart)
    test = {"test": "pp512", "tps": 1000.0,
            "toolchain_regression": {"compared_with": {"toolchain": "ROCm 6.4.4", "tps": 1900.0,
                                                       "source": "https://example.org/log"}, "why": "…"}}
    with pytest.raises(ValueError, match="at least 2.0× as fast"):
        speed_fit._regression("a-row", test)
    test["toolchain_regression"]["compared_with"]["tps"] = 2000.0
    assert speed_fit._regression("a-row", test)["compared_with"]["toolchain"] == "ROCm 6.4.4"


def test_no_held_out_measurement_is_off_by_more_than_twice():
    off = [(m.row, f"{m.kind}{m.tokens}@d{m.depth}", m.measured, round(m.measured * ratio, 2))
           for m, ratio in speed_fit.errors(held_out("all")) if not 0.5 <= ratio <= 2]
    assert off == []


@pytest.mark.parametrize("group, floor", [
    ("generation, dense", 0.15), ("generation, MoE", 0.25),
    ("prompt processing, all", 0.30)])
def test_leaving_one_fitted_hardware_out_keeps_the_floors(group, floor):
    rows, _ = measurements()
    summary = cross_validation()[group]
    # every fitted measurement is predicted by a fit that never saw its hardware
    assert summary.count == sum(1 for m in rows if m.fitted and speed_fit.GROUPS[group](m))
    assert summary.median_error <= floor, summary


@functools.lru_cache(maxsize=1)
def cross_validation():
    rows, _ = measurements()
    return speed_fit.cross_validate(rows)


# --- llama.cpp's graph: the operations a layer launches ---------------------------------------

# llama.cpp prints every non-view node of the graph it reserves when GGML_SCHED_DEBUG=2 (ggml-
# backend.cpp ggml_backend_sched_print_assignments): "node #  12 (  MUL_MAT):  Qcur-0 …"
GRAPH_NODE = re.compile(r"node #\s*(\d+) \(\s*(\w+)\):\s*(\S+)")
GRAPH_FAMILIES = {**TINY_FAMILIES, "llama": _tiny("llama"), "mixtral": _tiny("mixtral", num_experts=8,
                                                                                 num_experts_per_token=2),
                  "gemma3": _tiny("gemma3", sliding_window=512, sliding_window_layers=(True,) * 4)}


def graph_operations_per_layer(log: str) -> collections.Counter:
    """Operations per layer in llama.cpp's printed graph; nodes without a layer in their name
    (views, the cache writes' inputs) belong to the layer being built."""
    nodes = {int(index): name for index, _, name in GRAPH_NODE.findall(log)}  # the last print wins
    layers, layer = collections.Counter(), None
    for index in sorted(nodes):
        found = re.search(r"-(\d+)$", nodes[index]) or re.search(r"_l(\d+)\b", nodes[index])
        layer = int(found.group(1)) if found else layer
        layers[layer] += 1
    return layers


@pytest.fixture(scope="module")
def llama_cpp_graphs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graphs")
    runs = [{"kind": "context", "args": {"n_ctx": 2048, "n_batch": 512, "n_ubatch": 512, "flash_attn_type": fa}}
            for fa in (0, 1)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GGML_SCHED_DEBUG", "2")
        return {key: (write_gguf(folder / f"{key}.gguf", arch), run_llama_cpp(folder / f"{key}.gguf", runs))
                for key, arch in GRAPH_FAMILIES.items()}


@pytest.mark.parametrize("key", sorted(GRAPH_FAMILIES))
def test_operations_per_layer_are_llama_cpps(llama_cpp_graphs, key):
    header, runs = llama_cpp_graphs[key]
    arch = GRAPH_FAMILIES[key]
    layer = arch.num_layers - 2  # neither the first (embedding) nor the last (output) block
    tensors = [t for t in header.tensors if t.name.startswith(f"blk.{layer}.")]
    for run, flash_attention in zip(runs, (False, True)):
        assert run["ok"], run["log"][-2000:]
        counted = graph_operations_per_layer(run["log"])[layer]
        ours = speed.layer_operations(tensors, n_expert_used=arch.num_experts_per_token,
                                      latent_attention=arch.is_mla, flash_attention=flash_attention)
        assert abs(ours - counted) <= 0.1 * counted, (key, flash_attention, ours, counted)


def test_moe_and_latent_attention_layers_launch_about_twice_llamas_operations(llama_cpp_graphs):
    counts = {key: graph_operations_per_layer(runs[1]["log"])[GRAPH_FAMILIES[key].num_layers - 2]
              for key, (_, runs) in llama_cpp_graphs.items()}
    assert counts["llama"] == 19  # 2 norms × 2, 7 matrices, rope × 2, 2 cache writes, attention, 2 adds, swiglu
    assert counts["deepseek2-lite"] >= 1.9 * counts["llama"] and counts["qwen3_moe"] >= 1.6 * counts["llama"]


# --- what a token reads: independent figures ------------------------------------------------

def test_mixtral_multiplies_the_published_active_parameter_count():
    # Mistral AI, "Mixtral of experts" (2023-12-11): "it only uses 12.9B parameters per
    # token". Their count includes the token embedding, a lookup here (32000 × 4096).
    prof = speed.profile(arch("mixtral-8x7b-v0.1"), quant="Q4_K_M")
    assert prof.is_moe and prof.n_expert == 8 and prof.n_expert_used == 2
    assert (prof.active_parameters + 32000 * 4096) / 1e9 == pytest.approx(12.9, abs=0.05)


@pytest.mark.parametrize("slug, quant, published, unit, with_embedding", [
    # OpenAI, "gpt-oss-120b & gpt-oss-20b Model Card" (2025-08-05), table 1: active parameters
    # 3.61B and 5.13B, counted without the input embedding
    ("gpt-oss-20b", "MXFP4_MOE", 3.61e9, 0.01e9, False),
    ("gpt-oss-120b", "MXFP4_MOE", 5.13e9, 0.01e9, False),
    # Qwen team, "Qwen3: Think Deeper, Act Faster" (2025-04-29): 3.3B and 22B activated
    ("qwen3-30b-a3b", "Q8_0", 3.3e9, 0.1e9, True),
    ("qwen3-235b-a22b", "Q8_0", 22e9, 1e9, True),
    # Mistral AI, "Cheaper, Better, Faster, Stronger" (2024-04-17): 39B active of 141B
    ("mixtral-8x22b", "Q8_0", 39e9, 1e9, True),
])
def test_moe_models_multiply_their_published_active_parameters(slug, quant, published, unit, with_embedding):
    model = arch(slug)
    prof = speed.profile(model, quant=quant, context_length=512)
    counted = prof.active_parameters + (model.vocab_size * model.hidden_size if with_embedding else 0)
    # a published count is rounded to its last digit (`unit`); 1 % more for the rounding of parts
    assert abs(counted - published) <= unit / 2 + 0.01 * published


def test_a_multi_token_prediction_block_is_not_read():
    # DeepSeek V3 and GLM-4.5 ship one extra block for speculative decoding; generating a
    # token runs the 61 / 92 ordinary ones (their config.json num_hidden_layers)
    for slug, layers in (("deepseek-v3", 61), ("glm-4.5", 92)):
        prof = speed.profile(arch(slug), quant="Q4_K_M", context_length=512)
        assert prof.n_layer == layers


def test_llama_8b_reads_the_file_less_the_embedding_table_per_token():
    # llama-bench prints "llama 8B Q4_K - Medium | 4.58 GiB" for Llama 3.1 8B Q4_K_M; the
    # token embedding (128256 × 4096, Q4_K: 144 bytes per 256 weights) is looked up, not read.
    est = speed.estimate(arch("llama-3.1-8b"), hw("rtx-4090"), quant="Q4_K_M")
    embedding = 128256 * 4096 // 256 * 144
    assert est.generation.weights_bytes / GiB == pytest.approx(4.58 - embedding / GiB, abs=0.01)


def test_the_kv_cache_read_per_token_grows_with_the_context():
    # Llama 3.1 8B: 32 layers × 8 KV heads × 128 dims, K and V in f16 (2 bytes) per token
    per_token = 32 * 8 * 128 * 2 * 2
    for depth in (0, 1000, 32768):
        est = speed.estimate(arch("llama-3.1-8b"), hw("rtx-4090"), quant="Q4_K_M", depth=depth)
        assert est.generation.kv_cache_bytes == per_token * (depth + 1)


def test_sliding_window_layers_read_at_most_their_window():
    # Gemma 2 9B: 42 layers, half of them local with a 4096-token window; 8 KV heads × 256.
    per_layer = 8 * 256 * 2 * 2
    est = speed.estimate(arch("gemma-2-9b"), hw("rtx-4090"), quant="Q4_K_M", depth=100_000)
    assert est.generation.kv_cache_bytes == 21 * per_layer * 100_001 + 21 * per_layer * 4096


def test_no_estimate_beats_the_memory_bandwidth():
    for slug, quant in (("llama-3.2-1b", "Q4_0"), ("llama-3.1-8b", "Q4_K_M"), ("mixtral-8x7b-v0.1", "Q8_0")):
        for accel in ACCELERATORS:
            if not accel.has_speed_figures:
                continue
            est = speed.estimate(arch(slug), hw(accel.slug), quant=quant)
            bytes_per_token = est.generation.weights_bytes + est.generation.kv_cache_bytes
            assert est.generation.tokens_per_second < accel.memory_bandwidth_gbs * 1e9 / bytes_per_token


def test_prompt_processing_is_bounded_by_the_compute():
    est = speed.estimate(arch("llama-3.1-8b"), hw("rtx-4090"), quant="Q4_K_M")
    # 2 FLOPs per weight multiplied: Llama 3.1 8B has 8,030,261,248 weights, 2 × 525,336,576
    # of them in the embedding and output tables (the output only for the last token)
    assert est.prompt.flops_per_token >= 2 * (8_030_261_248 - 2 * 525_336_576)
    # the RTX 4090's fastest matrix rate: 660.6 INT8 TOPS (Ada whitepaper)
    assert est.prompt.tokens_per_second < 660.6e12 / est.prompt.flops_per_token


def test_attention_work_grows_with_the_context_by_hand_arithmetic():
    # Llama 3.1 8B: 32 layers × 32 query heads × (128 + 128) dims, 2 FLOPs per multiply-add:
    # each prompt token attends to `depth` more context tokens
    per_context_token = 2 * 32 * 256 * 32
    model, gpu = arch("llama-3.1-8b"), hw("rtx-4090")
    shallow = speed.estimate(model, gpu, quant="Q4_K_M", depth=0, flash_attention=True).prompt
    deep = speed.estimate(model, gpu, quant="Q4_K_M", depth=8192, flash_attention=True).prompt
    assert deep.flops_per_token - shallow.flops_per_token == pytest.approx(per_context_token * 8192)
    # flash attention: one fused kernel at its own fraction of the FP16 rate
    added = per_context_token * 8192 * 512 / (330.3e12 * speed.CONSTANTS["cuda"].attention_fraction)
    assert (deep.attention_ms - shallow.attention_ms) / 1e3 == pytest.approx(added, rel=1e-6)
    # without it, the scores (512 tokens × 32 heads × 32 layers × context, f32) also cross
    # memory four times
    off = speed.estimate(model, gpu, quant="Q4_K_M", depth=8192, flash_attention=False).prompt
    scores = 512 * 32 * 32 * (8192 + 513 / 2) * 16
    assert off.attention_ms / 1e3 > scores / (1008e9 * speed.CONSTANTS["cuda"].bandwidth_fraction)


def test_latent_attention_reads_one_row_and_computes_sixteen_heads_over_it():
    # DeepSeek-V2-Lite (config.json): 27 layers, 16 heads, kv_lora_rank 512, qk_rope_head_dim 64.
    # The cache holds 512 + 64 values per token and layer; each head multiplies 576 (K) and
    # 512 (V) of them, 2 FLOPs each
    prof = speed.profile(arch("deepseek-v2-lite"), quant="Q4_K_M", context_length=4096)
    assert prof.parts["gpu"].kv_full_per_cell == 27 * 576 * 2
    assert prof.parts["gpu"].attn_full_per_cell == 27 * 16 * 2 * (576 + 512)
    # at depth that work, at the attention kernel's rate, bounds a device of little compute
    slow = speed.Hardware(memory_bandwidth_gbs=800, compute_tflops=2, backend="cpu")
    deep = speed.estimate(arch("deepseek-v2-lite"), slow, quant="Q4_K_M", depth=65536).generation
    c = speed.CONSTANTS["cpu"]
    weights = 2 * prof.active_parameters / c.vector_fraction
    attention = 27 * 16 * 2 * (576 + 512) * 65537 / c.attention_fraction
    assert deep.bound == "compute"
    assert deep.compute_ms / 1e3 == pytest.approx((weights + attention) / 2e12, rel=1e-6)


def test_float_weights_use_cublas_and_a_gpu_without_int8_tensor_cores_too():
    model = arch("llama-3.1-8b")
    # the V100 has no INT8 tensor cores: its quantized weights go through cuBLAS in FP16
    # (ggml_cuda_should_use_mmq), at the same rate as F16 weights
    v100 = hw("tesla-v100-32gb")
    assert v100.int8_tops is None
    q8 = speed.estimate(model, v100, quant="Q8_0").prompt.compute_ms
    f16 = speed.estimate(model, v100, quant="F16").prompt.compute_ms
    assert q8 == pytest.approx(f16, rel=0.02)
    # a Turing card's quantized weights run at INT8 through MMQ, its F16 weights through cuBLAS
    t4 = hw("t4")
    mmq = speed.estimate(model, t4, quant="Q8_0").prompt.compute_ms
    blas = speed.estimate(model, t4, quant="F16").prompt.compute_ms
    c = speed.CONSTANTS["cuda"]
    assert blas / mmq == pytest.approx((130 * c.compute_fraction) / (65 * c.blas_fraction), rel=0.02)


# --- how the figures move ---------------------------------------------------------------------

def test_a_longer_context_slows_generation_and_prompt_processing():
    gen = [speed.estimate(arch("llama-3.1-8b"), hw("rtx-3090"), quant="Q4_K_M", depth=d) for d in (0, 8192, 65536)]
    assert gen[0].generation.tokens_per_second > gen[1].generation.tokens_per_second > gen[2].generation.tokens_per_second
    assert gen[0].prompt.tokens_per_second > gen[1].prompt.tokens_per_second > gen[2].prompt.tokens_per_second


# llama.cpp's own micro-batch sweep, which no constant is fitted to: an RTX 4090 reading Llama 3 8B
# Q3_K_S prompts of 2048 tokens (llama-bench -ub N -p 2048), master column of
# https://github.com/ggml-org/llama.cpp/pull/22298 (J. Gäßler, April 2026).
MICRO_BATCH_SWEEP = {16: 2046.31, 32: 3508.84, 64: 5627.15, 128: 7519.51, 256: 9609.18, 512: 10555.68,
                     1024: 10716.37, 2048: 10323.42}


@pytest.mark.parametrize("n_ubatch, measured", sorted(MICRO_BATCH_SWEEP.items()))
def test_small_micro_batches_fill_the_gpu_as_llama_cpps_sweep_shows(n_ubatch, measured):
    """Relative to micro-batches of 512, within 15 %: from a fifth of the speed at 16 tokens to a
    little more at 1024 (GEMM_HALF_TOKENS, set by this sweep; ACTIVATION_PASSES, which shapes it
    too, was chosen by leave-one-hardware-out cross-validation)."""
    model = arch("llama-3.1-8b")

    def rate(ub):
        return speed.estimate(model, hw("rtx-4090", "cuda"), quant="Q3_K_S", n_prompt=2048, n_ubatch=ub,
                              flash_attention=True).prompt.tokens_per_second

    assert rate(n_ubatch) / rate(512) == pytest.approx(measured / MICRO_BATCH_SWEEP[512], rel=0.15)


# Vulkan prompt speeds of one build in several quantized types, baseline column of
# https://github.com/ggml-org/llama.cpp/pull/27471 (0cc4m, 2026-08-26): what PROMPT_TYPE_RATE's
# Vulkan entries were read from. (GPU, model, type, pp512 t/s; flash attention not printed: off.)
VULKAN_TYPE_SWEEP = [
    ("rtx-3090", "llama-3.1-8b", "Q3_K_S", 2873.1), ("rtx-3090", "llama-3.1-8b", "Q4_K_S", 3600.7),
    ("rtx-3090", "llama-3.1-8b", "Q8_0", 3370.7),
    ("dgx-spark", "llama-3.1-8b", "Q3_K_S", 1809.3), ("dgx-spark", "llama-3.1-8b", "Q6_K", 1624.0),
    ("radeon-ai-pro-r9700", "llama-3.1-8b", "Q3_K_S", 3358.0), ("radeon-ai-pro-r9700", "llama-3.1-8b", "Q4_K_S", 4432.6),
]


@pytest.mark.parametrize("gpu", sorted({row[0] for row in VULKAN_TYPE_SWEEP}))
def test_quantized_types_read_prompts_at_their_own_rates_as_published(gpu):
    """Within one GPU and build, each type's prompt speed relative to the first type's is the
    published one within 10 % (one rate per type serves GPUs whose own rates differ by ±7 %): a
    3-bit file is not faster than a 4-bit one just for being smaller."""
    rows = [row for row in VULKAN_TYPE_SWEEP if row[0] == gpu]
    built = datetime.date(2026, 8, 26)

    def rate(model, quant):
        return speed.estimate(arch(model), hw(gpu, "vulkan", build_date=built), quant=quant).prompt.tokens_per_second

    (_, model0, quant0, measured0), *others = rows
    for _, model, quant, measured in others:
        assert rate(model, quant) / rate(model0, quant0) == pytest.approx(measured / measured0, rel=0.10), quant


def test_smaller_quants_generate_faster():
    rates = [speed.estimate(arch("qwen2.5-7b"), hw("apple-m2-max"), quant=q).generation.tokens_per_second
             for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K")]
    assert rates == sorted(rates)


def test_layers_on_the_cpu_add_their_time_at_the_host_bandwidth():
    model = arch("llama-3.1-8b")
    full = speed.estimate(model, hw("rtx-4090"), quant="Q4_K_M")
    half = speed.estimate(model, hw("rtx-4090", host_bandwidth_gbs=60), quant="Q4_K_M", n_gpu_layers=17)
    slower_host = speed.estimate(model, hw("rtx-4090", host_bandwidth_gbs=30), quant="Q4_K_M", n_gpu_layers=17)
    assert full.generation.tokens_per_second > half.generation.tokens_per_second > slower_host.generation.tokens_per_second
    assert half.generation.cpu_bytes > 0 and full.generation.cpu_bytes == 0
    # the two parts run in turn: the CPU part alone takes its bytes at the host's speed
    cpu_part_s = half.generation.cpu_bytes / (60e9 * speed.CONSTANTS["cpu"].bandwidth_fraction)
    assert 1 / half.generation.tokens_per_second > cpu_part_s


def test_experts_on_the_cpu_slow_generation_and_dense_models_have_none():
    model = arch("mixtral-8x7b-v0.1")
    # Q4_0 gives every expert tensor the same type (Q4_K_M bumps some layers to Q6_K)
    on_gpu = speed.estimate(model, hw("rtx-3090"), quant="Q4_0")
    eight = speed.estimate(model, hw("rtx-3090"), quant="Q4_0", n_cpu_moe=8)
    all_ = speed.estimate(model, hw("rtx-3090"), quant="Q4_0", n_cpu_moe=32)
    assert on_gpu.generation.tokens_per_second > eight.generation.tokens_per_second > all_.generation.tokens_per_second
    # every Mixtral layer has the same experts: 8 of 32 layers keep a quarter of them on the CPU
    assert eight.generation.cpu_bytes == pytest.approx(all_.generation.cpu_bytes * 8 / 32, rel=1e-9)
    # llama.cpp's --n-cpu-moe matches no tensor of a dense model and changes nothing
    dense = speed.estimate(arch("llama-3.1-8b"), hw("rtx-3090"), quant="Q4_K_M")
    ignored = speed.estimate(arch("llama-3.1-8b"), hw("rtx-3090"), quant="Q4_K_M", n_cpu_moe=4)
    assert ignored.generation.tokens_per_second == dense.generation.tokens_per_second
    assert any("no experts" in note for note in ignored.notes)


def test_the_cpu_backend_runs_everything_on_the_cpu():
    est = speed.estimate(arch("llama-3.2-1b"), hw("cpu-ryzen-9-9950x"), quant="Q4_0", n_gpu_layers=99)
    assert est.generation.gpu_bytes == 0 and est.generation.cpu_bytes > 0


def test_bad_input_names_its_field():
    model = arch("llama-3.2-1b")
    for kwargs, field in (({"depth": -1}, "depth"), ({"depth": 10**9}, "depth"), ({"n_prompt": 0}, "n_prompt"),
                          ({"n_gpu_layers": -2}, "n_gpu_layers"), ({"quant": "Q9"}, "quant")):
        with pytest.raises(InputError) as err:
            speed.estimate(model, hw("rtx-4090"), **{"quant": "Q4_0", **kwargs})
        assert err.value.field == field
    for kwargs, field in (({"memory_bandwidth_gbs": 0}, "memory_bandwidth_gbs"),
                          ({"compute_tflops": math.nan}, "compute_tflops"), ({"backend": "opencl"}, "backend"),
                          ({"host_bandwidth_gbs": -1}, "cpu_memory_bandwidth_gbs")):
        with pytest.raises(InputError) as err:
            speed.Hardware(**{"memory_bandwidth_gbs": 100, "compute_tflops": 10, "backend": "cuda", **kwargs})
        assert err.value.field == field


# --- the hardware presets ---------------------------------------------------------------------

def test_presets_keep_their_slugs_and_memory_sizes():
    # other calculators read these (the memory page's verdicts): they must not move
    before = {"rtx-3060-12gb": 12, "rtx-3080-10gb": 10, "rtx-3090": 24, "rtx-4060-ti-16gb": 16, "rtx-4070": 12,
              "rtx-4080": 16, "rtx-4090": 24, "rtx-5090": 32, "t4": 16, "l4": 24, "a10": 24, "l40s": 48,
              "a100-40gb": 40, "a100-80gb": 80, "h100-80gb": 80, "rx-7900-xtx": 24, "apple-8gb": 8,
              "apple-16gb": 16, "apple-24gb": 24, "apple-32gb": 32, "apple-64gb": 64, "apple-128gb": 128,
              "apple-192gb": 192}
    gpus = {g.slug: g for g in GPUS}
    for slug, gib in before.items():
        assert gpus[slug].memory_bytes == gib * GiB
    assert not set(c.slug for c in CPU_SYSTEMS) & set(gpus)


def test_every_speed_figure_is_cited_and_physical():
    vendors = {a.vendor for a in ACCELERATORS if a.has_speed_figures}
    assert {"nvidia", "amd", "intel", "apple", "cpu"} <= vendors
    apple = {a.slug for a in ACCELERATORS if a.vendor == "apple" and a.has_speed_figures}
    assert {"apple-m1", "apple-m1-max", "apple-m2-ultra", "apple-m3-pro", "apple-m4-max"} <= apple
    for a in ACCELERATORS:
        if a.has_speed_figures:
            assert a.source.startswith("https://"), a.slug
            assert 10 <= a.memory_bandwidth_gbs <= 10_000, a.slug
            assert 0.1 <= a.compute_tflops <= 5_000, a.slug
        if a.int8_tops is not None:  # only where it beats FP16, and cited beside it
            assert a.has_speed_figures and a.compute_tflops < a.int8_tops <= 4 * a.compute_tflops, a.slug
            assert "INT8" in a.source, a.slug
    # Turing and newer GeForce and data-centre cards have INT8 tensor cores; the V100 does not
    assert all(get_accelerator(slug).int8_tops for slug in ("rtx-2080-ti", "rtx-3090", "rtx-4090", "rtx-5090",
                                                            "t4", "a100-80gb", "h100-80gb"))
    assert get_accelerator("tesla-v100-32gb").int8_tops is None


# --- which flash-attention kernel llama.cpp runs ----------------------------------------------

def _kernel(slug, backend, model, built=None):
    prof = speed.profile(arch(model), quant="Q4_0", flash_attention=True)
    return speed.attention_kernel(hw(slug, backend, build_date=built), prof.head_dim, prof.gqa_ratio)


@pytest.mark.parametrize("slug, backend, model, built, kernel", [
    # HIP: the tensor-core kernel on RDNA 4 from llama.cpp PR #18481 (2026-01-13), for grouped-query
    # attention with heads of at most 128 (ggml-cuda/fattn.cu); the tile kernel otherwise
    ("radeon-ai-pro-r9700", "rocm", "llama-3.1-8b", datetime.date(2025, 12, 17), "scalar"),
    ("radeon-ai-pro-r9700", "rocm", "llama-3.1-8b", datetime.date(2026, 2, 1), "matrix"),
    ("radeon-ai-pro-r9700", "rocm", "llama-2-7b", None, "scalar"),  # one query head per KV head
    ("radeon-ai-pro-r9700", "rocm", "gemma-3-4b", None, "scalar"),  # heads of 256
    ("ryzen-ai-max-395", "rocm", "gpt-oss-20b", datetime.date(2026, 5, 1), "scalar"),  # RDNA 3: PR #22880
    ("ryzen-ai-max-395", "rocm", "gpt-oss-20b", datetime.date(2026, 5, 16), "matrix"),
    ("mi50", "rocm", "llama-3.1-8b", None, "scalar"),  # GCN: no matrix units
    # Vulkan: coopmat2 on NVIDIA, coopmat1 on RDNA 3 and newer, the scalar shader elsewhere
    ("rtx-4090", "vulkan", "llama-2-7b", None, "matrix"),
    ("ryzen-ai-max-395", "vulkan", "llama-2-7b", None, "matrix"),
    ("rx-6800-xt", "vulkan", "llama-2-7b", None, "scalar"),
    ("arc-pro-b70", "vulkan", "llama-2-7b", None, "scalar"),
    ("rtx-4090", "cuda", "llama-2-7b", None, "matrix"),
])
def test_the_attention_kernel_is_the_one_llama_cpp_picks(slug, backend, model, built, kernel):
    assert _kernel(slug, backend, model, built) == kernel


def test_the_vector_units_attention_kernel_slows_a_deep_prompt_most():
    prof = speed.profile(arch("llama-3.1-8b"), quant="Q4_0", flash_attention=True)
    tile = hw("radeon-ai-pro-r9700", "rocm", build_date=datetime.date(2025, 12, 1))
    mma = hw("radeon-ai-pro-r9700", "rocm")
    gain = {depth: speed.prompt_processing(prof, mma, depth).tokens_per_second
            / speed.prompt_processing(prof, tile, depth).tokens_per_second for depth in (0, 32768)}
    assert 1 < gain[0] < 1.1  # little attention at the start of the context
    assert gain[32768] > 1.5 * gain[0]  # the tile kernel costs a deep prompt far more


def test_every_gpu_with_speed_figures_names_its_architecture():
    assert all(g.architecture for g in GPUS if g.has_speed_figures)


@pytest.mark.parametrize("slug, rows", [
    ("ryzen-ai-max-395", 16),  # KHR_cooperative_matrix shader: Br = 16
    ("rx-6800-xt", 8),  # scalar shader, at most 8 rows
    ("arc-pro-b70", 8),
    ("rtx-4090", 64),  # NV_cooperative_matrix2 shader
])
def test_vulkan_flash_attention_reads_the_kv_cache_once_per_block_of_query_rows(slug, rows):
    """Deep in the context Vulkan's attention is bound by reading each query head's K and V once
    per block of rows: by hand, Llama 2 7B (32 layers of 32 heads of 128, no grouping, F16 cache)
    reads 32 · 32 · (128 + 128) · 2 bytes per context token and query-row block."""
    prof = speed.profile(arch("llama-2-7b"), quant="Q4_0", flash_attention=True)
    gpu = hw(slug, "vulkan")
    depth, ubatch = 32768, 512
    pp = speed.prompt_processing(prof, gpu, depth, n_prompt=ubatch, n_ubatch=ubatch)
    context = depth + (ubatch + 1) / 2
    reads = 32 * 32 * 256 * 2 * context * math.ceil(ubatch / rows)
    bandwidth = gpu.memory_bandwidth_gbs * 1e9 * speed.CONSTANTS[speed.constants_key(gpu)].bandwidth_fraction
    assert pp.attention_ms / 1e3 >= reads / bandwidth * (1 - 1e-9)
    if rows <= 16:  # these GPUs are bound by the reads, not by the arithmetic
        assert pp.attention_ms / 1e3 == pytest.approx(reads / bandwidth, rel=1e-9)
    # CUDA's kernel is not modelled this way: its attention is the arithmetic alone
    assert speed.flash_attention_query_rows(hw("rtx-4090", "cuda"), speed.MATRIX_ATTENTION) is None


def test_grouped_query_heads_each_read_their_shared_kv_head():
    """Vulkan's shaders give each query head its own workgroup, so a KV head shared by eight
    query heads is read eight times: gpt-oss-20b (64 query heads, 8 KV heads of 64) reads as much
    per full-attention layer and row block as 64 heads of its own would."""
    prof = speed.profile(arch("gpt-oss-20b"), quant="MXFP4_MOE", flash_attention=True)
    part = prof.parts["gpu"]
    full_layers = 12  # every other of the 24 layers; the rest use a 128-token window
    assert part.query_reads_full_per_cell == 64 * (64 + 64) * 2 * full_layers
    assert part.query_reads_full_per_cell == 8 * part.kv_full_per_cell


@pytest.mark.parametrize("slug, backend, key", [
    ("arc-pro-b70", "vulkan", "vulkan-intel"),
    ("arc-pro-b70", "cpu", "cpu"),
    ("ryzen-ai-max-395", "vulkan", "vulkan"),
    ("rtx-4090", "vulkan", "vulkan"),
    ("rtx-4090", "cuda", "cuda"),
    ("mi50", "rocm", "rocm-gcn"),
    ("mi50", "vulkan", "vulkan"),
    ("radeon-ai-pro-r9700", "rocm", "rocm"),
])
def test_intel_gpus_under_vulkan_and_gcn_under_rocm_have_constants_of_their_own(slug, backend, key):
    assert speed.constants_key(hw(slug, backend)) == key


def test_an_intel_gpu_reads_its_weights_more_slowly_under_vulkan_than_other_vendors_gpus():
    """In the fitted rows an Arc Pro B70 generates at about half of its bandwidth ÷ size where
    NVIDIA's and AMD's GPUs under Vulkan reach about 80 %."""
    intel, other = speed.CONSTANTS["vulkan-intel"], speed.CONSTANTS["vulkan"]
    assert intel.bandwidth_fraction < 0.65 < 0.7 < other.bandwidth_fraction


def test_a_gcn_gpu_reads_its_weights_more_slowly_under_rocm_than_rdna_gpus():
    """In the fitted rows the MI50 generates at about a third of its bandwidth ÷ size, the R9700 at
    about 70 %: per token (Llama 2 7B Q4_0) the MI50's fitted time is the longer, for all its
    1024 GB/s against the R9700's 640."""
    llama = arch("llama-2-7b")
    mi50 = speed.estimate(llama, hw("mi50", "rocm"), quant="Q4_0").generation.tokens_per_second
    r9700 = speed.estimate(llama, hw("radeon-ai-pro-r9700", "rocm"), quant="Q4_0").generation.tokens_per_second
    assert mi50 < r9700


def test_every_preset_architecture_has_a_name():
    assert {a.architecture for a in ACCELERATORS if a.architecture} <= set(ARCHITECTURE_NAMES)


def test_the_gpus_without_prompt_evidence_are_the_ones_the_evidence_lacks():
    rows, _ = measurements()
    measured = {(m.backend, m.hw.architecture) for m in rows if m.kind == "pp"}
    presets = {(backend, a.architecture) for a in ACCELERATORS if a.has_speed_figures and a.architecture
               for backend in a.backends if backend != "cpu"}
    assert speed.PROMPT_UNMEASURED == presets - measured


def test_an_estimate_says_when_no_prompt_speed_of_its_gpu_kind_was_measured():
    def says(slug, backend):
        notes = speed.estimate(arch("llama-3.1-8b"), hw(slug, backend), quant="Q4_K_M").notes
        return any("No published llama.cpp prompt speed" in note for note in notes)

    assert says("h100-80gb", "cuda") and says("arc-a770-16gb", "vulkan") and says("mi300x", "rocm")
    h100 = speed.estimate(arch("llama-3.1-8b"), hw("h100-80gb", "cuda"), quant="Q4_K_M").notes
    assert any("on Hopper GPUs under CUDA" in note for note in h100)
    assert not says("rtx-4090", "cuda") and not says("rtx-4090", "vulkan") and not says("apple-m2-max", "metal")


def test_vulkan_on_amd_says_which_driver_it_assumes():
    def notes(slug, backend):
        return speed.estimate(arch("llama-3.1-8b"), hw(slug, backend), quant="Q4_K_M").notes

    assert any("RADV" in note and "AMDVLK" in note for note in notes("ryzen-ai-max-395", "vulkan"))
    assert any("RADV" in note for note in notes("radeon-ai-pro-r9700", "vulkan"))
    for slug, backend in (("ryzen-ai-max-395", "rocm"), ("rtx-4090", "vulkan"), ("arc-a770-16gb", "vulkan")):
        assert not any("AMDVLK" in note for note in notes(slug, backend)), (slug, backend)


def test_bf16_under_vulkan_says_what_it_assumes_of_the_driver(tmp_path):
    gpu = hw("ryzen-ai-max-395", "vulkan")
    bf16 = speed.estimate(arch("qwen3-30b-a3b"), gpu, quant="BF16")
    assert any("bf16: 0" in note and "vector units" in note for note in bf16.notes)
    # llama.cpp's Vulkan backend has no one-token path for BF16 experts: said for a MoE only
    assert any("BF16 experts" in note for note in bf16.notes)
    dense = speed.estimate(arch("llama-3.1-8b"), gpu, quant="BF16")
    assert any("bf16: 0" in note for note in dense.notes)
    assert not any("BF16 experts" in note for note in dense.notes)
    nvidia = speed.estimate(arch("llama-3.1-8b"), hw("rtx-4090", "vulkan"), quant="BF16")
    assert any("bf16: 1" in note for note in nvidia.notes)
    for quant, backend in (("Q4_K_M", "vulkan"), ("BF16", "rocm")):
        other = speed.estimate(arch("qwen3-30b-a3b"), hw("ryzen-ai-max-395", backend), quant=quant)
        assert not any("bfloat16" in note for note in other.notes)
    # a BF16 file read from its header, with no quant named, gets the note too
    import gguf

    for matrix_type, noted in ((gguf.GGMLQuantizationType.BF16, True), (gguf.GGMLQuantizationType.F16, False)):
        header = write_gguf(tmp_path / f"{matrix_type.name}.gguf", _tiny("llama"), matrix_type=matrix_type)
        assert any("bfloat16" in note for note in speed.estimate(header, gpu).notes) == noted


@pytest.mark.parametrize("slug, matrices", [
    ("ryzen-ai-max-395", False), ("rx-7900-xtx", False), ("radeon-ai-pro-r9700", True),  # Mesa's RADV
    ("arc-a770-16gb", False),  # Xe-HPG: no cooperative matrices
    ("rtx-4090", True), ("rtx-3090", True), ("arc-b580", True),
])
def test_which_gpus_multiply_bf16_on_their_matrix_units_under_vulkan(slug, matrices):
    """As the device lines llama.cpp prints say (bf16: 1 on NVIDIA's driver, Mesa's for Intel Xe2
    and RADV on RDNA 4; bf16: 0 under RADV on RDNA 3 and 3.5); custom figures are taken to have them."""
    assert speed.vulkan_bf16_matrices(hw(slug, "vulkan")) is matrices
    assert speed.vulkan_bf16_matrices(speed.Hardware(500, 100, "vulkan"))


def test_bf16_prompts_under_vulkan_without_bfloat16_matrices_run_at_the_vector_units_rate():
    """Measured on a Radeon 8060S under RADV (bf16: 0): Gemma 3 27B's BF16 file reads a 512-token
    prompt at 123 tokens/s, Qwen3-30B-A3B's at 352 (kyuz0's logs, build 7938, held out: never
    fitted). The same weights in F16 run on the matrix units, as BF16 does on NVIDIA's driver."""
    amd, nvidia = hw("ryzen-ai-max-395", "vulkan"), hw("rtx-4090", "vulkan")
    for model, measured in (("gemma-3-27b", 123.07), ("qwen3-30b-a3b", 351.97)):
        estimate = speed.estimate(arch(model), amd, quant="BF16", flash_attention=True).prompt.tokens_per_second
        assert abs(estimate / measured - 1) < 0.3, (model, estimate)
    for gpu, slower in ((amd, True), (nvidia, False)):
        bf16, f16 = (speed.estimate(arch("llama-3.1-8b"), gpu, quant=q, flash_attention=True) for q in ("BF16", "F16"))
        assert (bf16.prompt.tokens_per_second < f16.prompt.tokens_per_second / 2) is slower
        # generation reads the same bytes either way (dense BF16 has a one-token shader)
        assert bf16.generation.tokens_per_second == pytest.approx(f16.generation.tokens_per_second, rel=0.01)


def test_bf16_experts_under_vulkan_generate_through_the_batched_shader():
    """ggml_vk_use_mul_mat_vec_id admits no BF16 weights, so each generated token multiplies BF16
    experts in the batched shader, and that multiply, not reading the weights, bounds
    Qwen3-30B-A3B's BF16 file, which generates below its F16 file (same bytes, one-token shader),
    on the vector units of a Radeon 8060S as on the matrix units of an R9700 or an RTX 4090; ROCm
    has a one-token path for BF16. Measured on the 8060S under RADV, which is held out and was never
    fitted: 9.42 tokens/s (kyuz0's log, build 7938)."""
    model = arch("qwen3-30b-a3b")
    for slug, backend, slower in (("ryzen-ai-max-395", "vulkan", True), ("radeon-ai-pro-r9700", "vulkan", True),
                                  ("rtx-4090", "vulkan", True), ("ryzen-ai-max-395", "rocm", False)):
        bf16, f16 = (speed.estimate(model, hw(slug, backend), quant=q).generation for q in ("BF16", "F16"))
        assert (bf16.tokens_per_second < 0.8 * f16.tokens_per_second) is slower, (slug, backend)
        assert (bf16.bound == "compute") is slower and f16.bound == "memory"
    generated = speed.estimate(model, hw("ryzen-ai-max-395", "vulkan"), quant="BF16").generation
    assert generated.tokens_per_second == pytest.approx(9.42, rel=0.3)


# kyuz0's pair of Radeon AI PRO R9700s under RADV (bf16: 1) and ROCm 7.1.1, build 7423 (2aa45ef9e),
# Qwen3-Coder-30B-A3B split by layers over both cards, tg128 (github.com/kyuz0/amd-r9700-ai-toolboxes,
# benchmark/results/Qwen3-Coder-30B-A3B-Instruct-{BF16-00001-of-00002,UD-Q8_K_XL}__{vulkan_radv,
# rocm7.1.1}__fa1__dual.log; the UD-Q8_K_XL file's llama-bench type column reads Q8_0).
R9700_PAIR_GENERATION = {("BF16", "vulkan"): 30.49, ("Q8_0", "vulkan"): 84.79, ("BF16", "rocm"): 58.31}


@pytest.mark.parametrize("quant, backend", [("Q8_0", "vulkan"), ("BF16", "rocm")])
def test_bf16_experts_under_vulkan_generate_at_the_published_share_of_other_paths(quant, backend):
    """speed.VULKAN_BF16_EXPERT_TOKEN_SHARE is read from these ratios, on cards that are not held
    out: BF16 experts under RADV generate at 0.36 of the same cards' Q8_0 speed under RADV and at
    0.52 of the BF16 file's under ROCm; the estimate is within 15 % of each. At a prompt's rate for
    a batch of one token, as the estimator had it before, it was 0.63 and 1.20."""
    model = arch("qwen3-coder-30b-a3b")

    def rate(q, b):  # as llama-bench's tg128 with -fa 1: 128 tokens, on average 64 deep
        return speed.estimate(model, hw("radeon-ai-pro-r9700", b), quant=q, flash_attention=True,
                              depth=64).generation.tokens_per_second

    published = R9700_PAIR_GENERATION[("BF16", "vulkan")] / R9700_PAIR_GENERATION[(quant, backend)]
    assert rate("BF16", "vulkan") / rate(quant, backend) == pytest.approx(published, rel=0.15)
