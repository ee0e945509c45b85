"""The sampler playground in a real browser: its JavaScript engine (static/js/sampling.js)
against the Python engine (calculators/sampling.py), on the page's own example data.

Every expected number is computed here with the Python engine, whose own tests hold it to
llama.cpp; the page must show the same.
"""

import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from calculators.sampling import DEFAULT_CHAIN, Mt19937, apply_samplers, discrete, mirostat_v2, run_chain
from calculators.web.sampling import EXAMPLES_BY_SLUG, TRANSFORMERS_CHAIN

pytestmark = pytest.mark.browser

CREATIVE = EXAMPLES_BY_SLUG["creative"]  # the page's first example: a flat distribution
LIVE_URL = "**/api/v1/llm/next-token/"


def open_page(page, live_server, height=900):
    # Tall enough that a drag from one card to another needs no scrolling (Playwright's
    # drag_to loses the HTML drag when it scrolls between press and release).
    page.set_viewport_size({"width": 1280, "height": height})
    page.goto(live_server.url + "/calculators/sampling/")
    page.wait_for_function("document.documentElement.dataset.samplingReady === '1'")


def kept(chain, history=(), logits=CREATIVE.logits):
    return apply_samplers(logits, [dict(spec) for spec in chain], list(history), stages=False)["kept"]


def chain_names(page):
    return page.evaluate("window.samplerPlayground.samplers.map((s) => s.name)")


def moved(chain, name, before):
    """`chain` with the sampler `name` moved in front of `before`."""
    specs = [s for s in chain if s["name"] != name]
    spec = next(s for s in chain if s["name"] == name)
    specs.insert(next(i for i, s in enumerate(specs) if s["name"] == before), spec)
    return specs


def test_moving_temperature_ahead_of_the_cuts_changes_what_is_kept(live_server, page):
    llama = kept(DEFAULT_CHAIN)
    early = moved(DEFAULT_CHAIN, "temperature", "top_k")
    temperature_first = kept(early)
    # At temperature 0.8 applied first, top-p and min-p see a sharper distribution.
    assert temperature_first < llama

    open_page(page, live_server, height=2600)
    readout = page.locator("#sp-kept")
    expect(readout).to_have_attribute("data-kept", str(llama))
    expect(readout).to_have_text(str(llama))

    # Drag temperature (last) onto the top half of the top-k card: it lands in front of it.
    page.locator(".sp-card[data-name=temperature] .sp-handle").drag_to(
        page.locator(".sp-card[data-name=top_k]"), target_position={"x": 40, "y": 6})
    expect(readout).to_have_attribute("data-kept", str(temperature_first))
    assert chain_names(page) == [s["name"] for s in early]
    expect(page.locator("#sp-announce")).to_have_text("Temperature: position 4 of 9")

    # The keyboard way back: five presses of "move down" put it last again.
    down = page.get_by_role("button", name="Move Temperature down")
    for _ in range(5):
        down.focus()
        page.keyboard.press("Enter")
    expect(readout).to_have_attribute("data-kept", str(llama))
    assert chain_names(page) == [s["name"] for s in DEFAULT_CHAIN]

    # transformers' order: temperature first, and no DRY, XTC or top-n-sigma.
    page.get_by_role("button", name="transformers order").click()
    expect(readout).to_have_attribute("data-kept", str(kept(TRANSFORMERS_CHAIN)))
    assert chain_names(page) == [s["name"] for s in TRANSFORMERS_CHAIN]


def test_the_top_probabilities_shown_follow_the_order_too(live_server, page):
    open_page(page, live_server)
    top = int(np.argmax(CREATIVE.logits))
    cell = page.locator(f"#sp-table-body tr[data-index='{top}'] td[data-p]")
    shown = []
    for preset, chain in (("transformers order", TRANSFORMERS_CHAIN), ("llama.cpp default order", DEFAULT_CHAIN)):
        page.get_by_role("button", name=preset).click()
        expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(kept(chain)))
        expected = apply_samplers(CREATIVE.logits, [dict(s) for s in chain], stages=False)["probs"][top]
        shown.append(float(cell.get_attribute("data-p")))
        assert shown[-1] == pytest.approx(expected, abs=1e-9)
    assert shown[0] != pytest.approx(shown[1], abs=1e-3)  # the order moved it visibly


def _set(page, card, param, value):
    box = page.locator(f"#sp-{card}-{param}")
    if not box.is_visible():
        page.locator(f".sp-card[data-name={card}] details.sp-more summary").click()
    box.fill(str(value))


def test_page_engine_equals_the_python_engine_on_a_stateful_chain(live_server, page):
    open_page(page, live_server)
    ids = [t[0] for t in CREATIVE.tokens]
    little, girl, man = ids[0], ids[1], ids[2]
    # "little girl man" twice, then "little girl": DRY pushes " man" down. 99 is not among the 60.
    history = [99, little, girl, man, little, girl, man, little, girl]
    settings = {
        ("penalties", "repeat"): 1.3, ("penalties", "frequency"): 0.2, ("penalties", "presence"): 0.1,
        ("dry", "multiplier"): 0.8, ("dry", "allowed_length"): 2,
        ("xtc", "probability"): 1, ("xtc", "threshold"): 0.05, ("xtc", "seed"): 7,
        ("temperature", "t"): 1.1, ("top_k", "k"): 50,
    }
    for (card, param), value in settings.items():
        _set(page, card, param, value)
    page.locator("#sp-history").fill(", ".join(map(str, history)))

    chain = [dict(spec) for spec in DEFAULT_CHAIN]
    for spec in chain:
        spec.update({param: value for (card, param), value in settings.items() if card == spec["name"]})
    # The engine numbers the 60 tokens 0..59; a token not among them gets 60, 61, ...
    engine_history = [ids.index(t) if t in ids else 60 for t in history]
    expected = apply_samplers(CREATIVE.logits, chain, engine_history, stages=True)
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(expected["kept"]))

    run = page.evaluate("window.samplerPlayground")
    assert run["engineHistory"] == engine_history
    np.testing.assert_allclose(run["logits"], CREATIVE.logits, rtol=0, atol=0)
    ours = run["result"]
    assert ours["kept"] == expected["kept"]
    assert np.abs(np.array(ours["probs"]) - np.array(expected["probs"])).max() <= 1e-9
    assert [s["kept"] for s in ours["stages"]] == [s["kept"] for s in expected["stages"]]
    for a, b in zip(ours["stages"], expected["stages"]):
        assert np.abs(np.array(a["probs"]) - np.array(b["probs"])).max() <= 1e-9
    assert float(page.locator("#sp-entropy").get_attribute("data-entropy")) == pytest.approx(expected["entropy"], abs=1e-9)
    # Penalties, DRY and XTC each changed the distribution (else this test proves little).
    stages = [np.array(stage["probs"]) for stage in expected["stages"]]
    for index in (1, 2, 8):  # after penalties, DRY, XTC (stage 0 is the input)
        assert not np.array_equal(stages[index], stages[index - 1]), expected["stages"][index]["name"]


def test_histogram_is_the_seeded_draws_the_python_engine_makes(live_server, page):
    open_page(page, live_server)
    page.locator("#sp-seed").fill("2024")
    page.locator("#sp-draws").fill("1000")
    hist = page.locator("#sp-hist")
    expect(hist).to_have_attribute("data-seed", "2024")

    probs = np.array(apply_samplers(CREATIVE.logits, list(DEFAULT_CHAIN), stages=False)["probs"])
    order = [i for i in np.argsort(-probs, kind="stable") if probs[i] > 0]
    rng = Mt19937(2024)
    counts = np.zeros(probs.size, dtype=int)
    for _ in range(1000):
        counts[order[discrete(rng, probs[order])]] += 1
    expected = [[int(i), int(counts[i])] for i in order[:30]]
    assert json.loads(hist.get_attribute("data-counts")) == expected
    expect(page.locator("#sp-sample-summary")).to_contain_text("Seed 2024: 1,000 draws")


def test_chain_steps_draw_append_and_penalise_as_the_engine_does(live_server, page):
    open_page(page, live_server)
    _set(page, "penalties", "repeat", 3)
    page.locator("#sp-step-seed").fill("5")
    ids = [t[0] for t in CREATIVE.tokens]
    chain = [dict(spec) for spec in DEFAULT_CHAIN]
    chain[0]["repeat"] = 3

    rng = Mt19937(5)  # one generator for the whole walk
    history = []
    for step in range(1, 5):
        probs = np.array(apply_samplers(CREATIVE.logits, chain, history, stages=False)["probs"])
        order = [i for i in np.argsort(-probs, kind="stable") if probs[i] > 0]
        history.append(int(order[discrete(rng, probs[order])]))
        page.get_by_role("button", name="Step", exact=True).click()
        expect(page.locator("#sp-step-body tr")).to_have_count(step)
        expect(page.locator("#sp-history")).to_have_value(", ".join(str(ids[i]) for i in history))
    final = apply_samplers(CREATIVE.logits, chain, history, stages=False)
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(final["kept"]))


def test_mirostat_steps_follow_the_engine_and_move_mu(live_server, page):
    open_page(page, live_server)
    page.locator("input[name=sp-step-mode][value=mirostat]").check()
    page.locator("#sp-m-tau").fill("3")
    page.locator("#sp-m-eta").fill("0.2")
    page.locator("#sp-step-seed").fill("11")
    # llama.cpp's mirostat chain: temperature (0.8 here), then mirostat v2.
    scaled = run_chain(CREATIVE.logits, [{"name": "temperature", "t": 0.8}])
    logits = np.empty(scaled.size, dtype=np.float32)
    logits[scaled.ids] = scaled.logits
    ids = [t[0] for t in CREATIVE.tokens]
    mu, draws, tokens = None, 0, []
    for step in range(1, 4):
        result = mirostat_v2(logits.tolist(), 3.0, 0.2, mu, 11, draws)
        mu, draws = result["mu"], result["draws"]
        tokens.append(ids[result["token"]])
        page.get_by_role("button", name="Step", exact=True).click()
        expect(page.locator("#sp-step-body tr")).to_have_count(step)
        row = page.locator("#sp-step-body tr").nth(step - 1)
        expect(row.locator("td").nth(6)).to_have_text(f"{mu:.3f}")
        expect(row.locator("td").nth(3)).to_have_text(str(result["kept"]))
    expect(page.locator("#sp-history")).to_have_value(", ".join(map(str, tokens)))


def test_a_bad_parameter_is_shown_beside_it_and_what_was_typed_stays(live_server, page):
    open_page(page, live_server)
    box = page.locator("#sp-top_p-p")
    box.fill("-0.5")
    expect(page.locator("#sp-top_p-p-error")).to_have_text("must be at least 0")
    expect(page.locator("#sp-result")).to_have_class(re.compile("is-stale"))
    expect(box).to_have_value("-0.5")
    box.fill("0.5")
    expect(page.locator("#sp-top_p-p-error")).to_be_hidden()
    chain = [dict(spec) for spec in DEFAULT_CHAIN]
    chain[5]["p"] = 0.5
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(kept(chain)))

    # A bad extra parameter opens its fold.
    page.locator("#sp-min_p-min_keep").evaluate("(el) => { el.value = '2.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(page.locator("#sp-min_p-min_keep-error")).to_have_text("must be an integer")
    expect(page.locator("#sp-min_p-min_keep")).to_be_visible()


def test_typical_after_top_n_sigma_shows_the_warning(live_server, page):
    open_page(page, live_server)
    warning = page.locator("#sp-warning")
    expect(warning).to_be_hidden()
    _set(page, "top_n_sigma", "n", 1)
    _set(page, "typical", "p", 0.5)
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("NaN")
    chain = [dict(spec) for spec in DEFAULT_CHAIN]
    chain[2]["n"], chain[4]["p"] = 1, 0.5
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(kept(chain)))
    # Typical first, top-n-sigma after it: no NaN, no warning.
    page.get_by_role("button", name="Move Top-n-σ down").click()
    page.get_by_role("button", name="Move Top-n-σ down").click()
    expect(warning).to_be_hidden()


def test_live_distribution_loads_and_unavailable_model_is_explained(live_server, page):
    open_page(page, live_server)
    answers = [
        {"status": 404, "content_type": "application/json", "body": '{"detail": "Not found."}'},
        {"status": 503, "content_type": "application/json", "headers": {"Retry-After": "5"},
         "body": '{"detail": "The model is loading."}'},
    ]
    tokens = [{"id": 100 + i, "text": f" w{i}", "logit": 12.0 - 0.7 * i, "prob": 0.5 / (i + 1)} for i in range(8)]
    sent = []

    def answer(route):
        sent.append((route.request.post_data_json, route.request.headers.get("x-csrftoken")))
        if answers:
            route.fulfill(**answers.pop(0))
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"tokens": tokens, "entropy": 2.5, "n_vocab": 262144, "took_ms": 12.3}))

    page.route(LIVE_URL, answer)
    page.locator("input[name=sp-source][value=live]").check()
    page.locator("#sp-prompt").fill("Hello")
    ask = page.get_by_role("button", name="Ask the model")
    ask.click()
    expect(page.locator("#sp-live-error")).to_contain_text("not available on this server (404)")
    ask.click()
    expect(page.locator("#sp-live-error")).to_contain_text("busy or not loaded (503)")
    expect(page.locator("#sp-live-error")).to_contain_text("Try again in 5 s")
    ask.click()
    expect(page.locator("#sp-live-error")).to_be_hidden()
    expect(page.locator("#sp-source-summary")).to_contain_text("8 tokens from the model of 262,144")
    body, csrf = sent[-1]
    assert body == {"prompt": "Hello", "top_n": 60}
    assert csrf  # fetch POSTs must carry the CSRF token (web conventions)
    logits = [t["logit"] for t in tokens]
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(kept(DEFAULT_CHAIN, logits=logits)))


def test_page_fits_a_phone_and_pasted_logits_are_read(live_server, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/calculators/sampling/")
    page.wait_for_function("document.documentElement.dataset.samplingReady === '1'")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("input[name=sp-source][value=paste]").check()
    page.locator("#sp-paste").fill("2, 1.5, oops")
    page.get_by_role("button", name="Use these logits").click()
    expect(page.locator("#sp-paste-error")).to_have_text("entry 2: not a number: “oops”")
    page.locator("#sp-paste").fill("4 3.5 3 1 -inf 0.5")
    page.get_by_role("button", name="Use these logits").click()
    expect(page.locator("#sp-source-summary")).to_have_text("6 pasted logits.")
    expected = kept(DEFAULT_CHAIN, logits=[4, 3.5, 3, 1, float("-inf"), 0.5])
    expect(page.locator("#sp-kept")).to_have_attribute("data-kept", str(expected))


# The colour of the canvas pixel at each expected-count marker's centre, as [r, g, b], with
# the marker colour and the bar colour (both from the page's CSS variables).
MARKER_PIXELS = """
() => {
  const chart = Chart.getChart("sp-hist");
  const ctx = chart.canvas.getContext("2d");
  const ratio = chart.currentDevicePixelRatio;
  const bars = chart.getDatasetMeta(0).data;
  const hex = (name) => {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16));
  };
  const inside = [];
  chart.getDatasetMeta(1).data.forEach((p, k) => {
    const bar = bars[k];
    // Markers that fall inside their bar: the ones a bar drawn on top would hide.
    if (p.y > bar.y + 4 && p.y < bar.base - 4) {
      inside.push(Array.from(ctx.getImageData(Math.round(p.x * ratio), Math.round(p.y * ratio), 1, 1).data.slice(0, 3)));
    }
  });
  return { inside, marker: hex("--warn"), bar: hex("--accent") };
}
"""


def test_expected_count_markers_are_drawn_in_front_of_the_bars(live_server, page):
    # Issue 20.7: the markers were drawn behind the bars and vanished inside them.
    open_page(page, live_server)
    page.locator("#sp-draws").fill("1000")
    page.wait_for_function("() => !!Chart.getChart('sp-hist')")
    page.wait_for_timeout(400)  # the bars' 200 ms animation
    pixels = page.evaluate(MARKER_PIXELS)
    assert pixels["inside"], "no marker inside a bar: the example should have some"

    def near(a, b):
        return sum(abs(x - y) for x, y in zip(a, b)) < 60

    for colour in pixels["inside"]:
        assert near(colour, pixels["marker"]) and not near(colour, pixels["bar"]), colour


@pytest.mark.parametrize("card", ["top_k", "temperature"])
def test_on_a_phone_the_chart_stays_in_sight_while_a_slider_moves(live_server, page, card):
    # Issue 20.4: on a phone the chart sat below all nine sampler cards.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/calculators/sampling/")
    page.wait_for_function("document.documentElement.dataset.samplingReady === '1'")
    slider = page.locator(f".sp-card[data-name={card}] input[type=range]").first
    slider.focus()
    before = page.locator("#sp-entropy").inner_text()
    for _ in range(15):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#sp-entropy")).not_to_have_text(before)  # the slider did something
    chart = page.locator("#sp-chart").bounding_box()
    assert chart["y"] >= 0 and chart["y"] + chart["height"] <= 844, chart  # wholly in sight
    assert chart["height"] >= 150
    # ... and it does not cover the slider being moved.
    box = slider.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.closest('input[type=range]') !== null",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
