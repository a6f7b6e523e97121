"""Shared HTTP plumbing for executors: one client policy, one error classification."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

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


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


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
        raise PermanentError(f"invalid URL for {what}: {exc}") from exc
