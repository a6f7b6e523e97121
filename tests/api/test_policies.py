"""GET /api/v1/policies/: scoped like everything else, with each policy's rejection rate."""

from approvals.services import action_decide, action_propose
from policies.models import Policy
from teams.choices import OrgRole
from tests import factories as f


def test_policies_show_precision_and_stay_in_scope(
    api, org, team, proposer, approver, medium_type, other_org
):
    noisy = Policy.objects.create(
        organization=org,
        team=team,
        name="Noisy",
        condition="item.priority == 'high'",
        action_type=medium_type,
        payload_template={"note": "n"},
    )
    Policy.objects.create(
        organization=org,
        team=f.make_team(org, "Hidden"),
        name="Hidden rule",
        condition="true",
        action_type=medium_type,
        payload_template={"note": "n"},
    )
    for i, decision in enumerate(["reject", "reject", "approve"]):
        action = action_propose(
            actor=None, team=team, action_type=medium_type, payload={"note": str(i)}, policy=noisy
        ).action
        action_decide(actor=approver, action_id=action.pk, decision=decision)

    body = api(approver).get("/api/v1/policies/").json()
    assert [p["name"] for p in body["results"]] == ["Noisy"]
    (row,) = body["results"]
    assert (row["proposed"], row["rejected"], row["rejection_rate"]) == (3, 2, 0.6667)
    assert row["action_type"] == medium_type.key and row["team"] == str(team.pk)
    assert api(approver).get("/api/v1/policies/?enabled=false").json()["count"] == 0
    outsider = f.make_user("mallory", other_org, org_role=OrgRole.ADMIN)
    assert api(outsider).get("/api/v1/policies/").json()["count"] == 0
    assert api(None).get("/api/v1/policies/").status_code == 401
