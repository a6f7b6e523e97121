"""Earned autonomy: streaks counted by one aggregate query, suggestions never forced."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.autonomy import (
    autonomy_streaks,
    autonomy_suggestions_refresh,
    suggestion_accept,
    suggestion_dismiss,
)
from approvals.models import AutonomyOverride, AutonomySuggestion, Notification
from approvals.services import action_decide, action_propose
from approvals.tasks import refresh_autonomy_suggestions
from cwa_site.errors import Conflict, Forbidden, NotFound
from tests import factories as f
from tests.web.conftest import propose


def approve_many(agent, team, action_type, approver, n, decision="approve"):
    for i in range(n):
        action = propose(agent, team, action_type, f"n{i}")
        action_decide(actor=approver, action_id=action.pk, decision=decision)


def streak_of(team, action_type):
    for row in autonomy_streaks():
        if (row["team_id"], row["action_type_id"]) == (team.pk, action_type.pk):
            return row["streak"]
    return 0


def test_streak_counts_approvals_since_the_last_rejection(agent, team, medium_type, approver):
    approve_many(agent, team, medium_type, approver, 3)
    assert streak_of(team, medium_type) == 3
    approve_many(agent, team, medium_type, approver, 1, decision="reject")
    assert streak_of(team, medium_type) == 0
    approve_many(agent, team, medium_type, approver, 2)
    assert streak_of(team, medium_type) == 2


def test_streaks_are_one_query(agent, team, medium_type, approver, org):
    approve_many(agent, team, medium_type, approver, 2)
    with CaptureQueriesContext(connection) as queries:
        autonomy_streaks()
    assert len(queries) == 1


def test_suggestion_after_the_threshold_and_only_once(
    agent, team, medium_type, approver, org_admin, settings
):
    settings.CWA_AUTONOMY_SUGGESTION_STREAK = 3
    approve_many(agent, team, medium_type, approver, 2)
    assert autonomy_suggestions_refresh() == 0
    approve_many(agent, team, medium_type, approver, 1)
    assert refresh_autonomy_suggestions() == 1
    assert autonomy_suggestions_refresh() == 0  # safe to run twice
    suggestion = AutonomySuggestion.objects.get()
    assert (suggestion.streak, suggestion.highest_risk, suggestion.status) == (3, "medium", "open")
    assert Notification.objects.filter(kind="autonomy.suggested", user=org_admin).exists()
    assert not Notification.objects.filter(kind="autonomy.suggested", user=approver).exists()
    team.refresh_from_db()
    assert team.autonomy_level == "semi_autonomous" and not AutonomyOverride.objects.exists()


def test_critical_actions_are_never_suggested(agent, team, approver, approver2, org, settings):
    settings.CWA_AUTONOMY_SUGGESTION_STREAK = 1
    critical = f.make_action_type(org, "credit", risk="critical")
    agent.allowed_action_types.add(critical)
    action = propose(agent, team, critical)
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    action_decide(actor=approver2, action_id=action.pk, decision="approve")
    medium = f.make_action_type(org, "esc2", risk="medium")
    agent.allowed_action_types.add(medium)
    raised = action_propose(
        actor=agent.user,
        team=team,
        action_type=medium,
        payload={"note": "x"},
        risk_level="critical",
    ).action
    action_decide(actor=approver, action_id=raised.pk, decision="approve")
    assert autonomy_suggestions_refresh() == 0


def test_pairs_the_gate_already_runs_are_not_suggested(agent, team, note_type, approver, settings):
    settings.CWA_AUTONOMY_SUGGESTION_STREAK = 1
    team.status = "paused"  # held for a person only because of the pause
    team.save()
    action = propose(agent, team, note_type)
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    assert autonomy_suggestions_refresh() == 0  # low risk already runs in semi-autonomous


def test_dismiss_restarts_the_count_and_accept_creates_an_override(
    agent, team, medium_type, approver, org_admin, settings
):
    settings.CWA_AUTONOMY_SUGGESTION_STREAK = 2
    approve_many(agent, team, medium_type, approver, 2)
    autonomy_suggestions_refresh()
    first = AutonomySuggestion.objects.get()
    with pytest.raises(Forbidden):
        suggestion_dismiss(actor=approver, suggestion_id=first.pk)
    suggestion_dismiss(actor=org_admin, suggestion_id=first.pk)
    assert streak_of(team, medium_type) == 0
    assert autonomy_suggestions_refresh() == 0
    approve_many(agent, team, medium_type, approver, 2)
    assert autonomy_suggestions_refresh() == 1
    second = AutonomySuggestion.objects.get(status="open")
    suggestion_accept(actor=org_admin, suggestion_id=second.pk)
    override = AutonomyOverride.objects.get()
    assert override.mode == "auto" and "Earned autonomy" in override.reason
    with pytest.raises(Conflict):
        suggestion_accept(actor=org_admin, suggestion_id=second.pk)
    # From now on the pair runs by itself.
    assert propose(agent, team, medium_type, "now auto").auto_approved
    approve_many(agent, team, medium_type, approver, 0)
    assert autonomy_suggestions_refresh() == 0


def test_another_organization_cannot_touch_a_suggestion(mallory, team, medium_type, org):
    suggestion = AutonomySuggestion.objects.create(
        organization=org, team=team, action_type=medium_type, streak=25, highest_risk="medium"
    )
    with pytest.raises(NotFound):
        suggestion_accept(actor=mallory, suggestion_id=suggestion.pk)
    with pytest.raises(NotFound):
        suggestion_dismiss(actor=mallory, suggestion_id="not-a-uuid")
