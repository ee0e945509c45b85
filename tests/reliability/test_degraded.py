"""Parts of the service fail; the rest keeps working and says what is degraded."""

import pytest

from glossary import embeddings


@pytest.fixture
def embedding_model_missing(settings, tmp_path):
    settings.EMBEDDING_MODEL = str(tmp_path / "no-such-model")
    embeddings._load_model.cache_clear()
    yield
    embeddings._load_model.cache_clear()
    embeddings._load_error = None


@pytest.mark.django_db
def test_without_the_embedding_model_keyword_search_still_works(api_client, make_entry, embedding_model_missing):
    make_entry("kv-cache", "KV cache", body="Keys and values kept per token.")
    hybrid = api_client.get("/api/v1/search/", {"q": "keys and values"})
    assert hybrid.status_code == 200
    assert [r["slug"] for r in hybrid.json()["results"]] == ["kv-cache"]
    assert api_client.get("/api/v1/search/", {"q": "keys", "mode": "keyword"}).status_code == 200
    semantic = api_client.get("/api/v1/search/", {"q": "keys", "mode": "semantic"})
    assert semantic.status_code == 503 and "Keyword search works" in semantic.json()["detail"]


@pytest.mark.django_db
def test_health_says_the_embedding_model_is_degraded(api_client, embedding_model_missing):
    body = api_client.get("/api/v1/health/").json()
    assert body["status"] == "degraded"
    assert "embedding" in body["degraded"]
    assert "no model folder" in body["embedding"]["error"]


@pytest.mark.django_db
def test_editing_an_entry_without_the_embedding_model_still_saves(make_entry, embedding_model_missing):
    entry = make_entry("gqa", "GQA", body="v1")
    entry.apply_edit({"body": "v2"})
    entry.refresh_from_db()
    assert entry.body == "v2"


@pytest.fixture
def llm_model_missing(settings, tmp_path):
    from live.service import reset_service

    settings.LLM = {**settings.LLM, "model_path": str(tmp_path / "missing.gguf")}
    reset_service()
    yield
    reset_service()


@pytest.mark.django_db
def test_health_says_the_llm_is_degraded_when_its_model_file_is_missing(api_client, llm_model_missing, tmp_path):
    response = api_client.get("/api/v1/health/")
    body = response.json()
    assert body["status"] == "degraded" and "llm" in body["degraded"]
    assert "missing.gguf" in body["llm"]["error"]
    # The file's name, never the server's folders.
    assert str(tmp_path) not in response.content.decode()
    assert body["llm"]["loaded"] is False


@pytest.mark.django_db
def test_health_names_the_bundled_model_file(api_client):
    from live.service import reset_service

    reset_service()
    llm = api_client.get("/api/v1/health/").json()["llm"]
    assert llm["backend"] == "local" and llm["model"].endswith(".gguf") and "error" not in llm
