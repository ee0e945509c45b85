import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]


def test_data_directory_is_outside_the_tracked_source():
    tracked = subprocess.run(["git", "ls-files", "--", str(settings.DATA_DIR)], cwd=ROOT,
                             capture_output=True, text=True).stdout
    assert tracked == ""
    ignored = subprocess.run(["git", "check-ignore", "-q", str(settings.DATA_DIR / "postgres")],
                             cwd=ROOT)
    assert settings.DATA_DIR.resolve().is_relative_to(ROOT) is False or ignored.returncode == 0


def test_production_mode_passes_the_deploy_check():
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
           "PRODUCTION": "1", "DEBUG": "0",
           "SECRET_KEY": "a-long-random-production-secret-key-" + "x" * 30,
           "ALLOWED_HOSTS": "guide.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_mode_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(PRODUCTION="1", ALLOWED_HOSTS="guide.example.com")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_an_external_database_url_is_used_as_given():
    from config.database import database_config

    config = database_config("postgres://app:pw@db.internal:5433/guide", Path("/nonexistent"),
                             pool_size=10, pool_timeout=10, shared_buffers="512MB")
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal", 5433, "guide", "app")


def test_the_embedded_server_gets_its_shared_buffers_from_the_next_start(tmp_path):
    """A fresh data directory starts on PostgreSQL's 128 MB; the next start has the size asked
    for (EMBEDDED_DB_SHARED_BUFFERS), because the first process wrote it for the next start."""
    script = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup()\n"
              "from django.db import connection\n"
              "with connection.cursor() as cursor:\n"
              "    cursor.execute('show shared_buffers'); print(cursor.fetchone()[0])\n")
    environment = {**os.environ, "DATA_DIR": str(tmp_path), "EMBEDDED_DB_SHARED_BUFFERS": "192MB"}
    environment.pop("DATABASE_URL", None)

    def shared_buffers_seen():
        return subprocess.run([sys.executable, "-c", script], env=environment, cwd=settings.BASE_DIR,
                              capture_output=True, text=True, check=True, timeout=120).stdout.split()[-1]

    assert shared_buffers_seen() == "128MB"
    assert shared_buffers_seen() == "192MB"


@pytest.mark.parametrize("size, written", [("512MB", "512MB"), (" 1gb ", "1GB"), ("131072kB", "131072kB")])
def test_shared_buffers_are_written_in_postgresqls_spelling(size, written):
    from config.database import checked_shared_buffers

    assert checked_shared_buffers(size, physical_memory=8 * 2**30) == written


@pytest.mark.parametrize("size, complaint", [
    ("lots", "is not a size"), ("512", "is not a size"), ("1.5GB", "is not a size"), ("512MB; drop", "is not a size"),
    ("64kB", "below PostgreSQL's minimum"),
    ("5GB", "more than half of the memory this machine or container may use (8192 MB)"),
])
def test_shared_buffers_the_server_could_not_start_with_are_refused_before_they_are_written(size, complaint):
    from config.database import checked_shared_buffers

    with pytest.raises(ImproperlyConfigured, match="EMBEDDED_DB_SHARED_BUFFERS") as refused:
        checked_shared_buffers(size, physical_memory=8 * 2**30)
    assert complaint in str(refused.value)


@pytest.mark.parametrize("files, limited", [
    ({"memory.max": "1073741824\n"}, True),  # cgroup v2, a 1 GiB container
    ({"memory/memory.limit_in_bytes": "1073741824\n"}, True),  # cgroup v1
    ({"memory.max": "max\n"}, False),  # v2 without a limit
    ({}, False),  # no cgroup files at all
])
def test_usable_memory_is_the_containers_limit_when_that_is_lower(tmp_path, files, limited):
    from config.database import usable_memory

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert usable_memory(tmp_path, tmp_path / "no-such-file") == (min(physical, 2**30) if limited else physical)


@pytest.mark.parametrize("proc_cgroup, files", [
    # cgroup v2: a systemd service with MemoryMax, below an unlimited slice
    ("0::/system.slice/field-guide.service\n",
     {"memory.max": "max", "system.slice/memory.max": "max",
      "system.slice/field-guide.service/memory.max": "536870912"}),
    # cgroup v1: the memory controller's own path (as on a host that nests its jobs)
    ("5:devices:/\n4:memory:/jobs/a92b5a0c\n0::/\n",
     {"memory/memory.limit_in_bytes": "9223372036854771712", "memory/jobs/memory.limit_in_bytes": "1073741824",
      "memory/jobs/a92b5a0c/memory.limit_in_bytes": "536870912"}),
    # a limit on a group above this process's holds for it too
    ("0::/user.slice/user-1000.slice/session-2.scope\n",
     {"user.slice/memory.max": "536870912", "user.slice/user-1000.slice/memory.max": "max"}),
])
def test_usable_memory_is_the_lowest_limit_on_the_way_to_this_processs_control_group(tmp_path, proc_cgroup, files):
    from config.database import usable_memory

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    (tmp_path / "self-cgroup").write_text(proc_cgroup)
    assert usable_memory(tmp_path, tmp_path / "self-cgroup") == 512 * 2**20


def test_the_service_refuses_to_start_with_shared_buffers_it_could_not_start_again(tmp_path):
    environment = {**os.environ, "DATA_DIR": str(tmp_path), "EMBEDDED_DB_SHARED_BUFFERS": "100TB"}
    environment.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "EMBEDDED_DB_SHARED_BUFFERS='100TB' is more than half of the memory" in result.stderr
    assert not (tmp_path / "postgres").exists()  # refused before the server was started


def test_a_cgroup_file_with_a_line_it_cannot_read_still_gives_the_limits_it_can(tmp_path):
    from config.database import usable_memory

    (tmp_path / "memory.max").write_text("536870912\n")
    (tmp_path / "self-cgroup").write_text("garbage\n0::/\n")
    assert usable_memory(tmp_path, tmp_path / "self-cgroup") == min(
        512 * 2**20, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
