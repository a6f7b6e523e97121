"""Reads of work items and connectors, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from teams.permissions import VIEW, admin_organization_ids, team_ids_for
from workitems.models import Connector, WorkItem


def work_items_visible_to(user: Any) -> QuerySet[WorkItem]:
    """Work items of teams the user can view; items with no team yet only to org admins."""
    if not user.is_authenticated:
        return WorkItem.objects.none()
    return WorkItem.objects.filter(
        Q(team_id__in=team_ids_for(user, VIEW))
        | Q(team__isnull=True, organization_id__in=admin_organization_ids(user))
    )


def connectors_visible_to(user: Any) -> QuerySet[Connector]:
    """Connectors are org-admin business: other users see none."""
    return Connector.objects.filter(organization_id__in=admin_organization_ids(user))
