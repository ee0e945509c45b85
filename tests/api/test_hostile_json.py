"""JSON bodies a stranger can send: lone surrogates anywhere, bodies over the size limit.

Python's json module turns the escape "\\ud800" into a one-character str that cannot be
encoded as UTF-8, so any answer that echoed it (a "not a valid choice" message) failed with
a 500. Every answer here must be JSON naming the field, through the real endpoints.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

SURROGATE = "\\ud800"  # as it travels in the JSON text: a backslash escape, not a character


def post_json(client, url, text):
    return client.post(url, text, content_type="application/json")


# (url, JSON text, the field the answer must name, whether an account is needed)
SURROGATE_BODIES = [
    ("/api/v1/calculators/memory/", f'{{"model": "llama-3.1-8b", "mode": "{SURROGATE}"}}', "mode", False),
    ("/api/v1/calculators/memory/mixes/", f'{{"model": "llama-3.1-8b", "quants": ["{SURROGATE}"]}}',
     "quants", False),
    ("/api/v1/calculators/memory/", f'{{"architecture": {{"model_type": "{SURROGATE}"}}}}',
     "architecture", False),
    ("/api/v1/calculators/lora/", f'{{"model": "{SURROGATE}"}}', "model", False),
    ("/api/v1/calculators/sampling/", f'{{"logits": [1, 2], "samplers": [{{"name": "{SURROGATE}"}}]}}',
     "samplers", False),
    ("/api/v1/calculators/bit-layout/", f'{{"format": "{SURROGATE}", "value": 1}}', "format", False),
    ("/api/v1/llm/generate/", f'{{"prompt": "Hi", "max_tokens": 1, "{SURROGATE}": 1}}', SURROGATE, False),
    ("/api/v1/llm/tokenize/", f'{{"text": "a{SURROGATE}b"}}', "text", False),
    ("/api/v1/notes/", f'{{"title": "t", "visibility": "{SURROGATE}"}}', "visibility", True),
    ("/api/v1/notes/", f'{{"title": "t", "nested": {{"{SURROGATE}": [1]}}}}', "nested", True),
    ("/api/v1/auth/token/", f'{{"username": "member", "password": "{SURROGATE}"}}', "password", False),
]


@pytest.mark.parametrize("url, text, field, signed_in", SURROGATE_BODIES,
                         ids=[f"{url} {field}" for url, _, field, _ in SURROGATE_BODIES])
def test_a_lone_surrogate_anywhere_is_a_400_naming_the_field(api_client, member, url, text, field, signed_in):
    if signed_in:
        api_client.force_authenticate(member)
    response = post_json(api_client, url, text)
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert field in body, body
    assert "lone surrogate" in body[field][0]


def test_a_surrogate_deep_inside_a_value_names_its_path(api_client):
    text = f'{{"logits": [1, 2], "samplers": [{{"name": "top_k", "k": 1}}, {{"name": "{SURROGATE}"}}]}}'
    body = post_json(api_client, "/api/v1/calculators/sampling/", text).json()
    assert body["samplers"][0].startswith("samplers[1].name: not valid Unicode text")


def test_a_surrogate_in_pasted_config_text_is_a_400_too(api_client, client):
    config = f'{{"model_type": "llama", "hidden_size": 64, "{SURROGATE}": 1}}'
    response = api_client.post("/api/v1/calculators/memory/", {"architecture": config}, format="multipart")
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["architecture"][0]
    page = client.get("/calculators/lora/", {"source": "paste", "architecture": config})
    assert page.status_code == 400
    assert "lone surrogate" in page.content.decode()


def test_proper_non_ascii_text_still_passes(api_client, member):
    api_client.force_authenticate(member)
    response = post_json(api_client, "/api/v1/notes/", json.dumps({"title": "Kühlung 🧊 \U0001d11e"}))
    assert response.status_code == 201
    assert response.json()["title"] == "Kühlung 🧊 \U0001d11e"


OVERSIZE = 3 * 1024 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)


@pytest.mark.parametrize("url", ["/api/v1/auth/token/", "/api/v1/calculators/memory/",
                                 "/api/v1/calculators/sampling/", "/api/v1/notes/", "/api/v1/llm/generate/"])
def test_a_json_body_over_the_limit_is_a_json_413(api_client, member, url):
    api_client.force_authenticate(member)
    text = json.dumps({"title": "t", "prompt": "x" * OVERSIZE})
    response = post_json(api_client, url, text)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than 2.5 MiB" in response.json()["detail"]


def test_a_large_gguf_upload_is_still_read_as_a_file(api_client):
    # Files in multipart bodies do not count towards that limit (the memory calculator
    # takes up to 64 MiB of a GGUF file); only a 400 about the header itself comes back.
    data = b"GGUF" + b"\0" * OVERSIZE
    response = api_client.post("/api/v1/calculators/memory/",
                               {"gguf": SimpleUploadedFile("m.gguf", data)}, format="multipart")
    assert response.status_code == 400
    assert list(response.json()) == ["gguf"]


def test_pages_keep_their_html_400(client):
    response = client.post("/accounts/login/", {f"f{i}": "x" for i in range(1100)})  # DATA_UPLOAD_MAX_NUMBER_FIELDS
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
