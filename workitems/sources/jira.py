"""Jira Cloud webhooks: issue events are snapshots of the issue; comments are activity.

Signed (when the admin webhook has a secret) with `X-Hub-Signature: sha256=<hex>` over the raw
body. There is no replay window in the signature and retries keep the original timestamp, so
de-duplication is on `X-Atlassian-Webhook-Identifier`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from workitems import signatures
from workitems.choices import Source, WorkItemStatus
from workitems.sources.base import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    NormalizedItem,
    Parsed,
    as_list,
    body_digest,
    from_epoch_ms,
    labels,
    load_json_object,
    lower_headers,
    mapped_status,
    obj,
    parse_datetime,
    parse_due_date,
    required_obj,
    required_str,
    text,
)

SOURCE = Source.JIRA
STATUS_CATEGORIES = {
    "new": WorkItemStatus.OPEN,
    "indeterminate": WorkItemStatus.IN_PROGRESS,
    "done": WorkItemStatus.DONE,
}
STATUS_NAMES = {"blocked": WorkItemStatus.BLOCKED, "on hold": WorkItemStatus.BLOCKED}
PRIORITIES = {
    "highest": "urgent",
    "blocker": "urgent",
    "critical": "urgent",
    "high": "high",
    "major": "high",
    "medium": "medium",
    "low": "low",
    "lowest": "low",
    "minor": "low",
    "trivial": "low",
}


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_jira(secret, headers, body)


def _adf_text(node: Any, out: list[str]) -> None:
    """Plain text of an Atlassian Document Format tree (REST v3 descriptions)."""
    if isinstance(node, dict):
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            out.append(node["text"])
        for child in as_list(node.get("content")):
            _adf_text(child, out)
        if node.get("type") in ("paragraph", "heading", "listItem"):
            out.append("\n")


def _description(value: Any) -> str:
    if isinstance(value, dict):
        parts: list[str] = []
        _adf_text(value, parts)
        return "".join(parts).strip()[:MAX_DESCRIPTION]
    return text(value, MAX_DESCRIPTION)


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    data = load_json_object(body)
    h = lower_headers(headers)
    delivery_id = text(h.get("x-atlassian-webhook-identifier"), 200) or body_digest(body)
    event = text(data.get("webhookEvent"), 100)
    at = from_epoch_ms(data.get("timestamp"))
    if event.startswith("jira:issue_"):
        issue = required_obj(data, "issue")
        return Parsed(delivery_id, event, [_issue(issue, event, at, data, config)])
    if event.startswith("comment_"):
        issue = required_obj(data, "issue")
        comment = obj(data.get("comment"))
        when = parse_datetime(comment.get("updated")) or at
        external_id = required_str(issue, "id", "issue.")
        item = NormalizedItem(external_id, when, {}, raw=data, activity_only=True, create=False)
        return Parsed(delivery_id, event, [item])
    return Parsed(delivery_id, event, detail=f"{event or 'unknown'} events are not mirrored")


def _issue(
    issue: dict[str, Any], event: str, at: Any, data: dict[str, Any], config: dict[str, Any]
) -> NormalizedItem:
    external_id = required_str(issue, "id", "issue.")
    key = text(issue.get("key"), 100)
    fields = obj(issue.get("fields"))
    status = obj(fields.get("status"))
    status_name = text(status.get("name"), 100)
    default = STATUS_NAMES.get(
        status_name.lower(),
        STATUS_CATEGORIES.get(
            text(obj(status.get("statusCategory")).get("key"), 50), WorkItemStatus.OPEN
        ),
    )
    if event == "jira:issue_deleted":
        default = WorkItemStatus.DONE
    api = urlsplit(text(issue.get("self"), 1000))
    browse = (
        f"{api.scheme}://{api.netloc}/browse/{key}"
        if api.scheme in ("http", "https") and api.netloc and key
        else ""
    )
    normalized = {
        "title": text(fields.get("summary"), MAX_TITLE) or key,
        "description": _description(fields.get("description")),
        "source_status": mapped_status(status_name, default, config),
        "priority": PRIORITIES.get(text(obj(fields.get("priority")).get("name"), 50).lower(), ""),
        "assignee": text(obj(fields.get("assignee")).get("displayName"), 200),
        "labels": labels(fields.get("labels")),
        "due_at": parse_due_date(fields.get("duedate")),
        "url": browse,
    }
    # The issue's own `updated` orders snapshots; the event timestamp covers deletions.
    when = parse_datetime(fields.get("updated")) or at
    return NormalizedItem(external_id, when, normalized, raw=data)
