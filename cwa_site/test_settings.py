"""Test settings: the real settings, made fast and hermetic.

The database comes from DATABASE_URL like in production (CI runs the suite on SQLite and on
PostgreSQL); Redis is used for the channel layer when REDIS_URL is set.
"""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)

from cwa_site.settings import *  # noqa: E402,F403
from cwa_site.settings import DATABASES, Q_CLUSTER  # noqa: E402

# PBKDF2 costs ~300 ms a check; tests log in a lot.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Live-server tests 404 on hashed manifest names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP = True
CWA_RETRY_BASE_SECONDS = 1.0
CWA_EXECUTION_GRACE = 1
# Tasks are queued for real (ORM broker) and drained by the tests, like a worker would.
Q_CLUSTER = {**Q_CLUSTER, "sync": False, "workers": 1}
if DATABASES["default"]["ENGINE"] == "cwa_site.db.sqlite3":
    # A file, not :memory:, so subprocess tests (a real worker) can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Drafting never reaches the network in tests: tests that draft point it at a loopback fake.
ANTHROPIC_API_KEY = ""
ANTHROPIC_BASE_URL = None
# Connector secrets need a key outside DEBUG (Django runs tests with DEBUG off); subprocess
# workers started by tests get the same one through the environment.
CWA_ENCRYPTION_KEY = (
    os.environ.get("CWA_ENCRYPTION_KEY") or "8cKzQ9Vb0mWl4o1n3f2Yp5s6t7u8v9w0x1y2z3A4B5c="
)
# Cache (throttle counters) per test process: parallel test workers must not share or flush it.
# Redis still carries the channel layer when REDIS_URL is set.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
