from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from search import engine, suggest
from search.embeddings import EmbeddingUnavailable
from search.serializers import SearchQuerySerializer, SuggestQuerySerializer

_RESULTS = inline_serializer("SearchResult", many=True, fields={
    "type": serializers.ChoiceField(choices=["entry", "note", "tool"]),
    "title": serializers.CharField(),
    "url": serializers.CharField(help_text="the page; a tool's address carries what the question named"),
    "snippet": serializers.CharField(help_text="HTML: escaped text with <mark> around query words"),
    "category": serializers.CharField(),
    "slug": serializers.CharField(required=False, help_text="entries and tools"),
    "id": serializers.IntegerField(required=False, help_text="notes"),
})


@extend_schema(
    summary="Search entries, the notes you may read, and the site's tools",
    parameters=[SearchQuerySerializer],
    responses=inline_serializer("SearchResponse", {
        "query": serializers.CharField(),
        "mode": serializers.CharField(),
        "corrected": serializers.CharField(help_text="the query as searched when a misspelling was "
                                                     "corrected, else empty; exact=true turns this off"),
        "results": _RESULTS,
        "close_terms": inline_serializer("CloseTerm", {
            "term": serializers.CharField(), "slug": serializers.CharField(), "url": serializers.CharField(),
        }, many=True, help_text="when nothing was found: entries named like the query"),
        "took_ms": serializers.FloatField(),
    }),
)
@api_view(["GET"])
def search(request):
    query = SearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    try:
        answer = engine.search(params["q"], params["mode"], params["limit"], user=request.user,
                               correct=not params["exact"])
    except EmbeddingUnavailable as error:
        return Response({"detail": f"Semantic search is unavailable: {error}. Keyword search works."},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response({
        "query": answer.query, "mode": answer.mode, "corrected": answer.corrected,
        "results": [r.as_dict() for r in answer.results],
        "close_terms": [{"term": e.term, "slug": e.slug, "url": e.get_absolute_url()} for e in answer.close_terms],
        "took_ms": round(answer.took_ms, 2),
    })


@extend_schema(
    summary="Entry terms, aliases and tools that start with what was typed (search box suggestions)",
    parameters=[SuggestQuerySerializer],
    responses=inline_serializer("Suggestions", {
        "query": serializers.CharField(),
        "suggestions": inline_serializer("Suggestion", {
            "title": serializers.CharField(), "url": serializers.CharField(),
            "type": serializers.ChoiceField(choices=["entry", "tool"]),
            "matched": serializers.CharField(help_text="the alias that matched, else empty"),
        }, many=True),
    }),
)
@api_view(["GET"])
def suggestions(request):
    query = SuggestQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    found = suggest.suggestions(params["q"], params["limit"])
    return Response({"query": params["q"], "suggestions": [s.as_dict() for s in found]})
