"""Presentation helpers for the web pages: previews, durations, risk and status labels."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils import timezone

register = template.Library()

# Payload fields that carry the human-readable message, most specific first.
MESSAGE_KEYS = ("text", "message", "note", "comment", "summary", "body", "subject", "title")
TARGET_KEYS = ("channel", "issue", "issue_key", "issue_id", "to", "email", "customer", "url")

VERBS = {
    "action.proposed": "Proposed",
    "action.auto_approved": "Ran by itself: approved by the gate",
    "action.approved": "Approved",
    "action.approval_recorded": "Approval recorded",
    "action.rejected": "Rejected",
    "action.edited": "Edited",
    "action.cancelled": "Cancelled",
    "action.expired": "Expired without a decision",
    "action.refused": "Proposal refused",
    "action.needs_attention": "Needs attention",
    "execution.started": "Execution started",
    "execution.succeeded": "Execution succeeded",
    "execution.failed": "Execution failed",
    "execution.retry_scheduled": "Retry scheduled",
    "execution.abandoned": "Worker stopped mid-call",
    "execution.late_result": "Late result recorded",
}


def _message(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict):
        for key in MESSAGE_KEYS:
            found = _message(value.get(key))
            if found:
                return found
    return None


def _fields(value: dict[str, Any], out: list[str]) -> list[str]:
    for key, item in value.items():
        if isinstance(item, dict):
            _fields(item, out)
        elif isinstance(item, str | int | float | bool) and key != "url":
            out.append(f"{str(key).replace('_', ' ')}: {item}")
    return out


@register.filter
def preview_line(action: Any) -> str:
    """The message the action will send or record, on one line; without a message field, the
    payload's own fields (a credit's customer and amount)."""
    payload = action.payload if isinstance(action.payload, dict) else {}
    text = _message(payload) or " · ".join(_fields(payload, [])[:6]) or action.title or ""
    return " ".join(text.split())


@register.filter
def target_label(action: Any) -> str:
    """What the action acts on: its work item, else the payload's destination."""
    if action.work_item_id and action.work_item:
        return f"{action.work_item.external_id} · {action.work_item.title}"
    payload = action.payload if isinstance(action.payload, dict) else {}
    for source in (payload, action.action_type.config or {}):
        for key in TARGET_KEYS:
            value = source.get(key)
            if isinstance(value, str | int) and str(value):
                if key == "url":
                    parts = urlsplit(str(value))
                    return f"{parts.hostname or ''}{parts.path}"
                return str(value)
    return action.action_type.get_executor_display()


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def verb_label(verb: str) -> str:
    if verb in VERBS:
        return VERBS[verb]
    return verb.replace(".", " ").replace("_", " ").capitalize()


@register.filter
def short_duration(seconds: float | timedelta | None) -> str:
    """3 s, 4 min, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def until(moment: datetime | None) -> str:
    """Time left until `moment` (server-rendered start of the live countdown)."""
    if moment is None:
        return ""
    left = (moment - timezone.now()).total_seconds()
    return "expired" if left <= 0 else short_duration(left)


@register.filter
def expiring_soon(moment: datetime | None) -> bool:
    return moment is not None and moment - timezone.now() <= timedelta(hours=1)


@register.filter
def percent(value: float | None) -> str:
    """A rate as a percentage; one decimal when rounding would show 100% or 0% for a rate
    that is not (99.5% success is not 100%)."""
    if value is None:
        return "—"
    whole = f"{value * 100:.0f}"
    if (whole == "100" and value < 1) or (whole == "0" and value > 0):
        return f"{value * 100:.1f}%"
    return f"{whole}%"


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.simple_tag(takes_context=True)
def query_with(context: Any, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def elapsed(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else short_duration(seconds)
