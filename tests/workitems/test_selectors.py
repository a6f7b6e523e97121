"""Work item reads: scoped to the user's teams in the query, constant query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.services import action_propose
from policies import engine
from policies.models import Policy
from teams.choices import OrgRole, Role
from tests import factories as f
from workitems.models import Connector, Delivery, WorkItem
from workitems.selectors import (
    connectors_visible_to,
    work_item_get_visible,
    work_item_list,
    work_item_timeline,
)


def make_items(org, team, n, prefix="X"):
    now = timezone.now()
    return [
        WorkItem.objects.create(
            organization=org,
            team=team,
            source="jira",
            external_id=f"{prefix}-{i}",
            title=f"{prefix} item {i}",
            status="open" if i % 2 else "stalled",
            raw={"big": "x" * 1000},
            last_activity_at=now - timedelta(hours=i),
        )
        for i in range(n)
    ]


@pytest.fixture
def world(org, other_org):
    support, sales = f.make_team(org, "Support"), f.make_team(org, "Sales")
    viewer = f.make_user("carol", org)
    f.add_member(viewer, support, Role.VIEWER)
    admin = f.make_user("alice", org, org_role=OrgRole.ADMIN)
    outsider = f.make_user("mallory", other_org)
    return support, sales, viewer, admin, outsider


def test_list_is_scoped_to_the_users_teams(org, world):
    support, sales, viewer, admin, outsider = world
    mine = make_items(org, support, 3, "SUP")
    make_items(org, sales, 2, "SAL")
    orphan = WorkItem.objects.create(organization=org, source="email", external_id="m1", title="t")
    assert {i.pk for i in work_item_list(viewer)} == {i.pk for i in mine}
    assert set(work_item_list(admin)) == set(WorkItem.objects.all())  # incl. the teamless one
    assert orphan not in set(work_item_list(viewer))
    assert not work_item_list(outsider).exists()
    assert [i.external_id for i in work_item_list(viewer, status="stalled")] == ["SUP-0", "SUP-2"]
    assert [i.external_id for i in work_item_list(admin, search="sal item 1")] == ["SAL-1"]
    assert work_item_get_visible(viewer, mine[0].pk) == mine[0]
    assert work_item_get_visible(viewer, orphan.pk) is None
    assert work_item_get_visible(outsider, mine[0].pk) is None
    assert work_item_get_visible(viewer, "not-a-uuid") is None


def test_list_query_count_is_constant(org, world):
    support, _, viewer, _, _ = world
    make_items(org, support, 3, "A")
    with CaptureQueriesContext(connection) as few:
        rows = list(work_item_list(viewer))
        [(r.team.name, r.connector) for r in rows]
    make_items(org, support, 30, "B")
    with CaptureQueriesContext(connection) as many:
        rows = list(work_item_list(viewer))
        [(r.team.name, r.connector) for r in rows]
    assert len(rows) == 33 and len(few) == len(many) == 1
    assert "raw" not in rows[0].__dict__  # the raw payload is not loaded for lists


def test_timeline_has_deliveries_evaluations_and_visible_actions(org, world):
    support, sales, viewer, _, _ = world
    item = make_items(org, support, 1)[0]
    connector = f.make_connector(org, "jira", team=support)
    for i in range(3):
        delivery = Delivery.objects.create(
            organization=org,
            connector=connector,
            delivery_id=f"d{i}",
            outcome="applied",
            body_sha256="0" * 64,
            body_bytes=10,
            received_at=timezone.now() - timedelta(minutes=10 - i),
        )
        delivery.work_items.add(item)
    note = f.make_action_type(org, "note")
    Policy.objects.create(
        organization=org,
        name="stalled",
        trigger="scheduled",
        condition='item.status == "stalled"',
        action_type=note,
        payload_template={"note": "{{ item.title }}"},
    )
    Policy.objects.create(
        organization=org,
        name="broken",
        trigger="scheduled",
        condition="item.due_at < now",
        action_type=note,
        payload_template={"note": "x"},
    )
    engine.evaluate_scheduled()
    hidden = action_propose(
        actor=None, team=sales, action_type=note, payload={"note": "sales only"}, work_item=item
    ).action
    with CaptureQueriesContext(connection) as queries:
        timeline = work_item_timeline(viewer, item)
        labels = [(e.kind, str(e.obj)) for e in timeline]
    assert len(queries) == 3
    kinds = [kind for kind, _ in labels]
    assert kinds.count("delivery") == 3 and kinds.count("evaluation") == 2
    assert kinds.count("action") == 1  # the Sales action is not the viewer's to see
    assert hidden.pk not in {e.obj.pk for e in timeline if e.kind == "action"}
    assert [e.at for e in timeline] == sorted((e.at for e in timeline), reverse=True)


def test_connectors_are_for_org_admins_only(org, world):
    _, _, viewer, admin, outsider = world
    connector = f.make_connector(org, "linear")
    assert list(connectors_visible_to(admin)) == [connector]
    assert not connectors_visible_to(viewer).exists()
    assert not connectors_visible_to(outsider).exists()
    assert Connector.objects.count() == 1
