"""Appending to the audit trail. Every state change in CWA calls these inside its transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit.chain import event_hash, normalize_data
from audit.models import AuditEvent
from teams.models import Organization


@dataclass
class EventSpec:
    """One event to append; see `audit_record` for the fields' meaning."""

    verb: str
    actor: Any = None
    actor_label: str | None = None
    target: models.Model | None = None
    team: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    was_automatic: bool = False
    success: bool = True
    error: str = ""


def _target_fields(target: models.Model | None) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk), str(target)[:300]


def _actor_label(spec: EventSpec) -> str:
    if spec.actor_label:
        return spec.actor_label[:200]
    if spec.actor is not None:
        return spec.actor.get_username()
    return "system"


def audit_record_many(
    *, organization: Organization | Any, events: list[EventSpec]
) -> list[AuditEvent]:
    """Append events to the organization's chain: one lock, one insert, one update.

    Must run inside the transaction of the change being recorded, so the change and its audit
    commit or roll back together. The organization row lock serializes appends per organization,
    which keeps `seq` gapless and the chain linear across processes.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("Audit events must be written inside the transaction of the change.")
    org_id = organization.pk if isinstance(organization, models.Model) else organization
    head = (
        Organization.objects.select_for_update()
        .only("id", "audit_seq", "audit_head")
        .get(pk=org_id)
    )
    seq, prev = head.audit_seq, head.audit_head
    now = timezone.now()
    rows = []
    for spec in events:
        seq += 1
        target_type, target_id, target_label = _target_fields(spec.target)
        team_id = spec.team.pk if isinstance(spec.team, models.Model) else spec.team
        actor_id = spec.actor.pk if spec.actor is not None else None
        data = normalize_data(spec.data)
        label = _actor_label(spec)
        error = (spec.error or "")[:5000]
        digest = event_hash(
            prev_hash=prev,
            organization_id=org_id,
            seq=seq,
            created_at=now,
            actor_id=actor_id,
            actor_label=label,
            verb=spec.verb,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            team_id=team_id,
            data=data,
            was_automatic=spec.was_automatic,
            success=spec.success,
            error=error,
        )
        rows.append(
            AuditEvent(
                organization_id=org_id,
                seq=seq,
                created_at=now,
                actor_id=actor_id,
                actor_label=label,
                verb=spec.verb,
                target_type=target_type,
                target_id=target_id,
                target_label=target_label,
                team_id=team_id,
                data=data,
                was_automatic=spec.was_automatic,
                success=spec.success,
                error=error,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    created = AuditEvent.objects.bulk_create(rows)
    Organization.objects.filter(pk=org_id).update(audit_seq=seq, audit_head=prev)
    return created


def audit_record(*, organization: Organization | Any, verb: str, **fields: Any) -> AuditEvent:
    """Append one event. Fields: actor, actor_label, target, team, data, was_automatic,
    success, error (see EventSpec)."""
    return audit_record_many(organization=organization, events=[EventSpec(verb=verb, **fields)])[0]


@transaction.atomic
def audit_record_standalone(
    *, organization: Organization | Any, verb: str, **fields: Any
) -> AuditEvent:
    """For events that are not part of another change (a refused proposal, a login)."""
    return audit_record(organization=organization, verb=verb, **fields)
