"""The memory estimator, checked against what llama.cpp itself allocates and logs.

llama.cpp (through llama-cpp-python) runs in a child process; its log goes to the child's
stderr file descriptor (it writes from C), which the child redirects into a temporary file
per context and hands back as JSON.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import gguf
import numpy as np
import pytest

from calculators.architecture import Architecture
from calculators.gguf_header import read_header
from calculators.gpus import GPUS, get_gpu
from calculators.memory import (
    CACHE_TYPES,
    InputError,
    MemoryEstimate,
    context_cells,
    estimate,
    fit_verdicts,
)
from calculators.presets import get_preset
from tests.calculators.synthetic_gguf import write_gguf
from tests.calculators.test_gguf_header import bundled_path

MiB = 1024 * 1024
GGML_TYPE = {name: int(qtype) for name, qtype in CACHE_TYPES.items()}

# Runs in the child. "llama" entries build llama_cpp.Llama exactly as an application would;
# "context" entries set llama_context_params fields the Llama class does not expose.
CHILD = textwrap.dedent(r"""
    import json, os, sys, tempfile
    import llama_cpp

    def logged(fn):
        fd, path = tempfile.mkstemp()
        saved = os.dup(2)
        os.dup2(fd, 2)
        try:
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(fd)
        with open(path, errors="replace") as fh:
            text = fh.read()
        os.unlink(path)
        return result, text

    model_path, runs = sys.argv[1], json.loads(sys.argv[2])
    out = []
    model = None
    for run in runs:
        if run["kind"] == "llama":
            llm, text = logged(lambda: llama_cpp.Llama(model_path=model_path, n_gpu_layers=0,
                                                       verbose=True, **run["args"]))
            out.append({"ok": True, "log": text})
            llm.close()
        else:
            if model is None:
                llama_cpp.llama_backend_init()
                mparams = llama_cpp.llama_model_default_params()
                mparams.n_gpu_layers = 0
                model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
            params = llama_cpp.llama_context_default_params()
            for key, value in run["args"].items():
                setattr(params, key, value)
            ctx, text = logged(lambda: llama_cpp.llama_init_from_model(model, params))
            out.append({"ok": bool(ctx), "log": text})
            if ctx:
                llama_cpp.llama_free(ctx)
    print(json.dumps(out))
""")


def run_llama_cpp(model_path: str, runs: list[dict]) -> list[dict]:
    pytest.importorskip("llama_cpp")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model_path), json.dumps(runs)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for result in results:
        result.update(parse_log(result["log"]))
    return results


KV_LINE = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)/(\d+) seqs\), "
                     r"K \((\w+)\):\s*([\d.]+) MiB, V \((\w+)\):\s*([\d.]+) MiB")


def parse_log(text: str) -> dict:
    return {
        "kv": [dict(mib=float(m[0]), cells=int(m[1]), layers=int(m[2]), seqs=int(m[3]), streams=int(m[4]),
                    type_k=m[5], k_mib=float(m[6]), type_v=m[7], v_mib=float(m[8]))
               for m in KV_LINE.findall(text)],
        "compute_mib": [float(m) for m in re.findall(r"compute buffer size =\s*([\d.]+) MiB", text)],
        "output_mib": [float(m) for m in re.findall(r"output buffer size =\s*([\d.]+) MiB", text)],
        "n_ctx": [int(m) for m in re.findall(r"llama_context: n_ctx\s+= (\d+)", text)],
    }


def assert_kv_matches(result: MemoryEstimate, logged: list[dict]):
    """Cell and layer counts exactly; bytes to the 2 decimals of MiB llama.cpp prints."""
    assert len(result.kv_caches) == len(logged)
    for cache, line in zip(sorted(result.kv_caches, key=lambda c: len(c.layers)),
                           sorted(logged, key=lambda line: line["layers"])):
        assert cache.cells == line["cells"]
        assert len(cache.layers) == line["layers"]
        assert cache.streams == line["streams"]
        assert (cache.type_k, cache.type_v) == (line["type_k"], line["type_v"])
        assert abs(cache.k_bytes / MiB - line["k_mib"]) <= 0.0051
        assert abs(cache.v_bytes / MiB - line["v_mib"]) <= 0.0051
        assert abs(cache.bytes / MiB - line["mib"]) <= 0.0051


# --- the bundled Gemma 3 270M ---------------------------------------------------------------

BUNDLED_RUNS = [
    # llama-cpp-python's own defaults (n_batch = n_ubatch = 512, swa_full left to llama.cpp's
    # library default, which is on)
    {"kind": "llama", "args": {"n_ctx": 1024}},
    {"kind": "llama", "args": {"n_ctx": 4096}},
    # the sliding-window cache as llama-server / llama-cli size it
    {"kind": "llama", "args": {"n_ctx": 1024, "swa_full": False}},
    {"kind": "llama", "args": {"n_ctx": 4096, "swa_full": False}},
    # padding, parallel sequences, a unified cache, quantized caches
    # (llama_context_default_params has flash_attn_type AUTO, which turns it on here, so
    # every run below states it)
    {"kind": "context", "args": {"n_ctx": 1000, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 5000, "n_batch": 512, "n_ubatch": 256, "swa_full": False, "n_seq_max": 3,
                                 "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 5000, "n_batch": 512, "n_ubatch": 256, "swa_full": False, "n_seq_max": 3,
                                 "kv_unified": True, "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 4096, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 1, "type_k": GGML_TYPE["q8_0"], "type_v": GGML_TYPE["q4_0"]}},
    {"kind": "context", "args": {"n_ctx": 3000, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 1, "type_k": GGML_TYPE["iq4_nl"], "type_v": GGML_TYPE["q5_1"]}},
    {"kind": "context", "args": {"n_ctx": 2048, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 0, "type_k": GGML_TYPE["q5_0"], "type_v": GGML_TYPE["bf16"]}},
    # a quantized V cache without flash attention: llama.cpp refuses the context
    {"kind": "context", "args": {"n_ctx": 2048, "flash_attn_type": 0, "type_v": GGML_TYPE["q8_0"]}},
    # compute buffers where attention, not the logits, is the largest part
    {"kind": "context", "args": {"n_ctx": 32768, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 0, "n_outputs_max": 1}},
    {"kind": "context", "args": {"n_ctx": 32768, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 1, "n_outputs_max": 1}},
]


@pytest.fixture(scope="module")
def bundled_runs():
    return run_llama_cpp(bundled_path(), BUNDLED_RUNS)


@pytest.fixture(scope="module")
def bundled_header():
    return read_header(bundled_path())


def _estimate_for(header, args: dict) -> MemoryEstimate:
    names = {v: k for k, v in GGML_TYPE.items()}
    return estimate(
        header,
        context_length=args["n_ctx"],
        n_batch=args.get("n_batch", 512),  # llama-cpp-python's default
        n_ubatch=args.get("n_ubatch", 512),
        n_seq=args.get("n_seq_max", 1),
        kv_unified=args.get("kv_unified", False),
        swa_full=args.get("swa_full", True),  # llama_context_default_params
        flash_attention=bool(args.get("flash_attn_type", 0)),
        cache_type_k=names[args.get("type_k", GGML_TYPE["f16"])],
        cache_type_v=names[args.get("type_v", GGML_TYPE["f16"])],
        n_outputs_max=args.get("n_outputs_max"),
    )


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["1024", "4096", "1024-swa-window", "4096-swa-window"])
def test_kv_cache_matches_llama_cpp_for_the_bundled_model(bundled_runs, bundled_header, index):
    run = bundled_runs[index]
    assert run["kv"], "llama.cpp printed no KV cache line"
    assert_kv_matches(_estimate_for(bundled_header, BUNDLED_RUNS[index]["args"]), run["kv"])


def test_sliding_window_layers_keep_window_plus_ubatch_cells(bundled_runs, bundled_header):
    # 4096 context, swa_full off: llama.cpp keeps pad(512 + 512, 256) = 1024 cells for the 15
    # local layers and 4096 for the 3 global ones (its own log, not our arithmetic)
    cells = {line["layers"]: line["cells"] for line in bundled_runs[3]["kv"]}
    assert cells == {3: 4096, 15: 1024}
    result = _estimate_for(bundled_header, BUNDLED_RUNS[3]["args"])
    assert {len(c.layers): c.cells for c in result.kv_caches} == cells


@pytest.mark.parametrize("index", [4, 5, 6, 7, 8, 9],
                         ids=["padded", "3-sequences", "3-sequences-unified", "q8_0-q4_0", "iq4_nl-q5_1", "q5_0-bf16"])
def test_kv_cache_matches_llama_cpp_for_other_settings(bundled_runs, bundled_header, index):
    run = bundled_runs[index]
    assert run["ok"] and run["kv"]
    result = _estimate_for(bundled_header, BUNDLED_RUNS[index]["args"])
    assert_kv_matches(result, run["kv"])
    assert result.n_ctx == run["n_ctx"][0]


def test_context_is_padded_like_llama_cpp(bundled_runs):
    assert bundled_runs[4]["n_ctx"] == [1024]  # asked for 1000
    assert context_cells(1000, 1, False) == (1024, 1024)
    assert bundled_runs[5]["n_ctx"] == [5376]  # 5000 over 3 sequences: 3 × pad(5120 / 3, 256)
    assert context_cells(5000, 3, False) == (5376, 1792)


def test_a_quantized_v_cache_needs_flash_attention_in_llama_cpp_and_here(bundled_runs, bundled_header):
    assert bundled_runs[10]["ok"] is False
    with pytest.raises(InputError) as info:
        estimate(bundled_header, context_length=2048, cache_type_v="q8_0", flash_attention=False)
    assert info.value.field == "kv_cache_type"
    # a quantized K cache alone is allowed without flash attention
    estimate(bundled_header, context_length=2048, cache_type_k="q8_0", flash_attention=False)


def test_output_buffer_matches_llama_cpp(bundled_runs, bundled_header):
    # output_reserve: n_vocab logits × n_seq_max outputs × 4 bytes
    for index in (0, 5):
        run, args = bundled_runs[index], BUNDLED_RUNS[index]["args"]
        expected = _estimate_for(bundled_header, args).output_buffer_bytes / MiB
        assert run["output_mib"] == [pytest.approx(expected, abs=0.005)]
    assert bundled_runs[5]["output_mib"] == [3.0]  # 262,144 × 3 × 4 bytes


@pytest.mark.parametrize("index,tolerance", [(0, 0.02), (1, 0.02), (3, 0.02), (11, 0.02), (12, 0.05)],
                         ids=["1024", "4096", "4096-swa-window", "32k-attention", "32k-flash-attention"])
def test_compute_buffer_estimate_is_close_to_llama_cpps(bundled_runs, bundled_header, index, tolerance):
    # Measured with llama.cpp's CPU backend: 514.50 MiB with llama-cpp-python's defaults (the
    # logits of 512 tokens × 262,144 vocabulary entries dominate), 331.76 MiB for a 32k
    # context without flash attention and 50.77 MiB with it (one output row reserved).
    (logged,) = bundled_runs[index]["compute_mib"]
    result = _estimate_for(bundled_header, BUNDLED_RUNS[index]["args"])
    assert result.compute_buffer_bytes / MiB == pytest.approx(logged, rel=tolerance)


# --- a synthetic Llama-architecture file (grouped-query attention, no sliding window) ---------

def write_synthetic_llama(path, *, n_embd=512, n_layer=4, n_head=8, n_head_kv=2, n_ff=1408, n_vocab=4096,
                          sliding_window=None):
    """A Llama-architecture GGUF file llama.cpp loads (see synthetic_gguf.write_gguf)."""
    arch = Architecture("llama", n_embd, n_ff, n_layer, n_head, n_head_kv, n_embd // n_head, n_vocab,
                        8192, False, sliding_window=sliding_window)
    return write_gguf(path, arch)


SYNTHETIC_RUNS = [
    {"kind": "context", "args": {"n_ctx": 2048, "n_batch": 512, "n_ubatch": 512, "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 8192, "n_batch": 512, "n_ubatch": 512, "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 4096, "n_batch": 512, "n_ubatch": 128, "flash_attn_type": 1}},
    {"kind": "context", "args": {"n_ctx": 4096, "n_batch": 512, "n_ubatch": 512, "n_seq_max": 2,
                                 "flash_attn_type": 0}},
]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "synthetic-llama.gguf"
    header = write_synthetic_llama(path, sliding_window=4096)
    return header, run_llama_cpp(path, SYNTHETIC_RUNS)


@pytest.mark.parametrize("index", range(len(SYNTHETIC_RUNS)))
def test_kv_cache_and_compute_buffer_for_a_grouped_query_llama_file(synthetic, index):
    header, runs = synthetic
    run, args = runs[index], dict(SYNTHETIC_RUNS[index]["args"])
    assert run["ok"]
    result = _estimate_for(header, args)
    if index == 1:
        # the file has a 4096 sliding_window key, yet llama.cpp's "llama" graph caches all
        # 8192 cells in one cache: its window is ignored (as for Mistral 7B v0.1)
        assert [line["cells"] for line in run["kv"]] == [8192]
    assert_kv_matches(result, run["kv"])
    (logged,) = run["compute_mib"]
    assert result.compute_buffer_bytes / MiB == pytest.approx(logged, rel=0.05)


# --- everything else ---------------------------------------------------------------------------

def test_to_dict_has_exactly_the_documented_keys(bundled_header):
    data = estimate(bundled_header, context_length=4096).to_dict()
    assert set(data) == {"parameters", "weights_bytes", "bits_per_weight", "kv_cache_bytes",
                         "compute_buffer_bytes", "output_buffer_bytes", "overhead_bytes", "total_bytes",
                         "gpu_bytes", "cpu_bytes", "tensors", "breakdown", "notes"}
    assert set(data["tensors"][0]) == {"name", "type", "shape", "bytes"}
    assert set(data["breakdown"][0]) == {"label", "bytes", "device"}
    json.dumps(data)  # plain JSON types only
    assert data["total_bytes"] == data["gpu_bytes"] + data["cpu_bytes"] == sum(b["bytes"] for b in data["breakdown"])
    assert data["total_bytes"] == (data["weights_bytes"] + data["kv_cache_bytes"] + data["compute_buffer_bytes"]
                                   + data["output_buffer_bytes"] + data["overhead_bytes"])


def test_the_bundled_file_weights_and_bits_per_weight(bundled_header):
    result = estimate(bundled_header, context_length=1024)
    assert result.weights_bytes == os.path.getsize(bundled_path()) - bundled_header.data_offset
    assert result.parameters == get_preset("gemma-3-270m").official_parameter_count == 268_098_176
    assert result.bits_per_weight == pytest.approx(7.36, abs=0.005)
    assert len(result.tensors) == 236


def test_the_preset_and_the_file_give_the_same_estimate(bundled_header):
    from_file = estimate(bundled_header, context_length=4096)
    from_preset = estimate(get_preset("gemma-3-270m").architecture, quant="Q4_K_M", context_length=4096)
    for key in ("parameters", "weights_bytes", "kv_cache_bytes", "compute_buffer_bytes", "output_buffer_bytes"):
        assert getattr(from_preset, key) == getattr(from_file, key), key


def test_mistral_v01_sliding_window_is_ignored_as_llama_cpp_does():
    # Mistral 7B v0.1's config has sliding_window 4096; llama.cpp runs it as "llama", whose
    # graph has no window (the synthetic-file test above shows the full cache in its log).
    arch = Architecture.from_hf_config(dict(
        model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768,
        sliding_window=4096))
    result = estimate(arch, quant="Q4_K_M", context_length=8192)
    (cache,) = result.kv_caches
    assert cache.cells == 8192
    # 32 layers × 8192 cells × 8 heads × 128 × 2 bytes × (K + V) = 1 GiB
    assert result.kv_cache_bytes == 1024 * MiB
    assert any("sliding window" in note for note in result.notes)


def test_gpu_layers_offload_the_output_layer_first_then_the_last_blocks(bundled_header):
    # src/llama-model.cpp load_tensors: i_gpu_start = n_layer + 1 - n_gpu_layers; il = n_layer
    # is the output layer; token_embd (the input layer) always stays on the CPU.
    def devices(n):
        result = estimate(bundled_header, context_length=1024, n_gpu_layers=n)
        return {t.name: t.device for t in result.tensors}, result

    cpu_only, result = devices(0)
    assert set(cpu_only.values()) == {"cpu"} and result.gpu_bytes == 0

    one, result = devices(1)
    assert {n for n, d in one.items() if d == "gpu"} == {"output_norm.weight"}
    # tied embeddings: the output matrix is token_embd, copied onto the GPU
    token_embd = next(t for t in result.tensors if t.name == "token_embd.weight")
    assert any(b.device == "gpu" and b.bytes == token_embd.bytes for b in result.breakdown)
    assert result.overhead_bytes == token_embd.bytes
    assert result.total_bytes == (result.weights_bytes + result.kv_cache_bytes + result.compute_buffer_bytes
                                  + result.output_buffer_bytes + result.overhead_bytes)

    ten, result = devices(10)
    gpu_blocks = {int(n.split(".")[1]) for n, d in ten.items() if d == "gpu" and n.startswith("blk.")}
    assert gpu_blocks == set(range(9, 18))
    kv_gpu_layers = sum(len([il for il in c.layers if il >= 9]) for c in result.kv_caches)
    assert kv_gpu_layers == 9

    everything, result = devices(19)
    assert {n for n, d in everything.items() if d == "cpu"} == {"token_embd.weight"}
    assert devices(100)[0] == everything  # more layers than the model has: all of them


@pytest.mark.parametrize("kwargs,field", [
    (dict(context_length=0), "context_length"),
    (dict(context_length=10_000_001), "context_length"),
    (dict(context_length="4096"), "context_length"),
    (dict(n_gpu_layers=-1), "n_gpu_layers"),
    (dict(n_seq=0), "n_seq"),
    (dict(n_seq=257), "n_seq"),
    (dict(n_ubatch=0), "n_ubatch"),
    (dict(n_batch=-5), "n_batch"),
    (dict(cache_type_k="q3_k"), "cache_type_k"),
    (dict(cache_type_v="fp8"), "cache_type_v"),
    (dict(cache_type_v="q4_0"), "kv_cache_type"),
    (dict(flash_attention="yes"), "flash_attention"),
    (dict(quant="Q9_K"), "quant"),
])
def test_impossible_inputs_raise_an_error_naming_the_field(bundled_header, kwargs, field):
    with pytest.raises(InputError) as info:
        estimate(bundled_header, **kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)


def test_an_architecture_needs_a_quant():
    with pytest.raises(InputError) as info:
        estimate(get_preset("llama-3.1-8b").architecture, context_length=4096)
    assert info.value.field == "quant"


def test_fit_verdicts_for_a_70b_model():
    # Llama 3.1 70B IQ4_XS: bartowski's file is 37.9 GB (see test_quant_mix), more than any
    # 24 or 32 GB card holds and less than an 80 GB one.
    result = estimate(get_preset("llama-3.1-70b").architecture, quant="IQ4_XS", imatrix=True,
                      context_length=8192, n_gpu_layers=81, flash_attention=True)
    assert result.weights_bytes / 1e9 == pytest.approx(37.9, rel=0.015)
    verdicts = {v.device: v for v in fit_verdicts(result, system_ram_bytes=16 * 1024**3)}
    assert verdicts["rtx-4090"].verdict == "does-not-fit"
    assert verdicts["rtx-5090"].verdict == "does-not-fit"
    assert verdicts["a100-80gb"].verdict == "fits"
    assert verdicts["apple-32gb"].verdict == "does-not-fit"
    assert verdicts["apple-64gb"].verdict == "fits"  # Metal lets the GPU use 48 GiB of 64
    assert verdicts["system-ram"].needed_bytes == result.cpu_bytes
    assert len(verdicts) == len(GPUS) + 1


def test_a_verdict_is_tight_inside_llama_cpps_one_gib_margin(bundled_header):
    result = estimate(bundled_header, context_length=4096, n_gpu_layers=19)
    card = get_gpu("rtx-3060-12gb")
    squeezed = type(card)(card.slug, card.name, result.gpu_bytes + 512 * MiB)
    (verdict,) = fit_verdicts(result, gpus=(squeezed,))
    assert verdict.verdict == "tight" and verdict.fits
    (verdict,) = fit_verdicts(result, gpus=(type(card)("x", "x", result.gpu_bytes - 1),))
    assert verdict.verdict == "does-not-fit" and not verdict.fits


def test_apple_silicon_gpu_limit_matches_metals_logged_working_set():
    # recommendedMaxWorkingSetSize values llama.cpp logged (see calculators/gpus.py)
    assert get_gpu("apple-16gb").gpu_usable_bytes / MiB == pytest.approx(10922.67, abs=0.01)
    assert get_gpu("apple-32gb").gpu_usable_bytes / MiB == pytest.approx(21845.34, abs=0.01)
    assert get_gpu("apple-64gb").gpu_usable_bytes / MiB == 49152.00
    assert get_gpu("rtx-4090").gpu_usable_bytes == 24 * 1024**3


# --- every architecture family, as llama.cpp itself loads and caches it -----------------------
#
# Small files of each family written from Architecture.tensors() (tests/calculators/
# synthetic_gguf.py): llama.cpp's loader refuses a file whose tensor list differs from its
# own in a name, a shape or a count, so loading is the check of the tensor list, and the
# context's `llama_kv_cache: size = …` lines are the reference for the KV cache.

def _tiny(family, **kw):
    base = dict(family=family, hidden_size=256, intermediate_size=512, num_layers=4, num_heads=8,
                num_kv_heads=2, head_dim=64, vocab_size=1024, context_length=32768,
                tie_word_embeddings=False)
    return Architecture(**{**base, **kw})


TINY_FAMILIES = {
    "qwen3": _tiny("qwen3", tie_word_embeddings=True),
    "qwen3_moe": _tiny("qwen3_moe", num_experts=8, num_experts_per_token=2, expert_intermediate_size=128),
    "phi3": _tiny("phi3", head_dim=32),
    # head size 64 with 8 heads ≠ hidden 192, like gpt-oss (64 × 64 ≠ 2880); sinks, biases,
    # a 128-token window on even layers
    "gpt_oss": _tiny("gpt_oss", hidden_size=192, intermediate_size=192, num_experts=4,
                     num_experts_per_token=2, attention_bias=True, attention_out_bias=True,
                     sliding_window=128, sliding_window_layers=(True, False, True, False)),
    # DeepSeek V3's shape in small: q and kv compression, shared experts, a dense first layer
    "deepseek2": _tiny("deepseek2", num_kv_heads=8, head_dim=96, num_experts=8, num_experts_per_token=2,
                       expert_intermediate_size=128, num_shared_experts=1, leading_dense_layers=1,
                       expert_score_bias=True, q_lora_rank=96, kv_lora_rank=128, qk_rope_head_dim=32,
                       v_head_dim=64),
    # DeepSeek V2-Lite: no query compression (llama.cpp tells it by its 27 layers)
    "deepseek2-lite": _tiny("deepseek2", num_layers=27, num_kv_heads=8, head_dim=96, num_experts=8,
                            num_experts_per_token=2, expert_intermediate_size=128, num_shared_experts=2,
                            leading_dense_layers=1, kv_lora_rank=128, qk_rope_head_dim=32, v_head_dim=64),
    # Llama 4 Maverick's layout: MoE every 2nd layer, a shared expert, chunked attention
    # (8192-token chunks) on 3 layers of 4
    "llama4": _tiny("llama4", num_layers=8, num_experts=4, num_experts_per_token=1,
                    expert_intermediate_size=128, num_shared_experts=1, moe_layer_step=2,
                    sliding_window=8192, sliding_window_layers=tuple(i % 4 < 3 for i in range(8))),
    # GLM-4.5: q/k/v biases, q/k norms, a dense first layer, a multi-token-prediction block
    "glm4_moe": _tiny("glm4_moe", num_experts=8, num_experts_per_token=2, expert_intermediate_size=128,
                      num_shared_experts=1, leading_dense_layers=1, expert_score_bias=True,
                      attention_bias=True, qk_norm=True, nextn_layers=1),
}

FAMILY_RUNS = [
    {"kind": "context", "args": {"n_ctx": 2048, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 0}},
    {"kind": "context", "args": {"n_ctx": 5000, "n_batch": 512, "n_ubatch": 256, "swa_full": False,
                                 "n_seq_max": 2, "flash_attn_type": 1, "type_k": GGML_TYPE["q8_0"],
                                 "type_v": GGML_TYPE["q8_0"]}},
    {"kind": "context", "args": {"n_ctx": 20000, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                 "flash_attn_type": 0}},
]


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("families")
    for key, arch in TINY_FAMILIES.items():
        header = write_gguf(folder / f"{key}.gguf", arch)
        out[key] = (arch, header, run_llama_cpp(folder / f"{key}.gguf", FAMILY_RUNS))
    return out


@pytest.mark.parametrize("key", sorted(TINY_FAMILIES))
@pytest.mark.parametrize("index", range(len(FAMILY_RUNS)), ids=["2k", "5k-2seq-fa-q8", "20k"])
def test_kv_cache_is_exact_for_every_family(family_runs, key, index):
    arch, header, runs = family_runs[key]
    run = runs[index]
    assert run["ok"], f"llama.cpp refused the {key} file:\n" + run["log"][-2000:]
    assert run["kv"], "llama.cpp printed no KV cache line"
    args = FAMILY_RUNS[index]["args"]
    # from the file's header, and from the architecture (the quant does not change the cache)
    for result in (_estimate_for(header, args),
                   estimate(arch, quant="Q8_0", **_estimate_kwargs(args))):
        assert_kv_matches(result, run["kv"])
        assert result.n_ctx == run["n_ctx"][0]


def _estimate_kwargs(args: dict) -> dict:
    names = {v: k for k, v in GGML_TYPE.items()}
    return dict(context_length=args["n_ctx"], n_batch=args.get("n_batch", 512),
                n_ubatch=args.get("n_ubatch", 512), n_seq=args.get("n_seq_max", 1),
                kv_unified=args.get("kv_unified", False), swa_full=args.get("swa_full", True),
                flash_attention=bool(args.get("flash_attn_type", 0)),
                cache_type_k=names[args.get("type_k", GGML_TYPE["f16"])],
                cache_type_v=names[args.get("type_v", GGML_TYPE["f16"])])


def test_mla_caches_the_latent_and_no_v(family_runs):
    # DeepSeek's multi-head latent attention: one cached row of kv_lora_rank + rope dims
    # per token and layer (128 + 32 here), and llama.cpp's V cache is empty
    arch, header, runs = family_runs["deepseek2"]
    (line,) = runs[0]["kv"]
    assert line["v_mib"] == 0
    assert line["k_mib"] * MiB == 4 * 2048 * (128 + 32) * 2


def test_a_deepseek_file_from_before_the_mla_split_caches_full_k_and_v(tmp_path):
    # convert_hf_to_gguf before spring 2025 kept attn_kv_b and wrote no key_length_mla;
    # llama.cpp (llama_hparams::is_mla) then runs ordinary attention over every head
    arch = TINY_FAMILIES["deepseek2"]
    header = write_gguf(tmp_path / "legacy.gguf", arch, legacy_mla=True)
    (run,) = run_llama_cpp(tmp_path / "legacy.gguf", FAMILY_RUNS[:1])
    assert run["ok"], run["log"][-2000:]
    (line,) = run["kv"]
    assert line["k_mib"] * MiB == 4 * 2048 * 8 * 96 * 2  # layers × cells × heads × K head × f16
    assert line["v_mib"] * MiB == 4 * 2048 * 8 * 64 * 2
    result = _estimate_for(header, FAMILY_RUNS[0]["args"])
    assert_kv_matches(result, run["kv"])
    assert any("attn_kv_b" in note for note in result.notes)


def test_glm_mtp_block_gets_no_cache(family_runs):
    arch, header, runs = family_runs["glm4_moe"]
    assert header.hyperparameters().n_layer == 5  # 4 blocks + the MTP block
    assert [line["layers"] for line in runs[0]["kv"]] == [4]


def test_llama4_chunked_layers_keep_a_chunk_plus_a_ubatch(family_runs):
    arch, header, runs = family_runs["llama4"]
    cells = sorted((line["layers"], line["cells"]) for line in runs[2]["kv"])
    # 20000 → 20224 cells for the 2 global layers; pad(8192 + 512, 256) for the 6 chunked ones
    assert cells == [(2, 20224), (6, 8704)]


def test_mxfp4_moe_on_a_dense_model_is_q8_0_and_says_so():
    # llama-quant.cpp: under MXFP4_MOE only 3-D expert tensors become MXFP4, everything else Q8_0
    arch = get_preset("llama-3.1-8b").architecture
    mxfp4 = estimate(arch, quant="MXFP4_MOE", context_length=4096)
    q8 = estimate(arch, quant="Q8_0", context_length=4096)
    assert mxfp4.weights_bytes == q8.weights_bytes
    assert any("MXFP4_MOE" in note and "Q8_0" in note for note in mxfp4.notes)
    moe = estimate(get_preset("gpt-oss-20b").architecture, quant="MXFP4_MOE", context_length=4096)
    assert not any("MXFP4_MOE stores only" in note for note in moe.notes)
    assert {t.type for t in moe.tensors if t.name.endswith("_exps.weight")} == {"MXFP4"}


def test_a_tied_file_that_stores_output_weight_is_read_as_it_is(tmp_path):
    # tie_word_embeddings true, yet the file has output.weight: weights count it, and no
    # second copy of token_embd is added for the GPU
    arch = _tiny("qwen3", tie_word_embeddings=False)
    header = write_gguf(tmp_path / "stored-output.gguf", arch)
    result = estimate(header, context_length=2048, n_gpu_layers=99)
    assert "output.weight" in {t.name for t in result.tensors} and result.overhead_bytes == 0
    assert result.weights_bytes == header.weights_bytes


def test_an_unknown_architecture_keeps_exact_weights_and_says_what_is_not_modelled(tmp_path):
    import dataclasses

    header = write_gguf(tmp_path / "x.gguf", _tiny("qwen3"))
    md = {k.replace("qwen3.", "exotic."): v for k, v in header.metadata.items()}
    md["general.architecture"] = "exotic"
    exotic = dataclasses.replace(header, metadata=md)
    result = estimate(exotic, context_length=2048)
    assert result.weights_bytes == header.weights_bytes
    assert any("'exotic'" in note and "not modelled" in note for note in result.notes)
