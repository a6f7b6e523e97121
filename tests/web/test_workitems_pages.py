"""The work item pages: scoping (404 for hidden and foreign items), filters, HTMX fragments, the
timeline, links from the approval pages, and query counts that do not grow with the rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action
from policies.models import Policy, PolicyEvaluation
from teams.choices import Role
from tests import factories as f
from tests.web.conftest import propose
from workitems.models import Delivery, WorkItem

LIST = "/workitems/"
HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "workitem-results"}


def make_item(team, external_id, *, org=None, **fields) -> WorkItem:
    organization = org or team.organization
    defaults = {
        "source": "linear",
        "title": f"Issue {external_id}",
        "status": "open",
        "source_status": "open",
        "last_activity_at": timezone.now() - timedelta(hours=1),
        "url": f"https://linear.app/acme/issue/{external_id}",
    }
    defaults.update(fields)
    return WorkItem.objects.create(
        organization=organization, team=team, external_id=external_id, **defaults
    )


def many_items(team, n: int, prefix: str, *, agent=None, action_type=None) -> list[WorkItem]:
    now = timezone.now()
    items = WorkItem.objects.bulk_create(
        WorkItem(
            organization=team.organization,
            team=team,
            source="jira",
            external_id=f"{prefix}-{i}",
            title=f"{prefix} item {i}",
            status="open",
            assignee=f"Dev {i}",
            priority="high",
            url=f"https://acme.atlassian.net/browse/{prefix}-{i}",
            raw={"big": "x" * 2000},
            last_activity_at=now - timedelta(minutes=i),
        )
        for i in range(n)
    )
    if agent is not None:
        for item in items:
            propose(agent, team, action_type, f"about {item.external_id}", work_item=item)
    return items


def row_html(html: str, item: WorkItem) -> str:
    match = re.search(rf'<tr id="workitem-{item.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {item.external_id}"
    return match.group(1)


# --------------------------------------------------------------------------- list


def test_pages_need_a_login(client, team):
    item = make_item(team, "SUP-1")
    for url in (LIST, f"/workitems/{item.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_list_shows_visible_items_newest_activity_first(client, viewer, team, sales, mallory):
    now = timezone.now()
    older = make_item(team, "SUP-1", last_activity_at=now - timedelta(days=3))
    newer = make_item(
        team,
        "SUP-2",
        title="Checkout fails on Safari",
        status="stalled",
        assignee="Dev Patel",
        priority="urgent",
        last_activity_at=now - timedelta(hours=2),
    )
    hidden = make_item(sales, "SAL-1", title="Sales only")
    foreign = make_item(mallory.memberships.get().team, "GLX-1", title="Globex secret")
    teamless = make_item(None, "MAIL-1", org=team.organization, title="Unrouted e-mail")
    client.force_login(viewer)
    response = client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert html.index(f"workitem-{newer.pk}") < html.index(f"workitem-{older.pk}")
    for invisible in (hidden, foreign, teamless):
        assert str(invisible.pk) not in html and invisible.title not in html
    row = row_html(html, newer)
    assert 'class="badge wi-status wi-stalled">Stalled<' in row  # colour and text
    assert (
        'href="https://linear.app/acme/issue/SUP-2" rel="noopener noreferrer" target="_blank"'
        in row
    )
    assert f'href="{reverse("workitem_pages:detail", args=[newer.pk])}"' in row
    assert "Checkout fails on Safari" in row and "Dev Patel" in row and "Linear" in row
    assert 'class="prio prio-urgent">Urgent<' in row
    assert "2\xa0hours ago" in row
    assert "2 work items" in html


def test_org_admin_also_sees_items_no_team_owns(client, org_admin, team):
    teamless = make_item(None, "MAIL-1", org=team.organization, title="Unrouted e-mail")
    client.force_login(org_admin)
    assert "Unrouted e-mail" in client.get(LIST).content.decode()
    assert client.get(f"/workitems/{teamless.pk}/").status_code == 200


def test_open_actions_count_only_unfinished_actions_the_user_may_see(
    client, approver, team, sales, agent, medium_type, org
):
    item = make_item(team, "SUP-1")
    for i in range(2):
        propose(agent, team, medium_type, f"open {i}", work_item=item)
    done = propose(agent, team, medium_type, "finished", work_item=item)
    Action.objects.filter(pk=done.pk).update(status=ActionStatus.SUCCEEDED)
    propose(agent, sales, medium_type, "hidden from bob", work_item=item)
    quiet = make_item(team, "SUP-2")
    client.force_login(approver)
    html = client.get(LIST).content.decode()
    assert '>2<span class="sr-only"> open actions</span>' in row_html(html, item)
    assert 'class="faint">0<' in row_html(html, quiet)


def test_filters_status_source_team_and_search(client, approver, team, sales, org):
    f.add_member(approver, sales, Role.VIEWER)
    stalled = make_item(team, "SUP-1", status="stalled", title="Refund stuck")
    jira = make_item(team, "OPS-9", source="jira", title="Disk full on db-2")
    in_sales = make_item(sales, "SAL-1", title="Renewal quote")
    client.force_login(approver)

    def shown(**params) -> set[str]:
        html = client.get(LIST, params).content.decode()
        return {i.external_id for i in (stalled, jira, in_sales) if f"workitem-{i.pk}" in html}

    assert shown() == {"SUP-1", "OPS-9", "SAL-1"}
    assert shown(status="stalled") == {"SUP-1"}
    assert shown(source="jira") == {"OPS-9"}
    assert shown(team=str(sales.pk)) == {"SAL-1"}
    assert shown(q="disk FULL") == {"OPS-9"}
    assert shown(q="sal-1") == {"SAL-1"}
    assert shown(status="open", source="linear") == {"SAL-1"}
    html = client.get(LIST, {"q": "nothing like this"}).content.decode()
    assert "Nothing matches these filters" in html and "Clear the filters" in html


def test_bad_filter_values_are_ignored_not_errors(client, approver, team, mallory):
    item = make_item(team, "SUP-1")
    foreign_team = mallory.memberships.get().team
    client.force_login(approver)
    for params in (
        {"status": "exploded"},
        {"source": "<script>"},
        {"team": "not-a-uuid"},
        {"team": str(foreign_team.pk)},  # not a team bob may choose
        {"page": "99"},
        {"page": "x"},
        {"q": "x" * 500},
    ):
        response = client.get(LIST, params)
        assert response.status_code == 200, params
    html = client.get(LIST, {"team": str(foreign_team.pk)}).content.decode()
    assert f"workitem-{item.pk}" in html and foreign_team.name not in html


def test_htmx_request_gets_only_the_results_fragment(client, approver, team):
    item = make_item(team, "SUP-1", status="blocked")
    make_item(team, "SUP-2")
    client.force_login(approver)
    response = client.get(LIST, {"status": "blocked"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="workitem-filters"' not in html
    assert f"workitem-{item.pk}" in html and "1 work item" in html
    full = client.get(LIST, {"status": "blocked"}).content.decode()
    assert "<html" in full and 'id="workitem-filters"' in full and 'id="workitem-results"' in full
    # The filter form and pager work without JavaScript too: real GET forms and links.
    assert 'method="get" action="/workitems/"' in full and 'hx-get="/workitems/"' in full


def test_list_is_paginated_and_pages_keep_the_filters(client, approver, team):
    many_items(team, 55, "OPS")
    client.force_login(approver)
    first = client.get(LIST, {"source": "jira"}).content.decode()
    assert first.count('<tr id="workitem-') == 50 and "Page 1 of 2" in first
    assert 'href="?source=jira&amp;page=2"' in first
    second = client.get(LIST, {"source": "jira", "page": "2"}, **HX).content.decode()
    assert second.count('<tr id="workitem-') == 5 and "OPS-54" in second


def test_list_query_count_is_constant(client, approver, team, agent, medium_type):
    client.force_login(approver)
    many_items(team, 3, "A", agent=agent, action_type=medium_type)
    client.get(LIST)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    many_items(team, 40, "B", agent=agent, action_type=medium_type)
    with CaptureQueriesContext(connection) as many:
        html = client.get(LIST).content.decode()
    assert html.count('<tr id="workitem-') == 43
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as fragment:
        client.get(LIST, **HX)
    assert len(fragment) <= len(many)


def test_sidebar_links_the_new_pages_and_marks_the_current_one(client, approver):
    client.force_login(approver)
    html = client.get(LIST).content.decode()
    assert '<a href="/workitems/" aria-current="page">' in html
    assert 'href="/policies/"' in html and 'href="/policies/" aria-current' not in html
    policies = client.get("/policies/").content.decode()
    assert '<a href="/policies/" aria-current="page">' in policies


# --------------------------------------------------------------------------- detail


@pytest.fixture
def story(org, team, sales, agent, medium_type, note_type):
    """A work item with deliveries, a proposal and an error from policies, and actions."""
    item = make_item(
        team,
        "SUP-7",
        title="Customer cannot log in",
        description="Since Monday the SSO redirect loops.",
        status="stalled",
        source_status="open",
        assignee="Dev Patel",
        priority="high",
        labels=["sso", "customer-facing"],
        due_at=timezone.now() - timedelta(days=1),
        raw={
            "action": "update",
            "data": {"identifier": "SUP-7", "title": "Customer cannot log in"},
        },
    )
    connector = f.make_connector(org, "linear", team=team, name="Linear (Support)")
    now = timezone.now()
    for i, (event, outcome) in enumerate([("Issue.create", "applied"), ("Issue", "unchanged")]):
        delivery = Delivery.objects.create(
            organization=org,
            connector=connector,
            delivery_id=f"dlv-{i}",
            event=event,
            outcome=outcome,
            body_sha256="0" * 64,
            body_bytes=1200,
            received_at=now - timedelta(hours=5 - i),
        )
        delivery.work_items.add(item)
    nudge = Policy.objects.create(
        organization=org,
        name="Nudge stalled issues",
        trigger="scheduled",
        condition='item.status == "stalled"',
        action_type=medium_type,
        payload_template={"note": "{{ item.title }}"},
    )
    broken = Policy.objects.create(
        organization=org,
        name="Broken due-date rule",
        trigger="scheduled",
        condition="item.due_at < now",
        action_type=note_type,
        payload_template={"note": "x"},
    )
    proposed = propose(agent, team, medium_type, "Any news on SUP-7?", work_item=item, policy=nudge)
    PolicyEvaluation.objects.create(
        organization=org,
        policy=nudge,
        work_item=item,
        trigger="scheduled",
        outcome="proposed",
        action=proposed,
        window_key="first",
        created_at=now - timedelta(hours=2),
    )
    PolicyEvaluation.objects.create(
        organization=org,
        policy=broken,
        work_item=item,
        trigger="scheduled",
        outcome="error",
        error="no such key: due_at",
        created_at=now - timedelta(hours=1),
    )
    hidden = propose(agent, sales, medium_type, "Sales-only follow-up", work_item=item)
    return {"item": item, "action": proposed, "hidden": hidden, "nudge": nudge, "broken": broken}


def test_detail_shows_fields_timeline_and_raw_payload(client, viewer, story):
    item = story["item"]
    client.force_login(viewer)
    response = client.get(f"/workitems/{item.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Customer cannot log in" in html and "Since Monday the SSO redirect loops." in html
    assert 'class="badge wi-status wi-stalled">Stalled<' in html
    assert "Linear says open" in html  # why CWA shows stalled
    assert ">sso<" in html and ">customer-facing<" in html
    assert "overdue" in html and "Dev Patel" in html and "Linear (Support)" in html
    source_link = 'href="https://linear.app/acme/issue/SUP-7" rel="noopener noreferrer"'
    assert source_link + ' target="_blank"' in html
    # Timeline: two deliveries, the proposal and the error, the visible action; newest first.
    assert html.count('data-kind="delivery"') == 2
    assert "Issue.create" in html and ">Applied<" in html and ">Unchanged<" in html
    assert html.count('data-kind="evaluation"') == 2
    assert "Nudge stalled issues" in html and "no such key: due_at" in html
    assert f'href="/policies/{story["broken"].pk}/"' in html
    assert html.count('data-kind="action"') == 1
    action = story["action"]
    assert f'href="/approvals/{action.pk}/"' in html and f"#{action.number}" in html
    assert "risk-medium" in html and "status-pending" in html
    assert "Sales-only follow-up" not in html and str(story["hidden"].pk) not in html
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert kinds == ["action", "evaluation", "evaluation", "delivery", "delivery"]
    # The raw payload, collapsed and pretty-printed.
    raw = re.search(r'<details class="raw-payload">(.*?)</details>', html, re.S).group(1)
    assert "&quot;identifier&quot;: &quot;SUP-7&quot;" in raw and "\n  &quot;data&quot;" in raw


def test_detail_of_hidden_foreign_teamless_or_missing_items_is_404(
    client, viewer, mallory, team, sales, org
):
    hidden = make_item(sales, "SAL-1")
    teamless = make_item(None, "MAIL-1", org=org)
    mine = make_item(team, "SUP-1")
    client.force_login(viewer)
    for item in (hidden, teamless):
        assert client.get(f"/workitems/{item.pk}/").status_code == 404
    assert client.get("/workitems/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/workitems/not-a-uuid/").status_code == 404
    client.force_login(mallory)
    assert client.get(f"/workitems/{mine.pk}/").status_code == 404


def test_detail_query_count_does_not_grow_with_the_timeline(
    client, viewer, story, org, agent, team, medium_type
):
    item = story["item"]
    client.force_login(viewer)
    client.get(f"/workitems/{item.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/workitems/{item.pk}/")
    connector = item.deliveries.first().connector
    now = timezone.now()
    for i in range(10):
        delivery = Delivery.objects.create(
            organization=org,
            connector=connector,
            delivery_id=f"more-{i}",
            event="Comment",
            outcome="applied",
            body_sha256="1" * 64,
            body_bytes=10,
            received_at=now - timedelta(minutes=i),
        )
        delivery.work_items.add(item)
        action = propose(
            agent, team, medium_type, f"more {i}", work_item=item, policy=story["nudge"]
        )
        PolicyEvaluation.objects.create(
            organization=org,
            policy=story["nudge"],
            work_item=item,
            trigger="scheduled",
            outcome="proposed",
            action=action,
            window_key=f"w{i}",
        )
    with CaptureQueriesContext(connection) as many:
        html = client.get(f"/workitems/{item.pk}/").content.decode()
    assert html.count('data-kind="action"') == 11
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]


def test_action_pages_link_their_work_item(client, approver, story):
    action = story["action"]
    item_url = f'href="/workitems/{story["item"].pk}/"'
    client.force_login(approver)
    assert item_url in client.get(f"/approvals/{action.pk}/").content.decode()
    preview = client.get(f"/approvals/{action.pk}/preview/", HTTP_HX_REQUEST="true")
    assert item_url in preview.content.decode()
