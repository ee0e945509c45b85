from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from glossary import fixtures
from glossary.models import Entry


class Command(BaseCommand):
    help = "Write every glossary entry back to fixtures/glossary/<slug>.md."

    def add_arguments(self, parser):
        parser.add_argument("--directory", default=str(settings.BASE_DIR / "fixtures" / "glossary"))

    def handle(self, *args, directory, **options):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        entries = Entry.objects.select_related("category").order_by("slug")
        for entry in tqdm(entries, desc="entries", unit="entry", disable=options["verbosity"] == 0):
            (directory / f"{entry.slug}.md").write_text(fixtures.dump(entry.content()), encoding="utf-8")
        self.stdout.write(f"Wrote {entries.count()} entries to {directory}.")
