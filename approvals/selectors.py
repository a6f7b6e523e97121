"""Reads of actions, scoped to what the user may see. Every page and endpoint starts here."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from approvals.choices import ActionStatus
from approvals.models import Action
from teams.permissions import APPROVE, VIEW, team_ids_for


def actions_visible_to(user: Any) -> QuerySet[Action]:
    """Actions of teams the user may view (filtered in the query: hidden rows simply are not there)."""
    return Action.objects.filter(team_id__in=team_ids_for(user, VIEW)).select_related(
        "team", "action_type", "agent", "proposed_by", "work_item"
    )


def actions_decidable_by(user: Any) -> QuerySet[Action]:
    """Pending actions the user may decide (approver of the team, not the proposer)."""
    return (
        actions_visible_to(user)
        .filter(status=ActionStatus.PENDING, team_id__in=team_ids_for(user, APPROVE))
        .exclude(proposed_by_id=user.pk)
    )


def action_get_visible(user: Any, action_id: Any) -> Action | None:
    """One action if the user may see it; None for missing and forbidden alike."""
    try:
        return actions_visible_to(user).get(pk=action_id)
    except (Action.DoesNotExist, ValueError, TypeError):
        return None
