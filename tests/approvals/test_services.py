"""Proposals and decisions: idempotency, separation of duties, quorum, expiry, bulk."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from approvals.choices import ActionStatus
from approvals.models import Action, Decision
from approvals.services import (
    action_cancel,
    action_decide,
    action_edit,
    action_propose,
    actions_decide,
    actions_expire_due,
)
from audit.models import AuditEvent
from cwa_site.errors import Conflict, Forbidden, InvalidInput, NotFound
from teams.choices import Role
from tests import factories as f


@pytest.fixture
def medium_type(org):
    return f.make_action_type(org, "escalate", risk="medium")


@pytest.fixture
def critical_type(org):
    return f.make_action_type(org, "credit", risk="critical")


def propose(actor, team, action_type, note="x", **kw):
    return action_propose(
        actor=actor, team=team, action_type=action_type, payload={"note": note}, **kw
    ).action


# --- propose


def test_numbers_are_short_and_per_organization(team, proposer, medium_type, other_org):
    a1, a2 = propose(proposer, team, medium_type), propose(proposer, team, medium_type, "y")
    assert (a1.number, a2.number) == (1, 2)
    other_team = f.make_team(other_org)
    other_user = f.make_user("m", other_org)
    f.add_member(other_user, other_team, Role.APPROVER)
    other_type = f.make_action_type(other_org, "escalate", risk="medium")
    assert propose(other_user, other_team, other_type).number == 1


def test_same_idempotency_key_returns_the_first_action(team, proposer, medium_type):
    first = action_propose(
        actor=proposer,
        team=team,
        action_type=medium_type,
        payload={"note": "a"},
        idempotency_key="k-1",
    )
    again = action_propose(
        actor=proposer,
        team=team,
        action_type=medium_type,
        payload={"note": "a"},
        idempotency_key="k-1",
    )
    assert first.created and not again.created
    assert again.action.pk == first.action.pk
    assert Action.objects.count() == 1
    assert AuditEvent.objects.filter(verb="action.proposed").count() == 1


def test_idempotency_key_reused_for_different_payload_is_a_conflict(team, proposer, medium_type):
    action_propose(
        actor=proposer,
        team=team,
        action_type=medium_type,
        payload={"note": "a"},
        idempotency_key="k",
    )
    with pytest.raises(Conflict, match="different proposal"):
        action_propose(
            actor=proposer,
            team=team,
            action_type=medium_type,
            payload={"note": "b"},
            idempotency_key="k",
        )


def test_viewer_cannot_propose_and_outsider_gets_not_found(team, viewer, medium_type, other_org):
    with pytest.raises(Forbidden):
        propose(viewer, team, medium_type)
    outsider = f.make_user("mallory", other_org)
    with pytest.raises(NotFound):
        propose(outsider, team, medium_type)
    assert not Action.objects.exists()


def test_payload_is_validated_by_the_executor(team, proposer, medium_type):
    with pytest.raises(InvalidInput) as err:
        action_propose(
            actor=proposer, team=team, action_type=medium_type, payload={"text": "no note"}
        )
    assert err.value.field == "payload.note"
    with pytest.raises(InvalidInput):
        action_propose(
            actor=proposer, team=team, action_type=medium_type, payload=["not", "a", "dict"]
        )


def test_expiry_defaults_by_risk_and_must_be_future(team, proposer, medium_type):
    action = propose(proposer, team, medium_type)
    assert timedelta(hours=47) < action.expires_at - timezone.now() <= timedelta(hours=48)
    with pytest.raises(InvalidInput, match="future"):
        propose(proposer, team, medium_type, expires_at=timezone.now() - timedelta(minutes=1))


# --- decide


def test_approve_enqueues_execution_in_the_same_transaction(team, proposer, approver, medium_type):
    action = propose(proposer, team, medium_type)
    assert OrmQ.objects.count() == 0
    decided, outcome = action_decide(
        actor=approver, action_id=action.pk, decision="approve", notes="ok"
    )
    assert decided.status == ActionStatus.APPROVED and outcome.result == "approved"
    assert OrmQ.objects.count() == 1
    decision = Decision.objects.get()
    assert decision.payload_hash == action.payload_hash and decision.notes == "ok"


def test_reject_never_runs(team, proposer, approver, medium_type, run_tasks):
    action = propose(proposer, team, medium_type)
    action_decide(actor=approver, action_id=action.pk, decision="reject", notes="no")
    assert run_tasks() == []
    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED and not action.executions.exists()


def test_nobody_approves_what_they_proposed(team, approver, medium_type):
    action = propose(approver, team, medium_type)
    with pytest.raises(Forbidden, match="You proposed"):
        action_decide(actor=approver, action_id=action.pk, decision="approve")
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and not action.decisions.exists()


def test_agent_service_account_cannot_approve_its_own_proposal(org, team, medium_type):
    agent = f.make_agent(org, "bot", [medium_type])
    f.add_member(agent.user, team, Role.APPROVER)
    action = propose(agent.user, team, medium_type)
    with pytest.raises(Forbidden):
        action_decide(actor=agent.user, action_id=action.pk, decision="approve")


def test_critical_needs_two_distinct_approvers(team, proposer, approver, approver2, critical_type):
    action = propose(proposer, team, critical_type)
    decided, outcome = action_decide(actor=approver, action_id=action.pk, decision="approve")
    assert decided.status == ActionStatus.PENDING and outcome.result == "approval_recorded"
    with pytest.raises(Conflict, match="already decided"):
        action_decide(actor=approver, action_id=action.pk, decision="approve")
    decided, _ = action_decide(actor=approver2, action_id=action.pk, decision="approve")
    assert decided.status == ActionStatus.APPROVED
    assert decided.decisions.filter(decision="approve").values("user").distinct().count() == 2


def test_viewer_cannot_decide_and_outsider_sees_nothing(
    team, proposer, viewer, medium_type, other_org
):
    action = propose(proposer, team, medium_type)
    with pytest.raises(Forbidden, match="not an approver"):
        action_decide(actor=viewer, action_id=action.pk, decision="approve")
    outsider = f.make_user("mallory", other_org)
    with pytest.raises(NotFound):
        action_decide(actor=outsider, action_id=action.pk, decision="approve")
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and not action.decisions.exists()


def test_decision_on_decided_action_is_refused_clearly(
    team, proposer, approver, approver2, medium_type
):
    action = propose(proposer, team, medium_type)
    action_decide(actor=approver, action_id=action.pk, decision="reject")
    with pytest.raises(Conflict, match="already rejected"):
        action_decide(actor=approver2, action_id=action.pk, decision="approve")


def test_expired_action_cannot_be_approved(team, proposer, approver, medium_type, run_tasks):
    action = propose(proposer, team, medium_type, expires_at=timezone.now() + timedelta(seconds=30))
    Action.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired"):
        action_decide(actor=approver, action_id=action.pk, decision="approve")
    action.refresh_from_db()
    assert action.status == ActionStatus.EXPIRED  # the check at decision time also records it
    assert run_tasks() == []
    assert AuditEvent.objects.filter(verb="action.expired", target_id=str(action.pk)).count() == 1


def test_expire_due_expires_only_overdue_pending(team, proposer, medium_type):
    due = propose(proposer, team, medium_type, "a")
    fresh = propose(proposer, team, medium_type, "b")
    Action.objects.filter(pk=due.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert actions_expire_due() == 1
    due.refresh_from_db()
    fresh.refresh_from_db()
    assert (due.status, fresh.status) == (ActionStatus.EXPIRED, ActionStatus.PENDING)


def test_edit_is_a_new_revision_and_needs_new_approvals(
    team, proposer, approver, approver2, critical_type
):
    action = propose(proposer, team, critical_type, "pay 10")
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    edited = action_edit(actor=approver2, action_id=action.pk, payload={"note": "pay 1000"})
    assert edited.revision == 2 and edited.payload_hash != action.payload_hash
    assert '-  "note": "pay 10"' in edited.revisions.get(revision=2).diff
    # bob's approval was for revision 1: after the edit, two fresh approvals are needed
    decided, outcome = action_decide(actor=approver, action_id=action.pk, decision="approve")
    assert outcome.result == "approval_recorded" and decided.status == ActionStatus.PENDING


def test_stale_view_is_refused(team, proposer, approver, approver2, medium_type):
    action = propose(proposer, team, medium_type, "v1")
    seen_hash = action.payload_hash
    action_edit(actor=approver2, action_id=action.pk, payload={"note": "v2"})
    with pytest.raises(Conflict, match="edited since you saw it"):
        action_decide(
            actor=approver, action_id=action.pk, decision="approve", expected_hash=seen_hash
        )


def test_cancel(team, proposer, approver, medium_type, viewer):
    action = propose(proposer, team, medium_type)
    with pytest.raises(Forbidden):
        action_cancel(actor=viewer, action_id=action.pk)
    assert (
        action_cancel(actor=proposer, action_id=action.pk, reason="dup").status
        == ActionStatus.CANCELLED
    )
    with pytest.raises(Conflict):
        action_decide(actor=approver, action_id=action.pk, decision="approve")


# --- bulk


def test_bulk_reports_per_id(team, proposer, approver, medium_type, org, other_org):
    mine = propose(approver, team, medium_type, "mine")
    ok1, ok2 = propose(proposer, team, medium_type, "1"), propose(proposer, team, medium_type, "2")
    done = propose(proposer, team, medium_type, "3")
    action_decide(actor=approver, action_id=done.pk, decision="reject")
    other_team = f.make_team(org, "Hidden")
    hidden = propose(None, other_team, medium_type, "hidden")
    outcomes = {
        o.id: o
        for o in actions_decide(
            actor=approver,
            ids=[ok1.pk, ok2.pk, mine.pk, done.pk, hidden.pk, "not-a-uuid"],
            decision="approve",
        )
    }
    assert outcomes[str(ok1.pk)].result == outcomes[str(ok2.pk)].result == "approved"
    assert outcomes[str(mine.pk)].result == "separation_of_duties"
    assert outcomes[str(done.pk)].result == "not_pending"
    assert outcomes[str(hidden.pk)].result == "not_found"
    assert outcomes["not-a-uuid"].result == "not_found"
    assert outcomes[str(hidden.pk)].as_dict()["outcome"] == "skipped"
    assert Action.objects.filter(status="approved").count() == 2
    assert OrmQ.objects.count() == 1  # one fan-out task for the whole bulk approval


def _bulk_queries(team, proposer, approver, action_type, n):
    payloads = [{"note": f"n{i}"} for i in range(n)]
    ids = [
        action_propose(actor=proposer, team=team, action_type=action_type, payload=p).action.pk
        for p in payloads
    ]
    with CaptureQueriesContext(connection) as ctx:
        outcomes = actions_decide(actor=approver, ids=ids, decision="approve")
    assert all(o.ok for o in outcomes) and len(outcomes) == n
    return len(ctx.captured_queries)


def test_bulk_decide_query_count_is_constant(team, proposer, approver, medium_type):
    small = _bulk_queries(team, proposer, approver, medium_type, 10)
    Action.objects.all().delete()  # no audit rows reference actions by FK
    large = _bulk_queries(team, proposer, approver, medium_type, 1000)
    assert small == large, (small, large)
    assert small <= 16


def test_bulk_reject_and_critical_partial(team, proposer, approver, critical_type, medium_type):
    crit = propose(proposer, team, critical_type)
    med = propose(proposer, team, medium_type)
    outcomes = {
        o.id: o for o in actions_decide(actor=approver, ids=[crit.pk, med.pk], decision="approve")
    }
    assert outcomes[str(crit.pk)].result == "approval_recorded"
    assert outcomes[str(med.pk)].result == "approved"
    rejected = actions_decide(actor=approver, ids=[crit.pk], decision="reject")
    assert rejected[0].result == "already_decided"


def test_reminder_before_expiry_once(team, proposer, approver, medium_type):
    from approvals.models import Notification
    from approvals.services import actions_remind_and_escalate

    soon = propose(proposer, team, medium_type, "soon")
    later = propose(proposer, team, medium_type, "later")
    Action.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(minutes=30))
    assert actions_remind_and_escalate()["reminded"] == 1
    assert actions_remind_and_escalate()["reminded"] == 0  # once
    reminders = Notification.objects.filter(kind="action.expiring")
    assert {n.action_id for n in reminders} == {soon.pk}
    assert approver.pk in {n.user_id for n in reminders} and proposer.pk not in {
        n.user_id for n in reminders
    }
    assert later.pk not in {n.action_id for n in reminders}


def test_stale_high_risk_is_escalated_to_org_admins_once(team, proposer, approver, org_admin, org):
    from approvals.models import Notification
    from approvals.services import actions_remind_and_escalate

    high = f.make_action_type(org, "deploy", risk="high")
    old = propose(proposer, team, high, "old")
    fresh = propose(proposer, team, high, "fresh")
    Action.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=5))
    assert actions_remind_and_escalate()["escalated"] == 1
    assert actions_remind_and_escalate()["escalated"] == 0
    escalation = Notification.objects.get(kind="action.escalated")
    assert escalation.user == org_admin and escalation.action_id == old.pk
    assert AuditEvent.objects.filter(verb="action.escalated", target_id=str(old.pk)).exists()
    assert not Notification.objects.filter(kind="action.escalated", action=fresh).exists()


def test_malformed_ids_are_not_found_everywhere(team, proposer, approver):
    from approvals.selectors import action_detail_visible, action_get_visible

    for bad in ("not-a-uuid", "123", "", None):
        assert action_get_visible(approver, bad) is None
        assert action_detail_visible(approver, bad) is None
        with pytest.raises(NotFound):
            action_cancel(actor=approver, action_id=bad)
