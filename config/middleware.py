from django.db import OperationalError, InterfaceError
from django.http import HttpResponseBadRequest, JsonResponse
from django.template.response import SimpleTemplateResponse


class DatabaseUnavailableMiddleware:
    """Answer 503 with a clear message while the database is unreachable.

    Without this, a stopped PostgreSQL surfaces as a 500 with a traceback. Requests succeed
    again as soon as the server is back (CONN_HEALTH_CHECKS drops the dead connection).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        message = "The database is unavailable right now. Please retry in a few seconds."
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = SimpleTemplateResponse("503.html", {"message": message}, status=503)
            response.render()
        response["Retry-After"] = "5"
        return response


class RejectNullCharactersMiddleware:
    """400 for a query string holding a NUL character.

    PostgreSQL cannot store or compare text with NUL in it, so such a value used in a
    filter would fail inside the database. Forms and serializers already refuse it in
    their fields; this covers the query parameters views read directly (?search=, ?entry=).
    The API answers as its serializers do, with the offending parameters as fields:
    {"name": ["…"]}; a NUL in a parameter's name goes under "non_field_errors".
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        errors = {}
        for key, values in request.GET.lists():
            if "\x00" in key:
                errors.setdefault("non_field_errors", []).append(
                    "Query parameter names may not contain NUL characters.")
            elif any("\x00" in value for value in values):
                errors[key] = ["This field may not contain NUL characters."]
        if not errors:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse(errors, status=400)
        names = ", ".join(sorted(key for key in errors if key != "non_field_errors"))
        return HttpResponseBadRequest("Query parameters may not contain NUL characters"
                                      + (f": {names}." if names else "."), content_type="text/plain")
