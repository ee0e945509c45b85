"""The LoRA calculator in a real browser: live updates, charts, errors, phone width.

Expected counts are hand arithmetic on the Llama-2-7b-hf config (hidden 4096, 32 layers,
32 heads, intermediate 11008): a LoRA pair on nn.Linear(in, out) has r·(in + out)
parameters, so q_proj + v_proj train 32 × 2 × r × 8192 = 524,288·r.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

START = ("/calculators/lora/?model=llama-2-7b&rank=8&alpha=16"
         "&target_modules=q_proj&target_modules=v_proj")

CHART_STATE = """() => {
  const read = (id) => {
    const chart = Chart.getChart(document.getElementById(id));
    return {labels: chart.data.labels, data: chart.data.datasets.map((d) => d.data)};
  };
  return {rank: read("chart-rank"), sets: read("chart-sets"), memory: read("chart-memory")};
}"""


def errors_of(page):
    messages = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: messages.append(str(e)))
    return messages


def test_changing_the_rank_updates_the_count_and_the_charts(live_server, page):
    problems = errors_of(page)
    page.goto(live_server.url + START)
    count = page.locator("#trainable-count")
    # PEFT README: Llama-2-7b, r=8, q_proj + v_proj → "trainable params: 4,194,304".
    expect(count).to_have_text("4,194,304")
    expect(page.locator("#chart-rank")).to_have_attribute("data-rank", "8")
    state = page.evaluate(CHART_STATE)
    assert state["rank"]["labels"] == ["1", "2", "4", "8", "16", "32", "64", "128", "256"]
    assert state["rank"]["data"][0] == [524_288 * r for r in (1, 2, 4, 8, 16, 32, 64, 128, 256)]

    page.locator("#id_rank").fill("12")
    expect(count).to_have_text("6,291,456")  # 524,288 × 12
    expect(page.locator("#chart-rank")).to_have_attribute("data-rank", "12")
    state = page.evaluate(CHART_STATE)
    ranks = (1, 2, 4, 8, 12, 16, 32, 64, 128, 256)
    assert state["rank"]["labels"] == [str(r) for r in ranks]
    assert state["rank"]["data"][0] == [524_288 * r for r in ranks]
    # Target-set chart at r = 12: attention only (q, k, v, o), all linear, the chosen q + v.
    assert state["sets"]["data"][0] == [
        32 * 4 * 12 * 8192,
        32 * 12 * (4 * 8192 + 3 * (4096 + 11008)),
        524_288 * 12,
    ]
    assert page.url.endswith("rank=12") or "rank=12&" in page.url  # shareable URL follows
    assert problems == []


def test_a_bad_rank_is_explained_inline_and_the_last_result_stays(live_server, page):
    page.goto(live_server.url + START)
    count = page.locator("#trainable-count")
    expect(count).to_have_text("4,194,304")

    page.locator("#id_rank").fill("0")
    expect(page.locator("#error-rank")).to_have_text("Ensure this value is greater than or equal to 1.")
    expect(page.locator("#lora-status")).to_be_visible()
    expect(count).to_have_text("4,194,304")
    expect(page.locator("#id_rank")).to_have_value("0")

    page.locator("#id_rank").fill("16")
    expect(count).to_have_text("8,388,608")
    expect(page.locator("#error-rank")).to_be_empty()
    expect(page.locator("#lora-status")).to_be_hidden()


def test_quick_target_sets_and_dora_update_the_numbers(live_server, page):
    page.goto(live_server.url + START.replace("rank=8", "rank=16"))
    count = page.locator("#trainable-count")
    expect(count).to_have_text("8,388,608")

    page.get_by_role("button", name="All linear").click()
    # 32 layers × 16 × (4 × (4096 + 4096) + 3 × (4096 + 11008)); the figure PEFT prints
    # for Llama-2-7b with r=16 on all linear layers.
    expect(count).to_have_text("39,976,960")

    page.get_by_label("DoRA").check()
    # DoRA: one out_features-long magnitude per adapted module, per layer
    # 4 × 4096 (q, k, v, o) + 2 × 11008 (gate, up) + 4096 (down).
    expect(count).to_have_text(f"{39_976_960 + 32 * (4 * 4096 + 2 * 11008 + 4096):,}")
    expect(page.locator(".module-table thead")).to_contain_text("Magnitude")


def test_pasting_a_config_json_counts_that_model(live_server, page):
    page.goto(live_server.url + START)
    expect(page.locator("#trainable-count")).to_have_text("4,194,304")
    # "Edit this preset as JSON" fetches the preset from the models API into the box:
    # the same architecture, so the same count.
    page.get_by_role("button", name="Edit this preset as JSON").click()
    expect(page.locator("#id_architecture")).to_have_value(re.compile(r'"hidden_size": 4096'))
    expect(page.get_by_label("Paste a config.json")).to_be_checked()
    expect(page).to_have_url(re.compile(r"source=paste"))
    expect(page.locator("#trainable-count")).to_have_text("4,194,304")
    # Qwen2.5-0.5B config.json (published); r=8 on q and v:
    # 24 layers × 8 × ((896 + 896) + (896 + 2 × 64)) = 540,672.
    page.locator("#id_architecture").fill(
        '{"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,'
        ' "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,'
        ' "vocab_size": 151936, "max_position_embeddings": 32768, "tie_word_embeddings": true}')
    expect(page.locator("#trainable-count")).to_have_text("540,672")
    page.locator("#id_architecture").fill('{"model_type": "qwen2"}')
    expect(page.locator("#error-architecture")).to_contain_text("hidden_size")


def test_the_page_fits_a_phone(live_server, page):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(live_server.url + START)
    expect(page.locator("#trainable-count")).to_have_text("4,194,304")
    form_box = page.locator("#lora-form").bounding_box()
    figures_box = page.locator(".lora-figures").bounding_box()
    assert figures_box["y"] > form_box["y"] + form_box["height"] - 1  # one column
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


# For every run of digits (with its commas and point) in the summary cards: on how many
# lines it is laid out, and whether the value sticks out of its card.
NUMBER_LINES = """() => [...document.querySelectorAll(".lora-figures .figure-value")].flatMap((value) => {
  const out = [];
  const walker = document.createTreeWalker(value, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/[0-9][0-9.,]*/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      out.push({ text: match[0], lines: tops.size, overflows: value.scrollWidth > value.clientWidth + 1 });
    }
  }
  return out;
})"""


@pytest.mark.parametrize("width", [1366, 1100, 900, 390])
def test_summary_card_numbers_never_break_mid_digit(live_server, page, width):
    # Issue 20.8: at 1366 px "8,030,261,248" was shown as "8,030,261," over "248".
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url + "/calculators/lora/?model=llama-3.1-8b&rank=16&alpha=32&target_modules=q_proj"
              "&target_modules=k_proj&target_modules=v_proj&target_modules=o_proj&target_modules=gate_proj"
              "&target_modules=up_proj&target_modules=down_proj")
    expect(page.locator("#trainable-count")).to_have_text("41,943,040")
    numbers = page.evaluate(NUMBER_LINES)
    assert any(n["text"] == "8,030,261,248" for n in numbers)
    for number in numbers:
        assert number["lines"] == 1 and not number["overflows"], number
