"""Migrations run forward from nothing, backward to nothing, and forward again.

Runs `manage.py` against a scratch database on the same PostgreSQL server, so the test
database the other tests use is left alone.
"""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = "fieldguide_migrations_check"


@pytest.fixture
def scratch_database_url(db):
    settings = connection.settings_dict
    params = dict(host=settings["HOST"] or settings["OPTIONS"].get("host"), user=settings["USER"],
                  password=settings["PASSWORD"] or None, port=settings["PORT"] or None)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f"drop database if exists {SCRATCH}")
        admin.execute(f"create database {SCRATCH}")
    host = params["host"]
    if host.startswith("/"):  # the embedded server listens on a Unix socket
        yield f"postgres://{params['user']}@/{SCRATCH}?host={host}"
    else:
        yield (f"postgres://{params['user']}:{params['password'] or ''}@{host}:"
               f"{params['port'] or 5432}/{SCRATCH}")
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f"drop database if exists {SCRATCH} with (force)")


def manage(url, *args):
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)


def test_migrations_apply_unapply_and_reapply(scratch_database_url):
    for step in (["migrate", "--noinput"],
                 ["migrate", "glossary", "zero", "--noinput"],
                 ["migrate", "--noinput"]):
        result = manage(scratch_database_url, *step)
        assert result.returncode == 0, f"{step}: {result.stdout}{result.stderr}"
    shown = manage(scratch_database_url, "showmigrations", "--plan").stdout
    assert "[ ]" not in shown


def test_models_and_migrations_agree():
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
