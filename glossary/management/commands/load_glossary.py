from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from glossary import fixtures
from glossary.links import refresh_links
from glossary.models import Category, Entry


class Command(BaseCommand):
    help = "Load glossary entries from fixtures/ (idempotent: unchanged files change nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--directory", default=str(settings.BASE_DIR / "fixtures"))

    def handle(self, *args, directory, **options):
        directory = Path(directory)
        try:
            categories = fixtures.read_categories(directory / "categories.yaml")
            files = fixtures.read_directory(directory / "glossary")
        except (OSError, fixtures.FixtureError) as error:
            raise CommandError(str(error)) from error
        clashes = fixtures.name_clashes(files)
        if clashes:
            raise CommandError("names used by more than one entry: " + "; ".join(
                f"{name} ({', '.join(sorted(slugs))})" for name, slugs in clashes.items()))

        with transaction.atomic():
            for position, category in enumerate(categories):
                Category.objects.update_or_create(
                    slug=category["slug"],
                    defaults={"name": category["name"], "position": position,
                              "description": category.get("description", "")},
                )
            category_ids = dict(Category.objects.values_list("slug", "id"))
            unknown = sorted({f.category for f in files} - set(category_ids))
            if unknown:
                raise CommandError(f"unknown categories: {', '.join(unknown)}")

            existing = {e.slug: e for e in Entry.objects.select_related("category")}
            created = updated = 0
            for entry_file in tqdm(files, desc="entries", unit="entry",
                                   disable=options["verbosity"] == 0):
                entry = existing.get(entry_file.slug)
                if entry is not None and entry.content() == entry_file.content():
                    continue
                if entry is None:
                    entry = Entry(slug=entry_file.slug)
                    created += 1
                else:
                    updated += 1
                content = entry_file.content()
                entry.category_id = category_ids[content.pop("category")]
                for field, value in content.items():
                    setattr(entry, field, value)
                entry.save()
                entry.record_revision(message=f"Loaded from fixtures/glossary/{entry_file.slug}.md")

            if created or updated:
                refresh_links()
        self.stdout.write(f"{len(files)} entries: {created} created, {updated} updated, "
                          f"{len(files) - created - updated} unchanged.")
