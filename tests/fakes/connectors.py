"""Connectors pointing at the fake servers (rows written directly, like tests/factories.py)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from workitems.choices import ConnectorKind
from workitems.models import Connector

SIGNING_SECRET = "test-secret"


def make_connector(
    org: Any,
    kind: str,
    *,
    name: str | None = None,
    credentials: str = "",
    secret: str = "",
    **config: Any,
) -> Connector:
    connector = Connector(organization=org, kind=kind, name=name or kind, config=config)
    connector.credentials = credentials
    connector.secret = secret
    connector.save()
    return connector


def slack_connector(org: Any, fake: Any, **config: Any) -> Connector:
    return make_connector(
        org,
        ConnectorKind.SLACK,
        name=config.pop("name", "slack"),
        credentials=fake.token,
        secret=SIGNING_SECRET,
        base_url=fake.api_url,
        **config,
    )


def linear_connector(org: Any, fake: Any, **config: Any) -> Connector:
    return make_connector(
        org,
        ConnectorKind.LINEAR,
        name=config.pop("name", "linear"),
        credentials=fake.api_key,
        base_url=fake.api_url,
        **config,
    )


def jira_connector(org: Any, fake: Any, **config: Any) -> Connector:
    return make_connector(
        org,
        ConnectorKind.JIRA,
        name=config.pop("name", "jira"),
        credentials="cwa@acme.example:jira-token",
        base_url=fake.url,
        **config,
    )


def slack_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict:
    """The two headers Slack signs a request with (see tests/fixtures/SIGNATURES.md)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": "v0=" + digest.hexdigest(),
    }
