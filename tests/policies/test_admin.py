"""Policies in Django admin: conditions refused with the compiler's message, dry runs, no N+1."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from policies import engine
from policies.models import Policy
from teams.choices import OrgRole
from tests import factories as f
from workitems.models import Delivery


@pytest.fixture
def admin_client(client, org):
    user = f.make_user("alice", org, org_role=OrgRole.ADMIN, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["policies", "workitems"],
        )
    )
    client.force_login(user)
    return client


def form(org, action_type, **overrides):
    data = {
        "organization": str(org.pk),
        "name": "Nudge stalled work",
        "description": "",
        "enabled": "on",
        "team": "",
        "trigger": "scheduled",
        "condition": 'item.status == "stalled" && item.days_since_update > 3',
        "action_type": str(action_type.pk),
        "payload_template": json.dumps({"note": "{{ item.title }} is stalled"}),
        "draft_instructions": "",
        "risk": "",
        "cooldown_minutes": "1440",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('item.status == "stalled" &&', "Syntax error"),
        ('item.stauts == "stalled"', "A work item has no field &#x27;stauts&#x27;"),
        ("item.labels.exists(l, l == 1)", "exists() is not allowed"),
    ],
)
def test_a_bad_condition_is_refused_with_the_message(admin_client, org, nudge, condition, message):
    response = admin_client.post(
        "/admin/policies/policy/add/", form(org, nudge, condition=condition)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Policy.objects.exists()


def test_a_bad_template_or_a_missing_draft_fallback_is_refused(admin_client, org, nudge):
    response = admin_client.post(
        "/admin/policies/policy/add/",
        form(org, nudge, payload_template=json.dumps({"note": "{% if %}"})),
    )
    assert "Unexpected end of expression" in response.content.decode()
    response = admin_client.post(
        "/admin/policies/policy/add/", form(org, nudge, payload_template=json.dumps({"x": "y"}))
    )
    assert "nudge drafts `note`: give it a text here" in response.content.decode()
    assert not Policy.objects.exists()


def test_a_good_policy_is_saved_audited_and_dry_run(admin_client, org, support, nudge, make_item):
    make_item(support, "OPS-1", status="stalled")
    make_item(support, "OPS-2", status="open")
    response = admin_client.post("/admin/policies/policy/add/", form(org, nudge))
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = Policy.objects.get()
    assert policy.history.count() == 1
    assert AuditEvent.objects.filter(verb="admin.policy.created", target_id=str(policy.pk)).exists()
    page = admin_client.get(f"/admin/policies/policy/{policy.pk}/change/").content.decode()
    assert "Matches 1 of 2 current work items." in page and "OPS-1" in page
    response = admin_client.post(
        "/admin/policies/policy/",
        {"action": "dry_run_selected", "_selected_action": [str(policy.pk)]},
        follow=True,
    )
    assert "Nudge stalled work: matches 1 of 2 current work items (e.g. OPS-1)" in (
        response.content.decode()
    )


def test_other_organizations_policies_are_invisible(admin_client, other_org):
    other_type = f.make_action_type(other_org, "note")
    theirs = Policy.objects.create(
        organization=other_org,
        name="theirs",
        condition="true",
        action_type=other_type,
        payload_template={"note": "x"},
    )
    assert admin_client.get(f"/admin/policies/policy/{theirs.pk}/change/").status_code == 302
    assert "theirs" not in admin_client.get("/admin/policies/policy/").content.decode()


def _grow(org, team, nudge, make_item, n):
    for i in range(n):
        item = make_item(team, f"T-{Policy.objects.count()}-{i}", status="stalled")
        policy = Policy.objects.create(
            organization=org,
            name=f"p{Policy.objects.count()}",
            team=team,
            trigger="scheduled",
            condition=f'item.external_id == "{item.external_id}" || item.due_at < now',
            action_type=nudge,
            payload_template={"note": "x"},
        )
        connector = f.make_connector(org, "jira", team=team)
        Delivery.objects.create(
            organization=org,
            connector=connector,
            delivery_id=f"d-{policy.pk}",
            outcome="applied",
            body_sha256="0" * 64,
            body_bytes=1,
            received_at=timezone.now(),
        ).work_items.add(item)
    engine.evaluate_scheduled()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/policies/policy/",
        "/admin/policies/policyevaluation/",
        "/admin/workitems/delivery/",
        "/admin/workitems/workitem/",
        "/admin/policies/actiontype/",
    ],
)
def test_admin_lists_have_a_constant_query_count(admin_client, org, support, nudge, make_item, url):
    _grow(org, support, nudge, make_item, 2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    _grow(org, support, nudge, make_item, 8)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).status_code == 200
    assert len(few) == len(many), url
