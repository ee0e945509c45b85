"""What the live pages and the live API share: the process's model service, built from
Django's settings, the HTTP client's connection, and the model description every page shows.

The service itself (queue, streams, errors) is live/service.py; the model runs in the
model worker (live/worker.py). Nothing here imports llama.cpp.
"""

from __future__ import annotations

import atexit
import functools
import os
import stat

from django.conf import settings

from live.protocol import closed
from live.service import BackendUnavailable, LLMError, LLMService, get_service, reset_service



def service() -> LLMService:
    """The process's LLMService, built on first use from ``settings.LLM``.

    get_service() keeps the first service it builds, so later changes to settings.LLM
    take effect only after ``live.service.reset_service()`` (tests do that). Empty
    strings in the settings mean "default": an empty model_path is the bundled model.
    Wrong settings raise BackendUnavailable, like a missing model: the demos cannot run.
    """
    try:
        svc = get_service(dict(settings.LLM))
    except ValueError as exc:  # ServiceConfig names the bad setting, e.g. "LLM_BACKEND: ..."
        raise BackendUnavailable(f"the LLM settings are wrong: {exc}") from exc
    _close_at_exit()
    return svc


class ClientConnection:
    """The HTTP client's socket, to stop work for a client that has gone away.

    Passed as ``should_stop``: calling it says "cancelled" once the client closed its end;
    the model worker's client also waits on ``fileno()``, so a disconnect is seen at once
    even while a token is being computed."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def __call__(self) -> str | None:
        return "cancelled" if closed(self.fd) else None

    @classmethod
    def of(cls, request) -> "ClientConnection | None":
        """The connection of a request served by gunicorn (``gunicorn.socket``) or by
        Django's own server (runserver, the test live server: ``wsgi.input`` reads the
        socket through a LimitedStream whose ``_read`` is the socket file's ``read``);
        None elsewhere (the test client, ASGI)."""
        environ = request.META
        candidates = [environ.get("gunicorn.socket")]
        stream = environ.get("wsgi.input")
        candidates += [stream, getattr(getattr(stream, "_read", None), "__self__", None)]
        for candidate in candidates:
            try:
                fd = candidate.fileno()
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    return cls(fd)
            except (AttributeError, OSError, ValueError):
                continue
        return None


@functools.cache
def _close_at_exit():
    # Freeing the model before the interpreter tears down avoids llama-cpp-python's
    # "Exception ignored in __del__" noise at exit.
    atexit.register(reset_service)


def model_context() -> dict:
    """Template context for the model card: {"model": dict | None, "unavailable": str | None}.

    models() reads only the GGUF header (or asks the remote server), so a page can show
    the model without loading it; a missing or unreadable file is reported here and the
    page says so instead of failing.
    """
    try:
        svc = service()
        infos = svc.models()
    except LLMError as exc:
        # BackendUnavailable (file missing or unreadable, server down, wrong settings) or
        # another LLMError (a server answering something unexpected).
        return {"model": None, "models": [], "unavailable": str(exc), "backend": None, "n_ctx": None}
    described = [describe_model(m.to_dict()) for m in infos]
    if not described:
        return {"model": None, "models": [], "unavailable": "the server reports no model", "backend": None,
                "n_ctx": None}
    return {"model": described[0], "models": described, "unavailable": None, "backend": svc.backend.name,
            # The context this server runs with (the model may have been trained for more).
            "n_ctx": getattr(svc.backend, "n_ctx", None)}


def describe_model(info: dict) -> dict:
    """A ModelInfo dict plus the few derived strings the model card prints."""
    file_type = info.get("file_type")
    # The glossary has an entry for the bundled recipe; other recipes link to the
    # general quant-mix entry (a "Q4_K_M" names a recipe, not one tensor type).
    glossary = {"Q4_K_M": "q4-k-m", "Q4_K_S": "q4-k-s", "Q5_K_M": "q5-k-m", "Q8_0": "q8-0",
                "Q4_0": "q4-0", "Q4_1": "q4-1", "Q5_0": "q5-0", "Q5_1": "q5-1", "Q6_K": "q6-k",
                "Q2_K": "q2-k", "Q3_K_L": "q3-k-l"}
    parameters, size = info.get("parameters"), info.get("file_size")
    return {
        **info,
        "file_type_slug": glossary.get(file_type or "", "quant-mix"),
        # 268,098,176 -> "268.1 M"; the exact count goes in a title attribute.
        "parameters_text": f"{parameters / 1e6:,.1f} M" if parameters else None,
        "file_size_text": f"{size / 2**20:,.1f} MiB" if size else None,
        "tensor_types_text": ", ".join(f"{name} ×{count}" for name, count in (info.get("tensor_types") or {}).items()),
    }
