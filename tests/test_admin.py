"""Django admin: every model listed, no N+1 on list pages, and org admins see only their org."""

import uuid

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    Action,
    ActionRevision,
    AutonomyOverride,
    Decision,
    Execution,
    Notification,
)
from audit.services import EventSpec, audit_record_many
from teams.choices import OrgRole
from teams.models import Agent, Membership, Organization, OrganizationMember, Team, UserProfile
from tests import factories as f
from workitems.models import Connector, WorkItem

User = get_user_model()


def grow(org, n, tag):
    """n more rows of every admin-listed model in `org`."""
    users = User.objects.bulk_create([User(username=f"{tag}-u{i}") for i in range(n)])
    OrganizationMember.objects.bulk_create(
        [OrganizationMember(organization=org, user=u) for u in users]
    )
    UserProfile.objects.bulk_create(
        [UserProfile(user=u, slack_user_id=f"U{i}") for i, u in enumerate(users)]
    )
    teams = Team.objects.bulk_create(
        [Team(organization=org, name=f"{tag}-t{i}", department=f"D{i % 5}") for i in range(n)]
    )
    Membership.objects.bulk_create(
        [Membership(team=t, user=u, role="approver") for t, u in zip(teams, users, strict=True)]
    )
    types = [f.make_action_type(org, f"{tag}-k{i}") for i in range(n)]
    agents = Agent.objects.bulk_create(
        [Agent(organization=org, name=f"{tag}-a{i}", user=u) for i, u in enumerate(users)]
    )
    for agent in agents[:3]:
        agent.allowed_action_types.set(types[:2])
    AutonomyOverride.objects.bulk_create(
        [
            AutonomyOverride(team=t, action_type=k, mode="auto")
            for t, k in zip(teams, types, strict=True)
        ]
    )
    items = WorkItem.objects.bulk_create(
        [
            WorkItem(
                organization=org,
                team=t,
                source="linear",
                external_id=f"{tag}-{i}",
                title="w",
                last_activity_at=timezone.now(),
            )
            for i, t in enumerate(teams)
        ]
    )
    Connector.objects.bulk_create(
        [
            Connector(organization=org, kind="slack", name=f"{tag}-c{i}", team=t)
            for i, t in enumerate(teams)
        ]
    )
    start = Organization.objects.get(pk=org.pk).next_action_number
    actions = Action.objects.bulk_create(
        [
            Action(
                number=start + i,
                organization=org,
                team=t,
                action_type=k,
                agent=a,
                work_item=w,
                title="t",
                payload={},
                payload_hash="h",
                risk_level="low",
                status="pending",
                requires_approval=True,
                required_approvals=1,
                gate_reason="r",
                proposed_by=u,
            )
            for i, (t, k, a, w, u) in enumerate(
                zip(teams, types, agents, items, users, strict=True)
            )
        ]
    )
    Organization.objects.filter(pk=org.pk).update(next_action_number=start + n)
    Decision.objects.bulk_create(
        [
            Decision(action=a, user=u, decision="approve", revision=1, payload_hash="h", via="web")
            for a, u in zip(actions, users, strict=True)
        ]
    )
    Execution.objects.bulk_create(
        [
            Execution(action=a, attempt=1, idempotency_key="k", started_at=timezone.now())
            for a in actions
        ]
    )
    ActionRevision.objects.bulk_create(
        [
            ActionRevision(action=a, revision=1, payload={}, payload_hash="h", edited_by=u)
            for a, u in zip(actions, users, strict=True)
        ]
    )
    Notification.objects.bulk_create(
        [
            Notification(user=u, organization=org, team=t, action=a, kind="k", title="x")
            for a, u, t in zip(actions, users, teams, strict=True)
        ]
    )
    with transaction.atomic():
        audit_record_many(
            organization=org,
            events=[
                EventSpec(verb="x", actor=u, team=t, target=a)
                for a, u, t in zip(actions, users, teams, strict=True)
            ],
        )
    Organization.objects.bulk_create(
        [Organization(slug=f"{tag}-o{i}-{uuid.uuid4().hex[:6]}", name="o") for i in range(n)]
    )


CHANGELISTS = sorted(
    f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
    for model in admin.site._registry
    if model._meta.app_label in {"teams", "approvals", "audit", "policies", "workitems", "auth"}
)


def test_every_product_model_is_in_admin():
    from django.apps import apps

    registered = set(admin.site._registry)
    for app in ("teams", "approvals", "audit", "policies", "workitems"):
        for model in apps.get_app_config(app).get_models():
            if (
                model.__name__.startswith("Historical")
                or model.__name__.startswith("Team")
                and "Permission" in model.__name__
            ):
                continue
            assert model in registered, model


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw")


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_queries_do_not_grow_with_rows(client, superuser, org, name):
    client.force_login(superuser)
    url = reverse(name)
    grow(org, 5, "a")
    small = _count(client, url)
    grow(org, 200, "b")
    large = _count(client, url)
    assert large == small, f"{name}: {small} queries with a few rows, {large} with 200 more"


def test_org_admin_sees_only_their_organization(client, org, other_org):
    from django.contrib.auth.models import Permission

    alice = f.make_user("alice", org, org_role=OrgRole.ADMIN, is_staff=True)
    alice.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    mine, theirs = f.make_team(org, "Mine"), f.make_team(other_org, "Theirs")
    client.force_login(alice)
    body = client.get(reverse("admin:teams_team_changelist")).content.decode()
    assert "Mine" in body and "Theirs" not in body
    assert client.get(reverse("admin:teams_team_change", args=[theirs.pk])).status_code in (
        302,
        404,
    )
    assert client.get(reverse("admin:teams_team_change", args=[mine.pk])).status_code == 200
    users = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "alice" in users
    other = f.make_user("mallory", other_org)
    assert other.username not in client.get(reverse("admin:auth_user_changelist")).content.decode()
