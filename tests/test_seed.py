"""seed_demo: the demo the README promises, and running it twice changes nothing."""

from io import StringIO

from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command

from approvals.choices import ActionStatus
from approvals.models import Action
from audit.verify import verify_all
from teams.models import Membership, Team
from teams.permissions import APPROVE, VIEW, has_team_perm


def _snapshot():
    counts = {}
    for app in ("teams", "policies", "approvals", "audit", "workitems", "auth", "authtoken"):
        for model in apps.get_app_config(app).get_models():
            counts[model._meta.label] = model._default_manager.count()
    return counts


def test_seed_demo_builds_the_documented_demo_and_is_idempotent(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "password 'demo'" in out.getvalue()
    first = _snapshot()
    call_command("seed_demo", stdout=StringIO())
    assert _snapshot() == first

    teams = {t.name: t for t in Team.objects.filter(organization__slug="acme")}
    assert {n: t.autonomy_level for n, t in teams.items()} == {
        "Sales": "supervised",
        "Marketing": "semi_autonomous",
        "Support": "semi_autonomous",
        "Operations": "autonomous",
    }
    roles = {
        (m.user.username, m.team.name): m.role
        for m in Membership.objects.select_related("user", "team")
    }
    assert roles[("bob", "Support")] == roles[("bob", "Operations")] == "approver"
    assert roles[("carol", "Sales")] == roles[("carol", "Support")] == "viewer"
    assert roles[("dave", "Sales")] == roles[("dave", "Marketing")] == "approver"
    assert roles[("erin", "Operations")] == "approver"
    alice = authenticate(username="alice", password="demo")
    assert alice is not None and alice.is_staff
    assert all(has_team_perm(alice, APPROVE, t) for t in teams.values())
    mallory = authenticate(username="mallory", password="demo")
    assert not any(has_team_perm(mallory, VIEW, t) for t in teams.values())
    assert set(Action.objects.values_list("status", flat=True)) == set(ActionStatus.values)
    assert verify_all()[1] == []


def test_seed_demo_password_option(db):
    call_command("seed_demo", "--password", "s3cret-pass", stdout=StringIO())
    assert authenticate(username="bob", password="s3cret-pass") is not None
