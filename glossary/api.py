from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from glossary import search as glossary_search
from glossary.embeddings import EmbeddingUnavailable
from glossary.links import lookup_key
from glossary.models import Category, Entry, StaleRevision, displayed_content
from glossary.serializers import (
    CategorySerializer, EntryListSerializer, EntrySerializer, EntryWriteSerializer, LookupQuerySerializer,
    RevisionSerializer, SearchQuerySerializer,
)


class IsEditorOrReadOnly(permissions.BasePermission):
    """Editors (the change_entry permission, e.g. the Editors group) and staff write entries."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.has_perm("glossary.change_entry"))


class StaleSerializer(serializers.Serializer):
    detail = serializers.CharField()
    revision = serializers.IntegerField()
    current = serializers.DictField()


@extend_schema(parameters=[
    OpenApiParameter("category", str, description="category slug"),
    OpenApiParameter("search", str, description="words in the term, aliases or text"),
])
class EntryList(generics.ListCreateAPIView):
    permission_classes = [IsEditorOrReadOnly]

    def get_serializer_class(self):
        return EntryWriteSerializer if self.request.method == "POST" else EntryListSerializer

    @extend_schema(request=EntryWriteSerializer, responses={201: EntrySerializer})
    def post(self, request, *args, **kwargs):
        data = EntryWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = Entry(slug=data.validated_data["slug"])
        entry.apply_edit(data.content(), author=request.user,
                         message=data.validated_data.get("message") or "Created")
        return Response(EntrySerializer(Entry.objects.with_links().get(pk=entry.pk)).data,
                        status=status.HTTP_201_CREATED)

    def get_queryset(self):
        entries = Entry.objects.select_related("category")
        if category := self.request.query_params.get("category"):
            entries = entries.filter(category__slug=category)
        if text := self.request.query_params.get("search", "").strip()[:300]:
            entries = entries.filter(search_vector=glossary_search.websearch_query(text))
        return entries


class EntryDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = EntrySerializer
    lookup_field = "slug"
    permission_classes = [IsEditorOrReadOnly]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Entry.objects.with_links()

    @extend_schema(request=EntryWriteSerializer, responses={200: EntrySerializer, 409: StaleSerializer})
    def patch(self, request, *args, **kwargs):
        entry = self.get_object()
        data = EntryWriteSerializer(entry, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            entry.apply_edit(data.content(), author=request.user,
                             base_revision=data.validated_data["revision"],
                             message=data.validated_data.get("message", ""))
        except StaleRevision as stale:
            return Response({"detail": str(stale), "revision": stale.current.revision,
                             "current": displayed_content(stale.current.content())}, status=status.HTTP_409_CONFLICT)
        return Response(EntrySerializer(Entry.objects.with_links().get(pk=entry.pk)).data)

    def perform_destroy(self, entry):
        entry.delete_with_links()


class RevisionList(generics.ListAPIView):
    serializer_class = RevisionSerializer

    def get_queryset(self):
        entry = get_object_or_404(Entry, slug=self.kwargs["slug"])
        return entry.revisions.select_related("author")


class RevisionDetail(generics.RetrieveAPIView):
    serializer_class = RevisionSerializer

    def get_object(self):
        entry = get_object_or_404(Entry, slug=self.kwargs["slug"])
        return get_object_or_404(entry.revisions.select_related("author"), number=self.kwargs["number"])


class CategoryList(generics.ListAPIView):
    serializer_class = CategorySerializer
    queryset = Category.objects.annotate(entry_count=Count("entries")).order_by("position", "name")


@extend_schema(
    summary="Find the entry whose term or alias equals the text",
    parameters=[LookupQuerySerializer],
    responses=inline_serializer("Lookup", {"slug": serializers.CharField(),
                                           "term": serializers.CharField(),
                                           "matched": serializers.CharField()}),
)
@api_view(["GET"])
def lookup(request):
    query = LookupQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    text = query.validated_data["q"]
    entry = Entry.objects.matching(text).first()
    if entry is None:
        raise NotFound(f"No entry is called “{text}”.")
    matched = next((name for name in [entry.term, *entry.aliases]
                    if lookup_key(name) == lookup_key(text)), entry.term)
    return Response({"slug": entry.slug, "term": entry.term, "matched": matched})


@extend_schema(
    summary="Hybrid, semantic or keyword search over the glossary",
    parameters=[SearchQuerySerializer],
    responses=inline_serializer("SearchResponse", {
        "query": serializers.CharField(), "mode": serializers.CharField(),
        "results": serializers.ListField(child=serializers.DictField()),
        "took_ms": serializers.FloatField(),
    }),
)
@api_view(["GET"])
def search(request):
    query = SearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    try:
        results, took_ms = glossary_search.search(params["q"], params["mode"], params["limit"], user=request.user)
    except EmbeddingUnavailable as error:
        return Response({"detail": f"Semantic search is unavailable: {error}. Keyword search works."},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response({"query": params["q"], "mode": params["mode"],
                     "results": glossary_search.as_dicts(results), "took_ms": round(took_ms, 2)})
