"""Live-model API under /api/v1/llm/ (views in live/api.py)."""

from live.api import api_urlpatterns

urlpatterns = api_urlpatterns
