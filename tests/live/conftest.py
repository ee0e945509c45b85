import pytest
from django.conf import settings as django_settings

import live.service
from live import web


@pytest.fixture
def service_with(monkeypatch, settings):
    """Make the process's service one built from settings.LLM changed by the given values
    (with other worker settings it has a model worker of its own), for one test; the
    module's service comes back afterwards and the extra workers are let go."""
    built = []

    def configure(**llm):
        monkeypatch.setattr(live.service, "_service", None)
        settings.LLM = {**django_settings.LLM, "model_path": "", "n_threads": 1, **llm}
        built.append(web.service())
        return built[-1]

    yield configure
    for service in built:
        service.backend.close()
