"""The circuit breaker: opening after repeated failures, holding actions, probing, recovering."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.breaker import breaker_reset, breakers_open_for
from approvals.choices import ActionStatus
from approvals.execution import action_execute, actions_sweep
from approvals.models import Action, CircuitBreaker, Notification
from approvals.services import action_propose
from audit.models import AuditEvent
from cwa_site.errors import NotFound
from tests import factories as f
from tests.conftest import drain_tasks
from tests.fakes import slack as slack_replies
from tests.fakes.connectors import slack_connector  # noqa: F401
from tests.fakes.http_server import Reply
from tests.fakes.slack import FakeSlack

State = CircuitBreaker.State
DOWN = Reply(status=503, body={"ok": False, "error": "service_unavailable"})


@pytest.fixture(autouse=True)
def breaker_settings(settings):
    settings.CWA_BREAKER_FAILURES = 3
    settings.CWA_BREAKER_COOLDOWN_SECONDS = 60


@pytest.fixture
def fake_slack():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def slack_type(org, fake_slack):
    slack_connector(org, fake_slack, channel="C0123OPS45")
    return f.make_action_type(
        org, "slack-post", executor="slack.post_message", timeout_seconds=1, max_attempts=5
    )


def propose(actor, team, action_type, text: str) -> Action:
    return action_propose(
        actor=actor, team=team, action_type=action_type, payload={"text": text}
    ).action


def refreshed(*actions: Action) -> list[Action]:
    return [Action.objects.get(pk=a.pk) for a in actions]


def open_breaker(proposer, team, slack_type, fake_slack) -> list[Action]:
    """Three actions fail in a row against a Slack that is down: the breaker opens."""
    fake_slack.script("chat.postMessage", DOWN, DOWN, DOWN)
    failing = [propose(proposer, team, slack_type, f"m{i}") for i in range(3)]
    drain_tasks()
    return failing


def probe_is_due(org) -> None:
    """Let the clock reach the next probe time (and every held action's retry time)."""
    past = timezone.now() - timedelta(seconds=1)
    CircuitBreaker.objects.filter(organization=org).update(next_probe_at=past)
    Action.objects.filter(organization=org, status=ActionStatus.APPROVED).update(
        next_attempt_at=past
    )


def test_breaker_opens_after_repeated_failures_and_tells_admins(
    org, org_admin, team, proposer, slack_type, fake_slack
):
    before = timezone.now()
    open_breaker(proposer, team, slack_type, fake_slack)

    breaker = CircuitBreaker.objects.get(organization=org, executor="slack.post_message")
    assert breaker.state == State.OPEN and breaker.consecutive_failures == 3
    assert breaker.opened_at >= before
    assert breaker.next_probe_at >= breaker.opened_at + timedelta(seconds=60)
    assert "503" in breaker.last_error
    note = Notification.objects.get(kind="breaker.opened")
    assert note.user == org_admin and note.team is None and note.level == "danger"
    opened = AuditEvent.objects.get(verb="breaker.opened")
    assert opened.target_id == str(breaker.pk) and opened.data["consecutive_failures"] == 3


def test_open_breaker_holds_actions_without_calling(org, team, proposer, slack_type, fake_slack):
    failing = open_breaker(proposer, team, slack_type, fake_slack)
    calls = len(fake_slack.requests)

    held = propose(proposer, team, slack_type, "held")
    drain_tasks()
    held.refresh_from_db()
    breaker = CircuitBreaker.objects.get(organization=org)

    assert len(fake_slack.requests) == calls  # nothing sent
    assert held.status == ActionStatus.APPROVED and held.attempts == 0
    assert held.next_attempt_at == breaker.next_probe_at
    assert AuditEvent.objects.filter(verb="execution.held", target_id=str(held.pk)).count() == 1
    # The failed ones' retries fall due, but nothing is enqueued while the breaker holds.
    Action.objects.filter(pk__in=[a.pk for a in failing]).update(next_attempt_at=timezone.now())
    assert actions_sweep()["enqueued"] == 0
    assert action_execute(action_id=held.pk) is None
    assert len(fake_slack.requests) == calls


def test_probe_success_closes_the_breaker_and_releases_held_actions(
    org, org_admin, team, proposer, slack_type, fake_slack
):
    failing = open_breaker(proposer, team, slack_type, fake_slack)
    held = [propose(proposer, team, slack_type, f"held {i}") for i in range(2)]
    drain_tasks()
    probe_is_due(org)

    assert actions_sweep()["enqueued"] == 1  # exactly one probe
    drain_tasks()

    breaker = CircuitBreaker.objects.get(organization=org)
    assert breaker.state == State.CLOSED and breaker.consecutive_failures == 0
    assert {a.status for a in refreshed(*failing, *held)} == {ActionStatus.SUCCEEDED}
    assert len(fake_slack.messages) == 5
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="breaker.")
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs == ["breaker.opened", "breaker.half_open", "breaker.closed"]
    assert Notification.objects.filter(kind="breaker.closed", user=org_admin).exists()


def test_probe_failure_opens_again_for_longer(
    org, org_admin, team, proposer, slack_type, fake_slack
):
    open_breaker(proposer, team, slack_type, fake_slack)
    held = propose(proposer, team, slack_type, "held")
    drain_tasks()
    probe_is_due(org)
    fake_slack.script("chat.postMessage", DOWN)
    before = timezone.now()

    actions_sweep()
    drain_tasks()

    breaker = CircuitBreaker.objects.get(organization=org)
    assert breaker.state == State.OPEN and breaker.trips == 2
    assert breaker.next_probe_at >= before + timedelta(seconds=120)  # cooldown doubled
    assert AuditEvent.objects.filter(verb="breaker.reopened").count() == 1
    assert Notification.objects.filter(kind="breaker.opened").count() == 1  # not spammed
    held.refresh_from_db()
    assert held.status == ActionStatus.APPROVED


def test_retry_after_longer_than_the_cooldown_delays_the_probe(
    org, team, proposer, slack_type, fake_slack
):
    fake_slack.script("chat.postMessage", *[slack_replies.ratelimited(600)] * 3)
    before = timezone.now()
    for i in range(3):
        propose(proposer, team, slack_type, f"m{i}")
    drain_tasks()
    breaker = CircuitBreaker.objects.get(organization=org)
    assert breaker.state == State.OPEN
    assert breaker.next_probe_at >= before + timedelta(seconds=600)


def test_refusals_prove_the_service_is_up_and_do_not_open_it(
    org, team, proposer, slack_type, fake_slack
):
    fake_slack.script("chat.postMessage", DOWN, DOWN)
    for i in range(2):
        propose(proposer, team, slack_type, f"m{i}")
    drain_tasks()
    for i in range(3):
        action_propose(
            actor=proposer,
            team=team,
            action_type=slack_type,
            payload={"text": f"x{i}", "channel": "nowhere"},
        )
    drain_tasks()
    breaker = CircuitBreaker.objects.get(organization=org)
    assert breaker.state == State.CLOSED and breaker.consecutive_failures == 0


def test_failures_that_never_reach_the_service_say_nothing_about_it(
    org, team, proposer, slack_type, fake_slack
):
    fake_slack.script("chat.postMessage", DOWN, DOWN)
    for i in range(2):
        propose(proposer, team, slack_type, f"m{i}")
    drain_tasks()
    misconfigured = f.make_action_type(
        org, "slack-typo", executor="slack.post_message", config={"connector": "no-such"}
    )
    action = propose(proposer, team, misconfigured, "x")
    drain_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED and "no-such" in action.last_error
    assert CircuitBreaker.objects.get(organization=org).consecutive_failures == 2


def test_breakers_are_per_organization(org, other_org, team, proposer, slack_type, fake_slack):
    open_breaker(proposer, team, slack_type, fake_slack)
    other_team = f.make_team(other_org, "Ops", level="autonomous")
    other_user = f.make_user("m", other_org)
    f.add_member(other_user, other_team, "approver")
    slack_connector(other_org, fake_slack, channel="C0123OPS45")
    other_type = f.make_action_type(other_org, "slack-post", executor="slack.post_message")

    action = propose(other_user, other_team, other_type, "unaffected")
    drain_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_half_open_lets_exactly_one_probe_through():
    org = f.make_org("acme")
    team = f.make_team(org, "Support", level="autonomous")
    user = f.make_user("dave", org)
    f.add_member(user, team, "approver")
    with FakeSlack() as fake:
        slack_connector(org, fake, channel="C0123OPS45")
        kind = f.make_action_type(
            org, "slack-post", executor="slack.post_message", timeout_seconds=5
        )
        first, second = (propose(user, team, kind, t) for t in ("first", "second"))
        CircuitBreaker.objects.create(
            organization=org,
            executor="slack.post_message",
            state=State.OPEN,
            consecutive_failures=3,
            trips=1,
            opened_at=timezone.now() - timedelta(minutes=2),
            next_probe_at=timezone.now() - timedelta(seconds=1),
        )
        fake.script("chat.postMessage", Reply(hang=5))
        results = {}

        def probe() -> None:
            try:
                results["first"] = action_execute(action_id=first.pk)
            finally:
                connection.close()

        worker = threading.Thread(target=probe)
        worker.start()
        assert fake.arrived.wait(5)
        # While the probe is in flight, a second worker's claim is held, not sent.
        assert action_execute(action_id=second.pk) is None
        assert CircuitBreaker.objects.get(organization=org).state == State.HALF_OPEN
        fake.release.set()
        worker.join(10)

        assert results["first"] == ActionStatus.SUCCEEDED
        assert CircuitBreaker.objects.get(organization=org).state == State.CLOSED
        drain_tasks()  # the release enqueued the held action
        assert Action.objects.get(pk=second.pk).status == ActionStatus.SUCCEEDED
        assert len(fake.messages) == 2
        assert len(fake.requests) == 2


# --------------------------------------------------------------------------- admin, dashboard


@pytest.fixture
def staff_admin(org_admin):
    org_admin.is_staff = True
    org_admin.save()
    org_admin.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_circuitbreaker", "change_circuitbreaker"])
    )
    return org_admin


def _breakers(org, count: int) -> None:
    for i in range(count):
        CircuitBreaker.objects.create(
            organization=org,
            executor=f"executor.{i}",
            state=State.OPEN,
            consecutive_failures=5,
            opened_at=timezone.now(),
            next_probe_at=timezone.now() + timedelta(minutes=1),
            last_error="Slack chat.postMessage answered HTTP 503",
        )


def test_admin_lists_breakers_of_own_organizations_in_constant_queries(
    client, staff_admin, org, other_org
):
    client.force_login(staff_admin)
    _breakers(org, 1)
    _breakers(other_org, 1)
    with CaptureQueriesContext(connection) as few:
        page = client.get("/admin/approvals/circuitbreaker/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Open (actions wait)" in content and "HTTP 503" in content
    assert page.context["cl"].result_count == 1  # not the other organization's breaker
    CircuitBreaker.objects.filter(organization=org).delete()
    _breakers(org, 6)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/admin/approvals/circuitbreaker/").status_code == 200
    assert len(many) == len(few)


def test_admin_reset_closes_and_releases(
    client, staff_admin, org, team, proposer, slack_type, fake_slack
):
    open_breaker(proposer, team, slack_type, fake_slack)
    held = propose(proposer, team, slack_type, "held")
    drain_tasks()
    breaker = CircuitBreaker.objects.get(organization=org)
    client.force_login(staff_admin)

    page = client.post(
        "/admin/approvals/circuitbreaker/",
        {"action": "reset_breakers", "_selected_action": [str(breaker.pk)]},
        follow=True,
    )
    assert page.status_code == 200
    breaker.refresh_from_db()
    assert breaker.state == State.CLOSED
    reset = AuditEvent.objects.get(verb="breaker.reset")
    assert reset.actor_id == staff_admin.pk and reset.data["released"] == 4
    drain_tasks()
    held.refresh_from_db()
    assert held.status == ActionStatus.SUCCEEDED


def test_only_org_admins_reset_their_own_breakers(org, other_org, approver, org_admin):
    _breakers(other_org, 1)
    foreign = CircuitBreaker.objects.get(organization=other_org)
    with pytest.raises(NotFound):
        breaker_reset(actor=org_admin, breaker_id=foreign.pk)
    _breakers(org, 1)
    own = CircuitBreaker.objects.get(organization=org)
    with pytest.raises(NotFound):
        breaker_reset(actor=approver, breaker_id=own.pk)


def test_dashboard_selector_shows_open_breakers_of_the_users_organizations(
    org, other_org, approver
):
    _breakers(org, 2)
    _breakers(other_org, 1)
    CircuitBreaker.objects.create(organization=org, executor="closed.one")
    shown = list(breakers_open_for(approver))
    assert len(shown) == 2 and {b.organization_id for b in shown} == {org.pk}
