from rest_framework import serializers

from glossary.models import Category, Entry, Revision


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
        return [{"slug": link.source.slug, "term": link.source.term}
                for link in entry.incoming.all()]


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Revision
        fields = ["number", "author", "message", "created_at", "content"]


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=300, trim_whitespace=True)
    mode = serializers.ChoiceField(choices=["hybrid", "semantic", "keyword"], default="hybrid")
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class LookupQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=300)
