"""POST /api/v1/calculators/lora/, GET /api/v1/calculators/models/ and the LoRA page.

Every expected number is either a figure PEFT (or a model's Hugging Face page) published,
or hand arithmetic on config.json values written out in the test: a LoRA pair on
nn.Linear(in, out) is r·in (lora_A) + r·out (lora_B) parameters
(peft src/peft/tuners/lora/layer.py); DoRA adds an out_features-long magnitude vector per
adapted module (src/peft/tuners/lora/dora.py); an nn.Embedding(vocab, hidden) gets
lora_embedding_A (r, vocab) and lora_embedding_B (hidden, r).
"""

import json

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/calculators/lora/"

# meta-llama/Llama-3.2-1B config.json as published (the keys that matter, and a few that
# do not, e.g. rope_scaling, to show they are ignored).
LLAMA_3_2_1B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 16,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}

# Qwen/Qwen2.5-0.5B config.json as published.
QWEN2_5_0_5B_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "hidden_act": "silu",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "max_position_embeddings": 32768,
    "max_window_layers": 24,
    "model_type": "qwen2",
    "num_attention_heads": 14,
    "num_hidden_layers": 24,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "use_sliding_window": False,
    "vocab_size": 151936,
}


def post(api_client, payload):
    return api_client.post(URL, payload, format="json")


def ok(api_client, **payload):
    response = post(api_client, payload)
    assert response.status_code == 200, response.content
    return response.json()


# --- counts against published figures ---------------------------------------------


def test_llama_2_7b_r8_q_v_reproduces_peft_published_count(api_client):
    # PEFT README, meta-llama/Llama-2-7b-hf with LoraConfig(r=8, target_modules=["q_proj",
    # "v_proj"]): "trainable params: 4,194,304 || all params: 6,742,609,920 ||
    # trainable%: 0.06220594176090199". The base is the 6,738,415,616 on the model page.
    body = ok(api_client, model="llama-2-7b", rank=8, alpha=16, target_modules=["q_proj", "v_proj"])
    assert body["trainable_parameters"] == 4_194_304
    assert body["base_parameters"] == 6_738_415_616
    assert body["all_parameters"] == 6_742_609_920
    assert body["trainable_percent"] == pytest.approx(0.06220594176090199, rel=1e-12)


def test_pasted_qwen2_5_0_5b_config_reproduces_peft_log_line_and_hand_count(api_client):
    # Published print_trainable_parameters() output for Qwen2.5-0.5B with r=16 on all seven
    # projections (Unsloth and PEFT logs): "trainable params: 8,798,208 ||
    # all params: 502,830,976 || trainable%: 1.7497".
    body = ok(api_client, architecture=QWEN2_5_0_5B_CONFIG, rank=16, target_modules="all-linear")
    assert body["trainable_parameters"] == 8_798_208
    assert body["all_parameters"] == 502_830_976
    assert f"{body['trainable_percent']:.4f}" == "1.7497"
    # By hand from the config: head_dim 896/14 = 64, KV width 2·64 = 128.
    r = 16
    q = o = r * (896 + 896)
    k = v = r * (896 + 128)
    gate = up = down = r * (896 + 4864)
    per_layer = q + k + v + o + gate + up + down
    assert per_layer == 366_592
    assert body["per_layer"] == [{"layer": i, "parameters": per_layer} for i in range(24)]
    assert 24 * per_layer == 8_798_208
    # Qwen2.5-0.5B's model page: 494,032,768 parameters (q/k/v biases included).
    assert body["base_parameters"] == 494_032_768


def test_pasted_llama_3_2_1b_config_with_embeddings_and_lm_head_by_hand(api_client):
    body = ok(api_client, architecture=LLAMA_3_2_1B_CONFIG, rank=8,
              target_modules=["q_proj", "v_proj", "embed_tokens", "lm_head"])
    # Model page of meta-llama/Llama-3.2-1B: 1,235,814,400 parameters.
    assert body["base_parameters"] == 1_235_814_400
    r, h, kv, vocab, layers = 8, 2048, 8 * 64, 128256, 16
    q, v = r * (h + h), r * (h + kv)
    embed = r * vocab + h * r  # lora_embedding_A (r, vocab) + lora_embedding_B (hidden, r)
    lm_head = r * h + vocab * r
    expected = layers * (q + v) + embed + lm_head
    assert expected == 2_936_832
    assert body["trainable_parameters"] == expected
    assert body["outside_layers"] == embed + lm_head
    rows = {row["module"]: row for row in body["per_module"]}
    assert rows["q_proj"] == {
        "module": "q_proj", "hf_name": "model.layers.*.self_attn.q_proj", "shape": [2048, 2048],
        "lora_A": [8, 2048], "lora_B": [2048, 8], "magnitude": 0, "experts": 1,
        "parameters_per_module": q, "modules": 16, "parameters": 16 * q,
    }
    assert rows["v_proj"]["shape"] == [512, 2048]  # grouped-query attention: 8 KV heads × 64
    assert rows["embed_tokens"]["shape"] == [128256, 2048]
    assert rows["embed_tokens"]["lora_A"] == [8, 128256] and rows["embed_tokens"]["lora_B"] == [2048, 8]
    assert rows["lm_head"]["lora_A"] == [8, 2048] and rows["lm_head"]["lora_B"] == [128256, 8]
    assert body["adapter_bytes"] == {"fp16": 2 * expected, "fp32": 4 * expected}
    assert body["architecture"]["num_kv_heads"] == 8 and body["model"]["slug"] is None


def test_all_linear_adapts_each_family_s_own_modules(api_client):
    # Phi-3-mini: qkv_proj and gate_up_proj are the fused projections (32 layers, hidden 3072,
    # intermediate 8192); all-linear matches exactly these four names.
    body = ok(api_client, model="phi-3-mini-4k", rank=16, target_modules="all-linear")
    assert body["target_modules"] == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert body["trainable_parameters"] == 32 * 16 * (12288 + 6144 + 19456 + 11264)
    # Mixtral's routed experts through target_parameters: two fused weights per layer
    body = ok(api_client, model="mixtral-8x7b-v0.1", rank=8, target_modules=["experts"])
    assert [row["experts"] for row in body["per_module"]] == [8, 8]
    assert body["trainable_parameters"] == 32 * 8 * 8 * ((4096 + 28672) + (14336 + 4096))


def test_modules_a_family_lacks_are_a_400_when_nothing_matches(api_client):
    response = post(api_client, {"model": "phi-3-mini-4k", "rank": 8, "target_modules": ["q_proj", "v_proj"]})
    assert response.status_code == 400
    assert "qkv_proj" in response.json()["target_modules"][0]
    response = post(api_client, {"model": "qwen3-30b-a3b", "rank": 8, "method": "dora",
                                 "target_modules": ["experts"]})
    assert response.status_code == 400 and "method" in response.json()


def test_architecture_in_our_own_form_gives_the_same_answer_as_the_preset(api_client):
    preset = api_client.get("/api/v1/calculators/models/llama-3.2-1b/").json()
    by_slug = ok(api_client, model="llama-3.2-1b", rank=32, target_modules="all-linear")
    pasted = ok(api_client, architecture=preset["architecture"], rank=32, target_modules="all-linear")
    assert pasted["trainable_parameters"] == by_slug["trainable_parameters"]
    # Llama-3.2-1B by hand: 16 layers × 32 × (q 4096 + k 2560 + v 2560 + o 4096 + 3 × 10240).
    assert by_slug["trainable_parameters"] == 16 * 32 * (4096 + 2560 + 2560 + 4096 + 3 * 10240)


def test_dora_adds_one_out_features_magnitude_per_adapted_module(api_client):
    lora = ok(api_client, model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"])
    dora = ok(api_client, model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"], method="dora")
    # 2 projections × 32 layers, each with a 4096-long magnitude (out_features of q and v).
    assert dora["trainable_parameters"] == 4_194_304 + 2 * 32 * 4096 == 4_456_448
    assert dora["trainable_parameters"] - lora["trainable_parameters"] == 262_144
    assert {row["magnitude"] for row in dora["per_module"]} == {4096}
    # Llama 3.1 8B config: v_proj is Linear(4096, 8 KV heads × 128 = 1024), so 1024 magnitudes.
    gqa = ok(api_client, model="llama-3.1-8b", rank=8, target_modules=["v_proj"], method="dora")
    assert gqa["trainable_parameters"] == 32 * (8 * (4096 + 1024) + 1024)
    assert gqa["per_module"][0]["magnitude"] == 1024
    assert any("magnitude" in note for note in dora["notes"])


def test_qlora_trains_what_lora_trains(api_client):
    lora = ok(api_client, model="mistral-7b-v0.3", rank=64, target_modules="all-linear", method="lora")
    qlora = ok(api_client, model="mistral-7b-v0.3", rank=64, target_modules="all-linear", method="qlora")
    assert qlora["trainable_parameters"] == lora["trainable_parameters"]
    # Mistral 7B v0.3 config: hidden 4096, 8 KV heads × 128, intermediate 14336, 32 layers.
    assert lora["trainable_parameters"] == 32 * 64 * (
        2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))


def test_alpha_changes_only_the_scaling(api_client):
    common = dict(model="llama-2-7b", rank=16, target_modules=["q_proj", "v_proj"])
    low = ok(api_client, alpha=16, **common)
    high = ok(api_client, alpha=64, **common)
    assert low["scaling"] == 1.0 and high["scaling"] == 4.0  # alpha / r
    for key in ("trainable_parameters", "per_module", "per_layer", "adapter_bytes", "memory"):
        assert low[key] == high[key], key
    # rsLoRA (Kalajdzievski 2023): alpha / sqrt(r) = 64 / 4.
    assert ok(api_client, alpha=64, use_rslora=True, **common)["scaling"] == 16.0
    # PEFT's default lora_alpha is 8 (LoraConfig), so scaling 8/16 when alpha is left out.
    assert ok(api_client, **common)["scaling"] == 0.5


# --- memory -----------------------------------------------------------------------

LLAMA_2_7B = 6_738_415_616


def test_full_fine_tuning_costs_sixteen_bytes_per_parameter_before_activations(api_client):
    body = ok(api_client, model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"])
    full = body["memory"]["full"]["by_kind"]
    # ZeRO paper §3.1: 2Ψ weights + 2Ψ gradients + 12Ψ optimizer states (fp32 master,
    # momentum, variance) for mixed-precision Adam.
    assert full["weights"] == 2 * LLAMA_2_7B
    assert full["gradients"] == 2 * LLAMA_2_7B
    assert full["optimizer_states"] == 12 * LLAMA_2_7B
    for mode in ("full", "lora", "qlora"):
        memory = body["memory"][mode]
        assert sum(memory["by_kind"].values()) == memory["total_bytes"]
        assert sum(row["bytes"] for row in memory["breakdown"]) == memory["total_bytes"]


def test_lora_and_qlora_memory_by_hand_for_llama_2_7b(api_client):
    body = ok(api_client, model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"])
    trainable = 4_194_304
    lora = body["memory"]["lora"]["by_kind"]
    # Frozen bf16 base (2 bytes/param) plus fp32 adapter weights; fp32 gradients; two fp32
    # Adam moments (PEFT keeps adapters in fp32: autocast_adapter_dtype=True).
    assert lora["weights"] == 2 * LLAMA_2_7B + 4 * trainable
    assert lora["gradients"] == 4 * trainable
    assert lora["optimizer_states"] == 8 * trainable
    # QLoRA paper §3: NF4 with double quantization is 4 + 8/64 + 32/(64·256) bits per
    # weight for the block linear layers. Llama-2-7B: 32 layers × (4 × 4096² + 3 × 4096 ×
    # 11008) linear weights; embeddings, lm_head and norms stay bf16.
    linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert linear == 6_476_005_376
    nf4_bits = linear * 4 + linear * 8 // 64 + linear * 32 // (64 * 256)  # exact: 16384 | linear
    rest = 2 * 32000 * 4096 + 65 * 4096  # embed_tokens, lm_head, 65 RMSNorm weights
    assert linear + rest == LLAMA_2_7B
    qlora = body["memory"]["qlora"]["by_kind"]
    assert qlora["weights"] == nf4_bits // 8 + 2 * rest + 4 * trainable


def test_gradient_checkpointing_keeps_two_bytes_per_hidden_value_per_layer(api_client):
    common = dict(model="llama-2-7b", rank=8, target_modules=["q_proj", "v_proj"],
                  sequence_length=4096, micro_batch_size=2)
    with_ckpt = ok(api_client, gradient_checkpointing=True, **common)
    rows = {row["label"]: row["bytes"] for row in with_ckpt["memory"]["lora"]["breakdown"]}
    kept = next(n for label, n in rows.items() if "kept by checkpointing" in label)
    # Korthikanti et al. 2022: full recomputation keeps each layer's input, 2·s·b·h bytes.
    assert kept == 2 * 4096 * 2 * 4096 * 32
    without = ok(api_client, gradient_checkpointing=False, **common)
    for mode in ("full", "lora", "qlora"):
        a, b = with_ckpt["memory"][mode]["by_kind"], without["memory"][mode]["by_kind"]
        assert b["activations"] > a["activations"]
        assert {k: v for k, v in a.items() if k != "activations"} == \
            {k: v for k, v in b.items() if k != "activations"}


# --- bad input: 400 naming the field ----------------------------------------------

GOOD = {"model": "llama-2-7b", "rank": 8, "target_modules": ["q_proj", "v_proj"]}


def without(*keys, **changes):
    payload = {k: v for k, v in GOOD.items() if k not in keys}
    payload.update(changes)
    return payload


def arch(**changes):
    config = {**LLAMA_3_2_1B_CONFIG, **changes}
    return without("model", architecture={k: v for k, v in config.items() if v is not None})


@pytest.mark.parametrize("payload, field", [
    (without(rank=0), "rank"),
    (without(rank=-8), "rank"),
    (without(rank=4097), "rank"),
    (without(rank=10**30), "rank"),
    (without(rank=2.5), "rank"),
    (without(rank="eight"), "rank"),
    (without(rank=None), "rank"),
    (without(rank=[8]), "rank"),
    (without("rank"), "rank"),
    (without(target_modules=["q_proj", "attention"]), "target_modules"),
    (without(target_modules=["w1"]), "target_modules"),
    (without(target_modules=[]), "target_modules"),
    (without(target_modules="q_proj"), "target_modules"),
    (without(target_modules=[1, 2]), "target_modules"),
    (without(target_modules={"q_proj": True}), "target_modules"),
    (without("target_modules"), "target_modules"),
    (without(method="ia3"), "method"),
    (without(alpha=0), "alpha"),
    (without(alpha="NaN"), "alpha"),
    (without(alpha="Infinity"), "alpha"),
    (without(sequence_length=0), "sequence_length"),
    (without(sequence_length="4k"), "sequence_length"),
    (without(micro_batch_size=-1), "micro_batch_size"),
    (without(gradient_checkpointing="maybe"), "gradient_checkpointing"),
    (without(attention="paged"), "attention"),
    (without("model"), "model"),
    (without(model="gpt-5"), "model"),
    (without(model=None), "model"),
    (without(model=["llama-2-7b"]), "model"),
    (without(architecture=LLAMA_3_2_1B_CONFIG), "model"),  # both given
    (arch(num_key_value_heads=5), "architecture.num_key_value_heads"),
    (arch(hidden_size=None), "architecture.hidden_size"),
    (arch(hidden_size="2048"), "architecture.hidden_size"),
    (arch(num_attention_heads=0), "architecture.num_attention_heads"),
    (arch(num_hidden_layers=10**9), "architecture.num_hidden_layers"),
    (arch(vocab_size=10**40), "architecture.vocab_size"),
    (arch(model_type="gpt2"), "architecture.model_type"),
    (arch(model_type="gemma2", sliding_window=4096, layer_types=7), "architecture.layer_types"),
    (arch(model_type="gemma3_text", sliding_window=512, sliding_window_pattern=0),
     "architecture.sliding_window_pattern"),
    (arch(rope_theta=None, rope_parameters=[1]), "architecture.rope_parameters"),
    (without("model", architecture=[1, 2, 3]), "architecture"),
    (without("model", architecture="llama"), "architecture"),
    (without("model", architecture=None), "architecture"),
    (without("model", architecture={"hidden_size": 4096}), "architecture"),
    (without("model", architecture={"family": "llama", "hidden_size": 4096}),
     "architecture.intermediate_size"),
    (without("model", architecture={"family": "llama", "bogus": 1}), "architecture.bogus"),
])
def test_bad_input_is_a_400_naming_the_field(api_client, payload, field):
    response = post(api_client, payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert isinstance(body[field], list) and all(isinstance(m, str) and m for m in body[field])


@pytest.mark.parametrize("body", ["[1, 2]", "null", "42", '"text"', "{not json", "[" * 5000 + "]" * 5000])
def test_bodies_that_are_not_objects_are_400s(api_client, body):
    response = api_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400


def test_the_endpoint_needs_no_account_and_no_csrf_token(django_user_model):
    # A logged-in browser session without a CSRF token still gets its answer: the
    # endpoint stores nothing, so it skips session authentication.
    from django.test import Client

    user = django_user_model.objects.create_user("someone", password="pw-long-enough-123")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    response = strict.post(URL, json.dumps(GOOD), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["trainable_parameters"] == 4_194_304


# --- presets ----------------------------------------------------------------------

# Parameter counts on each model's Hugging Face page (safetensors total).
PUBLISHED = {
    "llama-2-7b": 6_738_415_616,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.2-1b": 1_235_814_400,
    "mistral-7b-v0.1": 7_241_732_096,
    "mixtral-8x7b-v0.1": 46_702_792_704,
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-7b": 7_615_616_512,
    "gemma-2-9b": 9_241_705_984,
    "gemma-3-270m": 268_098_176,
}


def test_models_endpoint_lists_the_presets_with_published_parameter_counts(api_client):
    body = api_client.get("/api/v1/calculators/models/?page_size=100").json()
    assert set(body) == {"count", "next", "previous", "results"}
    by_slug = {row["slug"]: row for row in body["results"]}
    assert body["count"] == len(by_slug) >= len(PUBLISHED)
    for slug, count in PUBLISHED.items():
        assert by_slug[slug]["parameters"] == count, slug
    llama = by_slug["llama-2-7b"]
    assert llama["name"] == "Llama 2 7B" and llama["hf_repo"] == "meta-llama/Llama-2-7b-hf"
    # Llama-2-7b-hf config.json.
    assert {k: llama["architecture"][k] for k in ("hidden_size", "intermediate_size", "num_layers",
                                                  "num_heads", "num_kv_heads", "vocab_size")} == {
        "hidden_size": 4096, "intermediate_size": 11008, "num_layers": 32, "num_heads": 32,
        "num_kv_heads": 32, "vocab_size": 32000}
    # Mixtral 8x7B: "46.7B total, 12.9B active" (Mistral AI's announcement); 2 of 8 experts
    # run: 46,702,792,704 − 6 idle experts × 32 layers × 3 × 4096 × 14336.
    assert by_slug["mixtral-8x7b-v0.1"]["active_parameters"] == 46_702_792_704 - 6 * 32 * 3 * 4096 * 14336


def test_models_endpoint_paginates_and_serves_one_preset(api_client):
    page = api_client.get("/api/v1/calculators/models/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    one = api_client.get("/api/v1/calculators/models/gemma-3-270m/")
    assert one.status_code == 200 and one.json()["parameters"] == 268_098_176
    missing = api_client.get("/api/v1/calculators/models/no-such-model/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}


def test_openapi_schema_documents_the_endpoints(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "post" in paths["/api/v1/calculators/lora/"]
    assert "get" in paths["/api/v1/calculators/models/"]
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert "trainable_parameters" in schema["LoraResponse"]["properties"]


# --- the page ---------------------------------------------------------------------

PAGE = "/calculators/lora/"


def test_page_renders_the_peft_example_from_a_shareable_url(client):
    response = client.get(PAGE, {"model": "llama-2-7b", "rank": 8, "alpha": 16,
                                 "target_modules": ["q_proj", "v_proj"]})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="trainable-count" data-value="4194304">4,194,304<' in html
    assert "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622" in html
    assert 'id="lora-chart-data"' in html
    for slug in ("lora", "lora-rank", "lora-alpha", "dora", "qlora", "nf4", "paged-optimizers",
                 "target-modules", "adam-optimizer", "gradient-checkpointing", "mixed-precision-training"):
        assert f'href="/glossary/{slug}/"' in html, slug
    assert ' style="' not in html  # the Content-Security-Policy forbids inline styles


def test_page_chart_data_follows_the_rank(client):
    response = client.get(PAGE, {"model": "llama-2-7b", "rank": 12, "target_modules": ["q_proj", "v_proj"]})
    data = response.context["charts"]
    assert data["ranks"] == [1, 2, 4, 8, 12, 16, 32, 64, 128, 256]
    # Llama-2-7B q and v: 32 layers × 2 × r × (4096 + 4096) = 524,288 · r.
    assert data["trainable"] == [524_288 * r for r in data["ranks"]]
    sets = {s["label"]: s["trainable"] for s in data["sets"]}
    assert sets["Attention only"] == 32 * 4 * 12 * (4096 + 4096)
    assert sets["All linear"] == 32 * 12 * (4 * (4096 + 4096) + 3 * (4096 + 11008))
    assert sets["Your set"] == 524_288 * 12


def test_page_shows_errors_next_to_the_field_and_keeps_what_was_typed(client):
    response = client.get(PAGE, {"form": "1", "source": "preset", "model": "llama-2-7b", "rank": "0",
                                 "alpha": "16", "target_modules": ["q_proj"]})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="error-rank" role="alert">Ensure this value is greater than or equal to 1.<' in html
    assert 'name="rank" type="number"' in html and 'value="0"' in html


def test_page_names_the_config_key_of_a_bad_pasted_architecture(client):
    config = {**LLAMA_3_2_1B_CONFIG, "num_key_value_heads": 5}
    response = client.get(PAGE, {"form": "1", "source": "paste", "architecture": json.dumps(config),
                                 "rank": "8", "alpha": "8", "target_modules": ["q_proj"]})
    assert response.status_code == 400
    assert "num_key_value_heads: must divide" in response.content.decode()
    response = client.get(PAGE, {"form": "1", "source": "paste", "architecture": "{oops",
                                 "rank": "8", "target_modules": ["q_proj"]})
    assert "not valid JSON" in response.content.decode()


def test_htmx_update_keeps_the_last_result_when_a_field_is_wrong(client):
    bad = client.get(PAGE, {"form": "1", "model": "llama-2-7b", "rank": "5000", "alpha": "8",
                            "target_modules": ["q_proj"]}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200
    assert bad["HX-Reswap"] == "none" and bad["HX-Replace-Url"] == "false"
    html = bad.content.decode()
    assert ('id="error-rank" role="alert" hx-swap-oob="true">'
            'Ensure this value is less than or equal to 4096.<') in html
    assert "trainable-count" not in html

    good = client.get(PAGE, {"form": "1", "model": "llama-2-7b", "rank": "16", "alpha": "8",
                             "target_modules": ["q_proj", "v_proj"]}, HTTP_HX_REQUEST="true")
    html = good.content.decode()
    assert "HX-Reswap" not in good
    assert "8,388,608" in html  # 524,288 × 16
    assert 'id="error-rank" role="alert" hx-swap-oob="true"><' in html  # cleared
    assert 'id="lora-details" hx-swap-oob="innerHTML"' in html
