"""Who may do what, over every endpoint and method.

Roles: anonymous, viewer, approver, team admin (of Support), org admin (of acme) and another
organization's admin. Each cell asserts the status, and that a refused request changed nothing:
no action, decision, membership, team, connector or audit event appeared or changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from approvals.models import Action, Decision, Notification
from audit.models import AuditEvent
from teams.models import Membership, Team
from tests import factories as f
from workitems.models import Connector

ROLES = ["anonymous", "viewer", "approver", "team_admin", "org_admin", "other_admin"]


@dataclass
class World:
    users: dict[str, Any]
    team: Team
    pending: Action
    org: Any


@pytest.fixture
def world(org, team, viewer, approver, team_admin, org_admin, other_admin, pending):
    f.make_user("newbie", org)
    Notification.objects.create(user=viewer, organization=org, kind="test", title="hello")
    return World(
        users={
            "anonymous": None,
            "viewer": viewer,
            "approver": approver,
            "team_admin": team_admin,
            "org_admin": org_admin,
            "other_admin": other_admin,
        },
        team=team,
        pending=pending,
        org=org,
    )


def snapshot() -> dict[str, Any]:
    return {
        "actions": sorted(Action.objects.values_list("id", "status")),
        "decisions": Decision.objects.count(),
        "memberships": sorted(Membership.objects.values_list("id", "role")),
        "teams": sorted(Team.objects.values_list("id", "name", "autonomy_level", "status")),
        "connectors": Connector.objects.count(),
        "audit": AuditEvent.objects.count(),
        "unread": sorted(
            Notification.objects.filter(read_at__isnull=True).values_list("user_id", flat=True)
        ),
    }


# (name, method, url template, body, expected status per role in ROLES order)
CASES: list[tuple[str, str, str, Any, list[int]]] = [
    ("teams list", "get", "/api/v1/teams/", None, [401, 200, 200, 200, 200, 200]),
    (
        "teams create",
        "post",
        "/api/v1/teams/",
        {"name": "New", "department": "Ops", "organization": "{org}"},
        [401, 403, 403, 403, 201, 400],
    ),
    ("team detail", "get", "/api/v1/teams/{team}/", None, [401, 200, 200, 200, 200, 404]),
    (
        "team autonomy",
        "patch",
        "/api/v1/teams/{team}/",
        {"autonomy_level": "autonomous"},
        [401, 403, 403, 200, 200, 404],
    ),
    (
        "team rename",
        "patch",
        "/api/v1/teams/{team}/",
        {"name": "Renamed"},
        [401, 403, 403, 200, 200, 404],
    ),
    (
        "team pause",
        "patch",
        "/api/v1/teams/{team}/",
        {"status": "paused", "reason": "incident"},
        [401, 403, 403, 200, 200, 404],
    ),
    ("members list", "get", "/api/v1/teams/{team}/members/", None, [401, 200, 200, 200, 200, 404]),
    (
        "members add",
        "post",
        "/api/v1/teams/{team}/members/",
        {"user": "newbie", "role": "viewer"},
        [401, 403, 403, 201, 201, 404],
    ),
    ("action types", "get", "/api/v1/action-types/", None, [401, 200, 200, 200, 200, 200]),
    ("actions list", "get", "/api/v1/actions/", None, [401, 200, 200, 200, 200, 200]),
    (
        "propose",
        "post",
        "/api/v1/actions/",
        {"team": "{team}", "action_type": "escalate", "payload": {"note": "n"}},
        [401, 403, 201, 201, 201, 404],
    ),
    ("action detail", "get", "/api/v1/actions/{action}/", None, [401, 200, 200, 200, 200, 404]),
    (
        "decide",
        "post",
        "/api/v1/actions/{action}/decision/",
        {"decision": "approve", "notes": "ok"},
        [401, 403, 200, 200, 200, 404],
    ),
    (
        "bulk decide",
        "post",
        "/api/v1/actions/bulk-decision/",
        {"ids": ["{action}"], "decision": "reject", "notes": "no"},
        [401, 200, 200, 200, 200, 200],
    ),
    ("audit", "get", "/api/v1/audit/", None, [401, 200, 200, 200, 200, 200]),
    ("workitems", "get", "/api/v1/workitems/", None, [401, 200, 200, 200, 200, 200]),
    ("policies", "get", "/api/v1/policies/", None, [401, 200, 200, 200, 200, 200]),
    ("metrics", "get", "/api/v1/metrics/", None, [401, 200, 200, 200, 200, 200]),
    (
        "metrics of an org",
        "get",
        "/api/v1/metrics/?organization={org}",
        None,
        [401, 200, 200, 200, 200, 404],
    ),
    ("connectors list", "get", "/api/v1/connectors/", None, [401, 200, 200, 200, 200, 200]),
    (
        "connectors create",
        "post",
        "/api/v1/connectors/",
        {"kind": "linear", "name": "Linear", "secret": "s3cret", "organization": "{org}"},
        [401, 403, 403, 403, 201, 400],
    ),
    ("notifications", "get", "/api/v1/notifications/", None, [401, 200, 200, 200, 200, 200]),
    (
        "notifications read",
        "post",
        "/api/v1/notifications/mark-read/",
        {},
        [401, 200, 200, 200, 200, 200],
    ),
    (
        "token",
        "post",
        "/api/v1/auth/token/",
        {"username": "nobody", "password": "wrong"},
        [400, 400, 400, 400, 400, 400],
    ),
]

# Requests that answer 200 but must leave everything as it was for this role (a bulk decision
# skips what you may not decide; marking read touches only your own notifications).
NO_EFFECT_ON_SUCCESS = {
    ("bulk decide", "viewer"),
    ("bulk decide", "other_admin"),
    ("notifications read", "other_admin"),  # has none
}
WRITES = {"post", "patch"}


def fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return value.format(team=world.team.pk, action=world.pending.pk, org=world.org.pk)
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, world) for item in value]
    return value


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize(
    ("name", "method", "url", "body", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_matrix(world, api, role_index, name, method, url, body, expected):
    role = ROLES[role_index]
    client = api(world.users[role])
    before = snapshot()
    response = getattr(client, method)(fill(url, world), fill(body, world))
    assert response.status_code == expected[role_index], response.content
    payload = response.json()
    after = snapshot()
    if response.status_code >= 400:
        assert set(payload) >= {"detail", "code"} and payload["detail"]
        assert after == before, f"{role} was refused {name} but something changed"
    elif (name, role) in NO_EFFECT_ON_SUCCESS:
        assert after == before, f"{name} by {role} must not change anything"
        if name == "bulk decide":
            assert payload["decided"] == 0 and payload["results"][0]["outcome"] == "skipped"
    elif name == "notifications read":
        user = world.users[role]
        assert user.pk in before["unread"] and user.pk not in after["unread"]
        assert after["unread"] == [pk for pk in before["unread"] if pk != user.pk]
    elif method in WRITES:
        assert after != before, f"{name} by {role} answered {response.status_code} but did nothing"
        assert after["audit"] > before["audit"]


LIST_CONTENTS = {
    # what each role sees in a list: Support's rows for team members, everything of acme for the
    # org admin, nothing of acme for another organization's admin.
    "/api/v1/teams/": {
        "viewer": 1,
        "approver": 1,
        "team_admin": 1,
        "org_admin": 2,
        "other_admin": 1,
    },
    "/api/v1/actions/": {
        "viewer": 1,
        "approver": 1,
        "team_admin": 1,
        "org_admin": 2,
        "other_admin": 0,
    },
    "/api/v1/connectors/": {
        "viewer": 0,
        "approver": 0,
        "team_admin": 0,
        "org_admin": 1,
        "other_admin": 0,
    },
    "/api/v1/workitems/": {
        "viewer": 1,
        "approver": 1,
        "team_admin": 1,
        "org_admin": 3,
        "other_admin": 0,
    },
    # the viewer's own test notification; approvers and admins were told of the pending action
    "/api/v1/notifications/": {
        "viewer": 1,
        "approver": 1,
        "team_admin": 1,
        "org_admin": 1,
        "other_admin": 0,
    },
}


@pytest.mark.parametrize("url", list(LIST_CONTENTS))
def test_lists_are_filtered_in_the_query(world, api, org, medium_type, url):
    from approvals.services import action_propose
    from workitems.connectors import connector_create
    from workitems.models import WorkItem

    hidden_team = f.make_team(org, "Finance")
    org_admin = world.users["org_admin"]
    action_propose(
        actor=org_admin, team=hidden_team, action_type=medium_type, payload={"note": "x"}
    )
    connector_create(actor=org_admin, organization=org, kind="github", name="gh", secret="s")
    WorkItem.objects.create(
        organization=org, team=world.team, source="linear", external_id="A-1", title="mine"
    )
    WorkItem.objects.create(
        organization=org, team=hidden_team, source="linear", external_id="A-2", title="hidden"
    )
    WorkItem.objects.create(organization=org, source="linear", external_id="A-3", title="no team")
    for role, count in LIST_CONTENTS[url].items():
        body = api(world.users[role]).get(url).json()
        assert body["count"] == count, (role, body)
        # The other organization's admin sees only their own organization.
        if role == "other_admin":
            assert all(str(org.pk) not in str(row) for row in body["results"])


def test_audit_scope(world, api, org, other_org):
    from audit.services import audit_record_standalone

    audit_record_standalone(organization=org, verb="organization.note", data={})
    audit_record_standalone(organization=other_org, verb="organization.note", data={})
    by_role = {
        role: api(world.users[role]).get("/api/v1/audit/").json()["results"] for role in ROLES[1:]
    }
    team_events = {e["id"] for e in by_role["approver"]}
    assert team_events and all(e["team"] == str(world.team.pk) for e in by_role["viewer"])
    assert {e["id"] for e in by_role["viewer"]} == team_events
    org_events = {e["id"] for e in by_role["org_admin"]}
    assert team_events < org_events  # the org admin also sees organization-level events
    assert all(e["organization"] == str(org.pk) for e in by_role["org_admin"])
    assert [e["organization"] for e in by_role["other_admin"]] == [str(other_org.pk)]
