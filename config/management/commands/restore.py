import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.pgtools import client_binary, connection_arguments


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` (replaces the current contents)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, file, yes=False, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No backup at {path}.")
        if not yes and input(f"Replace the database's contents with {path}? [y/N] ").lower() != "y":
            raise CommandError("Restore cancelled.")
        conn_args, env = connection_arguments()
        # --single-transaction: a failed restore leaves the database as it was.
        result = subprocess.run(
            [client_binary("pg_restore"), "--clean", "--if-exists", "--no-owner",
             "--single-transaction", "--exit-on-error", *conn_args, str(path)],
            env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise CommandError(f"pg_restore failed: {result.stderr.strip()}")
        self.stdout.write(f"Restored {path}.")
