"""Conventions every API endpoint shares: permissions, pagination, error shape, and how the
OpenAPI schema presents them (its docs pages: config/api_docs.py)."""

from django.http import Http404, JsonResponse
from rest_framework import exceptions, pagination, parsers, permissions


class ReadOnlyOrAuthenticated(permissions.BasePermission):
    """Reads are public; writes need an account (finer rules live on each view)."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(
            request.user and request.user.is_authenticated
        )


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but deeply nested input is a 400, not a 500.

    Python's json module raises RecursionError on deep nesting; DRF's parser catches only
    ValueError and lets it through.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


def exception_handler(exc, context):
    # Validation errors keep DRF's {"field": ["message"]} shape; everything else becomes
    # {"detail": "..."} so clients can always read one key.
    # Imported here: rest_framework.views imports this module's permission class at start-up.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ParseError):
        response.data = {"detail": str(exc.detail)}
    return response


def not_found(request, exception=None):
    """404 for unknown routes: JSON under /api/, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


ERROR_SCHEMA = {
    "type": "object",
    "description": '{"field": ["message", ...]} for invalid input, or {"detail": "..."}',
    "additionalProperties": True,
}


def document_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the error answers every endpoint can give.

    They follow one convention (config.api.exception_handler), so they are added here once
    instead of on every view: 400 invalid input, 401/403 writes without the right account,
    404 unknown objects, 409 stale edits, 429 throttling, 503 database or model unavailable.
    """
    def response(description):
        return {"description": description,
                "content": {"application/json": {"schema": ERROR_SCHEMA}}}

    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = {"400": "Invalid input; the fields at fault are named.",
                     "404": "Not found (an unknown object, a page past the end of a list, "
                            "or an unknown ?format=).",
                     "503": "The database or a model is unavailable; retry later.",
                     "429": "Too many requests."}
            if method in ("post", "put", "patch", "delete"):
                extra["401"] = "Authentication required."
                extra["403"] = "This account may not do this."
            if method == "patch":
                extra["409"] = "The object changed since the revision the edit was based on."
            for status, description in extra.items():
                responses.setdefault(status, response(description))
    return result


# The API's areas, in the order the docs show them: (tag, description, path prefixes).
API_AREAS = [
    ("glossary", "Entries, their revisions, categories, and lookup of a term or alias.",
     ("/api/v1/entries/", "/api/v1/categories/", "/api/v1/lookup/")),
    ("search", "Hybrid, semantic and keyword search over the glossary and readable notes.",
     ("/api/v1/search/",)),
    ("notes", "Team notes: private, team or public; reports to staff and moderation.", ("/api/v1/notes/",)),
    ("calculators", "Memory, bit layouts, LoRA and sampling: pure calculations, nothing stored.",
     ("/api/v1/calculators/",)),
    ("live", "The bundled GGUF model through llama.cpp: tokens, next-token odds, generation, "
             "perplexity, grammars.", ("/api/v1/llm/",)),
    ("accounts", "API tokens for tools.", ("/api/v1/auth/",)),
    ("service", "Health of the service.", ("/api/v1/health/",)),
]


def tag_operations_by_area(result, generator, request, public):
    """drf-spectacular post-processing hook: one tag per operation, the area its path is in,
    instead of drf-spectacular's default (the first path segment, "v1" for everything)."""
    for path, operations in result.get("paths", {}).items():
        area = next((tag for tag, _, prefixes in API_AREAS if path.startswith(prefixes)), "service")
        for operation in operations.values():
            operation["tags"] = [area]
    result["tags"] = [{"name": tag, "description": description} for tag, description, _ in API_AREAS]
    return result

