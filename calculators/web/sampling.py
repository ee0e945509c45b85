"""Pages and API for the sampling calculator (filled in by its feature work)."""

urlpatterns = []
api_urlpatterns = []
