"""Live-demo pages under /live/ (views in live/views.py)."""

from django.urls import path

from live import views

app_name = "live"

urlpatterns = [
    path("", views.hub, name="hub"),
    path("next-token/", views.next_token, name="next-token"),
    path("generate/", views.generate, name="generate"),
    path("json-mode/", views.json_mode, name="json-mode"),
    path("tokenizer/", views.tokenizer, name="tokenizer"),
    path("perplexity/", views.perplexity, name="perplexity"),
]
