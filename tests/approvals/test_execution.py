"""Execution: at most once, retries with backoff, Retry-After, permanent failures, pauses, the sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.choices import ActionStatus, ExecutionStatus
from approvals.execution import action_execute, actions_sweep, backoff_seconds
from approvals.models import Action, Notification
from approvals.services import action_decide, action_propose
from audit.models import AuditEvent
from teams.services import organization_set_kill_switch, team_set_status
from tests.fakes.webhook import Reply


@pytest.fixture
def auto_team(team):
    team.autonomy_level = "autonomous"
    team.save()
    return team


def propose_webhook(team, actor, action_type, body=None, **kw):
    return action_propose(
        actor=actor,
        team=team,
        action_type=action_type,
        payload={"body": body or {"text": "hi"}},
        **kw,
    ).action


def test_auto_approved_webhook_runs_once_with_idempotency_key(
    auto_team, proposer, webhook_type, fake_webhook, run_tasks
):
    action = propose_webhook(auto_team, proposer, webhook_type, {"text": "deploy done"})
    assert action.status == ActionStatus.APPROVED and action.auto_approved
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED
    (request,) = fake_webhook.requests
    assert request.json() == {"text": "deploy done"}
    assert request.headers["idempotency-key"] == f"cwa-{action.pk}-r1"
    assert request.headers["x-cwa-action-id"] == str(action.pk)
    execution = action.executions.get()
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.attempt == 1
    # running the task again (django-q2 redelivers) does nothing
    assert action_execute(action_id=action.pk) is None
    assert len(fake_webhook.requests) == 1
    verbs = list(AuditEvent.objects.filter(target_id=str(action.pk)).values_list("verb", flat=True))
    assert verbs == [
        "action.proposed",
        "action.auto_approved",
        "execution.started",
        "execution.succeeded",
    ]


def test_transient_error_retries_with_backoff_then_succeeds(
    auto_team, proposer, webhook_type, fake_webhook
):
    fake_webhook.script(Reply(status=503, body={"error": "busy"}))
    action = propose_webhook(auto_team, proposer, webhook_type)
    before = timezone.now()
    assert action_execute(action_id=action.pk) == ActionStatus.APPROVED
    action.refresh_from_db()
    assert action.status == ActionStatus.APPROVED and action.attempts == 1
    assert action.next_attempt_at > before  # not before its backoff
    assert action_execute(action_id=action.pk) is None  # too early: nothing is called
    assert len(fake_webhook.requests) == 1
    Action.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now())
    assert action_execute(action_id=action.pk) == ActionStatus.SUCCEEDED
    assert [r.headers["idempotency-key"] for r in fake_webhook.requests] == [
        f"cwa-{action.pk}-r1"
    ] * 2
    assert list(action.executions.values_list("status", "transient")) == [
        ("failed", True),
        ("succeeded", None),
    ]


def test_retry_after_is_honoured(auto_team, proposer, webhook_type, fake_webhook):
    fake_webhook.script(
        Reply(status=429, headers={"Retry-After": "120"}, body={"error": "slow down"})
    )
    action = propose_webhook(auto_team, proposer, webhook_type)
    start = timezone.now()
    action_execute(action_id=action.pk)
    action.refresh_from_db()
    assert action.next_attempt_at - start >= timedelta(seconds=119)


def test_gives_up_after_max_attempts(auto_team, proposer, webhook_type, fake_webhook):
    fake_webhook.script(*[Reply(status=502)] * 3)
    action = propose_webhook(auto_team, proposer, webhook_type)
    for _ in range(3):
        Action.objects.filter(pk=action.pk).update(next_attempt_at=None)
        action_execute(action_id=action.pk)
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED and action.attempts == 3
    assert "gave up after 3 attempts" in action.last_error
    assert Notification.objects.filter(kind="action.failed", action=action).exists()


def test_permanent_error_fails_at_once_with_the_reason(
    auto_team, proposer, webhook_type, fake_webhook
):
    fake_webhook.script(Reply(status=400, body={"error": "unknown channel"}))
    action = propose_webhook(auto_team, proposer, webhook_type)
    assert action_execute(action_id=action.pk) == ActionStatus.FAILED
    action.refresh_from_db()
    assert action.attempts == 1 and "HTTP 400" in action.last_error
    assert action.executions.get().response["body"] == {"error": "unknown channel"}


def test_timeout_of_non_idempotent_call_needs_attention(
    auto_team, proposer, webhook_type, fake_webhook
):
    webhook_type.timeout_seconds = 1
    webhook_type.save()
    fake_webhook.script(Reply(hang=3))
    action = propose_webhook(auto_team, proposer, webhook_type)
    assert action_execute(action_id=action.pk) == ActionStatus.NEEDS_ATTENTION
    action.refresh_from_db()
    assert action.executions.get().status == ExecutionStatus.UNKNOWN
    assert "did not answer" in action.last_error
    assert action_execute(action_id=action.pk) is None  # never a blind retry


def test_timeout_of_idempotent_call_retries_with_the_same_key(
    auto_team, proposer, webhook_type, fake_webhook
):
    webhook_type.timeout_seconds = 1
    webhook_type.idempotent = True
    webhook_type.save()
    fake_webhook.script(Reply(hang=2))
    action = propose_webhook(auto_team, proposer, webhook_type)
    assert action_execute(action_id=action.pk) == ActionStatus.APPROVED
    Action.objects.filter(pk=action.pk).update(next_attempt_at=None)
    fake_webhook.release.set()
    assert action_execute(action_id=action.pk) == ActionStatus.SUCCEEDED
    keys = {r.headers["idempotency-key"] for r in fake_webhook.requests}
    assert keys == {f"cwa-{action.pk}-r1"}
    assert len(fake_webhook.effects) == 1  # the receiver de-duplicated the second delivery


def test_paused_team_holds_approved_actions_until_resumed(
    team, proposer, approver, webhook_type, fake_webhook, run_tasks, org_admin
):
    webhook_type.default_risk = "medium"
    webhook_type.save()
    action = propose_webhook(team, proposer, webhook_type)
    team_set_status(actor=org_admin, team=team, status="paused")
    action_decide(actor=approver, action_id=action.pk, decision="approve")
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.APPROVED and fake_webhook.requests == []
    team_set_status(actor=org_admin, team=team, status="active")
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED and len(fake_webhook.requests) == 1


def test_kill_switch_stops_execution_and_resume_runs_it(
    org, auto_team, proposer, approver, webhook_type, fake_webhook, run_tasks, org_admin
):
    action = propose_webhook(
        auto_team, proposer, webhook_type
    )  # approved automatically, task queued
    organization_set_kill_switch(actor=org_admin, organization=org, paused=True, reason="incident")
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.APPROVED and fake_webhook.requests == []
    organization_set_kill_switch(actor=org_admin, organization=org, paused=False)
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED


def _stuck(action):
    """What a worker that died mid-call leaves behind: executing, a running attempt, deadline passed."""
    from approvals.execution import _claim

    claimed, execution = _claim(action.pk)
    Action.objects.filter(pk=action.pk).update(
        execution_deadline=timezone.now() - timedelta(seconds=1)
    )
    return execution


def test_sweep_sends_abandoned_non_idempotent_action_to_a_person(
    auto_team, proposer, webhook_type, run_tasks
):
    action = propose_webhook(auto_team, proposer, webhook_type)
    _stuck(action)
    result = actions_sweep()
    action.refresh_from_db()
    assert result["settled"] == 1
    assert action.status == ActionStatus.NEEDS_ATTENTION
    assert action.executions.get().status == ExecutionStatus.UNKNOWN
    assert AuditEvent.objects.filter(verb="execution.abandoned", target_id=str(action.pk)).exists()


def test_sweep_retries_abandoned_idempotent_action_with_same_key(
    auto_team, proposer, webhook_type, fake_webhook, run_tasks
):
    webhook_type.idempotent = True
    webhook_type.save()
    action = propose_webhook(auto_team, proposer, webhook_type)
    _stuck(action)
    actions_sweep()
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 2
    assert [r.headers["idempotency-key"] for r in fake_webhook.requests] == [f"cwa-{action.pk}-r1"]


def test_executing_action_before_its_deadline_is_left_alone(auto_team, proposer, webhook_type):
    from approvals.execution import _claim

    action = propose_webhook(auto_team, proposer, webhook_type)
    _claim(action.pk)
    assert action_execute(action_id=action.pk) is None
    assert actions_sweep()["settled"] == 0
    action.refresh_from_db()
    assert action.status == ActionStatus.EXECUTING


def test_backoff_grows_with_jitter_and_respects_retry_after(settings):
    settings.CWA_RETRY_BASE_SECONDS = 2
    settings.CWA_RETRY_MAX_SECONDS = 60
    assert 1 <= backoff_seconds(1) <= 2
    assert 4 <= backoff_seconds(3) <= 8
    assert 30 <= backoff_seconds(20) <= 60
    assert backoff_seconds(1, retry_after=45) >= 45


def test_webhook_url_must_be_https(team, proposer, org):
    from cwa_site.errors import InvalidInput
    from tests import factories as f

    bad = f.make_action_type(
        org, "hook", executor="webhook.post", config={"url": "http://example.com/x"}
    )
    with pytest.raises(InvalidInput, match="https"):
        action_propose(actor=proposer, team=team, action_type=bad, payload={"body": {}})


def test_person_resolves_needs_attention(
    auto_team, proposer, approver, viewer, webhook_type, fake_webhook, run_tasks
):
    from approvals.services import action_resolve
    from cwa_site.errors import Conflict, Forbidden

    webhook_type.timeout_seconds = 1
    webhook_type.save()
    fake_webhook.script(Reply(hang=2))
    action = propose_webhook(auto_team, proposer, webhook_type)
    assert action_execute(action_id=action.pk) == ActionStatus.NEEDS_ATTENTION
    with pytest.raises(Forbidden):
        action_resolve(actor=viewer, action_id=action.pk, resolution="retry")
    # the person checked the receiver: nothing arrived, so a retry is safe
    action_resolve(
        actor=approver, action_id=action.pk, resolution="retry", notes="receiver shows nothing"
    )
    fake_webhook.release.set()
    run_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 2
    with pytest.raises(Conflict):
        action_resolve(actor=approver, action_id=action.pk, resolution="retry")
    assert AuditEvent.objects.filter(verb="action.resolved_retry", actor=approver).exists()


def test_person_records_outcome_of_needs_attention(
    auto_team, proposer, approver, webhook_type, fake_webhook
):
    from approvals.services import action_resolve

    webhook_type.timeout_seconds = 1
    webhook_type.save()
    fake_webhook.script(Reply(hang=2))
    action = propose_webhook(auto_team, proposer, webhook_type)
    action_execute(action_id=action.pk)
    resolved = action_resolve(
        actor=approver, action_id=action.pk, resolution="succeeded", notes="it went through"
    )
    assert resolved.status == ActionStatus.SUCCEEDED and resolved.finished_at is not None
