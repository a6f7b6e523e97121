"""GET /api/v1/metrics/: the dashboard's numbers, scoped to what the caller may see."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.services import action_decide, action_propose
from teams.choices import OrgRole
from tests import factories as f


def _propose(actor, team, action_type, n):
    return [
        action_propose(
            actor=actor, team=team, action_type=action_type, payload={"note": f"{n}-{i}"}
        ).action
        for i in range(n)
    ]


def test_metrics_match_what_happened(api, org, team, proposer, approver, medium_type):
    a, b, c = _propose(proposer, team, medium_type, 3)
    action_decide(actor=approver, action_id=a.pk, decision="approve")
    action_decide(actor=approver, action_id=b.pk, decision="reject")
    body = api(approver).get("/api/v1/metrics/?period=24h").json()
    assert body["period"]["days"] == 1
    totals = body["totals"]
    assert (totals["proposed"], totals["approved"], totals["rejected"], totals["pending"]) == (
        3,
        1,
        1,
        1,
    )
    assert totals["approval_rate"] == 0.5 and totals["manual_rate"] == 1.0
    (dept,) = body["departments"]
    assert [t["name"] for t in dept["teams"]] == [team.name]
    assert len(body["trend"]) == 30 and body["trend"][-1]["held"] == 3
    assert body["open_circuit_breakers"] == []


def test_metrics_are_scoped(api, org, team, proposer, medium_type, other_org):
    _propose(proposer, team, medium_type, 2)
    outsider = f.make_user("mallory", other_org, org_role=OrgRole.ADMIN)
    body = api(outsider).get("/api/v1/metrics/").json()
    assert body["totals"]["proposed"] == 0 and body["departments"] == []
    response = api(outsider).get(f"/api/v1/metrics/?organization={org.pk}")
    assert response.status_code == 404
    assert api(None).get("/api/v1/metrics/").status_code == 401
    assert api(outsider).get("/api/v1/metrics/?period=1y").status_code == 400


@pytest.mark.parametrize("extra", [2, 20])
def test_metrics_query_count_does_not_grow(api, org, team, proposer, approver, medium_type, extra):
    client = api(approver)
    _propose(proposer, team, medium_type, 2)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/metrics/")
    for i in range(extra):
        f.make_team(org, f"T{i}")
    _propose(proposer, team, medium_type, extra)
    with CaptureQueriesContext(connection) as many:
        client.get("/api/v1/metrics/")
    assert len(many) == len(few)
