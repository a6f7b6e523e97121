"""The engine: stalled work → one proposal per cooldown window, through the gate; errors are
recorded per policy and never stop the others."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action
from audit.models import AuditEvent
from policies import engine, tasks
from policies.models import PolicyEvaluation
from teams.choices import AutonomyLevel
from tests import factories as f
from tests.conftest import is_postgres
from tests.policies.conftest import NOW
from tests.workitems.conftest import signed
from workitems.models import WorkItem

STALLED_LINEAR = 'item.source == "linear" && item.status == "stalled"'


def test_a_stalled_linear_issue_leads_to_one_nudge_once(
    org, support, nudge, make_policy, client, run_tasks, monkeypatch
):
    """The issue's "done when": ingest the real Linear delivery, let the schedule run twice."""
    connector = f.make_connector(org, "linear", team=support)
    monkeypatch.setattr(
        "workitems.signatures.time", type("Clock", (), {"time": staticmethod(lambda: 1716891302)})
    )
    body, headers = signed("linear", "linear_issue_create")
    response = client.post(
        connector.webhook_path, data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    policy = make_policy(nudge, STALLED_LINEAR, name="Nudge stalled Linear issues")

    first = tasks.run_schedule()
    run_tasks()
    assert first["stalled"] == 1 and first["proposed"] == 1
    item = WorkItem.objects.get()
    assert item.status == "stalled" and item.source_status == "open"
    action = Action.objects.get()
    assert action.policy == policy and action.work_item == item and action.team == support
    days = (timezone.now() - item.last_activity_at).days
    # No ANTHROPIC_API_KEY in tests: the drafted field is the rendered template.
    assert action.payload["note"] in {
        f"9a7c1e44-2b3d-4f5e-8a6b-7c8d9e0f1a2b has been quiet for {n} days."
        for n in (days - 1, days)
    }
    assert not action.drafted and action.llm_tokens_in == 0
    assert action.proposed_by is None and action.agent is None
    # low risk in a semi-autonomous team: the gate lets it run by itself, and it ran
    assert action.auto_approved
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED

    second = tasks.run_schedule()
    run_tasks()
    assert second["proposed"] == 0 and second["skipped"] == 1
    assert Action.objects.count() == 1
    assert PolicyEvaluation.objects.get().action == action


def test_after_the_cooldown_the_next_window_proposes_again(
    org, support, nudge, make_policy, make_item
):
    item = make_item(support, status="stalled")
    policy = make_policy(nudge, STALLED_LINEAR, cooldown_minutes=60)
    assert engine.evaluate_scheduled(now=NOW).proposed == 1
    assert engine.evaluate_scheduled(now=NOW + timedelta(minutes=59)).proposed == 0
    assert engine.evaluate_scheduled(now=NOW + timedelta(minutes=61)).proposed == 1
    keys = list(Action.objects.order_by("created_at").values_list("idempotency_key", flat=True))
    assert keys == [
        f"cwa-policy:{policy.pk}:{item.pk}:first",
        f"cwa-policy:{policy.pk}:{item.pk}:{NOW.isoformat()}",
    ]


def test_the_same_window_proposes_once_even_when_evaluated_twice(
    org, support, nudge, make_policy, make_item
):
    item = make_item(support, status="stalled")
    policy = make_policy(nudge, STALLED_LINEAR)
    assert engine._propose(policy, item, "first", "scheduled", NOW) is True
    assert engine._propose(policy, item, "first", "scheduled", NOW) is False
    assert Action.objects.count() == 1 and PolicyEvaluation.objects.count() == 1


def test_created_policy_runs_on_ingest_through_the_gate(org, nudge, make_policy, client, run_tasks):
    sales = f.make_team(org, "Sales", level=AutonomyLevel.SUPERVISED)
    connector = f.make_connector(org, "github", team=sales)
    triage = f.make_action_type(org, "triage-note", risk="low")
    make_policy(
        triage,
        '"bug" in item.labels',
        trigger="created",
        risk="high",
        payload_template={"note": "New bug: {{ item.title }} ({{ item.url }})"},
    )
    body, headers = signed("github", "github_issues_opened")
    client.post(connector.webhook_path, data=body, content_type="application/json", headers=headers)
    assert not Action.objects.exists()  # evaluation runs in the workers, after the commit
    run_tasks()
    action = Action.objects.get()
    assert action.status == ActionStatus.PENDING and action.requires_approval
    assert action.risk_level == "high"  # the policy raised the action type's low floor
    assert action.gate_reason and "supervised" in action.gate_reason
    assert action.payload["note"] == (
        "New bug: payments-api returns 502 on POST /v1/refunds after v2.14.0 "
        "(https://github.com/mlopez-dev/payments-api/issues/57)"
    )
    proposed = AuditEvent.objects.get(verb="action.proposed")
    assert proposed.data["policy"] == action.policy.name and proposed.was_automatic


def test_a_failing_condition_is_recorded_and_never_stops_the_others(
    org, support, nudge, make_policy, make_item
):
    make_item(support, "OPS-1", status="stalled")
    broken = make_policy(nudge, "item.due_at < now", name="due soon")  # items without a due date
    working = make_policy(nudge, STALLED_LINEAR, name="stalled")
    report = engine.evaluate_scheduled(now=NOW)
    assert report.proposed == 1 and report.errors == 1
    assert Action.objects.get().policy == working
    error = PolicyEvaluation.objects.get(outcome="error")
    assert error.policy == broken and "has no due_at" in error.error
    event = AuditEvent.objects.get(verb="policy.evaluation_failed")
    assert not event.success and "has no due_at" in event.error
    assert event.target_id == str(broken.pk)
    # Within the cooldown the same failure is not recorded again.
    engine.evaluate_scheduled(now=NOW + timedelta(minutes=5))
    assert PolicyEvaluation.objects.filter(outcome="error").count() == 1


def test_refused_proposals_and_template_failures_are_evaluation_errors(
    org, support, nudge, make_policy, make_item
):
    make_item(support, "OPS-1", status="stalled")
    make_item(None, "OPS-2", status="stalled")  # no team, and the policy names none
    nudge.enabled = False
    nudge.save()
    make_policy(nudge, STALLED_LINEAR)
    report = engine.evaluate_scheduled(now=NOW)
    assert report.proposed == 0 and report.errors == 2
    errors = sorted(PolicyEvaluation.objects.values_list("error", flat=True))
    assert errors == [
        "the proposal was refused: Action type nudge is disabled.",
        "the work item has no team and the policy names none",
    ]
    assert AuditEvent.objects.filter(verb="policy.evaluation_failed").count() == 2


def test_team_policies_only_see_their_team(org, support, nudge, make_policy, make_item):
    other = f.make_team(org, "Other")
    make_item(support, "OPS-1", status="stalled")
    make_item(other, "OPS-2", status="stalled")
    make_policy(nudge, STALLED_LINEAR, team=other)
    assert engine.evaluate_scheduled(now=NOW).proposed == 1
    assert Action.objects.get().work_item.external_id == "OPS-2"


def test_disabled_policies_and_done_items_are_left_alone(
    org, support, nudge, make_policy, make_item
):
    make_item(support, "OPS-1", status="done", source_status="done")
    make_policy(nudge, 'item.source == "linear"')
    make_policy(nudge, "true", enabled=False)
    report = engine.evaluate_scheduled(now=NOW)
    assert (report.items, report.proposed) == (0, 0)


def test_stalled_items_go_back_to_the_source_status_with_new_activity(
    org, support, make_item, settings
):
    from workitems.services import work_items_mark_stalled

    settings.CWA_STALLED_AFTER_DAYS = 3
    quiet = make_item(support, "OPS-1", status="in_progress", source_status="in_progress")
    fresh = make_item(support, "OPS-2", last_activity_at=timezone.now())
    blocked = make_item(support, "OPS-3", status="blocked")
    assert work_items_mark_stalled() == [quiet.pk]
    quiet.refresh_from_db()
    fresh.refresh_from_db()
    blocked.refresh_from_db()
    assert (quiet.status, fresh.status, blocked.status) == ("stalled", "open", "blocked")


@is_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_engines_propose_once_per_window(org, support, nudge, make_policy, make_item):
    item = make_item(support, status="stalled")
    make_policy(nudge, STALLED_LINEAR)
    barrier = threading.Barrier(6)
    reports = []

    def run():
        try:
            barrier.wait()
            reports.append(
                engine.evaluate_items(
                    organization_id=org.pk, item_ids=[item.pk], trigger="scheduled", now=NOW
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 6
    assert sum(r.proposed for r in reports) == 1
    assert Action.objects.count() == 1
    assert PolicyEvaluation.objects.filter(outcome="proposed").count() == 1
