"""Shared HTTP plumbing for executors: one client policy, one error classification."""

from __future__ import annotations

import email.utils
import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from approvals.executors.base import OutcomeUnknown, PermanentError, TransientError

USER_AGENT = "CWA/1.0 (+operations control tower)"
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: Any, what: str) -> str | None:
    """Why `url` is no place to send a call (None when fine): HTTPS only, plain HTTP to
    loopback only where CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP allows it (development and tests)."""
    if not isinstance(url, str) or not url:
        return f"{what} has no URL."
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if (
        parts.scheme == "http"
        and parts.hostname
        and settings.CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP
        and is_loopback(parts.hostname)
    ):
        return None
    return f"{what} must be an https:// URL with a host name (got {url[:200]!r})."


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def response_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or (for anything else) the start of the text."""
    return _body(response)


def classify_response(response: httpx.Response, what: str) -> None:
    """Raise the right executor error for a non-2xx response."""
    if response.is_success:
        return
    info = {"status": response.status_code, "body": _body(response)}
    if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
        raise TransientError(
            f"{what} answered HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            response=info,
        )
    raise PermanentError(f"{what} refused the request: HTTP {response.status_code}", response=info)


def send(method: str, url: str, *, what: str, timeout: float, **kwargs: Any) -> httpx.Response:
    """One outbound call with a timeout; transport errors become executor errors.

    A failure to connect means nothing was sent (transient). A failure after the request left
    (read timeout, dropped connection) means the outcome is unknown.
    """
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            return client.request(method, url, headers=headers, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TransientError(f"could not connect to {what}: {exc}") from exc
    except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
        raise OutcomeUnknown(f"{what} did not answer within {timeout:g} s") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise OutcomeUnknown(f"the connection to {what} broke mid-request: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise PermanentError(f"invalid URL for {what}: {exc}", reached=False) from exc
