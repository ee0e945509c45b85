import pytest


@pytest.mark.django_db
def test_token_is_issued_for_good_credentials(api_client, member):
    response = api_client.post("/api/v1/auth/token/",
                               {"username": "member", "password": "correct horse battery"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) == 40
    # The token authenticates later requests.
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/health/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [
    {"username": "member", "password": "wrong"},
    {"username": "nobody", "password": "x"},
    {"username": "member"},
    {},
])
def test_token_request_with_bad_credentials_is_a_400(api_client, member, payload):
    response = api_client.post("/api/v1/auth/token/", payload, format="json")
    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.django_db
def test_malformed_json_is_a_400_with_a_detail(api_client):
    response = api_client.post("/api/v1/auth/token/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.django_db
def test_unknown_api_routes_are_json_404s(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_lists_are_paginated_with_a_page_size_capped_at_200(api_client, make_entry):
    for i in range(3):
        make_entry(f"term-{i}", f"Term {i}")
    body = api_client.get("/api/v1/entries/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert api_client.get("/api/v1/entries/?page_size=5000").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/api/v1/health/", "/api/v1/auth/token/", "/api/v1/entries/", "/api/v1/search/"]:
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


@pytest.mark.django_db
def test_writes_need_an_account(api_client):
    assert api_client.post("/api/v1/entries/", {}, format="json").status_code in (401, 403, 405)


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400_not_a_500(api_client, member):
    body = "[" * 100_000 + "]" * 100_000
    response = api_client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("url, field", [
    ("/api/v1/entries/?search=%00", "search"), ("/api/v1/entries/?category=a%00b", "category"),
    ("/api/v1/notes/?entry=%00", "entry"), ("/api/v1/model-name/?name=gemma%00-3", "name"),
    ("/api/v1/entries/?search=kv&category=a%00b", "category"), ("/api/v1/entries/?a%00b=1", "non_field_errors"),
])
def test_nul_characters_in_api_query_parameters_are_a_400_naming_the_parameter(client, url, field):
    response = client.get(url)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "NUL" in response.json()[field][0]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/notes/?entry=%00", "/search/?q=%00", "/calculators/model-name/?name=a%00"])
def test_nul_characters_in_page_query_parameters_are_a_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content
