"""The live demos in a real browser, on the real bundled model.

What each page shows must be what the API answers (the API itself is held to
llama-cpp-python in tests/live/test_live_api.py): the next-token bars and list, the
streamed greedy text, the token count, the perplexity. The model loads once for the module.
"""

import json
import re
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from playwright.sync_api import expect

from live import web
from live.service import reset_service

pytestmark = pytest.mark.browser

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def svc():
    reset_service()
    with override_settings(LLM={**django_settings.LLM, "model_path": "", "n_ctx": 1024, "n_threads": 1}):
        service = web.service()
    yield service
    reset_service()


def api(path, body):
    response = Client().post(f"/api/v1/llm/{path}", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def open_demo(page, live_server, path, width=1280):
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(live_server.url + path)
    page.wait_for_function("document.documentElement.dataset.liveReady === '1'")


def test_next_token_page_shows_bars_and_clicking_a_token_appends_it(live_server, page, svc):
    expected = api("next-token/", {"prompt": PROMPT, "top_n": 10})
    open_demo(page, live_server, "/live/next-token/")
    buttons = page.locator("#nt-list button.nt-token")
    expect(buttons).to_have_count(10)
    assert [b.get_attribute("data-text") for b in buttons.all()] == [t["text"] for t in expected["tokens"]]
    expect(page.locator("#nt-chart")).to_be_visible()
    bars = page.evaluate("window.liveNextToken.chart.data.datasets[0].data")
    assert bars == pytest.approx([t["prob"] * 100 for t in expected["tokens"]], rel=1e-9)
    expect(page.locator("#nt-entropy")).to_have_text(f"{expected['entropy']:.2f} nats")
    expect(page.locator("#live-speed")).to_contain_text("prompt tokens/s")

    # Click the most likely token: it is appended and the next distribution shown.
    first = expected["tokens"][0]["text"]
    buttons.first.click()
    longer = PROMPT + first
    expect(page.locator("#nt-prompt")).to_have_value(longer)
    expect(page.locator("#nt-list")).to_have_attribute("data-prompt", longer)
    after = api("next-token/", {"prompt": longer, "top_n": 10})
    expect(buttons.first).to_have_attribute("data-text", after["tokens"][0]["text"])
    bars = page.evaluate("window.liveNextToken.chart.data.datasets[0].data")
    assert bars == pytest.approx([t["prob"] * 100 for t in after["tokens"]], rel=1e-9)

    # ...and a bar of the chart appends its token too.
    # The first bar's geometry from Chart.js (canvas CSS pixels): base..x across, y its middle.
    bar = page.evaluate("(() => { const b = window.liveNextToken.chart.getDatasetMeta(0).data[0];"
                        " return {x: b.x, base: b.base, y: b.y}; })()")
    box = page.locator("#nt-chart").bounding_box()
    page.mouse.click(box["x"] + (bar["x"] + bar["base"]) / 2, box["y"] + bar["y"])
    expect(page.locator("#nt-prompt")).to_have_value(longer + after["tokens"][0]["text"])

    page.get_by_role("button", name="Undo last token").click()
    expect(page.locator("#nt-prompt")).to_have_value(longer)


def test_generation_page_streams_the_greedy_text_of_the_api(live_server, page, svc):
    request = {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}
    expected = api("generate/", request)
    open_demo(page, live_server, "/live/generate/")
    page.locator("#gen-prompt").fill(request["prompt"])
    page.locator("#gen-max_tokens").fill("24")
    page.get_by_role("button", name="Greedy").click()
    expect(page.locator("#gen-temperature")).to_have_value("0")
    page.get_by_role("button", name="Generate").click()
    output = page.locator("#gen-output")
    expect(output).to_have_attribute("data-state", "done", timeout=60_000)
    assert page.locator("#gen-tokens").evaluate("el => el.textContent") == expected["text"]
    expect(page.locator("#gen-tokens span")).to_have_count(expected["usage"]["completion_tokens"])
    # Each token is tinted by the model's probability for it (bucket = floor(10 p)).
    classes = page.locator("#gen-tokens span").evaluate_all("els => els.map((e) => e.className)")
    assert classes == [f"tint tint-{min(9, int(t['prob'] * 10))}" for t in expected["tokens"]]
    expect(page.locator("#gen-count")).to_have_text(str(expected["usage"]["completion_tokens"]))
    expect(page.locator("#live-speed")).to_contain_text("tokens/s")


def test_stop_aborts_the_stream_and_the_server_stops_generating(live_server, page, svc):
    open_demo(page, live_server, "/live/generate/")
    page.locator("#gen-max_tokens").fill("900")
    page.locator("#gen-temperature").fill("0")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#gen-tokens span").nth(9)).to_be_attached(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    stopped = time.monotonic()
    expect(page.locator("#gen-output")).to_have_attribute("data-state", "stopped")
    # What was measured up to Stop stays on screen (issue 20.5: it went back to "–").
    shown = page.locator("#gen-tokens span").count()
    expect(page.locator("#gen-count")).to_have_text(str(shown))
    assert float(page.locator("#gen-tps").inner_text()) > 0
    expect(page.locator("#gen-ttft")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("#gen-finish")).to_contain_text(f"stopped after {shown} tokens")
    # The server sees the connection close and the model worker stops before its next
    # token: the model is free at once, not after the 900 tokens (over 10 s here).
    while svc.status()["busy"] and time.monotonic() - stopped < 15:
        page.wait_for_timeout(50)
    assert not svc.status()["busy"]
    assert time.monotonic() - stopped < 3


def test_tokenizer_shows_the_count_the_api_gives(live_server, page, svc):
    open_demo(page, live_server, "/live/tokenizer/")
    text = page.locator("#tok-text").input_value()
    expected = api("tokenize/", {"text": text})
    expect(page.locator("#tok-count")).to_have_attribute("data-count", str(expected["count"]))
    expect(page.locator("#tok-pieces .tok-piece")).to_have_count(expected["count"])

    page.locator("#tok-text").fill("Hello, world! Tokenizers love 🦙.")
    expected = api("tokenize/", {"text": "Hello, world! Tokenizers love 🦙."})
    expect(page.locator("#tok-count")).to_have_attribute("data-count", str(expected["count"]))
    page.locator("#tok-pieces .tok-piece").nth(1).focus()
    second = expected["tokens"][1]
    expect(page.locator("#tok-detail")).to_contain_text(f"id {second['id']} · bytes "
                                                         + " ".join(f"{b:02X}" for b in second["bytes"]))

    page.locator("#tok-bos").uncheck()
    expect(page.locator("#tok-count")).to_have_attribute("data-count", str(expected["count"] - 1))


def test_json_mode_output_parses_and_an_invalid_grammar_is_shown_inline(live_server, page, svc):
    open_demo(page, live_server, "/live/json-mode/")
    page.get_by_role("button", name="Generate").click()
    verdict = page.locator("#jm-verdict")
    expect(verdict).to_have_attribute("data-parses", "yes", timeout=60_000)
    shown = page.locator("#jm-output code").evaluate("el => el.textContent")
    data = json.loads(shown)
    assert set(data) == {"name", "age"}

    page.get_by_label("a GBNF grammar").check()
    page.locator("#jm-spec").fill("root ::= ((")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#jm-spec-error")).to_contain_text("expecting ')'")
    expect(page.locator("#jm-spec")).to_have_value("root ::= ((")  # what the user typed stays


def test_perplexity_page_shows_the_api_perplexity_and_colours_each_token(live_server, page, svc):
    open_demo(page, live_server, "/live/perplexity/")
    expected = api("perplexity/", {"text": page.locator("#ppl-text").input_value()})
    page.get_by_role("button", name="Score the text").click()
    value = page.locator("#ppl-value")
    expect(value).to_have_attribute("data-value", str(expected["perplexity"]), timeout=60_000)
    expect(value).to_have_text(f"{expected['perplexity']:.2f}")
    classes = page.locator("#ppl-tokens .heat").evaluate_all("els => els.map((e) => e.className)")
    assert classes == [f"heat heat-{min(9, int(t['nll'] / 0.5))}" for t in expected["tokens"]]


def test_demo_pages_fit_a_phone_screen(live_server, page, svc):
    for path in ("/live/next-token/", "/live/generate/"):
        open_demo(page, live_server, path, width=390)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path


# --- issue 20: stale results, the context part, legends, labels, Stop, a busy model --------


def test_an_error_clears_the_previous_perplexity_and_an_edit_marks_it_stale(live_server, page, svc):
    open_demo(page, live_server, "/live/perplexity/")
    page.get_by_role("button", name="Score the text").click()
    value = page.locator("#ppl-value")
    expect(value).to_have_attribute("data-value", re.compile(r"^\d+(\.\d+)?(e[+-]?\d+)?$"), timeout=60_000)
    page.locator("#ppl-text").fill("The capital of France is Paris, and it is lovely.")
    expect(page.locator("#ppl-stale")).to_be_visible()  # the figures are for the text before
    page.locator("#ppl-text").fill("a")
    page.get_by_role("button", name="Score the text").click()
    expect(page.locator("#ppl-text-error")).to_contain_text("too short")
    expect(value).to_have_text("–")  # not the previous text's perplexity
    expect(page.locator("#ppl-scored")).to_have_text("–")
    expect(page.locator("#ppl-tokens .heat")).to_have_count(0)
    expect(page.locator("#ppl-stale")).to_be_hidden()


def test_perplexity_shows_the_context_part_explained_and_labels_each_bar(live_server, page, svc):
    open_demo(page, live_server, "/live/perplexity/")
    text = page.locator("#ppl-text").input_value()
    expected = api("perplexity/", {"text": text})
    page.get_by_role("button", name="Score the text").click()
    expect(page.locator("#ppl-value")).to_have_attribute("data-value", str(expected["perplexity"]), timeout=60_000)
    # The whole text is on screen: the context part as text (not "[38 context tokens]"), then
    # each scored token; and the page says why the context is not scored.
    scored = "".join(t["text"] for t in expected["tokens"])
    context = page.locator("#ppl-tokens .ppl-context")
    expect(context).to_have_text(text[: len(text) - len(scored)])
    assert page.locator("#ppl-tokens").evaluate("el => el.textContent") == text
    about = page.locator("#ppl-context-about")
    expect(about).to_be_visible()
    expect(about).to_contain_text(f"{expected['first'] + 1} tokens")
    expect(about).to_contain_text("llama-perplexity")
    # The per-token chart labels its bars with the tokens.
    ticks = page.evaluate("""() => { const c = Chart.getChart('ppl-chart');
        return c.scales.x.ticks.map((t) => c.scales.x.getLabelForValue(t.value)); }""")
    shown = [t["text"].replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") for t in expected["tokens"]]
    assert len(ticks) >= min(10, len(shown)) and set(ticks) <= set(shown), ticks


LEGEND_RANGES = """(selector) => [...document.querySelectorAll(selector)].map((el) => [el.className, el.textContent])"""


def ranges(legend):
    """[(low, high)] from legend texts such as "<0.5", "0.5–1", "≥4.5" or "<10%", "10–20%"."""
    out = []
    for _, text in legend:
        text = text.replace("%", "").replace(" nats", "")
        if text.startswith("<"):
            out.append((0.0, float(text[1:])))
        elif text.startswith("≥"):
            out.append((float(text[1:]), float("inf")))
        else:
            low, high = text.split("–")
            out.append((float(low), float(high)))
    return out


@pytest.mark.parametrize("path,selector,prefix,step", [
    ("/live/perplexity/", ".live-legend .heat", "heat", 0.5), ("/live/generate/", ".live-legend .tint", "tint", 10)])
def test_colour_legends_leave_no_range_out(live_server, page, svc, path, selector, prefix, step):
    open_demo(page, live_server, path)
    legend = page.evaluate(LEGEND_RANGES, selector)
    assert [cls.split()[-1] for cls, _ in legend] == [f"{prefix}-{n}" for n in range(10)]
    bounds = ranges(legend)
    assert bounds[0][0] == 0 and bounds[-1][1] == float("inf")
    for (low, high), (next_low, _) in zip(bounds, bounds[1:]):
        assert high == next_low and high - low == step  # contiguous, one bucket each


def busy_then_through(page, pattern, times, retry_after):
    """The first `times` calls to `pattern` answer as a full queue does (503, Retry-After);
    the rest reach the real server. Returns the times the calls arrived."""
    calls = []

    def handle(route):
        calls.append(page.evaluate("performance.now()"))
        if len(calls) <= times:
            route.fulfill(status=503, headers={"Retry-After": str(retry_after), "Content-Type": "application/json"},
                          body=json.dumps({"detail": f"The model is busy: 4 request(s) are already waiting. "
                                                     f"Retry in {retry_after} s."}))
        else:
            route.continue_()

    page.route(pattern, handle)
    return calls


def test_a_busy_model_is_asked_again_by_itself_with_a_countdown(live_server, page, svc):
    calls = busy_then_through(page, "**/api/v1/llm/tokenize/", times=2, retry_after=2)
    open_demo(page, live_server, "/live/tokenizer/")
    line = page.locator(".live-retry")
    expect(line).to_contain_text("The model is busy")
    expect(line).to_contain_text("Trying again in 2 s")
    expect(line).to_contain_text("Trying again in 1 s")
    text = page.locator("#tok-text").input_value()
    expected = api("tokenize/", {"text": text})
    expect(page.locator("#tok-count")).to_have_attribute("data-count", str(expected["count"]), timeout=15_000)
    expect(line).to_be_hidden()
    expect(page.locator("#tok-form [data-error-for~=detail]")).to_have_text("")
    assert len(calls) == 3
    # Retry-After honoured: two seconds between the tries.
    assert calls[1] - calls[0] >= 1900 and calls[2] - calls[1] >= 1900


def test_a_busy_model_is_retried_for_a_stream_and_cancel_shows_the_answer(live_server, page, svc):
    calls = busy_then_through(page, "**/api/v1/llm/generate/", times=1, retry_after=1)
    open_demo(page, live_server, "/live/generate/")
    page.locator("#gen-max_tokens").fill("8")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".live-retry")).to_contain_text("Trying again in 1 s")
    expect(page.locator("#gen-output")).to_have_attribute("data-state", "done", timeout=60_000)
    assert len(calls) == 2

    # Cancel during the countdown: the busy answer stays on screen, nothing is retried.
    page.unroute("**/api/v1/llm/generate/")
    calls = busy_then_through(page, "**/api/v1/llm/generate/", times=5, retry_after=30)
    page.get_by_role("button", name="Generate").click()
    line = page.locator(".live-retry")
    expect(line).to_contain_text("Trying again in 30 s")
    line.get_by_role("button", name="Cancel").click()
    expect(line).to_be_hidden()
    expect(page.locator("#gen-form [data-error-for~=detail]")).to_contain_text("The model is busy")
    expect(page.locator("#gen-output")).to_have_attribute("data-state", "error")
    assert len(calls) == 1
