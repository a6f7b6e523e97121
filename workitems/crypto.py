"""Encrypting connector secrets at rest (Fernet, key from the environment).

`CWA_ENCRYPTION_KEY` is a Fernet key (`python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"`). Several keys separated by commas rotate: the first
encrypts, all decrypt. In DEBUG without a key, one is derived from SECRET_KEY so the demo works.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    raw = settings.CWA_ENCRYPTION_KEY
    if not raw:
        if not settings.DEBUG:
            raise ImproperlyConfigured("Set CWA_ENCRYPTION_KEY to store connector secrets.")
        raw = base64.urlsafe_b64encode(
            hashlib.sha256(settings.SECRET_KEY.encode()).digest()
        ).decode()
    try:
        return MultiFernet([Fernet(key.strip()) for key in raw.split(",") if key.strip()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"CWA_ENCRYPTION_KEY is not a valid Fernet key: {exc}") from exc


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A connector secret cannot be decrypted with CWA_ENCRYPTION_KEY."
        ) from exc
