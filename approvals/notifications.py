"""Telling people: stored notifications per user. Call `notify` inside the transaction of the
change it reports, so a rolled-back change notifies nobody."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from approvals.models import Notification
from teams.choices import OrgRole, Role
from teams.models import OrganizationMember

AUDIENCE_ROLES = {
    "members": (Role.ADMIN, Role.APPROVER, Role.VIEWER),
    "approvers": (Role.ADMIN, Role.APPROVER),
    "admins": (Role.ADMIN,),
}


def audience_user_ids(*, organization_id: Any, team_id: Any | None, audience: str) -> list[Any]:
    """Users of the team with a role in `audience`, plus the organization's admins."""
    users = get_user_model().objects.filter(is_active=True)
    org_admins = OrganizationMember.objects.filter(
        organization_id=organization_id, role=OrgRole.ADMIN
    ).values("user_id")
    if team_id is None:
        return list(users.filter(pk__in=org_admins).values_list("pk", flat=True))
    return list(
        users.filter(
            Q(pk__in=org_admins)
            | Q(memberships__team_id=team_id, memberships__role__in=AUDIENCE_ROLES[audience])
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def notify(
    *,
    organization_id: Any,
    team_id: Any | None,
    kind: str,
    title: str,
    body: str = "",
    action_id: Any | None = None,
    audience: str = "approvers",
    level: str = Notification.Level.INFO,
    exclude_user_id: Any | None = None,
) -> list[Notification]:
    """Store one notification per person in the audience (one query to find them, one insert)."""
    ids = [
        pk
        for pk in audience_user_ids(
            organization_id=organization_id, team_id=team_id, audience=audience
        )
        if pk != exclude_user_id
    ]
    return Notification.objects.bulk_create(
        [
            Notification(
                user_id=pk,
                organization_id=organization_id,
                team_id=team_id,
                action_id=action_id,
                kind=kind,
                level=level,
                title=title[:300],
                body=body,
            )
            for pk in ids
        ]
    )


def notify_users(notifications: list[Notification]) -> list[Notification]:
    """Store prepared notifications for known users in one insert (bulk decisions use this)."""
    return Notification.objects.bulk_create(notifications)


def notify_action_pending(action: Any) -> None:
    high = action.risk_level in ("high", "critical")
    notify(
        organization_id=action.organization_id,
        team_id=action.team_id,
        kind="action.pending",
        level=Notification.Level.DANGER if high else Notification.Level.INFO,
        title=f"#{action.number} waits for approval: {action.title}",
        body=action.gate_reason,
        action_id=action.pk,
        exclude_user_id=action.proposed_by_id,
    )


def notify_action_outcome(action: Any, *, failed: bool) -> None:
    notify(
        organization_id=action.organization_id,
        team_id=action.team_id,
        kind="action.failed" if failed else "action.needs_attention",
        level=Notification.Level.DANGER,
        title=(f"#{action.number} failed: " if failed else f"#{action.number} needs attention: ")
        + action.title,
        body=action.last_error,
        action_id=action.pk,
    )


def notifications_mark_read(*, user: Any, ids: list[int] | None = None) -> int:
    """Mark the user's own notifications read: these ids, or all unread when `ids` is None.

    Other people's ids are silently ignored (they are not the user's to mark). Returns how many
    changed.
    """
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
