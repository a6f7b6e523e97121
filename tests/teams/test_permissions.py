"""Memberships are mirrored into guardian object permissions, and team services check them."""

import pytest

from approvals.models import Notification
from audit.models import AuditEvent
from cwa_site.errors import Forbidden, InvalidInput, NotFound
from teams.choices import OrgRole, Role
from teams.models import Membership
from teams.permissions import ADMINISTER, APPROVE, VIEW, has_team_perm, team_ids_for, teams_for
from teams.services import (
    membership_set,
    organization_set_kill_switch,
    team_create,
    team_set_autonomy,
    team_set_status,
)
from tests import factories as f


def perms(user, team):
    return {c for c in (VIEW, APPROVE, ADMINISTER) if has_team_perm(user, c, team)}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.VIEWER, {VIEW}),
        (Role.APPROVER, {VIEW, APPROVE}),
        (Role.ADMIN, {VIEW, APPROVE, ADMINISTER}),
    ],
)
def test_role_grants_object_permissions(team, role, expected):
    user = f.make_user("u", team.organization)
    f.add_member(user, team, role)
    assert perms(user, team) == expected


def test_role_change_and_removal_revoke(team):
    user = f.make_user("u", team.organization)
    membership = f.add_member(user, team, Role.APPROVER)
    membership.role = Role.VIEWER
    membership.save()
    assert perms(user, team) == {VIEW}
    membership.delete()
    assert perms(user, team) == set()
    assert not teams_for(user).exists()


def test_org_admin_administers_every_team_including_new_ones(org, org_admin, team):
    assert perms(org_admin, team) == {VIEW, APPROVE, ADMINISTER}
    new = team_create(actor=org_admin, organization=org, name="New", department="R&D")
    assert perms(org_admin, new) == {VIEW, APPROVE, ADMINISTER}


def test_other_organization_sees_nothing(team, other_org):
    other_admin = f.make_user("mallory", other_org, org_role=OrgRole.ADMIN)
    assert perms(other_admin, team) == set()
    assert not team_ids_for(other_admin).filter(content_object_id=team.pk).exists()


def test_team_services_require_administer(team, approver, org_admin):
    with pytest.raises(Forbidden):
        team_set_status(actor=approver, team=team, status="paused")
    with pytest.raises(Forbidden):
        team_set_autonomy(actor=approver, team=team, autonomy_level="autonomous")
    team.refresh_from_db()
    assert (team.status, team.autonomy_level) == ("active", "semi_autonomous")
    team_set_autonomy(actor=org_admin, team=team, autonomy_level="autonomous", reason="earned it")
    event = AuditEvent.objects.get(verb="team.autonomy_changed")
    assert event.data == {"from": "semi_autonomous", "to": "autonomous", "reason": "earned it"}
    assert team.history.count() == 2


def test_pause_notifies_members(team, approver, viewer, org_admin):
    team_set_status(actor=org_admin, team=team, status="paused", reason="incident")
    notified = set(
        Notification.objects.filter(kind="team.status").values_list("user__username", flat=True)
    )
    assert {"bob", "carol", "alice"} <= notified


def test_outsider_gets_not_found(team, other_org):
    outsider = f.make_user("mallory", other_org, org_role=OrgRole.ADMIN)
    with pytest.raises(NotFound):
        team_set_status(actor=outsider, team=team, status="paused")


def test_kill_switch_is_for_org_admins(org, approver, org_admin):
    with pytest.raises(Forbidden):
        organization_set_kill_switch(actor=approver, organization=org, paused=True)
    organization_set_kill_switch(actor=org_admin, organization=org, paused=True, reason="incident")
    org.refresh_from_db()
    assert org.automation_paused and org.paused_reason == "incident"
    assert AuditEvent.objects.filter(verb="organization.paused").exists()


def test_membership_set(team, org_admin, other_org):
    user = f.make_user("newbie", team.organization)
    membership, created = membership_set(
        actor=org_admin, team=team, username="newbie", role="viewer"
    )
    assert created and perms(user, team) == {VIEW}
    membership_set(actor=org_admin, team=team, username="newbie", role="approver")
    assert Membership.objects.get(pk=membership.pk).role == "approver"
    f.make_user("stranger", other_org)
    with pytest.raises(InvalidInput, match="No user 'stranger'"):
        membership_set(actor=org_admin, team=team, username="stranger", role="viewer")


def test_kill_switch_notifies_every_member_of_the_organization(
    org, approver, viewer, org_admin, other_org
):
    outsider = f.make_user("mallory", other_org)
    organization_set_kill_switch(actor=org_admin, organization=org, paused=True, reason="incident")
    told = set(
        Notification.objects.filter(kind="organization.paused").values_list(
            "user__username", flat=True
        )
    )
    assert {"alice", "bob", "carol"} <= told and outsider.username not in told
    organization_set_kill_switch(actor=org_admin, organization=org, paused=False)
    assert Notification.objects.filter(kind="organization.resumed", user=viewer).exists()
