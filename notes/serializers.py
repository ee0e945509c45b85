from rest_framework import serializers

from glossary.models import Entry
from notes.models import MAX_BODY_LENGTH, MAX_REASON_LENGTH, MAX_TITLE_LENGTH, Note


class NoteSerializer(serializers.ModelSerializer):
    entry = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True,
                                         help_text="Slug of the glossary entry the note belongs to.")
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    hidden = serializers.BooleanField(source="is_hidden", read_only=True,
                                      help_text="Hidden by staff: only the author and staff see it.")

    class Meta:
        model = Note
        fields = ["id", "title", "body", "body_html", "entry", "visibility", "author",
                  "created_at", "updated_at", "revision", "hidden"]


class NoteWriteSerializer(serializers.Serializer):
    """Create (POST) or change (PATCH) a note. PATCH must say which revision it edits."""

    title = serializers.CharField(max_length=MAX_TITLE_LENGTH)
    body = serializers.CharField(max_length=MAX_BODY_LENGTH, allow_blank=True, required=False,
                                 trim_whitespace=False, help_text="Markdown; [[Term]] links an entry.")
    entry = serializers.SlugField(max_length=100, allow_null=True, required=False,
                                  help_text="Slug of a glossary entry, or null.")
    visibility = serializers.ChoiceField(choices=Note.Visibility.choices, required=False,
                                         help_text="private (default), team or public.")
    revision = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False,
                                        help_text="The revision this edit is based on (required for PATCH).")
    message = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_entry(self, value):
        if value is None:
            return None
        entry = Entry.objects.filter(slug=value).first()
        if entry is None:
            raise serializers.ValidationError(f"No glossary entry “{value}”.")
        return entry

    def validate(self, data):
        if self.instance is not None and "revision" not in data:
            raise serializers.ValidationError({"revision": ["Send the revision your edit is based on."]})
        return data

    def content(self) -> dict:
        return {key: value for key, value in self.validated_data.items()
                if key in ("title", "body", "entry", "visibility")}


class NoteFilterSerializer(serializers.Serializer):
    entry = serializers.CharField(max_length=100, required=False, help_text="entry slug")
    author = serializers.CharField(max_length=150, required=False, help_text="author's username")
    visibility = serializers.ChoiceField(choices=Note.Visibility.choices, required=False)
    q = serializers.CharField(max_length=300, required=False, help_text="words in the title or text")


class ReportSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, help_text="What is wrong with the note.")


class HideSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, required=False, allow_blank=True,
                                   help_text="Shown to the author.")
