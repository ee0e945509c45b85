from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import signin
from glossary import embeddings
from glossary.models import Category, Entry


def home(request):
    return render(request, "home.html", {
        "entry_count": Entry.objects.count(),
        "categories": Category.objects.all(),
    })


def database_status() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("show server_version")
        server_version = cursor.fetchone()[0]
        cursor.execute("select extversion from pg_extension where extname = 'vector'")
        row = cursor.fetchone()
    return {"vendor": connection.vendor, "server_version": server_version,
            "pgvector": row[0] if row else None}


def llm_status() -> dict:
    """The live-demo backend as configured, without loading the model."""
    import os

    from django.conf import settings

    from live.service import LLMError
    from live.web import service

    config = settings.LLM
    if config["backend"] == "remote":
        model = config["remote_url"]
    else:
        from live.llm import bundled_model_path  # finds the file; imports no llama.cpp code

        model = config["model_path"] or bundled_model_path()
    # A public endpoint names the model file, never the folders of the server it lives in.
    shown = os.path.basename(model) if config["backend"] == "local" else model
    try:
        status = service().status()
    except LLMError as error:
        return {"backend": config["backend"], "model": shown, "loaded": False, "error": str(error)}
    result = {"backend": status["backend"], "model": shown,
              "loaded": bool(status["loaded"]), "busy": status["busy"], "waiting": status["waiting"]}
    if status["backend"] == "local" and not os.path.isfile(model):
        result["error"] = f"no model file {shown}"
    return result


@extend_schema(
    summary="Service health",
    responses=inline_serializer("Health", {
        "status": serializers.CharField(),
        "database": serializers.DictField(),
        "embedding": serializers.DictField(),
        "llm": serializers.DictField(),
    }),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def health(request):
    """What the running system really uses: database, embedding model, LLM backend."""
    database = database_status()
    embedding = embeddings.model_info()
    llm = llm_status()
    # The site works without either model (keyword search, every page but the live demos),
    # so a missing one degrades the service instead of failing the check.
    degraded = [name for name, part in (("embedding", embedding), ("llm", llm))
                if part.get("error")]
    return Response({
        "status": "degraded" if degraded else "ok",
        "database": database,
        "embedding": embedding,
        "llm": llm,
        **({"degraded": degraded} if degraded else {}),
    })


class TokenRequest(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


@extend_schema(
    summary="Exchange a username and password for an API token",
    description="Shares the sign-in form's limits (accounts/signin.py): after too many "
                "failures for one username from one address, 429 until the lockout ends.",
    request=TokenRequest,
    responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def obtain_token(request):
    data = TokenRequest(data=request.data)
    data.is_valid(raise_exception=True)
    # The sign-in form itself: the same username normalisation, inactive-account check and
    # django-axes limits as the page (the axes backend marks the request when it refuses).
    form = AuthenticationForm(request, data=data.validated_data)
    if not form.is_valid():
        if getattr(request, "axes_locked_out", False):
            raise Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds(), detail=signin.lockout_message())
        raise serializers.ValidationError({"non_field_errors": ["Unable to sign in with these credentials."]})
    token, _ = Token.objects.get_or_create(user=form.get_user())
    return Response({"token": token.key})
