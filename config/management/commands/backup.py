import subprocess
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.pgtools import client_binary, connection_arguments


class Command(BaseCommand):
    help = "Dump the database with pg_dump (custom format) to DATA_DIR/backups/ or --output."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="file to write (default: a timestamped file)")

    def handle(self, *args, output=None, **options):
        if output is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            output = settings.DATA_DIR / "backups" / f"fieldguide-{stamp}.dump"
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        conn_args, env = connection_arguments()
        result = subprocess.run(
            [client_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *conn_args],
            env=env, capture_output=True, text=True)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        # Renamed only once complete, so a crash never leaves a file that looks like a backup.
        partial.replace(output)
        self.stdout.write(f"Backup written to {output} ({output.stat().st_size:,} bytes).")
