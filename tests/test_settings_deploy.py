"""Production settings fail loudly without a secret and pass `check --deploy`."""

import os
import subprocess
import sys

from django.conf import settings

ROOT = settings.BASE_DIR


def _manage(*args, **env):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_fails_loudly():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_weak_secret_key_is_refused():
    result = _manage("check", DEBUG="false", SECRET_KEY="short")
    assert result.returncode != 0 and "at least 50 characters" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="k" * 30 + "Zq8-_x7Lm2Pw9Rt4Yv6Nb3Hc5Jd1Gf0Ks",
        ALLOWED_HOSTS="cwa.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_boolean_is_an_error():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr
