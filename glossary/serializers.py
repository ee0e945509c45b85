from rest_framework import serializers

from glossary.models import Category, Entry, Revision, displayed_content


class CategorySerializer(serializers.ModelSerializer):
    entry_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Category
        fields = ["slug", "name", "description", "entry_count"]


class EntryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Entry
        fields = ["slug", "term"]


class SourceSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)


class EntryListSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Entry
        fields = ["slug", "term", "aliases", "category", "summary", "revision", "updated_at"]


class EntrySerializer(serializers.ModelSerializer):
    category = CategorySerializer(read_only=True)
    sources = SourceSerializer(many=True)
    links_to = serializers.SerializerMethodField()
    linked_from = serializers.SerializerMethodField()

    class Meta:
        model = Entry
        fields = ["slug", "term", "aliases", "category", "summary", "body", "body_html",
                  "links_to", "linked_from", "sources", "revision", "updated_at"]

    def get_links_to(self, entry) -> list[dict]:
        return [{"slug": link.target.slug, "term": link.target.term}
                for link in entry.outgoing.all()]

    def get_linked_from(self, entry) -> list[dict]:
        return [{"slug": link.source.slug, "term": link.source.term, "sentence": "".join(link.context)}
                for link in entry.incoming.all()]


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    content = serializers.SerializerMethodField()

    class Meta:
        model = Revision
        fields = ["number", "author", "message", "created_at", "content"]

    def get_content(self, revision) -> dict:
        return displayed_content(revision.content)


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=300, trim_whitespace=True)
    mode = serializers.ChoiceField(choices=["hybrid", "semantic", "keyword"], default="hybrid")
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class LookupQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=300)


class EntryWriteSerializer(serializers.Serializer):
    """Create (POST) or change (PATCH) an entry. PATCH must say which revision it edits."""

    slug = serializers.SlugField(max_length=100, required=False)
    term = serializers.CharField(max_length=200)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False,
                                    max_length=50)
    category = serializers.SlugField()
    summary = serializers.CharField(max_length=1000)
    body = serializers.CharField(max_length=100_000, allow_blank=True, required=False, trim_whitespace=False)
    sources = SourceSerializer(many=True, allow_empty=False)
    revision = serializers.IntegerField(min_value=0, required=False,
                                        help_text="The revision this edit is based on (required for PATCH).")
    message = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_category(self, value):
        if not Category.objects.filter(slug=value).exists():
            raise serializers.ValidationError(f"No category “{value}”.")
        return value

    def validate_slug(self, value):
        if Entry.objects.filter(slug=value).exists():
            raise serializers.ValidationError("An entry with this slug exists already.")
        return value

    def validate_sources(self, value):
        return [{"title": s["title"], **({"url": s["url"]} if s.get("url") else {})} for s in value]

    def validate(self, data):
        entry = self.instance
        if entry is not None and "revision" not in data:
            raise serializers.ValidationError({"revision": ["Send the revision your edit is based on."]})
        term = data.get("term", entry.term if entry else "")
        aliases = data.get("aliases", list(entry.aliases) if entry else [])
        probe = entry or Entry()
        conflicts = probe.name_conflicts([term, *aliases])
        if conflicts:
            name, other = conflicts[0]
            field = "term" if name == term else "aliases"
            raise serializers.ValidationError({field: [f"“{name}” already names the entry “{other.term}” ({other.slug})."]})
        if entry is None and not data.get("slug"):
            from django.utils.text import slugify

            data["slug"] = slugify(term)[:100]
            if not data["slug"] or Entry.objects.filter(slug=data["slug"]).exists():
                raise serializers.ValidationError({"slug": ["Choose a slug: the one made from the term is taken or empty."]})
        return data

    def content(self) -> dict:
        return {key: value for key, value in self.validated_data.items()
                if key in (*Entry.EDITABLE, "category")}
