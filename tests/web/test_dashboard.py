"""The department dashboard: numbers computed by aggregate queries, scoped to the user."""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import metrics
from approvals.choices import ActionStatus
from approvals.models import Action
from teams.choices import AutonomyLevel, Role
from tests import factories as f

NOW = timezone.now()


_numbers = itertools.count(1)


def row(team, action_type, *, status, created, requires=True, decided=None, finished=None):
    number = next(_numbers)
    payload = {"note": f"r{number}"}
    action = Action(
        number=number,
        organization_id=team.organization_id,
        team=team,
        action_type=action_type,
        title="t",
        payload=payload,
        payload_hash=hashlib.sha256(str(payload).encode()).hexdigest(),
        risk_level=action_type.default_risk,
        status=status,
        requires_approval=requires,
        required_approvals=1 if requires else 0,
        auto_approved=not requires,
        gate_reason="g",
        decided_at=decided,
        finished_at=finished,
        expires_at=NOW + timedelta(hours=20) if status == ActionStatus.PENDING else None,
    )
    action.proposed_at = created  # created_at is set on insert; tests move it afterwards
    return action


def insert(rows):
    created = Action.objects.bulk_create(rows)
    for action, source in zip(created, rows, strict=True):
        Action.objects.filter(pk=action.pk).update(created_at=source.proposed_at)
    return created


@pytest.fixture
def world(org, team, medium_type):
    """Support (semi-autonomous) and Sales (supervised) with a known history."""
    sales = f.make_team(org, "Sales", level=AutonomyLevel.SUPERVISED, department="Commercial")
    day = timedelta(days=1)
    ago = lambda d, h=0: NOW - d * day - timedelta(hours=h)  # noqa: E731
    rows = [
        # Support: 3 human decisions (waits 1 h, 2 h, 4 h), one rejected; 2 ran by themselves.
        row(
            team,
            medium_type,
            status="succeeded",
            created=ago(2, 1),
            decided=ago(2),
            finished=ago(2),
        ),
        row(team, medium_type, status="failed", created=ago(3, 2), decided=ago(3), finished=ago(3)),
        row(team, medium_type, status="rejected", created=ago(1, 4), decided=ago(1)),
        row(
            team,
            medium_type,
            status="succeeded",
            created=ago(1),
            requires=False,
            decided=ago(1),
            finished=ago(1),
        ),
        row(
            team,
            medium_type,
            status="needs_attention",
            created=ago(1),
            requires=False,
            decided=ago(1),
            finished=ago(1),
        ),
        # Support now: 2 pending, one expiring within the hour.
        row(team, medium_type, status="pending", created=ago(0, 1)),
        row(team, medium_type, status="pending", created=ago(0, 1)),
        # Sales: one approved 30 minutes after proposal, long ago (outside 7 days).
        row(
            sales,
            medium_type,
            status="succeeded",
            created=ago(20),
            decided=ago(20),
            finished=ago(20),
        ),
        row(
            sales,
            medium_type,
            status="approved",
            created=ago(0, 1),
            decided=NOW - timedelta(minutes=30),
        ),
    ]
    created = insert(rows)
    Action.objects.filter(pk=created[5].pk).update(expires_at=NOW + timedelta(minutes=20))
    return {"sales": sales, "rows": created}


def test_numbers_per_team_department_and_total(org_admin, team, world):
    data = metrics.dashboard_metrics(user=org_admin, days=7, now=NOW)
    teams = {t["name"]: t for d in data["departments"] for t in d["teams"]}
    support, sales = teams["Support"], teams["Sales"]
    assert support["proposed"] == 7
    assert support["executed"] == 4  # succeeded, failed, succeeded, needs attention
    assert support["success_rate"] == 0.5
    assert support["approved"] == 2 and support["rejected"] == 1
    assert support["approval_rate"] == round(2 / 3, 4)
    assert support["manual_rate"] == round(6 / 7, 4)  # 5 gated + 1 needs attention
    assert support["median_decision_seconds"] == 2 * 3600  # waits 1 h, 2 h, 4 h
    assert support["pending"] == 2 and support["expiring_soon"] == 1
    assert sales["executed"] == 0 and sales["median_decision_seconds"] == 1800
    depts = {d["name"]: d for d in data["departments"]}
    assert depts["Commercial"]["teams"][0]["name"] == "Sales"
    totals = data["totals"]
    assert totals["approved"] == 3 and totals["pending"] == 2
    # median of 1 h, 2 h, 4 h and 0.5 h is the mean of the middle two
    assert totals["median_decision_seconds"] == 1.5 * 3600


def test_period_changes_the_window(org_admin, world):
    month = metrics.dashboard_metrics(user=org_admin, days=30, now=NOW)
    teams = {t["name"]: t for d in month["departments"] for t in d["teams"]}
    assert teams["Sales"]["executed"] == 1
    assert teams["Sales"]["median_decision_seconds"] == (0 + 1800) / 2


def test_scoped_to_the_users_teams(team, world, approver, other_org):
    only_sales = f.make_user("sally", team.organization)
    f.add_member(only_sales, world["sales"], Role.VIEWER)
    data = metrics.dashboard_metrics(user=only_sales, days=7, now=NOW)
    assert [t["name"] for d in data["departments"] for t in d["teams"]] == ["Sales"]
    assert data["totals"]["pending"] == 0
    stranger = f.make_user("stranger", other_org)
    empty = metrics.dashboard_metrics(user=stranger, days=7, now=NOW)
    assert empty["departments"] == [] and empty["totals"]["proposed"] == 0
    assert metrics.daily_trend(user=stranger, now=NOW) == [
        {"day": d["day"], "auto": 0, "held": 0, "succeeded": 0, "failed": 0}
        for d in metrics.daily_trend(user=stranger, now=NOW)
    ]


def test_trend_has_thirty_days_with_counts(org_admin, world):
    trend = metrics.daily_trend(user=org_admin, now=NOW)
    assert len(trend) == 30 and trend[-1]["day"] == NOW.date()
    by_day = {d["day"]: d for d in trend}
    one_day_ago = (NOW - timedelta(days=1)).date()
    assert by_day[one_day_ago]["auto"] == 2
    assert sum(d["held"] for d in trend) == 7
    assert sum(d["failed"] for d in trend) == 2  # failed + needs attention


def test_query_count_does_not_grow_with_actions_or_teams(org_admin, org, world, medium_type):
    with CaptureQueriesContext(connection) as few:
        metrics.dashboard_metrics(user=org_admin, days=7, now=NOW)
        metrics.daily_trend(user=org_admin, now=NOW)
    for i in range(5):
        extra = f.make_team(org, f"Extra {i}", department=f"Dept {i}")
        insert(
            [
                row(extra, medium_type, status="succeeded", created=NOW, decided=NOW, finished=NOW)
                for _ in range(40)
            ]
        )
    with CaptureQueriesContext(connection) as many:
        data = metrics.dashboard_metrics(user=org_admin, days=7, now=NOW)
        metrics.daily_trend(user=org_admin, now=NOW)
    assert len(many) == len(few)
    assert len(data["departments"]) == 7


def test_dashboard_page(client, org_admin, world):
    client.force_login(org_admin)
    page = client.get("/dashboard/", {"period": "30d"})
    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "Actions executed",
        "Approval rate",
        "Manual intervention",
        "Median time to decision",
        "Last 30 days",
        "<svg",
        "Departments and teams",
        "Support",
        "Sales",
        "Recent autonomous actions",
        "Open circuit breakers",
        'aria-current="true">30d',
    ):
        assert text in html, text
    assert client.get("/dashboard/", {"period": "bogus"}).status_code == 200


def test_dashboard_page_query_count_is_constant(client, org_admin, org, world, medium_type):
    client.force_login(org_admin)
    client.get("/dashboard/")
    with CaptureQueriesContext(connection) as few:
        client.get("/dashboard/")
    for i in range(3):
        extra = f.make_team(org, f"More {i}")
        Action.objects.bulk_create(
            [
                row(
                    extra,
                    medium_type,
                    status="succeeded",
                    created=NOW,
                    requires=False,
                    decided=NOW,
                    finished=NOW,
                )
                for _ in range(30)
            ]
        )
    with CaptureQueriesContext(connection) as many:
        client.get("/dashboard/")
    assert len(many) == len(few)


def test_open_breakers_are_listed(org_admin, org, other_org):
    from approvals.models import CircuitBreaker as breaker

    breaker.objects.create(
        organization=org,
        executor="webhook.post",
        state="open",
        opened_at=NOW,
        next_probe_at=NOW,
        last_error="HTTP 503",
    )
    breaker.objects.create(organization=org, executor="internal.note", state="closed")
    breaker.objects.create(
        organization=other_org,
        executor="webhook.post",
        state="open",
        opened_at=NOW,
        next_probe_at=NOW,
    )
    rows = metrics.open_circuit_breakers(user=org_admin)
    assert [(r["executor"], r["last_error"]) for r in rows] == [("webhook.post", "HTTP 503")]


def test_llm_spend_is_summed_per_team_when_tracked(client, org_admin, team, world):
    client.force_login(org_admin)
    assert b"LLM spend" not in client.get("/dashboard/").content  # none spent yet: not shown
    rows = world["rows"]
    Action.objects.filter(pk=rows[0].pk).update(llm_cost="0.120000")
    Action.objects.filter(pk=rows[1].pk).update(llm_cost="0.030000")
    Action.objects.filter(pk=rows[7].pk).update(llm_cost="5.000000")  # 20 days ago: outside 7 d
    data = metrics.dashboard_metrics(user=org_admin, days=7, now=NOW)
    teams = {t["name"]: t for d in data["departments"] for t in d["teams"]}
    assert teams["Support"]["llm_spend"] == 0.15 and teams["Sales"]["llm_spend"] == 0
    assert data["totals"]["llm_spend"] == 0.15
    client.force_login(org_admin)
    assert b"LLM spend" in client.get("/dashboard/").content


def test_percent_never_rounds_to_a_misleading_100_or_0():
    from approvals.templatetags.cwa import percent

    assert [percent(v) for v in (None, 0, 1, 0.5, 0.9954, 0.004, 0.333)] == [
        "—",
        "0%",
        "100%",
        "50%",
        "99.5%",
        "0.4%",
        "33%",
    ]
