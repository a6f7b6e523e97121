"""Prometheus Alertmanager `webhook_config`: one work item per alert fingerprint.

Alertmanager signs nothing; it sends the receiver's `http_config` credentials in
`Authorization` (Bearer or Basic), compared in constant time. It re-sends a group on every
`repeat_interval` and retries 5xx, so the delivery id is a digest of what the notification says
(group key, status, and each alert's fingerprint, status, start and end): a repeat with nothing
new is a duplicate. Firing alerts open their item; resolved alerts close it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from workitems import signatures
from workitems.choices import Source, WorkItemStatus
from workitems.sources.base import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Malformed,
    NormalizedItem,
    Parsed,
    labels,
    load_json_object,
    obj,
    parse_datetime,
    text,
    url,
)

SOURCE = Source.ALERTMANAGER
SEVERITIES = {
    "critical": "urgent",
    "page": "urgent",
    "error": "high",
    "high": "high",
    "warning": "medium",
    "info": "low",
    "none": "low",
}


def expected_authorization(secret: str) -> str:
    """The connector secret is the token, or the whole header value (`Basic …`)."""
    if secret.startswith(("Bearer ", "Basic ")):
        return secret
    return f"Bearer {secret}"


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_authorization(expected_authorization(secret), headers)


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    data = load_json_object(body)
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise Malformed("`alerts` must be a list of objects.")
    group_status = text(data.get("status"), 20)
    items, fingerprint_parts = [], []
    for index, alert in enumerate(alerts):
        fingerprint = text(alert.get("fingerprint"), 255)
        if not fingerprint:
            raise Malformed(f"`alerts[{index}].fingerprint` is missing.")
        status = text(alert.get("status"), 20)
        starts, ends = text(alert.get("startsAt"), 50), text(alert.get("endsAt"), 50)
        fingerprint_parts.append([fingerprint, status, starts, ends])
        items.append(_alert(alert, fingerprint, status, data))
    digest = hashlib.sha256(
        json.dumps(
            [text(data.get("groupKey"), 2000), group_status, sorted(fingerprint_parts)],
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    return Parsed(f"am:{digest}", f"alerts.{group_status or 'unknown'}", items)


def _alert(
    alert: dict[str, Any], fingerprint: str, status: str, group: dict[str, Any]
) -> NormalizedItem:
    alert_labels = {str(k): str(v) for k, v in obj(alert.get("labels")).items()}
    annotations = obj(alert.get("annotations"))
    resolved = status == "resolved"
    name = alert_labels.get("alertname", "alert")
    where = alert_labels.get("instance") or alert_labels.get("pod") or alert_labels.get("job", "")
    title = text(annotations.get("summary"), MAX_TITLE) or f"{name} {where}".strip()
    fields = {
        "title": title[:MAX_TITLE],
        "description": text(annotations.get("description"), MAX_DESCRIPTION),
        "source_status": WorkItemStatus.DONE if resolved else WorkItemStatus.OPEN,
        "priority": SEVERITIES.get(alert_labels.get("severity", "").lower(), ""),
        "assignee": "",
        "labels": labels([f"{k}={v}" for k, v in sorted(alert_labels.items())]),
        "due_at": None,
        "url": url(alert.get("generatorURL")) or url(group.get("externalURL")),
    }
    # A resolved alert is newer than the firing one it closes; a repeat of a firing alert has
    # the same start, so it changes nothing.
    when = parse_datetime(alert.get("endsAt")) if resolved else None
    when = when or parse_datetime(alert.get("startsAt"))
    return NormalizedItem(
        fingerprint, when, fields, raw={**alert, "groupKey": group.get("groupKey")}
    )
