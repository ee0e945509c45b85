from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from glossary.links import terms_changed

        terms_changed.connect(rerender_on_term_change, dispatch_uid="notes.rerender")


def rerender_on_term_change(sender, **kwargs):
    # Notes auto-link entry terms too; when terms change their links must follow.
    from notes.models import rerender_notes

    rerender_notes()
