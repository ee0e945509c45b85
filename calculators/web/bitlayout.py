"""Pages and API for the bitlayout calculator (filled in by its feature work)."""

urlpatterns = []
api_urlpatterns = []
