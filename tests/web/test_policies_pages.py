"""The policy pages: per-policy precision (noisy rules flagged in words, sorted first), scoping
(404 for hidden and foreign policies), the detail's evaluations and actions, the admin link for
org admins, and query counts that do not grow with the rows."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action
from policies.models import Policy, PolicyEvaluation
from teams.choices import Role
from tests import factories as f
from tests.web.conftest import propose
from workitems.models import WorkItem

LIST = "/policies/"

_number = iter(range(5000, 10**6))


def make_policy(org, action_type, name, *, team=None, **fields) -> Policy:
    fields.setdefault("condition", 'item.status == "stalled"')
    fields.setdefault("payload_template", {"note": "{{ item.title }} is quiet"})
    return Policy.objects.create(
        organization=org, team=team, name=name, action_type=action_type, **fields
    )


def outcomes(policy, team, *, rejected: int, other: int, status=ActionStatus.SUCCEEDED):
    """`rejected` rejected and `other` (approved and run) actions from `policy` (rows written
    directly: the page reads what the services recorded)."""
    rows = []
    for i in range(rejected + other):
        payload = {"note": f"{policy.name} {i}"}
        rows.append(
            Action(
                number=next(_number),
                organization_id=team.organization_id,
                team=team,
                action_type=policy.action_type,
                policy=policy,
                title=f"{policy.name} {i}",
                payload=payload,
                payload_hash=hashlib.sha256(str(payload).encode()).hexdigest(),
                risk_level=policy.action_type.default_risk,
                status=ActionStatus.REJECTED if i < rejected else status,
                requires_approval=True,
                required_approvals=1,
                gate_reason="medium risk, team is supervised",
            )
        )
    return Action.objects.bulk_create(rows)


def row_html(html: str, policy: Policy) -> str:
    match = re.search(rf'<tr id="policy-{policy.pk}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for {policy.name}"
    return match.group(0)


@pytest.fixture
def policies(org, team, sales, medium_type, note_type):
    """Four policies around the noisy threshold (≥ 30 % rejected over ≥ 5 proposals)."""
    noisy = make_policy(org, medium_type, "Escalate every ticket", team=team)
    outcomes(noisy, team, rejected=4, other=6)  # 40 % of 10
    few = make_policy(org, medium_type, "Too few to tell")
    outcomes(few, team, rejected=2, other=2)  # 50 % of only 4: not flagged
    fine = make_policy(
        org,
        note_type,
        "Nudge stalled issues",
        trigger="scheduled",
        cooldown_minutes=90,
        risk="high",
    )
    outcomes(fine, team, rejected=1, other=10)  # 9 %
    idle = make_policy(org, note_type, "Never matched", trigger="created", enabled=False)
    hidden = make_policy(org, note_type, "Sales only", team=sales)
    return {"noisy": noisy, "few": few, "fine": fine, "idle": idle, "hidden": hidden}


# --------------------------------------------------------------------------- list


def test_pages_need_a_login(client, policies):
    for url in (LIST, f"/policies/{policies['fine'].pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_list_shows_precision_and_flags_noisy_rules_in_words(client, viewer, policies, mallory):
    foreign_type = f.make_action_type(mallory.memberships.get().team.organization, "note")
    foreign = make_policy(foreign_type.organization, foreign_type, "Globex rule")
    client.force_login(viewer)
    response = client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sales only" not in html and "Globex rule" not in html and str(foreign.pk) not in html
    assert "4 policies" in html
    noisy = row_html(html, policies["noisy"])
    assert 'class="is-noisy' in noisy and ">Noisy<" in noisy and "often rejected" in noisy
    assert re.search(
        r'class="num top hide-narrow">10</td>\s*<td class="num top hide-narrow">4</td>', noisy
    )
    assert "40%" in noisy and "Support" in noisy  # its team
    assert "1 noisy policy:" in html and "30% or more" in html
    few = row_html(html, policies["few"])
    assert "50%" in few and "Noisy" not in few and "Organization-wide" in few
    fine = row_html(html, policies["fine"])
    assert "9%" in fine and "Noisy" not in fine
    assert "1 h 30 min" in fine and "risk-high" in fine and ">High<" in fine  # raised risk
    assert "Scheduled" in fine and "Record note" not in fine and ">On<" in fine
    idle = row_html(html, policies["idle"])
    assert "is-off" in idle and ">Off<" in idle and "On create" in idle and "—" in idle
    assert "risk-low" in idle  # the action type's floor when the policy sets no risk


def test_list_sorts_noisiest_first_and_by_name_or_volume(client, viewer, policies):
    client.force_login(viewer)

    def order(**params) -> list[str]:
        html = client.get(LIST, params).content.decode()
        found = re.findall(r'<tr id="policy-([0-9a-f-]+)"', html)
        names = {str(p.pk): key for key, p in policies.items()}
        return [names[pk] for pk in found]

    assert order() == ["few", "noisy", "fine", "idle"]  # rate desc, no proposals last
    assert order(sort="name") == ["noisy", "idle", "fine", "few"]
    assert order(sort="proposed") == ["fine", "noisy", "few", "idle"]
    assert order(sort="bogus") == order()
    html = client.get(LIST, {"sort": "name"}).content.decode()
    assert '<a href="?sort=name" aria-current="true">Name</a>' in html


@pytest.mark.parametrize(
    ("rejected", "other", "noisy"),
    [(3, 7, True), (2, 3, True), (2, 5, False), (3, 8, False), (4, 0, False), (0, 0, False)],
)
def test_noisy_means_at_least_30_percent_of_at_least_5(
    client, viewer, org, team, note_type, rejected, other, noisy
):
    policy = make_policy(org, note_type, "Rule")
    outcomes(policy, team, rejected=rejected, other=other)
    client.force_login(viewer)
    row = row_html(client.get(LIST).content.decode(), policy)
    assert ("is-noisy" in row) is noisy and (">Noisy<" in row) is noisy


def test_no_noisy_banner_when_nothing_is_noisy(client, viewer, org, note_type, team):
    make_policy(org, note_type, "Quiet rule")
    client.force_login(viewer)
    html = client.get(LIST).content.decode()
    assert "noisy polic" not in html and "Quiet rule" in html


def test_empty_list(client, viewer):
    client.force_login(viewer)
    assert "No policies yet" in client.get(LIST).content.decode()


def test_list_query_count_is_constant(client, viewer, org, team, medium_type):
    client.force_login(viewer)
    for i in range(2):
        outcomes(make_policy(org, medium_type, f"first {i}"), team, rejected=2, other=3)
    client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    for i in range(25):
        policy = make_policy(org, medium_type, f"more {i}", team=team if i % 2 else None)
        outcomes(policy, team, rejected=i % 4, other=3)
        PolicyEvaluation.objects.create(
            organization=org, policy=policy, trigger="scheduled", outcome="error", error="boom"
        )
    with CaptureQueriesContext(connection) as many:
        html = client.get(LIST).content.decode()
    assert html.count('<tr id="policy-') == 27
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]


def test_list_is_paginated(client, viewer, org, note_type):
    Policy.objects.bulk_create(
        Policy(
            organization=org,
            name=f"rule {i:02}",
            condition="true",
            action_type=note_type,
        )
        for i in range(55)
    )
    client.force_login(viewer)
    first = client.get(LIST, {"sort": "name"}).content.decode()
    assert first.count('<tr id="policy-') == 50 and "Page 1 of 2" in first
    second = client.get(LIST, {"sort": "name", "page": 2}).content.decode()
    assert second.count('<tr id="policy-') == 5 and "rule 54" in second


# --------------------------------------------------------------------------- detail


@pytest.fixture
def history(org, team, sales, agent, medium_type, policies):
    """The noisy policy's evaluations: a proposal on a Support item, an error, and one on a
    Sales item the Support viewer may not see."""
    policy = policies["noisy"]
    policy.team = None  # organization-wide: it looks at every team's work
    policy.save()
    item = WorkItem.objects.create(
        organization=org, team=team, source="linear", external_id="SUP-3", title="Login loop"
    )
    sales_item = WorkItem.objects.create(
        organization=org, team=sales, source="linear", external_id="SAL-3", title="Quote"
    )
    action = propose(agent, team, medium_type, "Escalating SUP-3", work_item=item, policy=policy)
    hidden_action = propose(agent, sales, medium_type, "Escalating SAL-3", policy=policy)
    now = timezone.now()
    PolicyEvaluation.objects.create(
        organization=org,
        policy=policy,
        work_item=item,
        trigger="updated",
        outcome="proposed",
        action=action,
        window_key="first",
        created_at=now - timedelta(hours=2),
    )
    PolicyEvaluation.objects.create(
        organization=org,
        policy=policy,
        work_item=item,
        trigger="scheduled",
        outcome="error",
        error="no such overload: int < string",
        created_at=now - timedelta(hours=1),
    )
    PolicyEvaluation.objects.create(
        organization=org,
        policy=policy,
        work_item=sales_item,
        trigger="scheduled",
        outcome="error",
        error="sales-side failure",
    )
    return {"policy": policy, "action": action, "hidden_action": hidden_action, "item": item}


def test_detail_shows_condition_template_evaluations_and_actions(client, viewer, history):
    policy = history["policy"]
    client.force_login(viewer)
    response = client.get(f"/policies/{policy.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="codebox cel">item.status == &quot;stalled&quot;</pre>' in html
    assert "&quot;note&quot;: &quot;{{ item.title }} is quiet&quot;" in html
    assert "Noisy rule:" in html and "rejected 4 of its 12 proposals (33%" in html
    # Evaluations: the error is highlighted, the Sales item's is not shown.
    rows = re.findall(r'<li class="(row-error)?">(.*?)</li>', html, re.S)
    errors = [body for cls, body in rows if cls]
    assert len(errors) == 1 and "no such overload: int &lt; string" in errors[0]
    assert "sales-side failure" not in html and "SAL-3" not in html
    assert f'href="/workitems/{history["item"].pk}/"' in html
    # Recent actions: the visible one with its status and risk, linking to its page.
    action = history["action"]
    assert f'href="/approvals/{action.pk}/"' in html and f"#{action.number}" in html
    assert str(history["hidden_action"].pk) not in html
    assert "status-pending" in html and "risk-medium" in html
    assert "Edit in admin" not in html


def test_detail_errors_only(client, viewer, history):
    client.force_login(viewer)
    html = client.get(f"/policies/{history['policy'].pk}/", {"errors": "1"}).content.decode()
    assert "no such overload" in html and "Proposed an action" not in html
    assert '<a href="?errors=1" aria-current="true">Errors only</a>' in html


def test_org_admin_gets_the_admin_link(client, org_admin, policies):
    org_admin.is_staff = True
    org_admin.save()
    policy = policies["fine"]
    client.force_login(org_admin)
    html = client.get(f"/policies/{policy.pk}/").content.decode()
    assert f'href="/admin/policies/policy/{policy.pk}/change/"' in html


def test_team_admin_who_is_not_org_admin_gets_no_admin_link(client, team, policies, org):
    user = f.make_user("tina", org, is_staff=True)
    f.add_member(user, team, Role.ADMIN)
    client.force_login(user)
    html = client.get(f"/policies/{policies['noisy'].pk}/").content.decode()
    assert "/admin/policies/" not in html and "Org admins edit policies in admin" in html


def test_detail_of_hidden_foreign_or_missing_policy_is_404(client, viewer, mallory, policies):
    client.force_login(viewer)
    assert client.get(f"/policies/{policies['hidden'].pk}/").status_code == 404
    assert client.get("/policies/00000000-0000-0000-0000-000000000000/").status_code == 404
    client.force_login(mallory)
    for policy in (policies["fine"], policies["noisy"]):
        assert client.get(f"/policies/{policy.pk}/").status_code == 404
    assert "Escalate every ticket" not in client.get(LIST).content.decode()


def test_detail_query_count_does_not_grow(client, viewer, history, org, team, agent, medium_type):
    policy = history["policy"]
    client.force_login(viewer)
    client.get(f"/policies/{policy.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/policies/{policy.pk}/")
    for i in range(15):
        item = WorkItem.objects.create(
            organization=org, team=team, source="jira", external_id=f"OPS-{i}", title=f"t{i}"
        )
        action = propose(agent, team, medium_type, f"n{i}", work_item=item, policy=policy)
        PolicyEvaluation.objects.create(
            organization=org,
            policy=policy,
            work_item=item,
            trigger="updated",
            outcome="proposed" if i % 2 else "error",
            action=action if i % 2 else None,
            window_key=f"w{i}",
            error="" if i % 2 else "boom",
        )
    with CaptureQueriesContext(connection) as many:
        html = client.get(f"/policies/{policy.pk}/").content.decode()
    assert html.count("OPS-") >= 15
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]


def test_action_pages_link_the_policy_that_proposed(client, approver, org, team, medium_type):
    from approvals.services import action_propose

    policy = make_policy(org, medium_type, "Nudge stalled", team=team)
    action = action_propose(
        actor=None, team=team, action_type=medium_type, payload={"note": "n"}, policy=policy
    ).action
    client.force_login(approver)
    link = f'href="/policies/{policy.pk}/"'
    assert link in client.get(f"/approvals/{action.pk}/").content.decode()
    preview = client.get(f"/approvals/{action.pk}/preview/", headers={"HX-Request": "true"})
    assert link in preview.content.decode()
