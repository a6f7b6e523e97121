"""Policy reads: visibility, precision, and the demo seed."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.services import action_decide
from audit.models import AuditEvent
from policies import engine
from policies.models import Policy
from policies.selectors import policies_visible_to, policy_get_visible, policy_precision
from teams.choices import Role
from tests import factories as f
from tests.policies.conftest import NOW
from workitems.models import Connector


def test_policies_are_visible_to_their_team_and_org_wide_ones_to_members(
    org, support, nudge, make_policy, other_org
):
    sales = f.make_team(org, "Sales")
    mine = make_policy(nudge, "true", team=support)
    theirs = make_policy(nudge, "true", team=sales)
    everyone = make_policy(nudge, "true")
    user = f.make_user("carol", org)
    f.add_member(user, support, Role.VIEWER)
    outsider = f.make_user("mallory", other_org)
    assert set(policies_visible_to(user)) == {mine, everyone}
    assert policy_get_visible(user, theirs.pk) is None
    assert policy_get_visible(user, "nope") is None
    assert not policies_visible_to(outsider).exists()


def test_precision_counts_rejections_in_constant_queries(
    org, support, nudge, make_policy, make_item
):
    approver = f.make_user("bob", org)
    f.add_member(approver, support, Role.APPROVER)
    medium = f.make_action_type(org, "escalate", risk="medium")
    noisy = make_policy(medium, 'item.status == "stalled"', name="noisy")
    for i in range(3):
        make_item(support, f"OPS-{i}", status="stalled")
    engine.evaluate_scheduled(now=NOW)
    for action in noisy.actions.all()[:2]:
        action_decide(actor=approver, action_id=action.pk, decision="reject")
    with CaptureQueriesContext(connection) as few:
        rows = {p.name: (p.proposed, p.rejected) for p in policy_precision(approver)}
    assert rows == {"noisy": (3, 2)}
    for i in range(5):
        make_policy(nudge, "true", name=f"quiet {i}")
    with CaptureQueriesContext(connection) as many:
        assert len(list(policy_precision(approver))) == 6
    assert len(few) == len(many) == 1


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_seeds_ingestion():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Policy.objects.count(), Connector.objects.count(), AuditEvent.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (Policy.objects.count(), Connector.objects.count(), AuditEvent.objects.count()) == counts
    assert counts[:2] == (2, 2)
    assert Connector.objects.get(kind="linear").secret == "demo-linear-signing-secret"
