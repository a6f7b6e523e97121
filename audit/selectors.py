"""Reads of the audit trail, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from teams.permissions import VIEW, admin_organization_ids, team_ids_for


def audit_events_visible_to(user: Any) -> QuerySet[AuditEvent]:
    """Org admins see all of their organization's events (organization-level ones included);
    everyone else sees the events of teams they can view."""
    if not user.is_authenticated:
        return AuditEvent.objects.none()
    return (
        AuditEvent.objects.filter(
            Q(organization_id__in=admin_organization_ids(user))
            | Q(team_id__in=team_ids_for(user, VIEW))
        )
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def audit_trail_of(target_type: str, target_id: Any) -> QuerySet[AuditEvent]:
    """Every event about one object, oldest first (callers check the object is visible)."""
    return (
        AuditEvent.objects.filter(target_type=target_type, target_id=str(target_id))
        .select_related("actor")
        .order_by("organization_id", "seq")
    )
