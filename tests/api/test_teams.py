"""Teams and memberships over the API; a membership's role is what grants API access."""

from __future__ import annotations

from approvals.models import Action
from audit.models import AuditEvent
from teams.choices import Role, TeamStatus
from teams.models import Membership, Team, TeamUserObjectPermission
from tests import factories as f


def test_org_admin_creates_a_team_in_their_only_organization(api, org, org_admin):
    response = api(org_admin).post("/api/v1/teams/", {"name": "Billing", "department": "Finance"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "name", "department", "autonomy_level", "status"}
    assert body["autonomy_level"] == "supervised" and body["organization"] == str(org.pk)
    assert AuditEvent.objects.filter(verb="team.created").count() == 1
    # The creator administers the new team straight away (org admins administer every team).
    assert api(org_admin).get(f"/api/v1/teams/{body['id']}/").status_code == 200


def test_admin_of_several_organizations_must_name_one(api, org, other_org, org_admin):
    from teams.services import organization_add_member

    organization_add_member(organization=other_org, user=org_admin, role="admin")
    response = api(org_admin).post("/api/v1/teams/", {"name": "X", "department": "Y"})
    assert response.status_code == 400 and "organization" in response.json()["errors"]
    named = api(org_admin).post(
        "/api/v1/teams/", {"name": "X", "department": "Y", "organization": str(other_org.pk)}
    )
    assert named.status_code == 201 and named.json()["organization"] == str(other_org.pk)


def test_duplicate_team_name_is_409(api, team, org_admin):
    response = api(org_admin).post("/api/v1/teams/", {"name": team.name, "department": "x"})
    assert response.status_code == 409 and response.json()["errors"] == {
        "name": [response.json()["detail"]]
    }


def test_patch_changes_fields_through_the_audited_services(api, team, team_admin):
    response = api(team_admin).patch(
        f"/api/v1/teams/{team.pk}/",
        {"name": "Customer Support", "autonomy_level": "autonomous", "reason": "earned it"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Customer Support"
    assert response.json()["autonomy_level"] == "autonomous"
    verbs = list(AuditEvent.objects.order_by("seq").values_list("verb", flat=True))
    assert verbs[-2:] == ["team.updated", "team.autonomy_changed"]
    assert AuditEvent.objects.get(verb="team.autonomy_changed").data["reason"] == "earned it"


def test_patch_is_all_or_nothing(api, org, team, team_admin):
    f.make_team(org, "Taken")
    response = api(team_admin).patch(
        f"/api/v1/teams/{team.pk}/", {"autonomy_level": "autonomous", "name": "Taken"}
    )
    assert response.status_code == 409
    team.refresh_from_db()
    assert team.name == "Support" and team.autonomy_level == "semi_autonomous"


def test_resuming_a_team_runs_the_approved_actions_that_waited(
    api, team, team_admin, approver, note_type, run_tasks
):
    admin = api(team_admin)
    admin.patch(f"/api/v1/teams/{team.pk}/", {"status": "paused", "reason": "incident"})
    action = (
        api(approver)
        .post(
            "/api/v1/actions/",
            {"team": str(team.pk), "action_type": "note", "payload": {"note": "n"}},
        )
        .json()
    )
    assert action["status"] == "pending"  # a paused team holds everything for a person
    admin.post(f"/api/v1/actions/{action['id']}/decision/", {"decision": "approve"})
    run_tasks()
    assert Action.objects.get(pk=action["id"]).status == "approved"  # nothing runs while paused
    resumed = admin.patch(f"/api/v1/teams/{team.pk}/", {"status": "active"})
    assert resumed.json()["status"] == TeamStatus.ACTIVE
    run_tasks()
    assert Action.objects.get(pk=action["id"]).status == "succeeded"


def test_members_list_and_set(api, org, team, team_admin, viewer):
    f.make_user("newbie", org)
    client = api(team_admin)
    listed = client.get(f"/api/v1/teams/{team.pk}/members/").json()
    assert {(m["user"], m["role"]) for m in listed["results"]} == {
        ("tess", "admin"),
        ("carol", "viewer"),
    }
    added = client.post(f"/api/v1/teams/{team.pk}/members/", {"user": "newbie", "role": "viewer"})
    assert added.status_code == 201 and added.json()["role"] == "viewer"
    changed = client.post(
        f"/api/v1/teams/{team.pk}/members/", {"user": "newbie", "role": "approver"}
    )
    assert changed.status_code == 200 and changed.json()["role"] == "approver"
    unknown = client.post(f"/api/v1/teams/{team.pk}/members/", {"user": "ghost", "role": "viewer"})
    assert unknown.status_code == 400 and "user" in unknown.json()["errors"]


def test_outsider_cannot_be_added_to_a_team(api, team, team_admin, other_org):
    f.make_user("stranger", other_org)
    response = api(team_admin).post(
        f"/api/v1/teams/{team.pk}/members/", {"user": "stranger", "role": "viewer"}
    )
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="stranger").exists()


def test_changing_a_role_grants_and_revokes_api_access(api, org, team, team_admin, pending):
    """The role is mirrored into guardian's direct-FK table; the API reads only that table."""
    user = f.make_user("zoe", org)
    zoe = api(user)
    detail, decide = f"/api/v1/actions/{pending.pk}/", f"/api/v1/actions/{pending.pk}/decision/"
    assert zoe.get(detail).status_code == 404  # not a member: the action does not exist for her

    admin = api(team_admin)
    admin.post(f"/api/v1/teams/{team.pk}/members/", {"user": "zoe", "role": "viewer"})
    assert TeamUserObjectPermission.objects.filter(user=user).count() == 1
    assert zoe.get(detail).status_code == 200
    assert zoe.post(decide, {"decision": "approve"}).status_code == 403

    admin.post(f"/api/v1/teams/{team.pk}/members/", {"user": "zoe", "role": "approver"})
    assert zoe.patch(f"/api/v1/teams/{team.pk}/", {"name": "Mine"}).status_code == 403
    admin.post(f"/api/v1/teams/{team.pk}/members/", {"user": "zoe", "role": "admin"})
    assert zoe.patch(f"/api/v1/teams/{team.pk}/", {"department": "CX"}).status_code == 200

    admin.post(f"/api/v1/teams/{team.pk}/members/", {"user": "zoe", "role": "viewer"})
    assert zoe.patch(f"/api/v1/teams/{team.pk}/", {"department": "Ops"}).status_code == 403
    assert zoe.post(decide, {"decision": "approve"}).status_code == 403

    Membership.objects.filter(user=user).delete()
    assert zoe.get(detail).status_code == 404
    assert zoe.get("/api/v1/actions/").json()["count"] == 0
    assert Action.objects.get(pk=pending.pk).status == "pending"


def test_role_upgrade_lets_a_viewer_decide(api, org, team, team_admin, viewer, pending):
    decide = f"/api/v1/actions/{pending.pk}/decision/"
    assert api(viewer).post(decide, {"decision": "approve"}).status_code == 403
    api(team_admin).post(f"/api/v1/teams/{team.pk}/members/", {"user": "carol", "role": "approver"})
    assert api(viewer).post(decide, {"decision": "approve"}).status_code == 200


def test_team_list_filters(api, org, team, org_admin):
    f.make_team(org, "Ops", department="Operations")
    client = api(org_admin)
    assert client.get("/api/v1/teams/").json()["count"] == 2
    only = client.get("/api/v1/teams/", {"department": "Operations"}).json()["results"]
    assert [t["name"] for t in only] == ["Ops"]
    semi = client.get("/api/v1/teams/", {"autonomy_level": "semi_autonomous"}).json()["results"]
    assert [t["name"] for t in semi] == ["Support"]
    assert Team.objects.count() == 2


def test_membership_role_is_validated(api, team, team_admin, viewer):
    response = api(team_admin).post(
        f"/api/v1/teams/{team.pk}/members/", {"user": "carol", "role": "owner"}
    )
    assert response.status_code == 400 and "role" in response.json()["errors"]
    assert Membership.objects.get(user=viewer).role == Role.VIEWER
