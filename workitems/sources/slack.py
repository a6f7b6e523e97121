"""Slack Events API: messages and app mentions become work items; threads stay one item.

Signed with the app's signing secret over `v0:<timestamp>:<raw body>`, 5-minute replay window.
`url_verification` is signed too and answered with its challenge. Retries carry the same
`event_id`, which is the delivery id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workitems import signatures
from workitems.choices import Source, WorkItemStatus
from workitems.sources.base import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Malformed,
    NormalizedItem,
    Parsed,
    load_json_object,
    required_obj,
    required_str,
    text,
)

SOURCE = Source.SLACK
MIRRORED_EVENTS = {"message", "app_mention"}
# Message subtypes that are still a person writing something; everything else (edits, joins,
# bot posts, deletions) is not new work.
PERSON_SUBTYPES = {"", "thread_broadcast", "file_share"}
_MENTION = re.compile(r"<([@#!][^>|]*)(?:\|([^>]*))?>")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_slack(secret, headers, body)


def _plain(message: str) -> str:
    """Slack markup (`<@U123>`, `<#C1|ops>`) made readable."""
    return _MENTION.sub(lambda m: m.group(2) or m.group(1), message)


def _ts(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    data = load_json_object(body)
    kind = data.get("type")
    if kind == "url_verification":
        challenge = required_str(data, "challenge")
        return Parsed("", "url_verification", reply={"challenge": challenge})
    if kind != "event_callback":
        return Parsed(
            text(data.get("event_id"), 200), str(kind)[:100], detail="not an event callback"
        )
    event_id = required_str(data, "event_id")
    event = required_obj(data, "event")
    event_type = text(event.get("type"), 50)
    name = f"event_callback.{event_type}"
    subtype = text(event.get("subtype"), 50)
    if event_type not in MIRRORED_EVENTS:
        return Parsed(event_id, name, detail=f"{event_type or 'unknown'} events are not mirrored")
    if subtype not in PERSON_SUBTYPES or event.get("bot_id"):
        return Parsed(event_id, name, detail=f"ignored {subtype or 'bot'} message")
    channel = required_str(event, "channel", "event.")
    ts = required_str(event, "ts", "event.")
    thread_ts = text(event.get("thread_ts"), 50)
    message = _plain(text(event.get("text"), MAX_DESCRIPTION))
    first_line = message.splitlines()[0] if message.strip() else "(no text)"
    workspace = text(config.get("workspace_url"), 200).rstrip("/")
    root = thread_ts or ts
    fields = {
        "title": first_line[:MAX_TITLE],
        "description": message,
        "source_status": WorkItemStatus.OPEN,
        "priority": "",
        "assignee": "",
        "labels": ["mention"] if event_type == "app_mention" else [],
        "due_at": None,
        "url": f"{workspace}/archives/{channel}/p{root.replace('.', '')}" if workspace else "",
    }
    item = NormalizedItem(
        external_id=f"{channel}:{root}",
        event_at=_ts(ts),
        fields=fields,
        raw=data,
        # A reply in a thread is activity on the thread's item, not a new piece of work.
        activity_only=bool(thread_ts and thread_ts != ts),
    )
    if item.event_at is None:
        raise Malformed("`event.ts` is not a Slack timestamp.")
    return Parsed(event_id, name, [item])
