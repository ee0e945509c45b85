from django.core.management.base import BaseCommand
from tqdm import tqdm

from glossary.models import Entry
from notes.models import Note
from search import indexing
from search.models import Document, Passage


class Command(BaseCommand):
    help = ("Bring search up to date: documents and keyword index of every entry, note and tool, "
            "and embeddings for passages whose text changed (--all: encode every passage).")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="re-encode everything")

    def handle(self, *args, **options):
        quiet = options["verbosity"] == 0
        if options["all"]:
            Passage.objects.all().delete()
        entries = list(Entry.objects.all())
        notes = list(Note.objects.select_related("entry"))
        with tqdm(desc="documents", unit="document", total=len(entries) + len(notes), disable=quiet) as bar:
            for entry in entries:
                indexing.index_entry(entry)
                bar.update()
            for note in notes:
                indexing.index_note(note)
                bar.update()
        indexing.index_tools()
        if options["all"]:
            indexing.rewrite_all_postings()  # with today's corpus averages
        kinds = (("entry", Document.Kind.ENTRY), ("note", Document.Kind.NOTE), ("tool", Document.Kind.TOOL))
        for name, kind in kinds:
            documents = Document.objects.filter(kind=kind)
            if kind == Document.Kind.NOTE:
                documents = documents.filter(note__deleted_at__isnull=True)
            with tqdm(desc=f"{name} passages", unit="passage", disable=quiet) as bar:
                counts = indexing.embed_passages(list(documents), progress=bar)
            self.stdout.write(f"{counts['passages']} {name} passages: {counts['encoded']} encoded, "
                              f"{counts['deleted']} removed.")
