"""Calculator pages under /calculators/. Each calculator's views live in calculators/web/<name>.py."""

from django.urls import include, path

from calculators.web import bitlayout, lora, memory, model_name, sampling, speed
from calculators import views

app_name = "calculators"

urlpatterns = [
    path("", views.hub, name="hub"),
    path("", include(bitlayout.urlpatterns)),
    path("", include(lora.urlpatterns)),
    path("", include(memory.urlpatterns)),
    path("", include(model_name.urlpatterns)),
    path("", include(sampling.urlpatterns)),
    path("", include(speed.urlpatterns)),
]
