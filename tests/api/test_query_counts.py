"""Every list endpoint answers in a constant number of queries, however many rows it returns."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import Notification
from approvals.services import action_decide, action_propose
from audit.services import audit_record_standalone
from policies.models import Policy
from teams.choices import Role
from tests import factories as f
from workitems.connectors import connector_create
from workitems.models import WorkItem


def grow(n: int, *, org, team, org_admin, proposer, approver, medium_type) -> None:
    """Add n rows of everything a list endpoint shows."""
    start = WorkItem.objects.count()
    for i in range(start, start + n):
        extra = f.make_team(org, f"Team {i}")
        user = f.make_user(f"member{i}", org)
        f.add_member(user, team, Role.VIEWER)
        f.make_action_type(org, f"type-{i}")
        action = action_propose(
            actor=proposer, team=team, action_type=medium_type, payload={"note": f"n{i}"}
        ).action
        action_decide(actor=approver, action_id=action.pk, decision="approve")
        WorkItem.objects.create(
            organization=org, team=team, source="linear", external_id=f"W-{i}", title=f"w{i}"
        )
        connector_create(
            actor=org_admin, organization=org, kind="github", name=f"gh{i}", secret="s"
        )
        Notification.objects.create(user=org_admin, organization=org, kind="x", title=f"t{i}")
        audit_record_standalone(organization=org, verb="test.event", team=extra, data={})
        Policy.objects.create(
            organization=org,
            team=team,
            name=f"policy {i}",
            condition="item.priority == 'high'",
            action_type=medium_type,
            payload_template={"note": "n"},
        )


URLS = [
    "/api/v1/teams/",
    "/api/v1/teams/{team}/members/",
    "/api/v1/action-types/",
    "/api/v1/actions/",
    "/api/v1/audit/",
    "/api/v1/workitems/",
    "/api/v1/connectors/",
    "/api/v1/notifications/",
    "/api/v1/policies/",
]


@pytest.mark.parametrize("url", URLS)
def test_list_query_count_is_constant(
    api, url, org, team, org_admin, proposer, approver, medium_type
):
    client = api(org_admin)
    url = url.format(team=team.pk)
    world = {
        "org": org,
        "team": team,
        "org_admin": org_admin,
        "proposer": proposer,
        "approver": approver,
        "medium_type": medium_type,
    }

    def count_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    grow(2, **world)
    few, few_rows = count_queries()
    grow(12, **world)
    many, many_rows = count_queries()
    assert many_rows > few_rows >= 2
    assert many == few, f"{url}: {few} queries for {few_rows} rows, {many} for {many_rows}"


def test_action_detail_query_count_is_constant(api, team, approver, approver2, proposer, org):
    critical = f.make_action_type(org, "credit", risk="critical")
    few = action_propose(actor=proposer, team=team, action_type=critical, payload={"note": "a"})
    many = action_propose(actor=proposer, team=team, action_type=critical, payload={"note": "b"})
    for decider in (approver, approver2):
        action_decide(actor=decider, action_id=many.action.pk, decision="approve")
    client = api(approver)

    def count(action_id) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/actions/{action_id}/").status_code == 200
        return len(ctx.captured_queries)

    assert count(few.action.pk) == count(many.action.pk)
