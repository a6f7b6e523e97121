"""Reads of work items, scoped to what the user may see. Pages and the API start here.

A work item is visible to viewers of its team; an item no team owns yet is visible to the
admins of its organization. Lists are filtered in the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from approvals.models import Action
from approvals.selectors import actions_visible_to
from policies.models import PolicyEvaluation
from teams.permissions import VIEW, admin_organization_ids, team_ids_for
from workitems.models import Connector, Delivery, WorkItem


def work_items_visible_to(user: Any) -> QuerySet[WorkItem]:
    return WorkItem.objects.filter(
        Q(team_id__in=team_ids_for(user, VIEW))
        | Q(team__isnull=True, organization_id__in=admin_organization_ids(user))
    ).select_related("team", "connector")


def work_item_list(
    user: Any,
    *,
    status: str | None = None,
    source: str | None = None,
    team: Any = None,
    search: str | None = None,
) -> QuerySet[WorkItem]:
    """Newest activity first; the raw payload is not loaded (it can be large)."""
    items = work_items_visible_to(user).defer("raw")
    if status:
        items = items.filter(status=status)
    if source:
        items = items.filter(source=source)
    if team:
        items = items.filter(team_id=team)
    if search:
        items = items.filter(Q(title__icontains=search) | Q(external_id__icontains=search))
    return items.order_by("-last_activity_at", "-created_at")


def work_item_get_visible(user: Any, work_item_id: Any) -> WorkItem | None:
    """One work item if the user may see it; None for missing and forbidden alike."""
    try:
        return work_items_visible_to(user).get(pk=work_item_id)
    except (WorkItem.DoesNotExist, ValidationError, ValueError, TypeError):
        return None


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # delivery, evaluation, action
    obj: Delivery | PolicyEvaluation | Action


def work_item_timeline(user: Any, work_item: WorkItem, *, limit: int = 200) -> list[TimelineEntry]:
    """What happened to a work item, newest first: deliveries from its source, policy
    evaluations (proposals and errors) and the actions proposed for it that the user may see.
    Three queries, however long the history."""
    deliveries = (
        Delivery.objects.filter(work_items=work_item)
        .select_related("connector")
        .order_by("-received_at")[:limit]
    )
    evaluations = (
        PolicyEvaluation.objects.filter(work_item=work_item)
        .select_related("policy", "action")
        .order_by("-created_at")[:limit]
    )
    actions = actions_visible_to(user).filter(work_item=work_item).order_by("-created_at")[:limit]
    entries = (
        [TimelineEntry(d.received_at, "delivery", d) for d in deliveries]
        + [TimelineEntry(e.created_at, "evaluation", e) for e in evaluations]
        + [TimelineEntry(a.created_at, "action", a) for a in actions]
    )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def connectors_visible_to(user: Any) -> QuerySet[Connector]:
    """Connectors of the organizations the user administers (they hold secrets)."""
    return Connector.objects.filter(
        organization_id__in=admin_organization_ids(user)
    ).select_related("organization", "team")
