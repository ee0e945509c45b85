"""The OpenAPI schema says what the API does (issue 20.3): operations grouped by area, public
reads marked as needing no authentication — checked against what the endpoints answer an
anonymous caller — and docs pages that lead back to the site."""

import pytest

pytestmark = pytest.mark.django_db

AREAS = {"glossary", "search", "notes", "calculators", "live", "accounts"}


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", {"format": "json"}).json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_belongs_to_one_named_area(schema):
    tags = {}
    for path, method, operation in operations(schema):
        assert len(operation["tags"]) == 1, (path, operation["tags"])
        tags.setdefault(operation["tags"][0], set()).add(path)
    assert AREAS <= set(tags)
    assert "v1" not in tags
    assert "/api/v1/entries/{slug}/" in tags["glossary"] and "/api/v1/lookup/" in tags["glossary"]
    assert "/api/v1/categories/" in tags["glossary"]
    assert tags["search"] == {"/api/v1/search/"}
    assert "/api/v1/llm/generate/" in tags["live"] and "/api/v1/auth/token/" in tags["accounts"]
    assert all(path.startswith("/api/v1/calculators/") for path in tags["calculators"])
    assert all(path.startswith("/api/v1/notes/") for path in tags["notes"])
    # Each area is described, in the order Swagger UI shows them.
    described = [tag["name"] for tag in schema["tags"]]
    assert set(described) == set(tags) and all(tag.get("description") for tag in schema["tags"])


PUBLIC_READS = ["/api/v1/entries/", "/api/v1/entries/{slug}/", "/api/v1/search/", "/api/v1/lookup/",
                "/api/v1/categories/", "/api/v1/notes/", "/api/v1/notes/{id}/"]


@pytest.mark.parametrize("path", PUBLIC_READS)
def test_public_reads_are_documented_as_needing_no_authentication(schema, path):
    # `{}` in an operation's security list is OpenAPI's "no authentication needed".
    operation = schema["paths"][path]["get"]
    assert {} in operation["security"]
    assert operation["description"].startswith("Public: no account needed.")


@pytest.mark.parametrize("path,query", [
    ("/api/v1/entries/", ""), ("/api/v1/entries/gguf/", ""), ("/api/v1/search/", "?q=gguf&mode=keyword"),
    ("/api/v1/lookup/", "?q=GGUF"), ("/api/v1/categories/", ""), ("/api/v1/notes/", "")])
def test_and_they_do_answer_anonymously(api_client, make_entry, path, query):
    make_entry("gguf", "GGUF", body="The file format.")
    assert api_client.get(path + query).status_code == 200


def test_writes_stay_documented_as_needing_an_account(schema):
    for path, method, operation in operations(schema):
        if method in ("post", "patch", "delete") and path.startswith(("/api/v1/entries/", "/api/v1/notes/")):
            assert {} not in operation["security"], (method, path)
            assert not operation.get("description", "").startswith("Public"), (method, path)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_lead_back_to_the_site(client, url):
    html = client.get(url).content.decode()
    assert 'href="/"' in html and "Field Guide" in html
    assert "fonts.googleapis.com" not in html  # nothing from outside: offline, and allowed by the CSP
