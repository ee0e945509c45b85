"""Calculator API under /api/v1/calculators/."""

from django.urls import include, path

from calculators.web import bitlayout, lora, memory, sampling, speed

urlpatterns = [
    path("", include(bitlayout.api_urlpatterns)),
    path("", include(lora.api_urlpatterns)),
    path("", include(memory.api_urlpatterns)),
    path("", include(sampling.api_urlpatterns)),
    path("", include(speed.api_urlpatterns)),
]
