"""CWA settings: one module, every deployment knob read from the environment.

Typed helpers fail loudly on bad values. With DEBUG off, a missing SECRET_KEY is an error,
never a silent default.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure") or "insecure" in SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "django_q",
    "django_htmx",
    "template_partials",
    "cwa_site",
    "teams",
    "audit",
    "workitems",
    "policies",
    "approvals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "cwa_site.urls"
WSGI_APPLICATION = "cwa_site.wsgi.application"
ASGI_APPLICATION = "cwa_site.asgi.application"

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
                "cwa_site.context_processors.site",
            ],
        },
    }
]

# --- Database: SQLite file by default, anything dj-database-url understands otherwise.
DATA_DIR = Path(env_str("CWA_DATA_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'cwa.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "cwa_site.db.sqlite3"
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Redis: optional. It carries the channel layer (and the cache) across processes.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 60},
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- django-q2: always the ORM broker. It commits with our writes (a transactional outbox) and
# is at-least-once; the Redis broker is at-most-once, which would lose approved work.
Q_CLUSTER = {
    "name": "cwa",
    "orm": "default",
    "workers": env_int("CWA_WORKERS", 2),
    "timeout": env_int("CWA_TASK_TIMEOUT", 120),
    # retry is a lease: it must exceed timeout or a slow task is handed to a second worker.
    "retry": env_int("CWA_TASK_TIMEOUT", 120) + 60,
    "max_attempts": 5,
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "poll": 0.5,
    "label": "Tasks",
}

# --- REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "cwa_site.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cwa_site.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "propose": os.environ.get("CWA_THROTTLE_PROPOSE", "600/min"),
        "decide": os.environ.get("CWA_THROTTLE_DECIDE", "600/min"),
        "token": os.environ.get("CWA_THROTTLE_TOKEN", "30/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CWA API",
    "DESCRIPTION": "Propose actions, decide them, and read the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` (and three fields share the risk levels): name each set.
    "ENUM_NAME_OVERRIDES": {
        "ActionStatusEnum": "approvals.choices.ActionStatus",
        "ExecutionStatusEnum": "approvals.choices.ExecutionStatus",
        "TeamStatusEnum": "teams.choices.TeamStatus",
        "WorkItemStatusEnum": "workitems.choices.WorkItemStatus",
        "RiskLevelEnum": "policies.choices.RiskLevel",
    },
}

# --- E-mail: console in development.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cwa@localhost")

# --- CWA behaviour
# Pending actions expire after this many hours, per effective risk.
CWA_EXPIRY_HOURS = {"low": 72, "medium": 48, "high": 24, "critical": 12}
# Approvers are reminded this many minutes before a pending action expires.
CWA_EXPIRY_REMINDER_MINUTES = env_int("CWA_EXPIRY_REMINDER_MINUTES", 60)
# High and critical actions still undecided after this many hours are escalated to org admins.
CWA_ESCALATE_AFTER_HOURS = {"high": 4, "critical": 1}
# Outbound calls: every call has a timeout (seconds).
CWA_EXECUTOR_TIMEOUT = float(os.environ.get("CWA_EXECUTOR_TIMEOUT", "10"))
# Extra seconds after an executor's timeout before an `executing` action counts as stuck.
CWA_EXECUTION_GRACE = env_int("CWA_EXECUTION_GRACE", 30)
# Backoff for transient failures: base * 2**(attempt-1), capped, with full jitter.
CWA_RETRY_BASE_SECONDS = float(os.environ.get("CWA_RETRY_BASE_SECONDS", "5"))
CWA_RETRY_MAX_SECONDS = float(os.environ.get("CWA_RETRY_MAX_SECONDS", "600"))
# webhook.post only talks HTTPS; loopback plain HTTP is allowed for development and tests.
CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP = env_bool("CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP", DEBUG)

# --- Production hardening (manage.py check --deploy is clean with DEBUG off)
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Connector secrets are encrypted at rest with this Fernet key (comma-separated to rotate).
CWA_ENCRYPTION_KEY = os.environ.get("CWA_ENCRYPTION_KEY", "")

# --- Outbound executors and Slack approvals (approvals/executors/, approvals/slack/).
# API base URLs; a connector's config["base_url"] overrides them (tests point both at loopback).
CWA_SLACK_API_URL = env_str("CWA_SLACK_API_URL", "https://slack.com/api").rstrip("/")
CWA_LINEAR_API_URL = env_str("CWA_LINEAR_API_URL", "https://api.linear.app/graphql")
# Jira Cloud has no global URL: each site is https://<site>.atlassian.net (connector base_url).
CWA_JIRA_BASE_URL = env_str("CWA_JIRA_BASE_URL", "").rstrip("/")
# Slack hands us response_url values; we only ever POST to these prefixes.
CWA_SLACK_RESPONSE_URL_PREFIXES = env_list(
    "CWA_SLACK_RESPONSE_URL_PREFIXES", "https://hooks.slack.com/"
)
# Our own calls to Slack (posting pending actions, updating them) time out after this.
CWA_SLACK_TIMEOUT = float(os.environ.get("CWA_SLACK_TIMEOUT", "5"))
# Circuit breaker per (organization, executor): opens after this many consecutive failures,
# probes again after the cooldown, which doubles on every failed probe up to the maximum.
CWA_BREAKER_FAILURES = env_int("CWA_BREAKER_FAILURES", 5)
CWA_BREAKER_COOLDOWN_SECONDS = env_int("CWA_BREAKER_COOLDOWN_SECONDS", 60)
CWA_BREAKER_MAX_COOLDOWN_SECONDS = env_int("CWA_BREAKER_MAX_COOLDOWN_SECONDS", 1800)

# --- Ingestion (workitems): inbound webhooks and stalled work.
# Bodies larger than this are refused with 413 before they are read.
CWA_WEBHOOK_MAX_BYTES = env_int("CWA_WEBHOOK_MAX_BYTES", 1024 * 1024)
# Open work with no activity for this many days becomes `stalled`.
CWA_STALLED_AFTER_DAYS = env_int("CWA_STALLED_AFTER_DAYS", 3)

# --- Content drafting (policies): the LLM only fills content fields, never decides anything.
# Without a key, drafted fields are rendered from the policy's template instead.
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL", "") or None
CWA_DRAFT_MODEL = env_str("CWA_DRAFT_MODEL", "claude-sonnet-4-6")
CWA_DRAFT_MAX_TOKENS = env_int("CWA_DRAFT_MAX_TOKENS", 400)
CWA_DRAFT_TIMEOUT = float(os.environ.get("CWA_DRAFT_TIMEOUT", "20"))
# One retry on 429/529; a Retry-After longer than this falls back to the template instead.
CWA_DRAFT_RETRY_MAX_WAIT = float(os.environ.get("CWA_DRAFT_RETRY_MAX_WAIT", "10"))
# USD per million tokens (input, output), matched on the longest model-name prefix.
CWA_LLM_PRICES = {
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
}

# --- Web pages and live push (approvals/views.py, approvals/live.py)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("approvals.context_processors.navigation")
# The relay reads the outbox (audit chain + notifications) this often, in seconds.
CWA_LIVE_POLL_SECONDS = float(os.environ.get("CWA_LIVE_POLL_SECONDS", "0.5"))
CWA_QUEUE_PAGE_SIZE = env_int("CWA_QUEUE_PAGE_SIZE", 50)
# "Select all matching" decides at most this many actions in one request.
CWA_BULK_DECISION_MAX = env_int("CWA_BULK_DECISION_MAX", 2000)
# Earned autonomy: approvals in a row (no rejection) before an override is suggested.
CWA_AUTONOMY_SUGGESTION_STREAK = env_int("CWA_AUTONOMY_SUGGESTION_STREAK", 20)
if REDIS_URL:
    # redis-py reads with a 5 s socket timeout by default, exactly channels-redis's blocking
    # BZPOPMIN wait: a websocket idle for 5 s then dies with "Timeout reading". Leave headroom.
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": 15}]
MIDDLEWARE.append("approvals.middleware.HtmxLoginRedirectMiddleware")
