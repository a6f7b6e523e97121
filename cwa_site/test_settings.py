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
# A fixed test key for connector secrets (pytest runs with DEBUG off, so none is derived).
CWA_ENCRYPTION_KEY = "4XXg8VbIyNfFuiGB1XgQZpOW4xB2oYPo2ainV3aHeEc="
