import pytest
from django.db import connection


@pytest.mark.django_db
def test_health_reports_the_real_database_and_models(api_client, settings):
    response = api_client.get("/api/v1/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["vendor"] == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("select current_setting('server_version')")
        assert body["database"]["server_version"] == cursor.fetchone()[0]
        cursor.execute("select extversion from pg_extension where extname = 'vector'")
        assert body["database"]["pgvector"] == cursor.fetchone()[0]
    assert body["embedding"]["dimensions"] == settings.EMBEDDING_DIMENSIONS
    assert "all-MiniLM-L6-v2" in body["embedding"]["model"]
    assert body["llm"]["backend"] == settings.LLM["backend"]
    assert isinstance(body["llm"]["loaded"], bool)


@pytest.mark.django_db
def test_tests_run_on_postgresql_with_pgvector_never_sqlite():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("select '[1,2,3]'::vector <=> '[1,2,4]'::vector")
        assert 0 < cursor.fetchone()[0] < 0.01
