"""The hash chain: how an event's hash is computed, in one place for writer and verifier."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS = ""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalize_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """What the database will hand back for `data`: JSON types only."""
    return json.loads(canonical_json(data or {}))


def event_hash(
    *,
    prev_hash: str,
    organization_id: Any,
    seq: int,
    created_at: datetime,
    actor_id: Any,
    actor_label: str,
    verb: str,
    target_type: str,
    target_id: str,
    target_label: str,
    team_id: Any,
    data: dict[str, Any],
    was_automatic: bool,
    success: bool,
    error: str,
) -> str:
    body = canonical_json(
        {
            "org": str(organization_id),
            "seq": seq,
            "at": created_at.isoformat(timespec="microseconds"),
            "actor": str(actor_id) if actor_id is not None else None,
            "actor_label": actor_label,
            "verb": verb,
            "target": [target_type, target_id, target_label],
            "team": str(team_id) if team_id is not None else None,
            "data": data,
            "auto": was_automatic,
            "ok": success,
            "error": error,
        }
    )
    return hashlib.sha256((prev_hash + "\n" + body).encode()).hexdigest()


def hash_of(event: Any) -> str:
    """Recompute an AuditEvent's hash from its stored fields."""
    return event_hash(
        prev_hash=event.prev_hash,
        organization_id=event.organization_id,
        seq=event.seq,
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        verb=event.verb,
        target_type=event.target_type,
        target_id=event.target_id,
        target_label=event.target_label,
        team_id=event.team_id,
        data=event.data,
        was_automatic=event.was_automatic,
        success=event.success,
        error=event.error,
    )
