"""Posting real-format deliveries, signed the way each source signs them (SIGNATURES.md).

Signatures are computed here with the standard library from our own test secret, not with the
code under test. The verifiers' clock is pinned to the fixture's time where a source signs a
timestamp (Slack, Linear), so the fixture bytes are posted exactly as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from teams.choices import AutonomyLevel
from tests import factories as f

FIX = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "test-secret"


def body_of(name: str) -> bytes:
    for suffix in (".raw.txt", ".json", ".eml"):
        path = FIX / f"{name}{suffix}"
        if path.exists():
            return path.read_bytes()
    raise FileNotFoundError(name)


def headers_of(name: str) -> dict[str, str]:
    path = FIX / f"{name}.headers.json"
    return json.loads(path.read_text()) if path.exists() else {}


def hexmac(secret: str, data: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), data, digest).hexdigest()


def signed(
    kind: str, name: str, *, secret: str = SECRET, body: bytes | None = None
) -> tuple[bytes, dict]:
    """The fixture's body and headers, plus the credential header its source would send."""
    body = body_of(name) if body is None else body
    headers = headers_of(name)
    if kind == "slack":
        ts = headers["X-Slack-Request-Timestamp"]
        headers["X-Slack-Signature"] = "v0=" + hexmac(secret, f"v0:{ts}:".encode() + body)
    elif kind == "linear":
        headers["Linear-Signature"] = hexmac(secret, body)
    elif kind == "github":
        headers["X-Hub-Signature-256"] = "sha256=" + hexmac(secret, body)
    elif kind == "jira":
        headers["X-Hub-Signature"] = "sha256=" + hexmac(secret, body)
    elif kind in ("alertmanager", "email"):
        headers["Authorization"] = f"Bearer {secret}"
    return body, headers


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def clock(monkeypatch) -> Callable[[float], None]:
    """Pin the signature verifiers' clock (seconds since the epoch)."""

    def pin(seconds: float) -> None:
        monkeypatch.setattr(
            "workitems.signatures.time", types.SimpleNamespace(time=lambda: seconds)
        )

    return pin


@pytest.fixture
def ops(org):
    return f.make_team(org, "Operations", level=AutonomyLevel.AUTONOMOUS)


@pytest.fixture
def connector_for(ops):
    def make(kind: str, **kw):
        return f.make_connector(ops.organization, kind, team=ops, **kw)

    return make


@pytest.fixture
def post(client):
    def send(connector, body: bytes, headers: dict[str, str], **extra):
        headers = dict(headers)
        content_type = next(
            (v for k, v in headers.items() if k.lower() == "content-type"), "application/json"
        )
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return client.post(
            extra.pop("path", connector.webhook_path),
            data=body,
            content_type=content_type,
            headers=headers,
            **extra,
        )

    return send
