from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from calculators.web import model_name
from config import views
from config.api_docs import RedocView, SwaggerView

api_v1 = [
    path("health/", views.health, name="health"),
    path("auth/token/", views.obtain_token, name="token"),
    path("", include("glossary.api_urls")),
    path("calculators/", include("calculators.api_urls")),
    path("", include(model_name.api_urlpatterns)),
    path("", include("notes.api_urls")),
    path("llm/", include("live.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("glossary.urls")),
    path("calculators/", include("calculators.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("notes/", include("notes.urls")),
    path("live/", include("live.urls")),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="api-redoc"),
]

handler400 = "config.api.bad_request"
handler404 = "config.api.not_found"
