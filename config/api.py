"""Conventions every API endpoint shares: permissions, pagination, error shape, and how the
OpenAPI schema presents them (its docs pages: config/api_docs.py)."""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
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
    """DRF's JSON parser, but input that decodes into something we cannot handle is a 400.

    Python's json module raises RecursionError on deep nesting, which DRF's parser lets
    through; and it decodes an escaped lone surrogate ("\\ud800") into a str that no UTF-8
    output can hold, so an error message echoing it, or the database, would fail later.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
        reject_lone_surrogates(data)
        return data


def loads(text: str):
    """json.loads for JSON text inside a field (a pasted config.json), with the parser's
    checks; raises ValueError with a message for the field."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    path = lone_surrogate_path(data)
    if path is not None:
        raise ValueError(f"{path or 'the text'}: {SURROGATE_MESSAGE}")
    return data


SURROGATE_MESSAGE = "not valid Unicode text (it holds a lone surrogate escape such as \\ud800)"


def reject_lone_surrogates(data) -> None:
    """A 400 naming the field whose value, or key, holds a lone surrogate."""
    path = lone_surrogate_path(data)
    if path is None:
        return
    field = path.split(".")[0].split("[")[0]
    if not field:
        raise exceptions.ParseError(f"JSON parse error - the body is {SURROGATE_MESSAGE}")
    raise exceptions.ValidationError({field: [f"{path}: {SURROGATE_MESSAGE}" if path != field
                                              else SURROGATE_MESSAGE]})


def lone_surrogate_path(data) -> str | None:
    """Where in decoded JSON a string or key holds a lone surrogate ("samplers[0].name"),
    "" for the document itself, or None. A loop, not recursion: any depth is fine."""
    pending = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _is_text(key):
                    key = key.encode("utf-8", "backslashreplace").decode()
                    return f"{path}.{key}" if path else key
                pending.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def exception_handler(exc, context):
    # Validation errors keep DRF's {"field": ["message"]} shape; everything else becomes
    # {"detail": "..."} so clients can always read one key.
    # Imported here: rest_framework.views imports this module's permission class at start-up.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ParseError):
        response.data = {"detail": str(exc.detail)}
    return response


def bad_request(request, exception=None):
    """What Django refuses before any view runs (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too
    many form fields): JSON under /api/, the HTML page elsewhere. Too large a body is a 413."""
    if not request.path.startswith("/api/"):
        from django.views.defaults import bad_request as html_bad_request

        return html_bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return JsonResponse({"detail": f"The request body is larger than {limit:g} MiB, the most "
                                       "this API reads (files sent as multipart may be larger)."},
                            status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


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
    404 unknown objects, 409 stale edits, 413 oversized bodies, 429 throttling,
    503 database or model unavailable.
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
            if method in ("post", "put", "patch"):
                extra["413"] = "The request body is too large."
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

