"""GET /api/v1/model-name/ and the decoder's page, over the real glossary entries."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_gguf_file_name_decodes_with_its_parts_linked_to_entries(api_client, make_entry):
    make_entry("gguf", "GGUF")
    make_entry("unsloth-dynamic-quants", "Unsloth Dynamic quants", category="quantization")
    response = api_client.get("/api/v1/model-name/", {"name": "gemma-3-27b-it-UD-Q4_K_XL.gguf"})
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("family", "variant", "format", "quant", "shard", "preset")} == {
        "family": "Gemma", "variant": "instruct", "format": "gguf", "quant": "UD-Q4_K_XL",
        "shard": None, "preset": "gemma-3-27b"}
    assert body["parameters_b"] == pytest.approx(27.4, abs=0.05) and body["parameters_source"] == "official"
    assert body["parameters_url"].startswith("https://") and " " not in body["parameters_url"]
    assert body["active_parameters_b"] is None
    parts = {part["text"]: part for part in body["parts"]}
    assert parts["UD-Q4_K_XL"]["entry"] == {"slug": "unsloth-dynamic-quants", "term": "Unsloth Dynamic quants",
                                           "url": "/glossary/unsloth-dynamic-quants/"}
    assert parts[".gguf"]["entry"]["slug"] == "gguf"
    assert parts["27b"]["entry"] is None  # no "parameter-count" entry in this small glossary
    assert body["memory_calculator_url"] == "/calculators/memory/?model=gemma-3-27b&quant=Q4_K_M"


def test_quant_as_spelled_and_in_one_spelling(api_client, db):
    body = api_client.get("/api/v1/model-name/", {"name": "olmoe-1b-7b-0924-instruct-q4_k_m.gguf"}).json()
    assert (body["quant"], body["quant_type"]) == ("q4_k_m", "Q4_K_M")
    assert (body["parameters_b"], body["active_parameters_b"]) == (7, 1)


def test_a_repository_the_decoder_does_not_know_is_decoded_not_refused(api_client, db):
    response = api_client.get("/api/v1/model-name/", {"name": "someone/my-first-model"})
    assert response.status_code == 200
    body = response.json()
    assert body["publisher"] == "someone" and body["parameters_b"] is None
    assert [part["kind"] for part in body["parts"]] == ["publisher", "unknown", "unknown", "unknown"]


def test_a_mixture_of_experts_gets_its_published_total_not_n_times_m(api_client, db):
    body = api_client.get("/api/v1/model-name/", {"name": "mistralai/Mixtral-8x7B-Instruct-v0.1"}).json()
    assert body["parameters_b"] == pytest.approx(46.7, abs=0.01)
    assert body["active_parameters_b"] == 12.9
    assert any("56B" in note for note in body["notes"])


@pytest.mark.parametrize("params, message", [
    ({}, "This field is required."),
    ({"name": ""}, "This field may not be blank."),
    ({"name": "hello there"}, "Nothing in “hello there” reads as a model name"),
    ({"name": "a" * 401}, "Ensure this field has no more than 400 characters."),
    ({"name": "Llama-3-800000000B"}, "not a size a model has"),
    ({"name": "llama<3>"}, "letters, digits"),
])
def test_empty_or_absurd_names_are_a_400_naming_the_field(api_client, db, params, message):
    response = api_client.get("/api/v1/model-name/", params)
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert message in response.json()["name"][0]


def test_the_page_decodes_without_script_and_links_to_the_memory_calculator(client, make_entry):
    make_entry("mixture-of-experts", "Mixture of experts")
    html = client.get("/calculators/model-name/", {"name": "Mixtral-8x7B-Instruct-v0.1"}).content.decode()
    assert '<dd data-fact="parameters">46.703B' in html
    assert 'href="/calculators/memory/?model=mixtral-8x7b-v0.1"' in html
    assert 'href="/glossary/mixture-of-experts/">Mixture of experts</a>' in html


def test_the_page_shows_a_bad_name_inline_and_keeps_it(client, db):
    response = client.get("/calculators/model-name/", {"name": "hello there"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="hello there"' in html and "reads as a model name" in html and 'aria-invalid="true"' in html


def test_the_page_says_when_a_model_is_not_a_calculator_preset(client, db):
    html = client.get("/calculators/model-name/", {"name": "Qwen3.5-9B-Q4_K_M.gguf"}).content.decode()
    assert "not among the memory calculator's presets" in html
    assert "as the name rounds it" in html


def test_the_page_shows_the_quant_as_spelled_and_in_llama_cpp_s_spelling(client, db):
    html = client.get("/calculators/model-name/", {"name": "qwen2.5-7b-instruct-q5_k_m.gguf"}).content.decode()
    assert '<dd data-fact="quant">q5_k_m <span class="muted">(Q5_K_M)</span></dd>' in html
    assert 'href="/calculators/memory/?model=qwen2.5-7b&amp;quant=Q5_K_M"' in html
