"""calculators.placement: where llama.cpp puts each byte, and the answer the solver gives.

Independent references: llama.cpp's own logs (a two-GPU load published in
ggml-org/llama.cpp#7217; the tensor-override lines the vendored llama.cpp prints when it loads
a synthetic MoE file with --n-cpu-moe's patterns; what it prints for flash attention "auto" on
the CPU) and rules read from its source, cited in each test. A CPU build cannot allocate GPU
buffers, so GPU-side figures beyond the weights are checked against the source's rules only.
"""

import re
import subprocess
from dataclasses import replace
import sys
import textwrap

import gguf
import numpy as np
import pytest

from calculators import memory
from calculators.architecture import Architecture, tensor_role
from calculators.gguf_header import read_header
from calculators.gpus import get_gpu
from calculators.memory import InputError
from calculators.placement import (
    Device, Options, Planner, layer_devices, resolve_flash_attention, solve,
)
from calculators.presets import get_preset
from tests.calculators.test_gguf_header import bundled_path
from tests.calculators.synthetic_gguf import write_gguf
from tests.calculators.test_memory import run_llama_cpp

MiB = 2**20
GiB = 2**30
T = gguf.GGMLQuantizationType


def card(slug: str) -> Device:
    return Device.from_accelerator(get_gpu(slug))


def gpus(*gib: float) -> list[Device]:
    return [Device(f"GPU {i}", round(g * GiB)) for i, g in enumerate(gib)]


# --- where layers go (src/llama-model.cpp load_tensors) -----------------------------------

def test_ngl_offloads_the_output_layer_first_then_blocks_from_the_end():
    # i_gpu_start = max(n_layer + 1 - ngl, 0): -ngl 1 is the output layer alone, -ngl n leaves
    # block 0 on the CPU, -ngl n + 1 (and more) offloads everything
    one = np.array([1.0], dtype=np.float32)
    assert layer_devices(4, 0, one) == [None] * 5
    assert layer_devices(4, 1, one) == [None, None, None, None, 0]
    assert layer_devices(4, 4, one) == [None, 0, 0, 0, 0]
    assert layer_devices(4, 5, one) == [0] * 5
    assert layer_devices(4, 999, one) == [0] * 5


def test_two_gpus_split_the_layers_as_llama_cpp_logged():
    # ggml-org/llama.cpp#7217: Yi 34B i1-IQ4_XS, -ngl 61 -ts 1,1 on an RTX 3090 + RTX 3060:
    #   CUDA_Host buffer size = 232.42 MiB, CUDA0 buffer size = 8796.98 MiB,
    #   CUDA1 buffer size = 8588.34 MiB
    # (01-ai/Yi-34B config.json: 60 layers, hidden 7168, 56 heads, 8 KV heads, FFN 20480,
    # vocabulary 64000, untied output)
    yi = Architecture.from_hf_config({
        "model_type": "llama", "hidden_size": 7168, "intermediate_size": 20480, "num_attention_heads": 56,
        "num_hidden_layers": 60, "num_key_value_heads": 8, "vocab_size": 64000,
        "max_position_embeddings": 4096, "rope_theta": 5000000.0, "tie_word_embeddings": False})
    plan = Planner(yi, gpus(24, 12), Options(tensor_split=(1, 1), flash_attention="on"),
                   quant="IQ4_XS", imatrix=True, context_length=2048, n_batch=512)
    p = plan.place()
    weights = [round(d.kind_bytes("weights") / MiB, 2) for d in p.gpus]
    assert weights == [8796.98, 8588.34]
    assert round(p.host.kind_bytes("weights") / MiB, 2) == 232.42
    # 61 layers over two equal shares: blocks 0-30 on the first, 31-59 and the output on the second
    assert (p.gpus[0].blocks[0], p.gpus[0].blocks[-1]) == (0, 30)
    assert (p.gpus[1].blocks[0], p.gpus[1].blocks[-1], p.gpus[1].output_layer) == (31, 59, True)


def test_the_default_split_follows_each_gpus_memory_and_sm_none_uses_one():
    arch = get_preset("llama-3.1-8b").architecture
    p = Planner(arch, gpus(24, 8), Options(), quant="Q4_K_M").place()
    # 33 layers in proportion 3:1: offsets k with k/33 < 0.75 go to the first GPU (k = 0…24)
    assert [len(d.blocks) + d.output_layer for d in p.gpus] == [25, 8]
    single = Planner(arch, gpus(24, 8), Options(split_mode="none"), quant="Q4_K_M").place()
    assert len(single.gpus) == 1 and len(single.gpus[0].blocks) == 32


# --- experts on the CPU (--n-cpu-moe, common/arg.cpp) ---------------------------------------

OVERRIDE_CHILD = textwrap.dedent(r"""
    import ctypes, os, sys
    import llama_cpp

    class Override(ctypes.Structure):
        _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]

    ggml = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml.so"))
    ggml.ggml_backend_dev_by_type.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    ggml.ggml_backend_dev_buffer_type.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_buffer_type.argtypes = [ctypes.c_void_p]
    llama_cpp.llama_backend_init()
    cpu = ggml.ggml_backend_dev_buffer_type(ggml.ggml_backend_dev_by_type(0))
    n = int(sys.argv[2])
    # common/arg.cpp --n-cpu-moe: one override per block with llm_ffn_exps_block_regex(i)
    patterns = [f"blk\\.{i}\\.ffn_(up|down|gate|gate_up)_(ch|)exps".encode() for i in range(n)]
    table = (Override * (n + 1))(*[Override(p, cpu) for p in patterns], Override(None, None))
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    params.tensor_buft_overrides = ctypes.cast(table, ctypes.c_void_p)
    log = llama_cpp.llama_log_callback(lambda level, text, data: sys.stderr.write(text.decode(errors="replace")))
    llama_cpp.llama_log_set(log, None)
    model = llama_cpp.llama_model_load_from_file(sys.argv[1].encode(), params)
    print("loaded" if model else "failed")
""")


def small_moe(family: str) -> Architecture:
    """A four-block model of the family, small enough to write and load in a moment."""
    small = dict(hidden_size=256, intermediate_size=256, num_layers=4, num_heads=8, num_kv_heads=2,
                 vocab_size=4096, num_experts=4, num_experts_per_token=2)
    if family == "mixtral":
        return Architecture("mixtral", head_dim=32, context_length=4096, tie_word_embeddings=False, **small)
    if family == "gpt_oss":  # expert biases, alternating sliding window
        return replace(get_preset("gpt-oss-20b").architecture, sliding_window_layers=(True, False) * 2, **small)
    # deepseek2: a leading dense block, shared experts, latent attention
    return replace(get_preset("deepseek-v2-lite").architecture,
                   **{**small, "num_kv_heads": 8, "intermediate_size": 512}, expert_intermediate_size=128,
                   leading_dense_layers=1, kv_lora_rank=64, q_lora_rank=32, qk_rope_head_dim=16, head_dim=48,
                   v_head_dim=32)


@pytest.fixture(scope="module")
def moe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "synthetic-moe.gguf"
    return path, write_gguf(path, small_moe("mixtral"))


@pytest.mark.parametrize("family", ["mixtral", "gpt_oss", "deepseek2"])
def test_n_cpu_moe_keeps_exactly_the_tensors_llama_cpp_overrides(tmp_path, family):
    pytest.importorskip("llama_cpp")
    path = tmp_path / f"{family}.gguf"
    header = write_gguf(path, small_moe(family))  # as llama.cpp's converter writes the family
    proc = subprocess.run([sys.executable, "-c", OVERRIDE_CHILD, str(path), "3"], capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.strip().endswith("loaded"), proc.stderr[-2000:]
    overridden = set(re.findall(r"tensor (\S+) \(\d+ MiB \w+\) buffer type overridden to CPU", proc.stderr))
    assert overridden, proc.stderr[-2000:]

    ours = {t.name for t in header.tensors
            if tensor_role(t.name) == "expert" and int(t.name.split(".")[1]) < 3}
    assert ours == overridden  # expert biases too; never routers or shared experts
    gpu = [Device("GPU", 24 * GiB)]
    p = Planner(header, gpu, Options(n_cpu_moe=3)).place()
    everything = Planner(header, gpu, Options()).place()
    sizes = {t.name: t.n_bytes for t in header.tensors}
    moved = everything.gpus[0].kind_bytes("weights") - p.gpus[0].kind_bytes("weights")
    assert moved == sum(sizes[name] for name in overridden)
    assert p.host.kind_bytes("weights") == everything.host.kind_bytes("weights") + moved


def test_cpu_moe_and_n_cpu_moe_past_the_blocks_keep_every_expert_on_the_cpu(moe_file):
    _, header = moe_file
    all_experts = Planner(header, [Device("GPU", 24 * GiB)], Options(cpu_moe=True)).place()
    idiom = Planner(header, [Device("GPU", 24 * GiB)], Options(n_cpu_moe=99)).place()  # "--n-cpu-moe 99"
    assert all_experts.n_cpu_moe == idiom.n_cpu_moe == 4
    assert all_experts.gpus[0].bytes == idiom.gpus[0].bytes
    expert_bytes = sum(t.n_bytes for t in header.tensors if "_exps" in t.name)
    assert all_experts.host.kind_bytes("weights") >= expert_bytes
    # the router (ffn_gate_inp) is not an expert: it stays with its layer
    assert all_experts.gpus[0].kind_bytes("weights") > 0


def test_shared_experts_and_routers_are_not_matched_by_the_expert_pattern():
    from calculators.architecture import tensor_role

    def name(tensor, bid=3):
        return gguf.TENSOR_NAMES[tensor].format(bid=bid) + ".weight"

    M = gguf.MODEL_TENSOR  # the converter's own names (gguf-py)
    for tensor in (M.FFN_GATE_EXP, M.FFN_UP_EXP, M.FFN_DOWN_EXP, M.FFN_GATE_UP_EXP, M.FFN_DOWN_CHEXP):
        assert tensor_role(name(tensor)) == "expert", tensor
    for tensor in (M.FFN_GATE_INP, M.FFN_GATE_SHEXP, M.FFN_UP_SHEXP, M.FFN_DOWN_SHEXP, M.FFN_GATE):
        assert tensor_role(name(tensor)) != "expert", tensor


# --- flash attention "auto" (src/llama-context.cpp resolve_fused_ops) -----------------------

@pytest.fixture(scope="module")
def auto_runs():
    return run_llama_cpp(bundled_path(), [
        {"kind": "context", "args": {"n_ctx": 4096, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                     "flash_attn_type": -1}},
        {"kind": "context", "args": {"n_ctx": 4096, "n_batch": 512, "n_ubatch": 512, "swa_full": False,
                                     "flash_attn_type": -1, "type_k": 8, "type_v": 8}},  # q8_0
    ])


def test_flash_attention_auto_is_on_for_the_cpu_as_llama_cpp_decides(auto_runs):
    plain, quantized = auto_runs
    assert "Flash Attention enabled" in plain["log"]
    # with flash attention on, a quantized V cache is accepted (off, llama.cpp refuses it)
    assert quantized["ok"] and quantized["kv"][0]["type_v"] == "q8_0"
    header = read_header(bundled_path())
    p = Planner(header, [], Options(), context_length=4096, n_batch=512, n_ubatch=512).place()
    assert p.flash_attention and p.gpus == ()
    # the CPU compute buffer llama.cpp reserved for it is the one the estimator sizes with
    # flash attention on
    (logged,) = plain["compute_mib"]
    assert p.host.kind_bytes("compute") / MiB == pytest.approx(logged, rel=0.05)
    Planner(header, [], Options(), context_length=4096, cache_type_k="q8_0", cache_type_v="q8_0").place()


@pytest.mark.parametrize("type_k,type_v,unified,on", [
    (T.F16, T.F16, False, True),
    (T.Q8_0, T.Q8_0, False, True),
    (T.Q8_0, T.Q4_0, False, True),   # the one mixed pair CUDA builds by default
    (T.Q8_0, T.F16, False, False),   # mixed pairs need GGML_CUDA_FA_ALL_QUANTS
    (T.Q5_1, T.Q5_1, False, False),  # likewise q4_1, q5_0, q5_1, iq4_nl
    (T.Q5_1, T.Q5_1, True, True),    # Metal: any one type
    (T.Q8_0, T.F16, True, False),    # Metal: K and V of one type
])
def test_flash_attention_auto_on_a_gpu_follows_the_backends_kernels(type_k, type_v, unified, on):
    hp = memory.load_model(get_preset("llama-3.1-8b").architecture, "Q4_K_M").hp  # head size 128
    got, why = resolve_flash_attention("auto", hp, type_k=type_k, type_v=type_v, gpu_layers=True,
                                       kv_offload=True, unified=unified)
    assert got is on, why
    assert why.startswith("auto → on" if on else "auto → off")


def test_flash_attention_auto_turns_off_with_the_kv_cache_in_system_ram():
    hp = memory.load_model(get_preset("llama-3.1-8b").architecture, "Q4_K_M").hp
    assert resolve_flash_attention("auto", hp, type_k=T.F16, type_v=T.F16, gpu_layers=True, kv_offload=False,
                                   unified=False)[0] is False
    assert resolve_flash_attention("on", hp, type_k=T.F16, type_v=T.F16, gpu_layers=True, kv_offload=False,
                                   unified=False)[0] is True
    with pytest.raises(InputError) as info:
        Planner(get_preset("llama-3.1-8b").architecture, [card("rtx-4090")], Options(kv_offload=False),
                quant="Q4_K_M", cache_type_k="q8_0", cache_type_v="q8_0").place()
    assert info.value.field == "kv_cache_type" and "--no-kv-offload" in info.value.message


def test_head_sizes_without_a_cuda_kernel_turn_auto_off():
    # e.g. head size 48: not in fattn.cu's list
    arch = Architecture("llama", 768, 2048, 4, 16, 4, 48, 1000, 2048, False)
    hp = memory.load_model(arch, "F16").hp
    on, why = resolve_flash_attention("auto", hp, type_k=T.F16, type_v=T.F16, gpu_layers=True, kv_offload=True,
                                      unified=False)
    assert not on and "48" in why


# --- the KV cache in system RAM (--no-kv-offload) -----------------------------------------

def test_no_kv_offload_moves_every_layers_cache_and_the_attention_to_the_host():
    arch = get_preset("llama-3.1-8b").architecture
    on = Planner(arch, [card("rtx-4090")], Options(), quant="Q4_K_M", context_length=32768).place()
    off = Planner(arch, [card("rtx-4090")], Options(kv_offload=False), quant="Q4_K_M", context_length=32768).place()
    kv = 32 * 32768 * 8 * 128 * 2 * 2  # config.json: 32 layers, 8 KV heads of 128; f16 K and V
    assert on.gpus[0].kind_bytes("kv_cache") == kv and on.host.kind_bytes("kv_cache") == 0
    assert off.gpus[0].kind_bytes("kv_cache") == 0 and off.host.kind_bytes("kv_cache") == kv
    assert not off.flash_attention
    # attention (scores of 512 tokens × 32768 cells × 32 heads, F32) now runs on the CPU
    assert off.host.kind_bytes("compute") >= 4 * 512 * 32768 * 32
    assert off.gpus[0].kind_bytes("compute") < off.host.kind_bytes("compute")


# --- several GPUs -----------------------------------------------------------------------------

def test_pipeline_parallelism_copies_the_graph_inputs_only_when_llama_cpp_enables_it():
    arch = get_preset("llama-3.1-8b").architecture
    two = Planner(arch, gpus(24, 24), Options(), quant="Q4_K_M").place()
    assert two.pipeline_parallel
    assert all(any("pipeline" in p.label for p in d.parts) for d in two.gpus)
    # not with a layer left on the CPU, one GPU, or the KV cache on the host
    assert not Planner(arch, gpus(24, 24), Options(n_gpu_layers=30), quant="Q4_K_M").place().pipeline_parallel
    assert not Planner(arch, gpus(24), Options(), quant="Q4_K_M").place().pipeline_parallel
    assert not Planner(arch, gpus(24, 24), Options(kv_offload=False), quant="Q4_K_M").place().pipeline_parallel


def test_partial_offload_copies_the_largest_host_weight_into_the_first_gpus_compute_buffer():
    # ggml-org/llama.cpp#6083: batches of 32+ tokens run on the GPU with the weights copied in
    arch = get_preset("llama-3.1-8b").architecture
    p = Planner(arch, [card("rtx-3060-12gb")], Options(n_gpu_layers=20), quant="Q4_K_M").place()
    copies = [part for part in p.gpus[0].parts if "host-resident" in part.label]
    host_blocks = [t for t in p.layout.estimate.tensors if t.name.startswith("blk.") and
                   int(t.name.split(".")[1]) in p.host.blocks]
    assert copies and copies[0].bytes == max(t.bytes for t in host_blocks)
    assert not any("host-resident" in part.label
                   for part in Planner(arch, [card("rtx-3060-12gb")], Options(), quant="Q4_K_M").place().gpus[0].parts)


def test_one_gpu_with_everything_offloaded_is_the_estimators_single_gpu_case():
    arch = get_preset("qwen2.5-7b").architecture
    est = memory.estimate(arch, quant="Q4_K_M", context_length=8192, n_gpu_layers=29, flash_attention=True)
    p = Planner(arch, [card("rtx-4090")], Options(), quant="Q4_K_M", context_length=8192).place()
    assert p.flash_attention
    assert (p.gpu_bytes, p.host.bytes, p.total_bytes) == (est.gpu_bytes, est.cpu_bytes, est.total_bytes)


def test_a_mac_counts_the_cpu_part_against_what_the_gpu_leaves():
    arch = get_preset("llama-3.1-70b").architecture
    mac = Device.from_accelerator(get_gpu("apple-64gb"))  # Metal may use 48 of the 64 GiB
    p = Planner(arch, [mac], Options(n_gpu_layers=70), quant="Q4_K_M", context_length=8192).place()
    assert p.unified and p.host.available_bytes == 64 * GiB - p.gpu_bytes
    assert p.verdict in ("fits", "tight")


# --- the answer (solve) --------------------------------------------------------------------------

def test_mixtral_on_a_24_gb_card_keeps_the_fewest_experts_on_the_cpu():
    arch = get_preset("mixtral-8x7b-v0.1").architecture
    plan = Planner(arch, [card("rtx-3090")], Options(), quant="Q4_K_M", context_length=8192,
                   system_ram_bytes=64 * GiB)
    assert plan.place().verdict == "does-not-fit"  # 26 GB of weights
    answer = solve(plan)
    p = answer.placement
    assert answer.fits and p.n_gpu_layers == 33 and 0 < p.n_cpu_moe < 32
    assert p.gpus[0].bytes + memory.FIT_MARGIN_BYTES <= 24 * GiB
    one_less = plan.place(Options(n_cpu_moe=p.n_cpu_moe - 1))
    assert one_less.gpus[0].verdict != "fits"  # the fewest
    assert answer.flags() == ["-ngl", "33", "--n-cpu-moe", str(p.n_cpu_moe)]
    assert answer.full_offload_context is None  # the weights alone are larger than the card
    assert answer.longest_context >= 8192


def test_a_dense_model_that_does_not_fit_gets_the_most_layers_and_the_context_for_full_offload():
    arch = get_preset("llama-3.1-8b").architecture
    plan = Planner(arch, [card("rtx-3060-12gb")], Options(), quant="Q4_K_M", context_length=131072)
    answer = solve(plan)
    ngl = answer.placement.n_gpu_layers
    assert 0 < ngl < 33 and answer.fits
    assert plan.place(Options(n_gpu_layers=ngl + 1)).gpus[0].verdict != "fits"  # the most
    full = answer.full_offload_context
    assert full % 256 == 0 and 4096 <= full < 131072
    assert plan.place(Options(), full).gpus[0].verdict == "fits"
    assert plan.place(Options(), full + 256).gpus[0].verdict != "fits"
    assert answer.longest_context == 131072  # the training context, with the layers it keeps


def test_two_gpus_are_filled_from_the_last_and_get_their_own_split():
    arch = get_preset("llama-3.1-70b").architecture
    plan = Planner(arch, gpus(24, 24), Options(), quant="Q4_K_M", context_length=32768)
    answer = solve(plan)
    counts = [len(d.blocks) + d.output_layer for d in answer.placement.gpus]
    assert answer.fits and all(d.verdict == "fits" for d in answer.placement.gpus)
    assert answer.options.tensor_split == tuple(float(c) for c in counts)
    assert answer.flags() == ["-ngl", str(sum(counts)), "-ts", ",".join(map(str, counts))]


def test_no_gpu_memory_known_means_no_answer():
    arch = get_preset("llama-3.1-8b").architecture
    assert solve(Planner(arch, [Device("GPU", None)], Options(), quant="Q4_K_M")) is None
    assert solve(Planner(arch, [], Options(), quant="Q4_K_M")) is None


# --- bad options ------------------------------------------------------------------------------

@pytest.mark.parametrize("options,field", [
    (Options(n_cpu_moe=-1), "n_cpu_moe"),
    (Options(n_gpu_layers=-2), "n_gpu_layers"),
    (Options(kv_offload="yes"), "kv_offload"),
    (Options(load_mode="swap"), "load_mode"),
    (Options(flash_attention="sometimes"), "flash_attention"),
    (Options(split_mode="row"), "split_mode"),
    (Options(tensor_split=(1.0, 2.0, 3.0)), "tensor_split"),
    (Options(tensor_split=(-1.0,)), "tensor_split"),
    (Options(tensor_split=(float("nan"),)), "tensor_split"),
])
def test_bad_options_name_the_option(options, field):
    with pytest.raises(InputError) as info:
        Planner(get_preset("llama-3.2-1b").architecture, gpus(8, 8), options, quant="Q4_K_M")
    assert info.value.field == field


def test_more_than_sixteen_gpus_is_refused():
    with pytest.raises(InputError) as info:
        Planner(get_preset("llama-3.2-1b").architecture, gpus(*[8] * 17), Options(), quant="Q4_K_M")
    assert info.value.field == "devices"


def test_place_reuses_one_layout_for_every_device_set():
    plan = Planner(get_preset("llama-3.2-1b").architecture, gpus(8), Options(), quant="Q4_K_M")
    plan.place()
    plan.place(devices=gpus(24))
    plan.place(devices=gpus(12, 12))
    assert len(plan._layouts) == 1


def test_on_a_mac_the_answer_keeps_metals_limit_and_the_memory_the_gpu_leaves():
    arch = get_preset("qwen2.5-32b").architecture
    mac = Device.from_accelerator(get_gpu("apple-32gb"))  # Metal: 2/3 of 32 GiB
    answer = solve(Planner(arch, [mac], Options(), quant="Q4_K_M", context_length=32768))
    p = answer.placement
    assert answer.fits and p.verdict == "fits"
    assert p.gpus[0].bytes + memory.FIT_MARGIN_BYTES <= mac.memory_bytes
    assert p.gpus[0].bytes + p.host.bytes + memory.FIT_MARGIN_BYTES <= 32 * GiB
    assert p.n_gpu_layers < 65  # 18.5 GiB of weights and an 8 GiB cache do not fit under 21.3 GiB
