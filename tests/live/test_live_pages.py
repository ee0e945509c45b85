"""The live-demo pages under /live/ (live/views.py, templates/live/).

The pages render a form and the model card; the numbers come from the API (tested in
test_live_api.py and, in a browser, tests/browser/test_live_browser.py). Rendering a page
reads only the GGUF header: no test here loads the model. With the model missing or
unreadable the demos say so clearly and the rest of the site keeps working.
"""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from llama_cpp.llama_grammar import json_schema_to_gbnf

import live.service
from live import web
from live.engine import validate_grammar_offline
from live.grammar import check_grammar
from live.llm import LIMITS
from live.service import reset_service
from live.views import PERPLEXITY_PRESETS, STRUCTURE_PRESETS
from tests.live.test_llm import LLAMA_CPP_DEFAULTS

DEMOS = ["/live/next-token/", "/live/generate/", "/live/json-mode/", "/live/tokenizer/", "/live/perplexity/"]
PAGES = ["/live/", *DEMOS]
GLOSSARY = Path(__file__).resolve().parents[2] / "fixtures" / "glossary"

# The terms the issue asks the live pages to link to their glossary entries.
REQUIRED_SLUGS = {
    "logits", "softmax", "temperature", "top-k", "top-p", "min-p", "typical-sampling", "repetition-penalty",
    "frequency-and-presence-penalties", "seed", "gbnf-grammar", "json-mode", "tokenizer", "token", "bpe",
    "perplexity", "greedy-decoding", "gguf", "q4-k-m",
}


@pytest.fixture(scope="module", autouse=True)
def svc(tmp_path_factory):
    reset_service()
    worker_dir = str(tmp_path_factory.mktemp("worker"))  # nothing of other runs in it
    with override_settings(LLM={**django_settings.LLM, "model_path": "", "n_threads": 1, "worker_dir": worker_dir}):
        service = web.service()
    yield service
    reset_service()


@pytest.fixture
def other_service(monkeypatch, settings):
    """Build the process's service afresh from settings.LLM for one test; the module's
    service comes back afterwards."""
    monkeypatch.setattr(live.service, "_service", None)

    def configure(**llm):
        settings.LLM = {**django_settings.LLM, **llm}
    return configure


def text_of(response):
    return response.content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_with_the_model_card(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = text_of(response)
    assert 'id="live-model-name">Gemma 3 270m<' in html
    # The bundled file's recipe and its real average: 7.36 bits per weight (DESIGN.md,
    # checked with llama_model_size; tests/live/test_llm.py holds models() to it).
    assert re.search(r'data-slug="q4-k-m" href="/glossary/q4-k-m/">Q4_K_M</a>', html)
    assert "7.36\n" in html or "7.36 " in html
    assert "live.css" in html


def test_the_card_prints_what_models_reports(client, svc):
    (info,) = svc.models()
    html = text_of(client.get("/live/tokenizer/"))
    assert f'title="{info.parameters} parameters">{info.parameters / 1e6:,.1f} M<' in html
    assert f'title="{info.file_size} bytes">{info.file_size / 2**20:,.1f} MiB<' in html
    assert f"{svc.backend.n_ctx} tokens" in html
    assert f"trained for {info.context_length}" in html
    assert svc.backend.supervisor_status() is None  # rendering a page starts no model worker


def test_the_hub_links_every_demo(client):
    html = text_of(client.get("/live/"))
    for url in DEMOS:
        assert f'href="{url}"' in html


@pytest.mark.parametrize("url", DEMOS)
def test_demo_pages_load_their_script_and_keep_to_the_content_security_policy(client, url):
    html = text_of(client.get(url))
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts
    assert re.search(r'<script type="module" src="/static/js/live/[a-z-]+\.js">', html)
    assert " style=" not in html


def test_the_pages_link_every_term_the_issue_names_to_an_existing_entry(client):
    slugs = set()
    for url in PAGES:
        slugs |= set(re.findall(r'class="wikilink" data-slug="([a-z0-9-]+)" href="/glossary/\1/"', text_of(client.get(url))))
    assert REQUIRED_SLUGS <= slugs, REQUIRED_SLUGS - slugs
    missing = {slug for slug in slugs if not (GLOSSARY / f"{slug}.md").exists()}
    assert not missing, f"links to entries that do not exist: {missing}"


def test_generation_controls_offer_the_service_ranges_and_llama_cpp_defaults(client):
    html = text_of(client.get("/live/generate/"))
    for name, default in LLAMA_CPP_DEFAULTS.items():
        tag = re.search(rf'<input id="gen-{name}"[^>]*>', html).group(0)
        _, low, high = LIMITS[name]
        assert f'min="{low}"' in tag and f'max="{high}"' in tag, tag
        value = float(re.search(r'value="([^"]*)"', tag).group(1))
        assert value == default, name
    seed = re.search(r'<input id="gen-seed"[^>]*>', html).group(0)
    assert 'value=""' in seed  # blank: a random seed, as create_completion does with seed=None


def test_json_mode_presets_are_grammars_llama_cpp_accepts():
    for _, _, kind, text, _ in STRUCTURE_PRESETS:
        grammar = json_schema_to_gbnf(json.dumps(json.loads(text))) if kind == "json_schema" else text
        check_grammar(grammar)  # the static checks the service makes first
        validate_grammar_offline(grammar)  # raises InputError with llama.cpp's message otherwise


def test_the_json_mode_page_starts_from_the_person_schema_of_the_issue(client):
    html = text_of(client.get("/live/json-mode/"))
    presets = json.loads(re.search(r'<script id="jm-presets" type="application/json">(.*?)</script>', html, re.S).group(1))
    person = json.loads(presets[0]["text"])
    assert person["properties"] == {"name": {"type": "string"}, "age": {"type": "integer"}}


def test_perplexity_presets_fit_one_window(svc):
    # At most n_ctx tokens (the service's window); four characters per token is generous.
    for _, _, text in PERPLEXITY_PRESETS:
        assert len(text) < svc.backend.n_ctx * 2


# --- the model unavailable ---------------------------------------------------------------

def test_a_missing_model_is_explained_and_the_rest_of_the_site_works(client, db, other_service, tmp_path):
    missing = tmp_path / "nowhere.gguf"
    other_service(model_path=str(missing))
    hub = client.get("/live/")
    assert hub.status_code == 200
    html = text_of(hub)
    assert "The model is unavailable" in html
    assert "model file not found: nowhere.gguf" in html
    assert str(tmp_path) not in html  # the file's name, not the server's folders
    for url in DEMOS:
        response = client.get(url)
        assert response.status_code == 503, url
        page = text_of(response)
        assert "The model is unavailable" in page and "nowhere.gguf" in page
        assert "/static/js/live/" not in page  # no demo that could only fail
    assert client.get("/glossary/").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/calculators/").status_code == 200


def test_a_corrupt_model_file_is_explained_too(client, other_service, tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    other_service(model_path=str(corrupt))
    response = client.get("/live/next-token/")
    assert response.status_code == 503
    assert "cannot read GGUF file corrupt.gguf" in text_of(response)


def test_a_file_that_is_not_gguf_is_explained(client, other_service, tmp_path):
    other = tmp_path / "notes.gguf"
    other.write_text("not a model")
    other_service(model_path=str(other))
    response = client.get("/live/generate/")
    assert response.status_code == 503
    assert "not a GGUF file" in text_of(response)


def test_bad_llm_settings_are_explained_not_a_500(client, other_service):
    other_service(backend="gpu")
    response = client.get("/live/tokenizer/")
    assert response.status_code == 503
    assert "LLM_BACKEND: must be &#x27;local&#x27; or &#x27;remote&#x27;" in text_of(response)
