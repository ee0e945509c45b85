from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from notes.models import TRASH_DAYS, Note


class Command(BaseCommand):
    help = f"Delete for good the notes that have been in the trash longer than {TRASH_DAYS} days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=TRASH_DAYS,
                            help=f"keep notes deleted less than this many days ago (default {TRASH_DAYS})")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, days, dry_run, **options):
        if days < 1:
            raise CommandError("--days: must be at least 1")
        expired = Note.objects.filter(deleted_at__lt=timezone.now() - timedelta(days=days))
        count = expired.count()
        if not dry_run:
            # Revisions and embedded chunks go with them (on_delete=CASCADE).
            expired.delete()
        verb = "would purge" if dry_run else "purged"
        self.stdout.write(f"{verb} {count} note{'s' if count != 1 else ''} deleted more than {days} days ago")
