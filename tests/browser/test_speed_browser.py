"""The memory page's speed section in Chromium: its figures are the speed API's.

Each check asks the API for the same inputs (through the browser's request context,
against the live server) and compares the section's exact data-value with the answer.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

API = "/api/v1/calculators/speed/"


def api_answer(page, live_server, **payload):
    response = page.request.post(live_server.url + API, data=payload)
    assert response.ok, response.text()
    return response.json()


def test_depth_quant_and_backend_update_the_speed_section(live_server, page):
    page.goto(live_server.url + "/calculators/memory/?model=llama-3.1-8b&quant=Q4_K_M&gpu=rtx-3090")
    answer = api_answer(page, live_server, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-3090")
    generation = page.locator("#speed-generation")
    expect(generation).to_have_attribute("data-value", str(answer["generation_tokens_per_second"]))
    expect(page.locator("#speed-comparison")).to_contain_text("Q4_K_M generates")
    expect(page.locator("#speed-comparison")).to_contain_text("faster than Q8_0 on NVIDIA GeForce RTX 3090")
    # the charts were drawn (Chart.js sizes the canvas it draws on)
    assert page.locator("#chart-speed-depth").evaluate("c => c.width > 0 && !!window.Chart.getChart(c)")
    assert page.locator("#chart-speed-quants").evaluate("c => !!window.Chart.getChart(c)")

    page.locator("#id_depth").fill("32768")
    answer = api_answer(page, live_server, model="llama-3.1-8b", quant="Q4_K_M", gpu="rtx-3090", depth=32768)
    expect(generation).to_have_attribute("data-value", str(answer["generation_tokens_per_second"]), timeout=15000)
    expect(page.locator("#speed-generation + .figure-note")).to_contain_text("after 32,768 tokens")

    page.locator("#id_quant").select_option("Q8_0")
    answer = api_answer(page, live_server, model="llama-3.1-8b", quant="Q8_0", gpu="rtx-3090", depth=32768)
    expect(generation).to_have_attribute("data-value", str(answer["generation_tokens_per_second"]), timeout=15000)
    expect(page.locator("#speed-comparison")).to_contain_text("Q8_0 generates")
    expect(page.locator("#speed-comparison")).to_contain_text("than F16")

    page.locator("#id_backend").select_option("metal")  # not on an NVIDIA card
    expect(page.locator("#speed-error")).to_contain_text("metal does not run on", timeout=15000)
    page.locator("#id_backend").select_option("vulkan")
    answer = api_answer(page, live_server, model="llama-3.1-8b", quant="Q8_0", gpu="rtx-3090", depth=32768,
                        backend="vulkan")
    expect(generation).to_have_attribute("data-value", str(answer["generation_tokens_per_second"]), timeout=15000)
