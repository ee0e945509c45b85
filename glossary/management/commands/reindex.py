from django.core.management.base import BaseCommand
from tqdm import tqdm

from glossary.embeddings import sync_chunks
from glossary.models import Chunk, Entry
from notes.models import Note, NoteChunk
from notes.search import sync_note_chunks


class Command(BaseCommand):
    help = "Compute search embeddings for passages whose text changed (--all: every passage)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="re-encode everything")

    def handle(self, *args, **options):
        if options["all"]:
            Chunk.objects.all().delete()
            NoteChunk.objects.all().delete()
        quiet = options["verbosity"] == 0
        with tqdm(desc="entry passages", unit="passage", disable=quiet) as bar:
            entries = sync_chunks(list(Entry.objects.all()), progress=bar)
        with tqdm(desc="note passages", unit="passage", disable=quiet) as bar:
            notes = sync_note_chunks(list(Note.objects.filter(deleted_at__isnull=True)
                                          .select_related("entry")), progress=bar)
        for name, counts in (("entry", entries), ("note", notes)):
            self.stdout.write(f"{counts['chunks']} {name} passages: {counts['encoded']} encoded, "
                              f"{counts['deleted']} removed.")
