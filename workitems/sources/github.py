"""GitHub issue webhooks (`issues`, `issue_comment`): each carries the whole issue.

Signed with `X-Hub-Signature-256: sha256=<hex>` over the raw body; no timestamp, so no replay
window. De-duplicated on `X-GitHub-Delivery` (redeliveries reuse it).
"""

from __future__ import annotations

import re
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

SOURCE = Source.GITHUB
MIRRORED_EVENTS = {"issues", "issue_comment"}
# Conventional priority labels: "P0".."P3", "priority: high", "priority/urgent".
_PRIORITY_LABEL = re.compile(r"^(?:p([0-3])|priority[:/ -]+(urgent|critical|high|medium|low))$")
_P_LEVELS = {"0": "urgent", "1": "high", "2": "medium", "3": "low", "critical": "urgent"}


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_github(secret, headers, body)


def _priority(names: list[str]) -> str:
    for name in names:
        match = _PRIORITY_LABEL.match(name.lower())
        if match:
            level = match.group(1) or match.group(2)
            return _P_LEVELS.get(level, level)
    return ""


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    h = lower_headers(headers)
    event = text(h.get("x-github-event"), 100)
    delivery_id = text(h.get("x-github-delivery"), 200) or body_digest(body)
    data = load_json_object(body)
    action = text(data.get("action"), 50)
    name = f"{event}.{action}" if action else event
    if event not in MIRRORED_EVENTS:
        return Parsed(delivery_id, name, detail=f"{event or 'unknown'} events are not mirrored")
    issue = required_obj(data, "issue")
    number = required_str(issue, "number", "issue.")
    repo = text(obj(data.get("repository")).get("full_name"), 200)
    external_id = f"{repo}#{number}" if repo else required_str(issue, "id", "issue.")
    state = text(issue.get("state"), 20)
    status = WorkItemStatus.DONE if state == "closed" else WorkItemStatus.OPEN
    if event == "issues" and action == "deleted":
        status = WorkItemStatus.DONE
    names = labels([obj(label).get("name") for label in as_list(issue.get("labels"))])
    fields = {
        "title": text(issue.get("title"), MAX_TITLE) or external_id,
        "description": text(issue.get("body"), MAX_DESCRIPTION),
        "source_status": mapped_status(state, status, config),
        "priority": _priority(names),
        "assignee": text(obj(issue.get("assignee")).get("login"), 200),
        "labels": names,
        "due_at": parse_due_date(obj(issue.get("milestone")).get("due_on")),
        "url": url(issue.get("html_url")),
    }
    when = parse_datetime(issue.get("updated_at")) or parse_datetime(issue.get("created_at"))
    return Parsed(delivery_id, name, [NormalizedItem(external_id, when, fields, raw=data)])
