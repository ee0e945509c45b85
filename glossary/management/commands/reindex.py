from django.core.management.base import BaseCommand
from tqdm import tqdm

from glossary.embeddings import sync_chunks
from glossary.models import Chunk, Entry


class Command(BaseCommand):
    help = "Compute search embeddings for passages whose text changed (--all: every passage)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="re-encode everything")

    def handle(self, *args, **options):
        if options["all"]:
            Chunk.objects.all().delete()
        entries = list(Entry.objects.all())
        with tqdm(desc="encoding passages", unit="passage",
                  disable=options["verbosity"] == 0) as bar:
            counts = sync_chunks(entries, progress=bar)
        self.stdout.write(f"{counts['chunks']} passages: {counts['encoded']} encoded, "
                          f"{counts['deleted']} removed.")
