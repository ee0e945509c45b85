"""The API docs pages: drf-spectacular's, with a way back to the site and within the CSP."""

from csp.constants import NONCE
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


# What Redoc needs beyond the site's policy, and no more (scripts still come from our own
# origin alone, nothing from other hosts):
# - its styles are <style> elements: those made after Redoc.init carry this response's nonce;
#   the two the bundle makes as it loads, before any nonce can reach it, are allowed by hash
#   (an empty one, and its scrollbar styles; the hashes belong to the locked
#   drf-spectacular-sidecar build, and tests/browser/test_api_docs_browser.py notices a new one);
# - its search runs in a worker it builds from a blob: URL.
REDOC_CSP = {
    "style-src": [NONCE, "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
                  "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='"],
    "worker-src": ["blob:"],
}


@method_decorator(csp_update(REDOC_CSP), name="dispatch")
class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"
