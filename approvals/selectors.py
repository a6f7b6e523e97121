"""Reads of actions, scoped to what the user may see. Every page and endpoint starts here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from approvals.choices import ActionStatus
from approvals.models import Action, Decision, Notification
from policies.models import ActionType
from teams.permissions import APPROVE, VIEW, organizations_for, team_ids_for


def action_visibility(user: Any) -> Q:
    """Who sees an action: viewers of its team, and whoever proposed it.

    The proposer clause lets an agent's service account (which proposes by its allow-list, with
    no team membership) poll the actions it proposed. Services use the same rule, so an action
    someone can see but not decide answers 403, never 404.
    """
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(team_id__in=team_ids_for(user, VIEW)) | Q(proposed_by_id=user.pk)


def actions_visible_to(user: Any) -> QuerySet[Action]:
    """Actions the user may see (filtered in the query: hidden rows simply are not there)."""
    return Action.objects.filter(action_visibility(user)).select_related(
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
    except (Action.DoesNotExist, ValidationError, ValueError, TypeError):
        return None


def action_detail_visible(user: Any, action_id: Any) -> Action | None:
    """`action_get_visible` with its decisions (and deciders) and executions loaded up front."""
    try:
        return (
            actions_visible_to(user)
            .prefetch_related(
                Prefetch("decisions", queryset=Decision.objects.select_related("user")),
                "executions",
            )
            .get(pk=action_id)
        )
    except (Action.DoesNotExist, ValidationError, ValueError, TypeError):
        return None


def action_types_visible_to(user: Any) -> QuerySet[ActionType]:
    """The capability registry of every organization the user belongs to."""
    return ActionType.objects.filter(organization_id__in=organizations_for(user).values("id"))


def notifications_for(user: Any) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-id")
