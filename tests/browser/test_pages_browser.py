"""The work item and policy pages in a real browser: open the work item list from the sidebar,
filter it, open an item and its timeline; find the noisy policy and open it; both lists fit a
phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.services import action_decide, action_propose
from policies.models import Policy, PolicyEvaluation
from teams.choices import AutonomyLevel, Role
from tests import factories as f
from tests.browser.test_queue_browser import login
from workitems.models import Delivery, WorkItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    org = f.make_org("acme", name="Acme")
    support = f.make_team(org, "Support", level=AutonomyLevel.SUPERVISED, department="Customer")
    ops = f.make_team(org, "Operations", level=AutonomyLevel.SUPERVISED, department="Tech")
    escalate = f.make_action_type(org, "escalate", risk="medium", name="Escalation note")
    bob = f.make_user("bob", org, password="demo", first_name="Bob")
    erin = f.make_user("erin", org, password="demo")
    for user in (bob, erin):
        f.add_member(user, support, Role.APPROVER)
        f.add_member(user, ops, Role.VIEWER)
    now = timezone.now()
    items = {}
    for team, source, ext, title, status in [
        (support, "linear", "SUP-231", "Checkout fails on Safari", "stalled"),
        (support, "linear", "SUP-244", "Refund stuck in pending", "in_progress"),
        (support, "github", "acme/web#412", "Dark mode resets after reload", "blocked"),
        (ops, "jira", "OPS-91", "Disk usage above 85% on db-2", "stalled"),
        (ops, "jira", "OPS-88", "Rotate TLS certificates", "done"),
    ]:
        items[ext] = WorkItem.objects.create(
            organization=org,
            team=team,
            source=source,
            external_id=ext,
            title=title,
            status=status,
            source_status="open" if status == "stalled" else status,
            assignee="Dev Patel",
            priority="high",
            url=f"https://tracker.example/{ext}",
            raw={"data": {"identifier": ext, "title": title}},
            last_activity_at=now - timedelta(days=len(items) + 1),
        )
    connector = f.make_connector(org, "linear", team=support, name="Linear (Support)")
    delivery = Delivery.objects.create(
        organization=org,
        connector=connector,
        delivery_id="dlv-1",
        event="Issue.create",
        outcome="applied",
        body_sha256="0" * 64,
        body_bytes=1800,
        received_at=now - timedelta(days=6),
    )
    delivery.work_items.add(items["SUP-231"])
    noisy = Policy.objects.create(
        organization=org,
        name="Escalate quiet tickets",
        team=support,
        trigger="scheduled",
        condition="item.days_since_update > 2",
        action_type=escalate,
        payload_template={"note": "{{ item.title }} is quiet"},
    )
    Policy.objects.create(
        organization=org,
        name="Nudge stalled issues",
        trigger="scheduled",
        condition='item.status == "stalled"',
        action_type=escalate,
    )
    first = None
    for i in range(5):
        action = action_propose(
            actor=erin,
            team=support,
            action_type=escalate,
            payload={"note": f"SUP-231 is quiet ({i})"},
            work_item=items["SUP-231"],
            policy=noisy,
        ).action
        first = first or action
        if i < 2:
            action_decide(actor=bob, action_id=action.pk, decision="reject", notes="noise")
    PolicyEvaluation.objects.create(
        organization=org,
        policy=noisy,
        work_item=items["SUP-231"],
        trigger="scheduled",
        outcome="error",
        error="no such key: due_at",
    )
    return {"items": items, "noisy": noisy, "first": first}


def test_work_items_filter_and_open_one(page: Page, asgi_server, world):
    login(page, asgi_server, "bob")
    page.get_by_role("link", name="Work items").click()
    expect(page).to_have_url(f"{asgi_server}/workitems/")
    expect(page.locator("#workitem-results tbody tr")).to_have_count(5)
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == [], unlabelled

    page.select_option("#id_status", "stalled")
    expect(page).to_have_url(re.compile(r"status=stalled"))
    expect(page.locator("#workitem-results tbody tr")).to_have_count(2)
    page.fill("#wi-q", "safari")
    expect(page).to_have_url(re.compile(r"q=safari"))
    expect(page.locator("#workitem-results tbody tr")).to_have_count(1)
    row = page.locator(f"#workitem-{world['items']['SUP-231'].pk}")
    expect(row.locator(".wi-status")).to_have_text("Stalled")
    external = row.locator("a.source-link")
    expect(external).to_have_attribute("rel", "noopener noreferrer")
    expect(external).to_have_attribute("target", "_blank")

    row.get_by_role("link", name="Checkout fails on Safari").click()
    expect(page.locator("h1")).to_contain_text("Checkout fails on Safari")
    timeline = page.locator("ol.timeline")
    expect(timeline.locator('[data-kind="delivery"]')).to_have_count(1)
    expect(timeline.locator('[data-kind="evaluation"]')).to_contain_text("no such key: due_at")
    expect(timeline.locator('[data-kind="action"]')).to_have_count(5)
    raw = page.locator("details.raw-payload pre")
    expect(raw).to_be_hidden()
    page.locator("details.raw-payload summary").click()
    expect(raw).to_contain_text('"identifier": "SUP-231"')

    first = world["first"]
    timeline.get_by_role("link", name=re.compile(rf"#{first.number}\b")).click()
    expect(page).to_have_url(f"{asgi_server}/approvals/{first.pk}/")
    page.get_by_role("link", name="Checkout fails on Safari").click()
    expect(page).to_have_url(f"{asgi_server}/workitems/{world['items']['SUP-231'].pk}/")


def test_policies_show_the_noisy_rule_first(page: Page, asgi_server, world):
    login(page, asgi_server, "bob")
    page.get_by_role("link", name="Policies").click()
    expect(page).to_have_url(f"{asgi_server}/policies/")
    rows = page.locator(".policy-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Escalate quiet tickets")
    expect(rows.first).to_contain_text("40%")
    expect(rows.first.locator(".badge.noisy")).to_have_text(re.compile("Noisy"))
    expect(page.get_by_role("status")).to_contain_text("1 noisy policy")
    rows.first.get_by_role("link", name="Escalate quiet tickets").click()
    expect(page.locator("pre.cel")).to_have_text("item.days_since_update > 2")
    expect(page.locator(".evals .row-error")).to_contain_text("no such key: due_at")
    expect(page.get_by_role("link", name="Edit in admin")).to_have_count(0)


def test_lists_fit_a_phone(page: Page, asgi_server, world):
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, asgi_server, "bob")
    for path in ("/workitems/", "/policies/", f"/workitems/{world['items']['SUP-231'].pk}/"):
        page.goto(f"{asgi_server}{path}")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375, path
    page.goto(f"{asgi_server}/workitems/")
    more = page.get_by_role("button", name="More filters")
    expect(page.locator("#id_status")).to_be_hidden()
    more.click()
    page.select_option("#id_status", "done")
    expect(page.locator("#workitem-results tbody tr")).to_have_count(1)
    expect(page.locator("#workitem-results")).to_contain_text("Rotate TLS certificates")
