from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class SearchConfig(AppConfig):
    """Search sits above the glossary and notes: it listens to them, they never import it."""

    name = "search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from glossary.models import Entry, entry_edited
        from notes.models import Note, note_edited
        from search import indexing

        post_save.connect(indexing.entry_saved, sender=Entry, dispatch_uid="search.entry_saved")
        post_save.connect(indexing.note_saved, sender=Note, dispatch_uid="search.note_saved")
        entry_edited.connect(indexing.entry_edited, dispatch_uid="search.entry_edited")
        note_edited.connect(indexing.note_edited, dispatch_uid="search.note_edited")
        post_migrate.connect(indexing.migrated, sender=self, dispatch_uid="search.tools")
