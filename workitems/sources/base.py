"""What every inbound source turns a delivery into, and the parsing helpers they share.

A source module verifies a delivery (on the raw bytes, before anything is parsed) and parses it
into a `Parsed`: the source's delivery id for de-duplication and zero or more `NormalizedItem`s.
Parsing is defensive: anything that does not have the documented shape raises `Malformed` with
a message for the sender (HTTP 400), never another exception.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from workitems.choices import WorkItemStatus

MAX_TITLE = 500
MAX_DESCRIPTION = 4000
MAX_LABELS = 50
MAX_LABEL = 100


class Malformed(Exception):
    """The delivery is authentic but not something we can read (answered with 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class NormalizedItem:
    """One work item as a source describes it at `event_at`.

    `fields` holds the normalized columns (title, source_status, priority, assignee, labels,
    due_at, url, description). `activity_only` items only move `last_activity_at` (a comment, a
    thread reply); `fields` is then used only if the item has to be created, and with
    `create=False` an unknown item is left alone.
    """

    external_id: str
    event_at: datetime | None
    fields: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)
    activity_only: bool = False
    create: bool = True


@dataclass
class Parsed:
    delivery_id: str
    event: str
    items: list[NormalizedItem] = field(default_factory=list)
    detail: str = ""
    #: an answer to send back instead of storing anything (Slack's url_verification)
    reply: dict[str, Any] | None = None


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def load_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"The body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        raise Malformed("The body must be a JSON object.")
    return data


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else {} (optional parts of a payload)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def required_obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise Malformed(f"`{key}` must be a JSON object.")
    return value


def required_str(data: dict[str, Any], key: str, where: str = "") -> str:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"`{where}{key}` is missing or not a string.")
    return value.strip()


def text(value: Any, limit: int) -> str:
    """A string field clipped to `limit` characters; anything that is not a string is ''."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip()[:limit] if isinstance(value, str) else ""


def labels(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    out = []
    for value in values:
        name = text(value, MAX_LABEL)
        if name and name not in out:
            out.append(name)
    return out[:MAX_LABELS]


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 as the sources write it (`Z`, `+0200`, fractions); None when absent or invalid.

    Go's zero time (`0001-01-01T00:00:00Z`, Alertmanager's "no end yet") is None too.
    """
    if not isinstance(value, str) or not value:
        return None
    raw = value.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    # Jira writes offsets without a colon (+0200); fromisoformat wants +02:00 before 3.11 rules.
    if len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit() and ":" not in raw[-5:]:
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= 1:
        return None
    return parsed.astimezone(UTC)


def parse_due_date(value: Any) -> datetime | None:
    """A due *date* (`2024-06-01`) is due at the end of that day (UTC); a datetime as given."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        return datetime.combine(day, time.max, tzinfo=UTC)
    return parse_datetime(value)


def from_epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    except OverflowError:
        return None


def mapped_status(state_name: str, default: str, config: dict[str, Any]) -> str:
    """The connector's own mapping (config `status_map`: state name → status) wins."""
    overrides = config.get("status_map") if isinstance(config, dict) else None
    if isinstance(overrides, dict) and state_name:
        for name, status in overrides.items():
            if str(name).lower() == state_name.lower() and status in WorkItemStatus.values:
                return status
    return default


def url(value: Any) -> str:
    candidate = text(value, 2000)
    if candidate.startswith(("https://", "http://")) and len(candidate) <= 1000:
        return candidate
    return ""
