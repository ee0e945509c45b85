from django.urls import register_converter


class NoteIdConverter:
    """Note ids in URLs. At most 18 digits: a longer number is beyond PostgreSQL's bigint and
    would make the lookup fail with a database error (500) instead of a plain 404."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(NoteIdConverter, "note_id")
