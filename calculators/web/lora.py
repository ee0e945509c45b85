"""Pages and API for the lora calculator (filled in by its feature work)."""

urlpatterns = []
api_urlpatterns = []
