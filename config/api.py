"""Conventions every API endpoint shares: permissions, pagination, error shape."""

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
