from django.core.checks import Error, Tags, register
from django.db import connection


@register(Tags.database)
def vector_extension_available(app_configs, **kwargs):
    """An external PostgreSQL must offer pgvector; say so plainly instead of failing a migration."""
    with connection.cursor() as cursor:
        cursor.execute("select 1 from pg_available_extensions where name = 'vector'")
        if cursor.fetchone():
            return []
    return [
        Error(
            "The PostgreSQL server has no 'vector' extension (pgvector).",
            hint="Install pgvector on the server (e.g. the postgresql-NN-pgvector package), "
            "then run `create extension vector;` as a superuser in the database.",
            id="config.E001",
        )
    ]
