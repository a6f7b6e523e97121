"""Linear webhooks: issues are work items; comments are activity on their issue.

Signed with HMAC-SHA256 over the raw body (`Linear-Signature`), replay window of one minute on
the signed `webhookTimestamp`. De-duplicated on `Linear-Delivery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workitems import signatures
from workitems.choices import Source, WorkItemStatus
from workitems.sources.base import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    NormalizedItem,
    Parsed,
    as_list,
    body_digest,
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
    url,
)

SOURCE = Source.LINEAR
# Linear's workflow state types.
STATE_TYPES = {
    "triage": WorkItemStatus.OPEN,
    "backlog": WorkItemStatus.OPEN,
    "unstarted": WorkItemStatus.OPEN,
    "started": WorkItemStatus.IN_PROGRESS,
    "completed": WorkItemStatus.DONE,
    "canceled": WorkItemStatus.DONE,
}
# Linear's priority numbers: 0 none, 1 urgent, 2 high, 3 medium, 4 low.
PRIORITIES = {1: "urgent", 2: "high", 3: "medium", 4: "low"}


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_linear(secret, headers, body)


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    data = load_json_object(body)
    delivery_id = text(lower_headers(headers).get("linear-delivery"), 200) or body_digest(body)
    kind, action = text(data.get("type"), 50), text(data.get("action"), 50)
    name = f"{kind}.{action}"
    if kind == "Issue":
        issue = required_obj(data, "data")
        return Parsed(delivery_id, name, [_issue(issue, action, data, config)])
    if kind == "Comment":
        comment = required_obj(data, "data")
        issue_id = text(comment.get("issueId"), 255) or text(
            obj(comment.get("issue")).get("id"), 255
        )
        if not issue_id:
            return Parsed(delivery_id, name, detail="comment without an issue")
        when = parse_datetime(comment.get("updatedAt")) or parse_datetime(data.get("createdAt"))
        item = NormalizedItem(issue_id, when, {}, raw=data, activity_only=True, create=False)
        return Parsed(delivery_id, name, [item])
    return Parsed(delivery_id, name, detail=f"{kind or 'unknown'} events are not mirrored")


def _issue(
    issue: dict[str, Any], action: str, data: dict[str, Any], config: dict[str, Any]
) -> NormalizedItem:
    external_id = required_str(issue, "id", "data.")
    state = obj(issue.get("state"))
    state_name = text(state.get("name"), 100)
    status = STATE_TYPES.get(text(state.get("type"), 50), WorkItemStatus.OPEN)
    if action == "remove":
        status = WorkItemStatus.DONE
    priority = issue.get("priority")
    fields = {
        "title": text(issue.get("title"), MAX_TITLE) or text(issue.get("identifier"), MAX_TITLE),
        "description": text(issue.get("description"), MAX_DESCRIPTION),
        "source_status": mapped_status(state_name, status, config),
        "priority": PRIORITIES.get(priority, "") if isinstance(priority, int) else "",
        "assignee": text(obj(issue.get("assignee")).get("name"), 200),
        "labels": labels([obj(label).get("name") for label in as_list(issue.get("labels"))]),
        "due_at": parse_due_date(issue.get("dueDate")),
        "url": url(issue.get("url")) or url(data.get("url")),
    }
    when = parse_datetime(issue.get("updatedAt")) or parse_datetime(data.get("createdAt"))
    return NormalizedItem(external_id, when, fields, raw=data)
