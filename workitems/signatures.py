"""Verifying inbound deliveries, per source, on the raw body before anything is parsed.

Rules from the sources' documentation (see the shared fixtures' SIGNATURES.md): HMAC over the exact
bytes received, constant-time compare, replay windows where the source signs a timestamp.
Every function returns None when the delivery is authentic, or a short reason why not.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping

SLACK_TOLERANCE_S = 300
LINEAR_TOLERANCE_MS = 60_000


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _hex_hmac(secret: str, body: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, digest).hexdigest()


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + _hex_hmac(secret, b"v0:" + timestamp.encode() + b":" + body)


def verify_slack(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> str | None:
    h = _lower(headers)
    ts, sig = h.get("x-slack-request-timestamp", ""), h.get("x-slack-signature", "")
    if not ts or not sig:
        return "missing X-Slack-Signature or X-Slack-Request-Timestamp"
    if not ts.isdigit():
        return "malformed X-Slack-Request-Timestamp"
    if abs((time.time() if now is None else now) - int(ts)) > SLACK_TOLERANCE_S:
        return "stale or future-dated timestamp"
    if not hmac.compare_digest(slack_signature(secret, ts, body), sig):
        return "signature mismatch"
    return None


def linear_signature(secret: str, body: bytes) -> str:
    return _hex_hmac(secret, body)


def verify_linear(
    secret: str, headers: Mapping[str, str], body: bytes, now_ms: int | None = None
) -> str | None:
    h = _lower(headers)
    sig = h.get("linear-signature", "")
    if not sig:
        return "missing Linear-Signature"
    if not hmac.compare_digest(linear_signature(secret, body), sig.lower()):
        return "signature mismatch"
    try:
        ts = json.loads(body).get("webhookTimestamp") or int(h.get("linear-timestamp", ""))
        ts = int(ts)
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
        return "missing or malformed webhookTimestamp"
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - ts) > LINEAR_TOLERANCE_MS:
        return "stale or future-dated webhookTimestamp"
    return None


def hub_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: GitHub's X-Hub-Signature-256 and Jira's X-Hub-Signature."""
    return "sha256=" + _hex_hmac(secret, body)


def _verify_hub(secret: str, value: str, body: bytes, header: str) -> str | None:
    method, _, digest = value.partition("=")
    if not value:
        return f"missing {header}"
    if method.lower() != "sha256" or not digest:
        return f"malformed {header}"
    if not hmac.compare_digest(hub_signature(secret, body), "sha256=" + digest.lower()):
        return "signature mismatch"
    return None


def verify_github(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return _verify_hub(
        secret, _lower(headers).get("x-hub-signature-256", ""), body, "X-Hub-Signature-256"
    )


def verify_jira(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return _verify_hub(secret, _lower(headers).get("x-hub-signature", ""), body, "X-Hub-Signature")


def verify_authorization(expected: str, headers: Mapping[str, str]) -> str | None:
    """Alertmanager and inbound e-mail: a bearer token (or Basic credentials) in Authorization."""
    got = _lower(headers).get("authorization", "")
    if not got:
        return "missing Authorization"
    if not hmac.compare_digest(got.encode(), expected.encode()):
        return "wrong credentials"
    return None
