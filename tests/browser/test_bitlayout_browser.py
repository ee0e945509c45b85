"""The bit-layout page in Chromium: typing, flipping bits, blocks and the comparison chart.

Expected values come from numpy / ml_dtypes / gguf.quants, not from the page's own API.
"""

import re

import gguf
import ml_dtypes
import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGE = "/calculators/bit-layout/"


def bits_on_page(page):
    return "".join(page.locator("#scalar-bits button.bit").all_inner_texts())


def test_typing_1_in_fp16_then_flipping_the_sign_bit_gives_minus_1(live_server, page):
    page.goto(live_server.url + PAGE)
    page.select_option("#scalar-format", "fp16")
    page.fill("#scalar-value", "1")
    # IEEE half precision 1.0 is 0x3c00 = 0 01111 0000000000.
    one = format(int(np.array([1.0], np.float16).view(np.uint16)[0]), "016b")
    expect(page.locator("#scalar-hex")).to_have_text("0x3c00")
    assert bits_on_page(page) == one
    expect(page.locator("#scalar-decoded")).to_have_text("1")

    sign = page.locator("#scalar-bits button.bit").first
    expect(sign).to_have_attribute("aria-pressed", "false")
    sign.click()
    expect(page.locator("#scalar-decoded")).to_have_text("-1")
    expect(sign).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#scalar-value")).to_have_value("-1")
    assert bits_on_page(page) == "1" + one[1:]

    # Clearing the lowest exponent bit halves it: 1 01110 0... is -0.5 in numpy's float16.
    page.locator("#scalar-bits button.bit").nth(5).click()
    expected = float(np.array([int("1" + "01110" + "0" * 10, 2)], np.uint16).view(np.float16)[0])
    expect(page.locator("#scalar-decoded")).to_have_text(str(expected))
    assert expected == -0.5


def test_bits_flip_from_the_keyboard_and_show_special_values(live_server, page):
    page.goto(live_server.url + PAGE + "?format=fp8_e4m3&value=448")
    expect(page.locator("#scalar-decoded")).to_have_text("448")
    assert bits_on_page(page) == "01111110"
    last = page.locator("#scalar-bits button.bit").last
    last.focus()
    page.keyboard.press("Space")
    # 0.1111.111 is E4M3's only NaN pattern with a clear sign bit (OCP 8-bit floating point
    # specification, 2023, table 1: E4M3 has no infinities and S.1111.111 is NaN).
    expect(page.locator("#scalar-decoded")).to_have_text("NaN")
    expect(page.locator("#scalar-kind")).to_have_text("nan")
    expect(last).to_be_focused()
    # Arrow keys walk along the bits.
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#scalar-bits button.bit").nth(6)).to_be_focused()


def test_bf16_shows_the_stored_value_and_its_error(live_server, page):
    page.goto(live_server.url + PAGE)
    page.select_option("#scalar-format", "bf16")
    page.fill("#scalar-value", "0.3333333333333333")
    stored = float(np.array([1 / 3], np.float32).astype(ml_dtypes.bfloat16)[0])
    expect(page.locator("#scalar-decoded")).to_have_text(str(stored))
    assert bits_on_page(page) == "0011111010101011"
    expect(page.locator("#scalar-abs")).to_have_attribute("title", str(abs(stored - 0.3333333333333333)))
    # The next value down is one bf16 step below.
    down = float(np.array([0x3EAA], np.uint16).view(ml_dtypes.bfloat16)[0].astype(np.float32))
    page.locator("#scalar-down").click()
    expect(page.locator("#scalar-value")).to_have_value(str(down))
    expect(page.locator("#scalar-decoded")).to_have_text(str(down))


def test_bad_value_shows_an_inline_error_and_keeps_the_text(live_server, page):
    page.goto(live_server.url + PAGE)
    page.fill("#scalar-value", "12abc")
    error = page.locator("#scalar-value-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not a number")
    expect(page.locator("#scalar-value")).to_have_value("12abc")
    expect(page.locator("#scalar-value")).to_have_attribute("aria-invalid", "true")
    page.fill("#scalar-value", "2")
    expect(error).to_be_hidden()
    expect(page.locator("#scalar-decoded")).to_have_text("2")


def test_random_q4_0_block_shows_the_bytes_gguf_quants_produces(live_server, page):
    page.goto(live_server.url + PAGE)
    page.select_option("#block-format", "q4_0")
    page.fill("#block-seed", "11")
    x = np.random.default_rng(11).standard_normal(32)
    raw = gguf.quants.quantize(x.astype(np.float32), gguf.GGMLQuantizationType.Q4_0).reshape(-1)
    hex_bytes = [f"{b:02x}" for b in raw]
    cells = page.locator("#block-bytes .byte")
    expect(cells).to_have_count(18)
    expect(page.locator("#block-bytes .bl-field-bytes").first.locator(".byte")).to_have_text(hex_bytes[:2])
    assert cells.all_inner_texts() == hex_bytes
    expect(page.locator("#block-stats")).to_contain_text("4.5 (18 bytes × 8 / 32 weights)")
    expect(page.locator("#block-weights tr")).to_have_count(32)


def test_pasted_values_of_the_wrong_length_are_named(live_server, page):
    page.goto(live_server.url + PAGE)
    page.select_option("#block-format", "q8_0")
    page.check("input[name=source][value=paste]")
    page.fill("#block-values", "0.5, 1, -2")
    expect(page.locator("#block-values-error")).to_contain_text("needs exactly 32 numbers, got 3")
    expect(page.locator("#block-count")).to_have_text("(3 of 32)")


def fp32_rmse(x):
    """RMSE of storing float64 values as float32 (numpy's cast)."""
    return float(np.sqrt(np.mean((x.astype(np.float32).astype(np.float64) - x) ** 2)))


def test_comparison_chart_and_table_cover_every_format(live_server, page):
    page.goto(live_server.url + PAGE)
    rows = page.locator("#compare-rows tr")
    expect(rows).to_have_count(20)
    # Sorted by bits per weight, FP32 first; its RMSE is the fp32 rounding of the seeded draw.
    cell = rows.first.locator("td").nth(1)
    expect(cell).to_have_attribute("title", re.compile(r"\d"))
    x = np.random.default_rng(0).standard_normal(256)
    assert float(cell.get_attribute("title")) == fp32_rmse(x)
    assert page.evaluate("() => !!window.Chart && !!Chart.getChart('compare-chart')")

    before = cell.get_attribute("title")
    page.fill("#compare-seed", "3")
    expect(cell).not_to_have_attribute("title", before)
    x = np.random.default_rng(3).standard_normal(256)
    assert float(cell.get_attribute("title")) == fp32_rmse(x)


@pytest.mark.slow
def test_real_block_is_read_only_when_asked_with_a_loading_state(live_server, page):
    page.goto(live_server.url + PAGE)
    page.select_option("#block-format", "q4_k")
    page.check("input[name=source][value=model]")
    status = page.locator("#block-model-status")
    expect(status).to_contain_text("Read the block")  # nothing fetched yet
    page.click("#block-load")
    expect(status).to_contain_text(re.compile(r"Block 0 of blk\.\d+\.\w+\.weight"), timeout=90_000)
    expect(page.locator("#block-bytes .byte")).to_have_count(144)
    expect(page.locator("#block-tensor")).to_be_enabled()
    page.fill("#block-index", "1")
    expect(status).to_contain_text("Block 1 of")


def test_a_hex_or_binary_value_is_read_as_a_bit_pattern(live_server, page):
    # Issue 20.11: "0x7e" was refused as "not a number". In E4M3 it is 0.1111.110, the
    # largest finite value (OCP 8-bit floating point specification, 2023: 448).
    page.goto(live_server.url + PAGE + "?format=fp8_e4m3")
    page.fill("#scalar-value", "0x7e")
    expect(page.locator("#scalar-decoded")).to_have_text("448")
    expect(page.locator("#scalar-value-error")).to_be_hidden()
    assert bits_on_page(page) == "01111110"
    expect(page.locator("#scalar-read-as")).to_contain_text("bit pattern")
    page.fill("#scalar-value", "0b0011_1000")
    expect(page.locator("#scalar-decoded")).to_have_text("1")
    page.fill("#scalar-value", "0x1ff")
    expect(page.locator("#scalar-value-error")).to_contain_text("needs 9 bits")


def test_the_saturating_cast_sits_beside_the_ieee_one(live_server, page):
    page.goto(live_server.url + PAGE + "?format=fp8_e4m3&value=1000")
    expect(page.locator("#scalar-decoded")).to_have_text("NaN")
    page.get_by_label(re.compile("Saturating")).check()
    expect(page.locator("#scalar-decoded")).to_have_text("448")
    expect(page.locator("#scalar-overflow")).to_contain_text("satfinite")
    assert "cast=satfinite" in page.url
    page.reload()
    expect(page.get_by_label(re.compile("Saturating"))).to_be_checked()
    expect(page.locator("#scalar-decoded")).to_have_text("448")
    # Integer codes always clamp: the choice is hidden for them.
    page.select_option("#scalar-format", "int8")
    expect(page.locator("#cast-field")).to_be_hidden()


# Records what is written on the comparison chart's canvas during its latest draw (Chart.js
# clears the canvas before each draw), so the test sees the labels as drawn, whatever code
# draws them.
RECORD_CANVAS_TEXT = """
(() => {
  const fill = CanvasRenderingContext2D.prototype.fillText;
  const clear = CanvasRenderingContext2D.prototype.clearRect;
  CanvasRenderingContext2D.prototype.clearRect = function (...args) {
    if (this.canvas.id === "compare-chart") this.canvas.__texts = [];
    return clear.apply(this, args);
  };
  CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
    if (this.canvas.id === "compare-chart") {
      const m = this.measureText(text);
      (this.canvas.__texts ||= []).push({ text: String(text), x, y, width: m.width,
        ascent: m.actualBoundingBoxAscent, descent: m.actualBoundingBoxDescent,
        align: this.textAlign, baseline: this.textBaseline });
    }
    return fill.call(this, text, x, y, ...rest);
  };
})();
"""

DRAWN_LABELS = """
() => {
  const chart = Chart.getChart("compare-chart");
  const names = new Set();
  const points = [];
  const segments = [];
  chart.data.datasets.forEach((dataset, i) => {
    const meta = chart.getDatasetMeta(i);
    let previous = null;
    meta.data.forEach((p, k) => {
      names.add(dataset.data[k].label);
      points.push({ x: p.x, y: p.y, r: dataset.pointRadius });
      if (dataset.showLine && previous) segments.push([previous.x, previous.y, p.x, p.y]);
      previous = p;
    });
  });
  const labels = (chart.canvas.__texts || []).filter((t) => names.has(t.text)).map((t) => {
    const x0 = t.align === "right" || t.align === "end" ? t.x - t.width : t.align === "center" ? t.x - t.width / 2 : t.x;
    return { text: t.text, x0, x1: x0 + t.width, y0: t.y - t.ascent, y1: t.y + t.descent };
  });
  return { names: [...names], points, segments, labels };
}
"""


def box_hits_segment(box, segment):
    """Liang-Barsky: does the segment pass through the box?"""
    x0, y0, x1, y1 = segment
    t0, t1 = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0 - box["x0"]), (dx, box["x1"] - x0), (-dy, y0 - box["y0"]), (dy, box["y1"] - y0)):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def overlap(a, b):
    return a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_every_point_of_the_comparison_is_named_and_no_label_covers_another_or_a_point(
        live_server, page, width, height):
    # Issue 20.7: labels crowded into each other and the K-quant line at 4-6 bits per weight,
    # and some points went unnamed.
    page.set_viewport_size({"width": width, "height": height})
    page.add_init_script(RECORD_CANVAS_TEXT)
    page.goto(live_server.url + PAGE)
    expect(page.locator("#compare-rows tr")).to_have_count(20)
    page.wait_for_function("() => (document.getElementById('compare-chart').__texts || []).length > 20")
    drawn = page.evaluate(DRAWN_LABELS)
    labels = drawn["labels"]
    assert sorted(label["text"] for label in labels) == sorted(drawn["names"])  # each named once
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert not overlap(a, b), (a["text"], b["text"])
        for p in drawn["points"]:
            marker = {"x0": p["x"] - p["r"], "x1": p["x"] + p["r"], "y0": p["y"] - p["r"], "y1": p["y"] + p["r"]}
            assert not overlap(a, marker), (a["text"], p)
        for segment in drawn["segments"]:
            assert not box_hits_segment(a, segment), (a["text"], "crosses the K-quant line")


def test_the_comparison_table_fits_a_phone(live_server, page):
    # Issue 20.4: the table made the page 551 px wide on a 390 px screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + PAGE)
    expect(page.locator("#compare-rows tr")).to_have_count(20)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Every column is still there to read.
    expect(page.locator("#compare-rows tr").first.locator("td")).to_have_count(4)
    expect(page.locator("#compare-rows tr").first.locator("td").last).to_be_visible()
