"""Pages and API for the memory calculator (filled in by its feature work)."""

urlpatterns = []
api_urlpatterns = []
