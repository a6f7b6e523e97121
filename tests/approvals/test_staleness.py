"""Staleness check at execution: an action whose work item moved on goes back to a person."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.execution import action_execute
from approvals.services import action_decide, action_propose
from audit.models import AuditEvent
from policies.models import Policy
from workitems.models import WorkItem


@pytest.fixture
def item(org, team):
    return WorkItem.objects.create(
        organization=org,
        team=team,
        source="linear",
        external_id="OPS-1",
        title="Stalled thing",
        status="stalled",
        priority="high",
        assignee="dev",
        last_activity_at=timezone.now() - timedelta(days=4),
    )


@pytest.fixture
def nudge_policy(org, team, note_type):
    return Policy.objects.create(
        organization=org,
        team=team,
        name="Nudge stalled",
        condition='item.status == "stalled"',
        action_type=note_type,
        payload_template={"note": "nudge"},
    )


def propose(team, note_type, item, actor=None, **kw):
    return action_propose(
        actor=actor,
        team=team,
        action_type=note_type,
        payload={"note": "Any news?"},
        work_item=item,
        **kw,
    ).action


def test_unchanged_item_runs(team, note_type, item, nudge_policy):
    action = propose(team, note_type, item, policy=nudge_policy)
    assert action.status == ActionStatus.APPROVED  # low risk, semi-autonomous team
    assert action_execute(action_id=action.pk) == ActionStatus.SUCCEEDED


def test_changed_item_goes_back_to_a_person_then_runs_after_a_fresh_approval(
    team, note_type, item, approver, nudge_policy
):
    action = propose(team, note_type, item, policy=nudge_policy)
    WorkItem.objects.filter(pk=item.pk).update(assignee="someone-else")
    assert action_execute(action_id=action.pk) is None
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and not action.auto_approved
    assert (
        action.revision == 2 and action.required_approvals == 1 and not action.executions.exists()
    )
    assert "assignee dev → someone-else" in action.gate_reason
    assert AuditEvent.objects.filter(verb="action.stale", target_id=str(action.pk)).exists()
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    assert action_execute(action_id=action.pk) == ActionStatus.SUCCEEDED
    action.refresh_from_db()
    assert action.idempotency_token.endswith("-r2")


def test_policy_that_no_longer_matches_stops_the_action(
    team, note_type, item, nudge_policy, approver, proposer
):
    note_type.default_risk = "medium"
    note_type.save()
    action = propose(team, note_type, item, policy=nudge_policy)
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    # the item is stalled no more, but none of the snapshot fields changed (e.g. a status mapping run)
    WorkItem.objects.filter(pk=item.pk).update(status="stalled")
    Policy.objects.filter(pk=nudge_policy.pk).update(condition='item.status == "blocked"')
    assert action_execute(action_id=action.pk) is None
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and "no longer matches" in action.gate_reason
    # the earlier approval was for revision 1: it does not count any more
    assert action.decisions.filter(revision=action.revision).count() == 0


def test_item_done_before_execution(team, note_type, item, nudge_policy):
    action = propose(team, note_type, item, policy=nudge_policy)
    WorkItem.objects.filter(pk=item.pk).update(status="done")
    action_execute(action_id=action.pk)
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and "status stalled → done" in action.gate_reason


def test_actions_without_work_item_are_not_checked(team, note_type, proposer):
    action = action_propose(
        actor=proposer, team=team, action_type=note_type, payload={"note": "x"}
    ).action
    assert action.work_item_snapshot == {}
    assert action_execute(action_id=action.pk) == ActionStatus.SUCCEEDED
