// Bit-layout visualizer (/calculators/bit-layout/).
//
// Every number shown comes from the JSON API (calculators/web/bitlayout.py over the pure
// module calculators/bitlayout.py); this file only asks and draws. The one computation
// here is exactDecimal(), which writes a double's exact decimal expansion for display.
(() => {
  "use strict";

  const API = "/api/v1/calculators/bit-layout/";
  const COMPARE_API = "/api/v1/calculators/bit-layout/compare/";
  const DEBOUNCE_MS = 250;

  const $ = (id) => document.getElementById(id);
  const catalogueNode = $("bl-catalogue");
  if (!catalogueNode) return;
  const catalogue = JSON.parse(catalogueNode.textContent);
  const scalarInfo = Object.fromEntries(catalogue.scalar.map((f) => [f.format, f]));
  const blockInfo = Object.fromEntries(catalogue.block.map((f) => [f.format, f]));
  const allInfo = { ...scalarInfo, ...blockInfo };

  // ------------------------------------------------------------------ helpers

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "href") node.setAttribute(key, value);
      else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  function glossaryLink(slug, text) {
    return el("a", { class: "wikilink", "data-slug": slug, href: `/glossary/${slug}/`, text });
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  function csrfToken() {
    // base.html puts the token in <body hx-headers>; the cookie may be HttpOnly.
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch { return ""; }
  }

  // One request in flight per section: a newer one aborts the older, so a slow answer
  // never overwrites a newer one.
  function requester() {
    let controller = null;
    return async (url, body) => {
      if (controller) controller.abort();
      const mine = new AbortController();
      controller = mine;
      try {
        const response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify(body),
          signal: mine.signal,
        });
        let data = null;
        try { data = await response.json(); } catch { data = { detail: `The server answered ${response.status}.` }; }
        if (controller !== mine) return null;
        return { ok: response.ok, status: response.status, data };
      } catch (error) {
        if (error.name === "AbortError" || controller !== mine) return null;
        return { ok: false, status: 0, data: { detail: "The server could not be reached." } };
      } finally {
        if (controller === mine) controller = null;
      }
    };
  }

  // Field errors next to their inputs: `${prefix}-${field}-error`, else `${prefix}-error`.
  function showErrors(prefix, errors, inputs) {
    clearErrors(prefix, inputs);
    const general = [];
    for (const [field, messages] of Object.entries(errors || {})) {
      const text = Array.isArray(messages) ? messages.join(" ") : typeof messages === "string" ? messages : JSON.stringify(messages);
      const slot = $(`${prefix}-${field}-error`);
      if (slot) {
        slot.textContent = text;
        slot.hidden = false;
        const input = inputs[field];
        if (input) {
          input.setAttribute("aria-invalid", "true");
          input.closest(".field")?.classList.add("has-error");
        }
      } else {
        general.push(field === "detail" || field === "non_field_errors" ? text : `${field}: ${text}`);
      }
    }
    const slot = $(`${prefix}-error`);
    if (slot) { slot.textContent = general.join(" "); slot.hidden = general.length === 0; }
  }

  function clearErrors(prefix, inputs) {
    document.querySelectorAll(`[id^="${prefix}-"][id$="-error"]`).forEach((slot) => { slot.hidden = true; slot.textContent = ""; });
    for (const input of Object.values(inputs)) {
      input.removeAttribute("aria-invalid");
      input.closest(".field")?.classList.remove("has-error");
    }
  }

  // Numbers from the API: floats, or "nan" / "inf" / "-inf" strings.
  function special(v) {
    return { nan: "NaN", inf: "+∞", "-inf": "−∞" }[v];
  }
  function full(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return special(v) ?? v;
    if (Object.is(v, -0)) return "-0";
    return String(v); // shortest text that reads back as the same double
  }
  function short(v, digits = 6) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return special(v) ?? v;
    if (v === 0) return Object.is(v, -0) ? "-0" : "0";
    return String(Number(v.toPrecision(digits)));
  }
  // Text the API parses back to the same value (for putting a result into an input).
  function valueText(v) {
    if (typeof v === "string") return v;
    return Object.is(v, -0) ? "-0" : String(v);
  }

  // The exact decimal expansion of a double (every binary fraction has one).
  function exactDecimal(x) {
    if (typeof x !== "number" || !Number.isFinite(x)) return null;
    if (x === 0) return Object.is(x, -0) ? "-0" : "0";
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const hi = view.getUint32(0);
    const lo = view.getUint32(4);
    const expBits = (hi >>> 20) & 0x7ff;
    let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    let exponent = -1074;
    if (expBits !== 0) { mantissa |= 1n << 52n; exponent = expBits - 1075; }
    let text;
    if (exponent >= 0) {
      text = (mantissa << BigInt(exponent)).toString();
    } else {
      const k = -exponent; // mantissa / 2^k = mantissa * 5^k / 10^k
      const digits = (mantissa * 5n ** BigInt(k)).toString().padStart(k + 1, "0");
      const fraction = digits.slice(digits.length - k).replace(/0+$/, "");
      text = digits.slice(0, digits.length - k) + (fraction ? `.${fraction}` : "");
    }
    return (x < 0 ? "-" : "") + text;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function setUrl(params) {
    const url = new URL(window.location.href);
    for (const [key, value] of Object.entries(params)) {
      if (value === null || value === undefined || value === "") url.searchParams.delete(key);
      else url.searchParams.set(key, value);
    }
    window.history.replaceState(null, "", url);
  }

  // ------------------------------------------------------------------ scalar formats

  const scalar = {
    format: $("scalar-format"),
    value: $("scalar-value"),
    scale: $("scalar-scale"),
    bits: $("scalar-bits"),
    request: requester(),
    last: null,
  };
  const scalarInputs = { format: scalar.format, value: scalar.value, scale: scalar.scale, bits: scalar.bits };
  const FIELD_CLASS = { sign: "f-sign", exponent: "f-exponent", mantissa: "f-mantissa", code: "f-code" };

  const isCode = (fmt) => scalarInfo[fmt].family !== "float";

  const saturating = () => document.querySelector("input[name=cast]:checked")?.value === "satfinite";
  // Python's integer-literal prefixes: the API reads such a value as the stored bits.
  const isPattern = (text) => /^\s*0[xb]/i.test(text);

  function scalarBody(extra) {
    const fmt = scalar.format.value;
    const body = { format: fmt, ...extra };
    if (isCode(fmt)) body.scale = scalar.scale.value.trim() || "1";
    else if (saturating()) body.saturate = true;
    return body;
  }

  function describeFormat() {
    const info = scalarInfo[scalar.format.value];
    const about = $("scalar-about");
    about.replaceChildren(glossaryLink(info.glossary, info.label), ": ");
    let text;
    if (info.family === "float") {
      text = `1 sign, ${info.exponent_bits} exponent and ${info.mantissa_bits} mantissa bits, exponent bias ${info.exponent_bias}; ` +
        `largest ${full(info.max)}, smallest normal ${full(info.min_normal)}, smallest subnormal ${full(info.min_subnormal)}; ` +
        `${info.has_inf ? "has ±∞" : "no infinity"}, ${info.has_nan ? "has NaN" : "no NaN"}.`;
    } else if (info.family === "lookup") {
      text = "a 4-bit index into 16 levels spread like a normal distribution over [−1, 1], multiplied by the block's absmax (bitsandbytes keeps one absmax per 64 weights).";
    } else {
      text = `a ${info.bits}-bit two's-complement integer from ${info.min} to ${info.max}, multiplied by a scale; value = code × scale.`;
    }
    about.append(text);

    const scaleField = $("scale-field");
    scaleField.hidden = !isCode(info.format);
    $("cast-field").hidden = isCode(info.format);  // codes always clamp to their range
    $("scalar-scale-help").textContent = info.family === "lookup"
      ? "The block's absmax: the value that level ±1 stands for."
      : "The step between neighbouring codes (absmax / " + info.max + " for a symmetric scale).";

    $("facts-name").textContent = info.label;
    const rows = [["Bits", info.bits]];
    if (info.family === "float") {
      rows.push(["Sign / exponent / mantissa bits", `1 / ${info.exponent_bits} / ${info.mantissa_bits}`],
        ["Exponent bias", info.exponent_bias], ["Largest finite", full(info.max)], ["Smallest finite", full(info.min)],
        ["Smallest normal", full(info.min_normal)], ["Smallest subnormal", full(info.min_subnormal)],
        ["Machine epsilon (gap above 1)", full(info.epsilon)], ["Infinity", info.has_inf ? "yes" : "no"], ["NaN", info.has_nan ? "yes" : "no"]);
    } else if (info.family === "lookup") {
      rows.push(["Levels (× absmax)", info.levels.map(full).join(", ")]);
    } else {
      rows.push(["Codes", `${info.min} … ${info.max}`]);
    }
    $("scalar-facts").replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: String(v) }))));
  }

  function renderBits(r) {
    const owners = [];
    for (const f of r.fields) for (let k = 0; k < f.bits.length; k++) owners.push(f.name);
    let buttons = [...scalar.bits.querySelectorAll("button.bit")];
    if (buttons.length !== r.bits.length || scalar.bits.dataset.format !== r.format) {
      const focused = document.activeElement && scalar.bits.contains(document.activeElement);
      buttons = [];
      const groups = r.fields.map((f) => {
        const group = el("span", { class: `bl-bit-group ${FIELD_CLASS[f.name]}`, role: "group", "aria-label": f.name });
        for (let k = 0; k < f.bits.length; k++) {
          const button = el("button", { type: "button", class: "bit" });
          button.dataset.index = String(buttons.length);
          buttons.push(button);
          group.append(button);
        }
        return group;
      });
      scalar.bits.replaceChildren(...groups);
      scalar.bits.dataset.format = r.format;
      if (focused) buttons[0].focus();
    }
    const n = r.bits.length;
    buttons.forEach((button, i) => {
      const bit = r.bits[i];
      button.textContent = bit;
      button.setAttribute("aria-pressed", bit === "1" ? "true" : "false");
      button.setAttribute("aria-label", `bit ${n - 1 - i}, ${owners[i]}`);
      button.title = `Bit ${n - 1 - i} (${owners[i]}): press to flip`;
    });
    $("scalar-legend").replaceChildren(...r.fields.map((f) =>
      el("li", { class: FIELD_CLASS[f.name] }, el("span", { class: "swatch", "aria-hidden": "true" }), `${f.name} (${f.bits.length} bit${f.bits.length > 1 ? "s" : ""})`)));
  }

  function fieldMeaning(r, f, info) {
    if (f.name === "sign") return f.bits === "1" ? "1 → negative" : "0 → positive";
    if (f.name === "exponent") {
      const stored = parseInt(f.bits, 2);
      if (f.value === null) return `all ones → ${r.kind === "nan" ? "NaN" : "infinity"}`;
      if (r.kind === "normal") return `${stored} − bias ${info.exponent_bias} = ${f.value}`;
      return `0 → ${r.kind}: exponent fixed at 1 − ${info.exponent_bias} = ${f.value}, no implicit leading 1`;
    }
    if (f.name === "mantissa") {
      const k = parseInt(f.bits, 2);
      return `${k} / 2^${f.bits.length} = ${exactDecimal(f.value)}`;
    }
    if (r.format === "nf4") return `code ${parseInt(f.bits, 2)} → level ${full(f.value)}`;
    return `two's complement → ${full(f.value)}`;
  }

  function formula(r, info) {
    const [sign, exponent, mantissa] = r.fields;
    if (info.family === "float") {
      const s = sign.value < 0 ? "−" : "+";
      if (r.kind === "nan") return "NaN: exponent all ones with a non-zero mantissa (or, in E4M3, all bits of exponent and mantissa set).";
      if (r.kind === "inf") return `${s}∞: exponent all ones, mantissa zero.`;
      if (r.kind === "zero") return `${s}0: exponent and mantissa all zero.`;
      const k = parseInt(mantissa.bits, 2);
      const lead = r.kind === "normal" ? "1" : "0";
      return `value = ${s}1 × 2^${exponent.value} × (${lead} + ${k}/2^${mantissa.bits.length}) = ${full(r.decoded)}`;
    }
    const scale = scalar.scale.value.trim() || "1";
    if (r.format === "nf4") return `value = level × absmax = ${full(sign.value)} × ${scale} = ${full(r.decoded)}`;
    return `value = code × scale = ${full(sign.value)} × ${scale} = ${full(r.decoded)}`;
  }

  function overflowText(r, info) {
    if (!r.overflow) return "";
    const instead = " The saturating cast would keep ±" + full(info.max) + ".";
    if (r.decoded === "inf" || r.decoded === "-inf") return `Too large for ${info.label}: its largest finite value is ${full(info.max)}, so this became ${full(r.decoded)}.${instead}`;
    if (r.decoded === "nan") return `Too large for ${info.label}: it has no infinity (largest finite ${full(info.max)}), so this became NaN.${instead}`;
    if (info.family === "float" && info.has_inf === false && info.has_nan === false) return `Too large for ${info.label}, which has no infinity or NaN: it saturates at ±${full(info.max)}.`;
    if (info.family === "float") return `Past ${info.label}'s largest finite value: the saturating cast (satfinite) clamped it to ${full(r.decoded)}; round to nearest would give ${info.has_inf ? "±∞" : "NaN"}.`;
    return `Out of range: the code was clamped to the ${r.fields[0].value < 0 ? "lowest" : "highest"} one.`;
  }

  function renderScalar(r) {
    scalar.last = r;
    const info = scalarInfo[r.format];
    renderBits(r);
    $("scalar-decoded").textContent = full(r.decoded);
    const kind = $("scalar-kind");
    kind.textContent = r.kind;
    kind.hidden = r.kind === "code" || r.kind === "normal";
    const exact = $("scalar-exact");
    const expansion = info.family === "float" ? exactDecimal(r.decoded) : null;
    exact.hidden = !expansion || expansion === full(r.decoded);
    exact.textContent = expansion ? `exactly ${expansion}` : "";
    $("scalar-hex").textContent = r.hex;
    $("scalar-abs").textContent = short(r.abs_error);
    $("scalar-abs").title = full(r.abs_error);
    $("scalar-rel").textContent = r.rel_error === null ? "—" : `${short(r.rel_error)} (${short(r.rel_error * 100, 4)} %)`;
    $("scalar-rel").title = full(r.rel_error);
    for (const [id, key, arrow] of [["scalar-down", "down", "↓"], ["scalar-up", "up", "↑"]]) {
      const button = $(id);
      const v = r.neighbors[key];
      button.disabled = v === null;
      button.textContent = v === null ? `${arrow} none` : `${arrow} ${full(v)}`;
      button.dataset.value = v === null ? "" : valueText(v);
      button.setAttribute("aria-label", v === null ? `No representable value ${key}` : `Next representable value ${key}: ${full(v)}`);
    }
    $("scalar-formula").textContent = formula(r, info);
    const typed = scalar.value.value.trim();
    const readAs = $("scalar-read-as");
    readAs.hidden = !isPattern(typed);
    readAs.textContent = readAs.hidden ? "" : `${typed} was read as a bit pattern (${r.bits.length} bits, leading zeros implied), not rounded.`;
    const overflow = $("scalar-overflow");
    overflow.textContent = overflowText(r, info);
    overflow.hidden = !r.overflow;
    $("scalar-fields").tBodies[0].replaceChildren(...r.fields.map((f) => el("tr", {},
      el("th", { scope: "row" }, el("span", { class: `swatch ${FIELD_CLASS[f.name]}`, "aria-hidden": "true" }), f.name),
      el("td", {}, el("code", { text: f.bits })),
      el("td", { text: fieldMeaning(r, f, info) }))));
    $("scalar-result").classList.remove("stale");
  }

  async function scalarSend(body, onSuccess) {
    const res = await scalar.request(API, body);
    if (!res) return;
    if (!res.ok) {
      showErrors("scalar", res.data, scalarInputs);
      $("scalar-result").classList.add("stale");
      return;
    }
    clearErrors("scalar", scalarInputs);
    renderScalar(res.data);
    if (onSuccess) onSuccess(res.data);
    const fmt = scalar.format.value;
    setUrl({ format: fmt, value: scalar.value.value.trim(), scale: isCode(fmt) ? scalar.scale.value.trim() : null,
      cast: !isCode(fmt) && saturating() ? "satfinite" : null });
  }

  function encodeValue() {
    const text = scalar.value.value.trim();
    if (!text) {
      showErrors("scalar", { value: ["Type a number."] }, scalarInputs);
      return;
    }
    scalarSend(scalarBody({ value: text }));
  }

  function flipBit(index) {
    const r = scalar.last;
    if (!r || r.format !== scalar.format.value) return;
    const flipped = r.bits.slice(0, index) + (r.bits[index] === "1" ? "0" : "1") + r.bits.slice(index + 1);
    // The flipped pattern is the new number: show it in the value box too.
    scalarSend(scalarBody({ bits: flipped }), (result) => {
      scalar.value.value = valueText(result.decoded);
      $("scalar-read-as").hidden = true;
    });
  }

  const encodeSoon = debounce(encodeValue, DEBOUNCE_MS);
  scalar.value.addEventListener("input", encodeSoon);
  scalar.scale.addEventListener("input", encodeSoon);
  scalar.format.addEventListener("change", () => { describeFormat(); encodeValue(); });
  for (const radio of document.querySelectorAll("input[name=cast]")) radio.addEventListener("change", encodeValue);
  $("scalar-form").addEventListener("submit", (event) => { event.preventDefault(); encodeValue(); });
  scalar.bits.addEventListener("click", (event) => {
    const button = event.target.closest("button.bit");
    if (button) flipBit(Number(button.dataset.index));
  });
  scalar.bits.addEventListener("keydown", (event) => {
    const button = event.target.closest("button.bit");
    if (!button) return;
    const buttons = [...scalar.bits.querySelectorAll("button.bit")];
    const i = buttons.indexOf(button);
    const target = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (target === undefined || target < 0 || target >= buttons.length) return;
    event.preventDefault();
    buttons[target].focus();
  });
  for (const id of ["scalar-down", "scalar-up"]) {
    $(id).addEventListener("click", (event) => {
      const v = event.currentTarget.dataset.value;
      if (!v) return;
      scalar.value.value = v;
      encodeValue();
    });
  }

  // ------------------------------------------------------------------ block formats

  const block = {
    format: $("block-format"),
    seed: $("block-seed"),
    std: $("block-std"),
    values: $("block-values"),
    tensor: $("block-tensor"),
    index: $("block-index"),
    load: $("block-load"),
    request: requester(),
    modelLoaded: false,
    tensorsFor: null,
    chart: null,
  };
  const blockInputs = { format: block.format, random: block.seed, std: block.std, values: block.values, tensor: block.tensor, block: block.index };
  const source = () => document.querySelector("input[name=source]:checked").value;
  const splitValues = (text) => text.split(/[\s,;]+/).filter(Boolean);

  function blockBody() {
    const fmt = block.format.value;
    const mode = source();
    if (mode === "paste") return { format: fmt, values: splitValues(block.values.value) };
    if (mode === "model") {
      const body = { format: fmt, from_model: true, block: block.index.value.trim() || "0" };
      if (block.tensor.value && block.tensorsFor === fmt) body.tensor = block.tensor.value;
      return body;
    }
    return { format: fmt, random: block.seed.value.trim(), std: block.std.value.trim() || "1" };
  }

  function updateCount() {
    const need = blockInfo[block.format.value].block_size;
    const have = splitValues(block.values.value).length;
    $("block-count").textContent = `(${have} of ${need})`;
  }

  function showMode() {
    const mode = source();
    for (const name of ["random", "paste", "model"]) $(`mode-${name}`).hidden = name !== mode;
    if (mode === "paste" && !block.values.value.trim() && block.lastData && block.lastData.values) {
      // Start from the values on show, so there is something to edit.
      block.values.value = block.lastData.values.map(valueText).join(", ");
      updateCount();
    }
    if (mode === "model" && !block.modelLoaded) {
      $("block-result").classList.add("stale");
      $("block-model-status").textContent = "Press “Read the block”. The first read opens the 253 MB model file and takes about 10 seconds; later reads are instant.";
    }
  }

  async function fetchBlock() {
    const mode = source();
    if (mode === "model" && !block.modelLoaded) return; // only when asked: see the button
    if (mode === "paste" && splitValues(block.values.value).length === 0) {
      showErrors("block", { values: [`Paste ${blockInfo[block.format.value].block_size} numbers.`] }, blockInputs);
      return;
    }
    const result = $("block-result");
    result.setAttribute("aria-busy", "true");
    const started = Date.now();
    let ticker = null;
    if (mode === "model") {
      block.load.disabled = true;
      const status = $("block-model-status");
      const tick = () => { status.textContent = `Reading the model file… ${Math.round((Date.now() - started) / 1000)} s`; };
      tick();
      ticker = setInterval(tick, 1000);
    }
    const res = await block.request(API, blockBody());
    clearInterval(ticker);
    if (mode === "model") block.load.disabled = false;
    if (!res) return; // superseded: the newer request owns the busy state
    result.removeAttribute("aria-busy");
    if (source() !== mode) return; // the user switched source while this was on its way
    if (!res.ok) {
      showErrors("block", res.data, blockInputs);
      if (mode === "model") $("block-model-status").textContent = "";
      result.classList.add("stale");
      return;
    }
    clearErrors("block", blockInputs);
    if (mode === "model") {
      block.modelLoaded = true;
      $("block-model-status").textContent = `Block ${res.data.block} of ${res.data.tensor} (read in ${((Date.now() - started) / 1000).toFixed(1)} s).`;
      fillTensors(res.data);
    }
    renderBlock(res.data);
    setUrl({ block_format: block.format.value });
  }

  function fillTensors(r) {
    if (block.tensorsFor !== r.format) {
      block.tensor.replaceChildren(...r.tensors.map((t) => el("option", { value: t.name, text: `${t.name} (${t.blocks} blocks)` })));
      block.tensorsFor = r.format;
    }
    block.tensor.value = r.tensor;
    block.tensor.disabled = false;
    const tensor = r.tensors.find((t) => t.name === r.tensor);
    if (tensor) block.index.max = String(tensor.blocks - 1);
  }

  function fieldValues(values) {
    if (typeof values === "number" || typeof values === "string") return full(values);
    if (Array.isArray(values)) return values.join(" ");
    if (values && values.scales) return `scales: ${values.scales.join(" ")}\nmins: ${values.mins.join(" ")}`;
    return JSON.stringify(values);
  }

  function renderBlock(r) {
    block.lastData = r;
    const info = blockInfo[r.format];
    $("block-result").hidden = false;
    $("block-result").classList.remove("stale");
    const stats = [
      ["Format", [glossaryLink(info.glossary, info.label)]],
      [glossaryLink("bits-per-weight", "Bits per weight"), [`${full(r.bits_per_weight)} (${info.type_size} bytes × 8 / ${info.block_size} weights)`]],
    ];
    if (r.tensor !== undefined) {
      stats.push(["From", [`${r.tensor}, block ${r.block}`]]);
      stats.push(["Error", ["unknown: the file keeps only the quantized weights"]]);
    } else {
      stats.push(["RMSE", [short(r.rmse)]], ["Max |error|", [short(r.max_abs_error)]]);
    }
    $("block-stats").replaceChildren(...stats.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, ...v))));

    $("block-bytes-count").textContent = `${info.type_size} bytes`;
    $("block-legend").replaceChildren(...r.fields.map((f, i) =>
      el("li", { class: `c${i}` }, el("span", { class: "swatch", "aria-hidden": "true" }), `${f.name} (${f.size} byte${f.size > 1 ? "s" : ""})`)));
    $("block-bytes").replaceChildren(...r.fields.map((f, i) => {
      const bytes = f.hex.match(/../g).map((h, k) => el("span", { class: "byte", text: h, title: `byte ${f.offset + k}` }));
      return el("div", { class: `bl-field-bytes c${i}`, role: "group", "aria-label": `${f.name}: bytes ${f.offset} to ${f.offset + f.size - 1}` },
        el("span", { class: "bl-field-name", text: f.name }), el("span", { class: "bl-byte-row" }, ...bytes));
    }));
    $("block-fields").replaceChildren(...r.fields.map((f, i) => el("tr", {},
      el("th", { scope: "row" }, el("span", { class: `swatch c${i}`, "aria-hidden": "true" }), el("code", { text: f.name })),
      el("td", { text: `${f.offset}–${f.offset + f.size - 1} (${f.size})` }),
      el("td", { text: f.description }),
      el("td", { class: "bl-decoded" }, el("code", { text: fieldValues(f.values) })))));

    const input = r.values || null;
    $("block-weights").replaceChildren(...r.dequantized.map((d, i) => el("tr", {},
      el("td", { text: String(i) }),
      el("td", { text: input ? full(input[i]) : "—" }),
      el("td", { text: full(d) }),
      el("td", { text: input ? short(d - input[i]) : "—" }))));
    drawBlockChart(r);
  }

  function chartColors() {
    return { text: cssVar("--muted") || "#666", grid: cssVar("--line") || "#ddd", fg: cssVar("--fg") || "#222" };
  }

  function drawBlockChart(r) {
    if (!window.Chart) return;
    const colors = chartColors();
    const datasets = [];
    if (r.values) {
      datasets.push({ label: "input", data: r.values.map((y, x) => ({ x, y })), backgroundColor: cssVar("--bl-input"),
        borderColor: cssVar("--bl-input"), pointRadius: 3, pointStyle: "circle" });
    }
    datasets.push({ label: "dequantized", data: r.dequantized.map((y, x) => ({ x, y })), backgroundColor: cssVar("--bl-dequant"),
      borderColor: cssVar("--bl-dequant"), pointRadius: 3, pointStyle: "crossRot", borderWidth: 1.5 });
    const config = {
      type: "scatter",
      data: { datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          x: { min: 0, max: r.dequantized.length - 1, title: { display: true, text: "weight index", color: colors.text },
            ticks: { color: colors.text }, grid: { color: colors.grid } },
          y: { title: { display: true, text: "value", color: colors.text }, ticks: { color: colors.text }, grid: { color: colors.grid } },
        },
        plugins: { legend: { labels: { color: colors.text } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label} #${c.raw.x}: ${full(c.raw.y)}` } } },
      },
    };
    if (block.chart) block.chart.destroy();
    block.chart = new window.Chart($("block-chart"), config);
  }

  const fetchBlockSoon = debounce(fetchBlock, DEBOUNCE_MS);
  block.format.addEventListener("change", () => {
    updateCount();
    if (block.tensorsFor !== block.format.value) {
      block.tensor.value = "";
      block.index.value = "0";
    }
    fetchBlock();
  });
  document.querySelectorAll("input[name=source]").forEach((radio) => radio.addEventListener("change", () => {
    clearErrors("block", blockInputs);
    showMode();
    fetchBlock();
  }));
  for (const input of [block.seed, block.std, block.values, block.index]) input.addEventListener("input", fetchBlockSoon);
  block.values.addEventListener("input", updateCount);
  block.tensor.addEventListener("change", () => { block.index.value = "0"; fetchBlock(); });
  $("block-reroll").addEventListener("click", () => {
    block.seed.value = String((Number(block.seed.value) || 0) + 1);
    fetchBlock();
  });
  block.load.addEventListener("click", () => { block.modelLoaded = true; fetchBlock(); });
  $("block-form").addEventListener("submit", (event) => { event.preventDefault(); fetchBlock(); });

  // ------------------------------------------------------------------ comparison chart

  const compare = { seed: $("compare-seed"), std: $("compare-std"), values: $("compare-values"), request: requester(), chart: null };
  const compareInputs = { random: compare.seed, std: compare.std, values: compare.values };

  function family(fmt) {
    const info = allInfo[fmt];
    if (info.family === "float") return "float";
    if (info.family === "lookup" || info.family === "integer") return "scaled";
    return info.block_size === 256 ? "kquant" : "legacy";
  }
  const FAMILIES = [
    ["float", "Floats, plain cast", "--bl-float"],
    ["scaled", "NF4 / INT, absmax-scaled", "--bl-scaled"],
    ["legacy", "GGUF 32-weight blocks", "--bl-legacy"],
    ["kquant", "GGUF K-quants (256)", "--bl-kquant"],
  ];

  // Does the segment (x0, y0)-(x1, y1) pass through the box? (Liang–Barsky clipping.)
  function segmentHitsBox([x0, y0, x1, y1], box) {
    let t0 = 0;
    let t1 = 1;
    const dx = x1 - x0;
    const dy = y1 - y0;
    for (const [p, q] of [[-dx, x0 - box.x0], [dx, box.x1 - x0], [-dy, y0 - box.y0], [dy, box.y1 - y0]]) {
      if (p === 0) { if (q < 0) return false; continue; }
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t); else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
    return true;
  }

  // From the edge of a point's marker to the nearest point of its label's box.
  function leaderLine(p, box) {
    const ex = Math.min(Math.max(p.x, box.x0), box.x1);
    const ey = Math.min(Math.max(p.y, box.y0), box.y1);
    const d = Math.hypot(ex - p.x, ey - p.y) || 1;
    return [p.x + ((ex - p.x) * p.r) / d, p.y + ((ey - p.y) * p.r) / d, ex, ey];
  }

  // Writes each point's format name beside it (Chart.js has no built-in data labels).
  // Every label gets a spot that covers no other label, no point and no drawn line: the
  // nearest free one on rings of growing radius around its point, joined to the point by a
  // thin leader line when it had to move away. Crowded points (4–6 bits per weight) are
  // placed first, while there is still room around them.
  const pointLabels = {
    id: "blPointLabels",
    afterDatasetsDraw(chart) {
      const { ctx, chartArea } = chart;
      ctx.save();
      ctx.font = "11px system-ui, sans-serif";
      ctx.textBaseline = "middle";
      const points = [];
      const segments = [];
      chart.data.datasets.forEach((dataset, i) => {
        if (!chart.isDatasetVisible(i)) return;
        const meta = chart.getDatasetMeta(i);
        meta.data.forEach((point, k) => {
          points.push({ x: point.x, y: point.y, r: dataset.pointRadius + 1, text: dataset.data[k].label });
          if (dataset.showLine && k > 0) segments.push([meta.data[k - 1].x, meta.data[k - 1].y, point.x, point.y]);
        });
      });
      const pad = 2;
      const placed = points.map((p) => ({ x0: p.x - p.r, x1: p.x + p.r, y0: p.y - p.r, y1: p.y + p.r }));
      const free = (box) => box.x0 >= chartArea.left && box.x1 <= chartArea.right && box.y0 >= chartArea.top && box.y1 <= chartArea.bottom
        && !placed.some((o) => box.x0 - pad < o.x1 && box.x1 + pad > o.x0 && box.y0 - pad < o.y1 && box.y1 + pad > o.y0)
        && !segments.some((segment) => segmentHitsBox(segment, { x0: box.x0 - pad, x1: box.x1 + pad, y0: box.y0 - pad, y1: box.y1 + pad }));
      const touching = (a, b) => Math.hypot(a.x - b.x, a.y - b.y) <= a.r + b.r;
      const crowding = (p) => points.filter((q) => Math.hypot(q.x - p.x, q.y - p.y) < 40).length;
      const order = [...points].sort((a, b) => crowding(b) - crowding(a) || a.x - b.x);
      const RADII = [9, 20, 34, 50, 70, 95, 125, 160, 200];
      const ANGLES = [-30, 30, -150, 150, 0, 180, -90, 90, -60, 60, -120, 120, -15, 15, -165, 165, -45, 45, -135, 135,
        -75, 75, -105, 105].map((deg) => (deg * Math.PI) / 180);
      const leaders = [];
      for (const p of order) {
        const w = ctx.measureText(p.text).width;
        const h = 11;
        let spot = null;
        for (const r of RADII) {
          for (const angle of ANGLES) {
            const ax = p.x + r * Math.cos(angle);
            const ay = p.y + r * Math.sin(angle);
            const cos = Math.cos(angle);
            const x0 = Math.abs(cos) < 0.3 ? ax - w / 2 : cos > 0 ? ax : ax - w;
            const box = { x0, x1: x0 + w, y0: ay - h / 2, y1: ay + h / 2 };
            if (!free(box)) continue;
            const leader = r > RADII[0] ? leaderLine(p, box) : null;
            // A leader line must not cut through a label already placed, nor another point.
            // (Markers that overlap this point's own marker cannot be avoided, and are not.)
            if (leader && placed.some((o, i) => !(i < points.length && touching(points[i], p)) && segmentHitsBox(leader, o))) continue;
            spot = { box, leader };
            break;
          }
          if (spot) break;
        }
        if (!spot) continue; // nowhere free: the tooltip and the table below still name it
        placed.push(spot.box);
        if (spot.leader) { leaders.push(spot.leader); segments.push(spot.leader); }
        p.box = spot.box;
      }
      ctx.strokeStyle = chartColors().text;
      ctx.lineWidth = 1;
      for (const [x0, y0, x1, y1] of leaders) {
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y1);
        ctx.stroke();
      }
      ctx.fillStyle = chartColors().fg;
      for (const p of points) if (p.box) ctx.fillText(p.text, p.box.x0, (p.box.y0 + p.box.y1) / 2);
      ctx.restore();
    },
  };
  // Bits per weight run from 2.6 to 32: a log axis with readable ticks spreads the crowd at 4-8.
  const BPW_TICKS = [2, 3, 4, 5, 6, 8, 12, 16, 24, 32];

  // On a phone the chart stands upright: bits per weight up the tall axis, where the
  // crowd at 4–8 bits gets enough room for one label per point.
  const uprightChart = window.matchMedia("(max-width: 600px)");

  function drawCompareChart(rows) {
    if (!window.Chart) return;
    const colors = chartColors();
    const upright = uprightChart.matches;
    const datasets = FAMILIES.map(([key, label, color]) => ({
      label,
      data: rows.filter((r) => family(r.format) === key && typeof r.rmse === "number" && r.rmse > 0)
        .sort((a, b) => a.bits_per_weight - b.bits_per_weight)
        .map((r) => ({ x: upright ? r.rmse : r.bits_per_weight, y: upright ? r.bits_per_weight : r.rmse,
          bpw: r.bits_per_weight, rmse: r.rmse, label: allInfo[r.format].label })),
      backgroundColor: cssVar(color), borderColor: cssVar(color), pointRadius: 5, showLine: key === "kquant",
    }));
    const bpwAxis = { type: "logarithmic", min: 2, max: 40, title: { display: true, text: "bits per weight (log scale)", color: colors.text },
      afterBuildTicks: (axis) => { axis.ticks = BPW_TICKS.map((value) => ({ value })); },
      ticks: { color: colors.text, callback: (value) => String(value) }, grid: { color: colors.grid } };
    // Headroom past the worst format, so the labels of the outermost points have room.
    const rmseAxis = { type: "logarithmic", max: 10 ** (Math.ceil(Math.log10(1.5 * Math.max(...rows.map((r) => r.rmse ?? 0)))) + (upright ? 1 : 0)),
      title: { display: true, text: "RMSE (log scale)", color: colors.text },
      ticks: { color: colors.text, callback: (value) => {
        const power = Math.round(Math.log10(value));
        if (Math.abs(Math.log10(value) - power) > 1e-9) return "";
        return power >= -3 ? String(10 ** power) : `1e${power}`;
      } }, grid: { color: colors.grid } };
    const config = {
      type: "scatter",
      data: { datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: upright ? { x: rmseAxis, y: bpwAxis } : { x: bpwAxis, y: rmseAxis },
        plugins: { legend: { labels: { color: colors.text, boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.raw.label}: ${full(c.raw.bpw)} bits/weight, RMSE ${short(c.raw.rmse)}` } } },
      },
      plugins: [pointLabels],
    };
    if (compare.chart) compare.chart.destroy();
    compare.chart = new window.Chart($("compare-chart"), config);
  }
  uprightChart.addEventListener("change", () => { if (compare.lastData) drawCompareChart(compare.lastData.results); });

  function renderCompare(data) {
    const rows = [...data.results].sort((a, b) => b.bits_per_weight - a.bits_per_weight || (a.rmse ?? Infinity) - (b.rmse ?? Infinity));
    $("compare-rows").replaceChildren(...rows.map((r) => {
      const info = allInfo[r.format];
      const rmse = r.rmse === null ? (r.overflow ? "overflow" : "—") : short(r.rmse) + (r.overflow ? " (some overflowed)" : "");
      return el("tr", {},
        el("th", { scope: "row" }, glossaryLink(info.glossary, info.label)),
        el("td", { text: full(r.bits_per_weight) }),
        el("td", { text: rmse, title: full(r.rmse) }),
        el("td", { text: short(r.max_abs_error), title: full(r.max_abs_error) }),
        el("td", { text: r.scaling }));
    }));
    drawCompareChart(data.results);
    compare.lastData = data;
  }

  async function fetchCompare() {
    const pasted = splitValues(compare.values.value);
    $("compare-count").textContent = pasted.length ? `${pasted.length} of ${compare.values.dataset.length} values (pasted values replace the seed)` : "";
    const body = pasted.length ? { values: pasted } : { random: compare.seed.value.trim(), std: compare.std.value.trim() || "1" };
    const res = await compare.request(COMPARE_API, body);
    if (!res) return;
    if (!res.ok) { showErrors("compare", res.data, compareInputs); return; }
    clearErrors("compare", compareInputs);
    renderCompare(res.data);
  }

  const fetchCompareSoon = debounce(fetchCompare, DEBOUNCE_MS);
  for (const input of [compare.seed, compare.std, compare.values]) input.addEventListener("input", fetchCompareSoon);
  $("compare-form").addEventListener("submit", (event) => { event.preventDefault(); fetchCompare(); });

  // Charts take their colours from CSS variables: redraw when light/dark flips.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (compare.lastData) drawCompareChart(compare.lastData.results);
    if (block.lastData) drawBlockChart(block.lastData);
  });

  // ------------------------------------------------------------------ start

  describeFormat();
  encodeValue();
  updateCount();
  showMode();
  fetchBlock();
  fetchCompare();
})();
