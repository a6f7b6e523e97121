"""The approval queue in a real browser: log in, filter, bulk approve, reject with a note, see
a proposal from another process appear live, keyboard, phone width, and a viewer's read-only
view."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from django.urls import Resolver404, resolve
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from approvals.models import Action, Decision
from approvals.services import action_propose
from teams.choices import AutonomyLevel, Role
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(django_db_blocker):
    org = f.make_org("acme", name="Acme")
    support = f.make_team(
        org, "Support", level=AutonomyLevel.SEMI_AUTONOMOUS, department="Customer"
    )
    sales = f.make_team(org, "Sales", level=AutonomyLevel.SUPERVISED, department="Commercial")
    medium = f.make_action_type(org, "escalate", risk="medium", name="Escalation note")
    high = f.make_action_type(org, "page", risk="high", name="Page on-call")
    agent = f.make_agent(org, "triage-bot", [medium, high])
    bob = f.make_user("bob", org, password="demo", first_name="Bob")
    for team in (support, sales):
        f.add_member(bob, team, Role.APPROVER)
    carol = f.make_user("carol", org, password="demo", first_name="Carol")
    f.add_member(carol, support, Role.VIEWER)
    actions = {}
    for i in range(5):
        actions[f"support{i}"] = propose(agent, support, medium, f"Support escalation {i}")
    actions["sales"] = propose(agent, sales, medium, "Sales escalation")
    return {
        "org": org,
        "support": support,
        "sales": sales,
        "medium": medium,
        "high": high,
        "agent": agent,
        "actions": actions,
    }


def propose(agent, team, action_type, note):
    return action_propose(
        actor=agent.user, agent=agent, team=team, action_type=action_type, payload={"note": note}
    ).action


def login(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}/approvals/")
    # The websocket is up before anything else happens, so live changes are not missed.
    page.wait_for_function(
        "document.querySelector('[data-live-indicator]').dataset.state === 'open'", timeout=10_000
    )


def row(page: Page, action: Action):
    return page.locator(f"#action-{action.pk}")


def test_filter_bulk_approve_and_reject_with_a_note(page: Page, asgi_server, demo):
    login(page, asgi_server, "bob")
    actions = demo["actions"]
    expect(page.locator("#queue-count")).to_have_text("6 pending")
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == [], unlabelled

    page.select_option("#id_team", str(demo["support"].pk))
    expect(page).to_have_url(re.compile(r"team="))
    expect(row(page, actions["sales"])).to_have_count(0)
    expect(page.locator("[data-queue] .qrow")).to_have_count(5)

    chosen = [actions["support0"], actions["support1"], actions["support2"]]
    for action in chosen:
        row(page, action).locator("[data-row-check]").check()
    expect(page.locator("#bulk-form [data-selected-count]")).to_have_text("3")
    page.locator("#bulk-form button[value=approve]").click()
    expect(page.locator("#bulk-result")).to_contain_text("3 approved")
    for action in chosen:
        expect(row(page, action).locator(".badge.status-approved")).to_be_visible()
    assert Action.objects.filter(pk__in=[a.pk for a in chosen], status="approved").count() == 3

    target = row(page, actions["support3"])
    target.locator("summary").click()
    target.locator("textarea").fill("Duplicate of SUP-101")
    target.get_by_role("button", name="Reject with note").click()
    expect(row(page, actions["support3"]).locator(".badge.status-rejected")).to_be_visible()
    decision = Decision.objects.get(action=actions["support3"])
    assert (decision.decision, decision.notes) == ("reject", "Duplicate of SUP-101")
    expect(row(page, actions["support4"]).locator("[data-approve]")).to_be_visible()


def test_a_proposal_from_another_process_appears_live(page: Page, asgi_server, demo):
    login(page, asgi_server, "bob")
    expect(page.locator("[data-queue] .qrow")).to_have_count(6)
    action_id = propose_over_the_api(asgi_server, demo) or str(
        propose(demo["agent"], demo["support"], demo["high"], "Page the on-call now").pk
    )
    new_row = page.locator(f"#action-{action_id}")
    expect(new_row).to_be_visible(timeout=10_000)
    expect(new_row).to_contain_text("Page the on-call now")
    expect(new_row.locator("[data-approve]")).to_be_visible()
    expect(page.locator("#queue-count")).to_have_text("7 pending")
    expect(page.locator("#toasts .toast.danger")).to_contain_text("waits for approval")


def propose_over_the_api(server: str, demo) -> str | None:
    """POST /api/v1/actions/ with the agent's token when the API is installed."""
    try:
        resolve("/api/v1/actions/")
    except Resolver404:
        return None
    token = Token.objects.get_or_create(user=demo["agent"].user)[0].key
    for action_type in (demo["high"].key, str(demo["high"].pk)):
        body = {
            "team": str(demo["support"].pk),
            "action_type": action_type,
            "payload": {"note": "Page the on-call now"},
        }
        request = urllib.request.Request(
            f"{server}/api/v1/actions/",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())["id"]
        except urllib.error.HTTPError as error:
            if error.code != 400:
                raise
    raise AssertionError("the API refused the proposal")


def test_viewer_sees_no_approve_buttons(page: Page, asgi_server, demo):
    login(page, asgi_server, "carol")
    expect(page.locator("[data-queue] .qrow")).to_have_count(5)
    expect(page.locator("[data-approve]")).to_have_count(0)
    expect(page.locator("[data-row-check]")).to_have_count(0)
    expect(page.locator("#bulk-form")).to_have_count(0)
    expect(page.get_by_text("View only").first).to_be_visible()


def test_keyboard_approve_and_reject(page: Page, asgi_server, demo):
    login(page, asgi_server, "bob")
    actions = demo["actions"]
    newest, second = actions["sales"], actions["support4"]
    page.keyboard.press("j")
    expect(row(page, newest)).to_have_class(re.compile("is-current"))
    page.keyboard.press("a")
    expect(row(page, newest).locator(".badge.status-approved")).to_be_visible()
    # Like Gmail, a decision moves on to the next action.
    expect(row(page, second)).to_have_class(re.compile("is-current"))
    page.keyboard.press("r")
    page.keyboard.type("Not now")
    page.keyboard.press("Enter")
    expect(row(page, second).locator(".badge.status-rejected")).to_be_visible()
    assert Decision.objects.get(action=second).notes == "Not now"
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()


def test_queue_is_usable_on_a_phone(page: Page, asgi_server, demo):
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, asgi_server, "bob")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    first = row(page, demo["actions"]["sales"])
    approve = first.locator("[data-approve]")
    expect(approve).to_be_visible()
    box = approve.bounding_box()
    assert box["height"] >= 32 and box["x"] + box["width"] <= 375
    approve.click()
    expect(first.locator(".badge.status-approved")).to_be_visible()
