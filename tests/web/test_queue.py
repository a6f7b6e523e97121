"""The approval queue page: scoping, filters, decisions one by one and in bulk, HTMX fragments,
and a query count that does not grow with the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action, Decision
from audit.models import AuditEvent
from teams.choices import Role
from tests import factories as f
from tests.web.conftest import bulk_pending, propose

QUEUE = "/approvals/"
HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-results"}


@pytest.fixture
def three(agent, team, medium_type):
    return [propose(agent, team, medium_type, f"note {i}") for i in range(3)]


def test_every_page_requires_login(client, team):
    for url in (
        QUEUE,
        "/dashboard/",
        "/inbox/",
        "/teams/",
        "/approvals/rows/",
        f"/teams/{team.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    assert client.get("/").status_code == 302


def test_home_redirects_to_the_queue(client, approver):
    client.force_login(approver)
    assert client.get("/")["Location"] == QUEUE


def test_login_page_renders_and_logs_in(client, approver):
    page = client.get("/accounts/login/")
    assert b'name="username"' in page.content and b"Log in" in page.content
    response = client.post("/accounts/login/", {"username": "bob", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_queue_shows_pending_visible_actions_newest_first(client, approver, three, mallory):
    other_team = mallory.memberships.get().team
    other_type = f.make_action_type(other_team.organization, "note", risk="medium")
    globex = f.make_agent(other_team.organization, "globex-bot", [other_type])
    hidden = propose(globex, other_team, other_type, "secret globex note")
    client.force_login(approver)
    page = client.get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(f'id="action-{a.pk}"') for a in reversed(three)]
    assert positions == sorted(positions), "newest first"
    assert "secret globex note" not in html and str(hidden.pk) not in html
    assert "<html" in html and 'hx-headers=\'{"X-CSRFToken"' in html


def test_row_shows_risk_text_reason_proposer_and_countdown(client, approver, three):
    client.force_login(approver)
    html = client.get(QUEUE).content.decode()
    assert "risk-medium" in html and ">Medium<" in html  # colour and text
    assert "medium risk, team is semi-autonomous" in html
    assert "by triage-bot" in html
    assert "data-countdown" in html and three[0].expires_at.isoformat()[:16] in html
    assert "note 0" in html


def test_htmx_request_gets_only_the_results_fragment(client, approver, three):
    client.force_login(approver)
    response = client.get(QUEUE, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "data-queue" in html
    assert all(f"action-{a.pk}" in html for a in three)


def test_viewer_sees_no_decision_controls(client, viewer, three):
    client.force_login(viewer)
    html = client.get(QUEUE).content.decode()
    assert all(f"action-{a.pk}" in html for a in three)
    assert "data-approve" not in html and "data-reject" not in html
    assert "data-row-check" not in html and 'id="bulk-form"' not in html
    assert "View only" in html


def test_viewer_post_is_refused_by_the_server(client, viewer, three):
    client.force_login(viewer)
    action = three[0]
    response = client.post(
        reverse("approvals:decide", args=[action.pk]), {"decision": "approve"}, follow=True
    )
    assert response.status_code == 200
    assert b"not an approver" in response.content
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING and not Decision.objects.exists()


def test_proposer_sees_no_approve_button_on_own_action(client, proposer, team, medium_type):
    mine = Action.objects.get(
        pk=propose_as_user(proposer, team, medium_type).pk,
    )
    client.force_login(proposer)
    html = client.get(QUEUE).content.decode()
    assert f"action-{mine.pk}" in html and "You proposed this" in html
    assert "data-approve" not in html


def propose_as_user(user, team, action_type):
    from approvals.services import action_propose

    return action_propose(
        actor=user, team=team, action_type=action_type, payload={"note": "n"}
    ).action


def test_hidden_action_is_404_everywhere(client, mallory, three):
    client.force_login(mallory)
    action = three[0]
    for url in (
        reverse("approvals:detail", args=[action.pk]),
        reverse("approvals:preview", args=[action.pk]),
    ):
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404
    response = client.post(reverse("approvals:decide", args=[action.pk]), {"decision": "approve"})
    assert response.status_code == 404
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING


# --- filters


def test_filters(client, approver, agent, team, sales, medium_type, note_type, org):
    f.add_member(approver, sales, Role.APPROVER)
    support_medium = propose(agent, team, medium_type, "support medium")
    sales_low = propose(agent, sales, note_type, "sales low")
    old = propose(agent, sales, medium_type, "old one")
    Action.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=4))
    client.force_login(approver)

    def shown(**params):
        html = client.get(QUEUE, params, **HX).content.decode()
        return {a for a in (support_medium, sales_low, old) if f"action-{a.pk}" in html}

    assert shown() == {support_medium, sales_low, old}
    assert shown(team=str(sales.pk)) == {sales_low, old}
    assert shown(department="Commercial") == {sales_low, old}
    assert shown(risk="low") == {sales_low}
    assert shown(risk=["medium", "critical"]) == {support_medium, old}
    assert shown(action_type=str(note_type.pk)) == {sales_low}
    assert shown(agent=str(agent.pk)) == {support_medium, sales_low, old}
    assert shown(age="1h") == {support_medium, sales_low}
    assert shown(age="3d") == {old}
    assert shown(q="support medium") == {support_medium}
    assert shown(q=f"#{sales_low.number}") == {sales_low}
    assert shown(q="triage") == {support_medium, sales_low, old}
    # Choices a user may not see are refused, not applied.
    other = f.make_team(f.make_org("x"), "Hidden")
    assert shown(team=str(other.pk)) == {support_medium, sales_low, old}


def test_group_by_agent_and_action_type(client, approver, agent, team, medium_type, org):
    other_type = f.make_action_type(org, "other", risk="high", name="Other type")
    agent.allowed_action_types.add(other_type)
    a = propose(agent, team, medium_type, "a")
    b = propose(agent, team, other_type, "b")
    c = propose(agent, team, medium_type, "c")
    client.force_login(approver)
    html = client.get(QUEUE, {"group": "1"}, **HX).content.decode()
    assert html.count('class="qgroup"') == 2
    assert "2 pending" in html and "1 pending" in html
    medium_group = html.index("Escalation note</", html.index('class="qgroup"'))
    assert medium_group >= 0
    # rows of one group are adjacent
    order = sorted((html.index(f"action-{x.pk}"), x) for x in (a, b, c))
    assert [x for _, x in order] in ([c, a, b], [b, c, a])


def test_sort_by_expiry_and_risk(client, approver, agent, team, medium_type, org):
    high = f.make_action_type(org, "high", risk="high")
    agent.allowed_action_types.add(high)
    soon = propose(agent, team, medium_type, "soon", expires_at=timezone.now() + timedelta(hours=1))
    risky = propose(agent, team, high, "risky")
    client.force_login(approver)
    html = client.get(QUEUE, {"sort": "expiring"}, **HX).content.decode()
    assert html.index(f"action-{soon.pk}") < html.index(f"action-{risky.pk}")
    html = client.get(QUEUE, {"sort": "risk"}, **HX).content.decode()
    assert html.index(f"action-{risky.pk}") < html.index(f"action-{soon.pk}")


def test_expired_but_not_yet_swept_actions_leave_the_queue(client, approver, three):
    Action.objects.filter(pk=three[0].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(approver)
    html = client.get(QUEUE).content.decode()
    assert f"action-{three[0].pk}" not in html and f"action-{three[1].pk}" in html


def test_pagination(client, approver, team, medium_type, settings):
    settings.CWA_QUEUE_PAGE_SIZE = 5
    bulk_pending(team, medium_type, 12)
    client.force_login(approver)
    html = client.get(QUEUE, {"page": 3}, **HX).content.decode()
    assert html.count("data-action-id=") == 2 and "Page 3 of 3" in html
    assert client.get(QUEUE, {"page": "nope"}).status_code == 200


@pytest.mark.parametrize("grouped", [False, True])
def test_query_count_is_constant_as_the_queue_grows(
    client, approver, team, medium_type, agent, grouped
):
    client.force_login(approver)
    params = {"group": "1"} if grouped else {}
    bulk_pending(team, medium_type, 10, agent=agent)
    client.get(QUEUE, params)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as small:
        assert client.get(QUEUE, params).status_code == 200
    bulk_pending(team, medium_type, 1990, agent=agent, start=5000)
    with CaptureQueriesContext(connection) as large:
        page = client.get(QUEUE, params)
    assert page.status_code == 200 and b"2000 pending" in page.content
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]
    assert len(small) <= 16


# --- one decision


def test_approve_without_htmx_redirects_back_with_a_message(client, approver, three):
    client.force_login(approver)
    action = three[0]
    response = client.post(
        reverse("approvals:decide", args=[action.pk]),
        {"decision": "approve", "expected_hash": action.payload_hash, "next": "/approvals/?q=x"},
    )
    assert response.status_code == 302 and response["Location"] == "/approvals/?q=x"
    action.refresh_from_db()
    assert action.status == ActionStatus.APPROVED
    assert Decision.objects.get(action=action).via == "web"
    messages = [str(m) for m in client.get(QUEUE).context["messages"]]
    assert any("approved" in m for m in messages)


def test_reject_with_note_over_htmx_returns_the_updated_row(client, approver, three):
    client.force_login(approver)
    action = three[1]
    response = client.post(
        reverse("approvals:decide", args=[action.pk]),
        {"decision": "reject", "notes": "Wrong customer", "expected_hash": action.payload_hash},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith("<li") and f'id="action-{action.pk}"' in html
    assert 'data-status="rejected"' in html and "rejected" in html.lower()
    assert "data-approve" not in html
    decision = Decision.objects.get(action=action)
    assert decision.decision == "reject" and decision.notes == "Wrong customer"
    assert AuditEvent.objects.filter(verb="action.rejected", target_id=str(action.pk)).exists()


def test_decision_on_an_edited_action_is_refused(client, approver, three):
    client.force_login(approver)
    action = three[0]
    response = client.post(
        reverse("approvals:decide", args=[action.pk]),
        {"decision": "approve", "expected_hash": "0" * 64},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert (
        b"was edited since you saw it" in response.content and b'role="alert"' in response.content
    )
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING


def test_second_decision_says_it_is_too_late(client, approver, approver2, three):
    action = three[0]
    client.force_login(approver2)
    client.post(reverse("approvals:decide", args=[action.pk]), {"decision": "approve"})
    client.force_login(approver)
    response = client.post(
        reverse("approvals:decide", args=[action.pk]),
        {"decision": "reject"},
        HTTP_HX_REQUEST="true",
    )
    assert b"already approved" in response.content
    assert Decision.objects.filter(action=action).count() == 1


def test_bad_decision_value_is_not_a_500(client, approver, three):
    client.force_login(approver)
    url = reverse("approvals:decide", args=[three[0].pk])
    assert client.post(url, {"decision": "maybe"}).status_code == 302
    assert client.post(url, {"decision": "maybe"}, HTTP_HX_REQUEST="true").status_code == 200
    assert client.get(url).status_code == 405


# --- bulk


def test_bulk_approve_over_htmx_gives_a_per_item_result(client, approver, proposer, three, team):
    own = propose_as_user(approver, team, three[0].action_type)
    client.force_login(approver)
    ids = [str(a.pk) for a in three] + [str(own.pk)]
    response = client.post(
        reverse("approvals:bulk"),
        {"ids": ids, "decision": "approve", "notes": "batch"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "3 approved, 1 skipped" in html
    assert "you proposed this action" in html.lower()
    for action in three:
        assert f'id="action-{action.pk}" tabindex="-1"' in html
        assert html.count(f'id="action-{action.pk}"') == 1
    assert 'hx-swap-oob="outerHTML"' in html
    assert Action.objects.filter(pk__in=[a.pk for a in three], status="approved").count() == 3
    assert set(Decision.objects.values_list("via", flat=True)) == {"bulk"}
    own.refresh_from_db()
    assert own.status == ActionStatus.PENDING


def test_bulk_without_htmx_redirects_to_the_filtered_queue(client, approver, three):
    client.force_login(approver)
    response = client.post(
        reverse("approvals:bulk"),
        {"ids": [str(three[0].pk)], "decision": "reject", "filter_query": "risk=medium"},
    )
    assert response.status_code == 302 and response["Location"] == "/approvals/?risk=medium"
    three[0].refresh_from_db()
    assert three[0].status == ActionStatus.REJECTED


def test_bulk_select_all_matching_the_filter(client, approver, agent, team, sales, medium_type):
    inside = [propose(agent, team, medium_type, f"in {i}") for i in range(3)]
    f.add_member(approver, sales, Role.APPROVER)
    outside = propose(agent, sales, medium_type, "outside")
    client.force_login(approver)
    response = client.post(
        reverse("approvals:bulk"),
        {"all_matching": "on", "filter_query": f"team={team.pk}", "decision": "approve"},
        HTTP_HX_REQUEST="true",
    )
    assert b"3 approved" in response.content
    assert Action.objects.filter(pk__in=[a.pk for a in inside], status="approved").count() == 3
    outside.refresh_from_db()
    assert outside.status == ActionStatus.PENDING


def test_bulk_needs_a_selection(client, approver):
    client.force_login(approver)
    response = client.post(
        reverse("approvals:bulk"), {"decision": "approve"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and b"Select at least one action" in response.content


def test_bulk_ignores_garbage_ids(client, approver, three):
    client.force_login(approver)
    response = client.post(
        reverse("approvals:bulk"),
        {"ids": ["nope", str(three[0].pk)], "decision": "approve"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b"1 approved, 1 skipped" in response.content


def test_bulk_query_count_does_not_grow_with_the_selection(client, approver, team, medium_type):
    client.force_login(approver)
    small = bulk_pending(team, medium_type, 3)
    large = bulk_pending(team, medium_type, 60, start=2000)
    with CaptureQueriesContext(connection) as q_small:
        client.post(
            reverse("approvals:bulk"),
            {"ids": [str(a.pk) for a in small], "decision": "approve"},
            HTTP_HX_REQUEST="true",
        )
    with CaptureQueriesContext(connection) as q_large:
        client.post(
            reverse("approvals:bulk"),
            {"ids": [str(a.pk) for a in large], "decision": "approve"},
            HTTP_HX_REQUEST="true",
        )
    assert len(q_large) == len(q_small)


# --- live rows, preview, detail


def test_live_rows_answers_visible_rows_with_their_filter_match(client, approver, three, mallory):
    client.force_login(approver)
    done = three[0]
    Action.objects.filter(pk=done.pk).update(status=ActionStatus.APPROVED)
    other_team = mallory.memberships.get().team
    hidden = bulk_pending(other_team, f.make_action_type(other_team.organization, "n"), 1)[0]
    response = client.get(
        reverse("approvals:rows"),
        {"ids": [str(done.pk), str(three[1].pk), str(hidden.pk), "junk"], "risk": "medium"},
    )
    html = response.content.decode()
    assert f'id="action-{done.pk}"' in html and 'data-matches="0"' in html
    assert f'id="action-{three[1].pk}"' in html and 'data-matches="1"' in html
    assert str(hidden.pk) not in html
    assert 'data-total="2"' in html


def test_preview_fragment_shows_payload_and_similar_decisions(
    client, approver, approver2, agent, team, medium_type
):
    past = propose(agent, team, medium_type, "earlier")
    client.force_login(approver2)
    client.post(reverse("approvals:decide", args=[past.pk]), {"decision": "reject", "notes": "dup"})
    action = propose(agent, team, medium_type, "the one")
    client.force_login(approver)
    response = client.get(reverse("approvals:preview", args=[action.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "the one" in html and "payload_hash" not in html
    assert f"#{past.number}" in html and "dup" in html and "0 approved, 1 rejected" in html
    plain = client.get(reverse("approvals:preview", args=[action.pk]))
    assert plain.status_code == 302 and plain["Location"].endswith(f"/approvals/{action.pk}/")


def test_preview_shows_the_diff_of_an_edited_action(client, approver, three):
    from approvals.services import action_edit

    action_edit(actor=approver, action_id=three[0].pk, payload={"note": "changed text"})
    client.force_login(approver)
    html = client.get(
        reverse("approvals:preview", args=[three[0].pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "revision 2" in html and 'class="add"' in html and "changed text" in html


def test_detail_shows_the_whole_timeline(client, approver, approver2, agent, team, org, run_tasks):
    critical = f.make_action_type(org, "credit", risk="critical", name="Credit")
    agent.allowed_action_types.add(critical)
    action = propose(agent, team, critical, "give credit")
    client.force_login(approver)
    client.post(
        reverse("approvals:decide", args=[action.pk]), {"decision": "approve", "notes": "ok 1"}
    )
    client.force_login(approver2)
    client.post(
        reverse("approvals:decide", args=[action.pk]), {"decision": "approve", "notes": "ok 2"}
    )
    run_tasks()
    page = client.get(reverse("approvals:detail", args=[action.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "Proposed",
        "critical risk: two distinct approvers required",
        "Approval recorded",
        "ok 1",
        "ok 2",
        "Execution started",
        "Execution succeeded",
        "Execution attempts",
    ):
        assert text in html, text
    fragment = client.get(
        reverse("approvals:detail", args=[action.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="action-live",
    ).content.decode()
    assert "<html" not in fragment and 'id="action-live"' in fragment


def test_opening_an_action_reads_its_notifications(client, approver, three):
    action = three[0]
    assert approver.notifications.filter(action=action, read_at__isnull=True).exists()
    client.force_login(approver)
    client.get(reverse("approvals:detail", args=[action.pk]))
    assert not approver.notifications.filter(action=action, read_at__isnull=True).exists()


def test_expired_session_on_an_htmx_request_redirects_the_whole_page(client, three):
    response = client.post(
        reverse("approvals:decide", args=[three[0].pk]),
        {"decision": "approve"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/approvals/?risk=high",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fapprovals%2F%3Frisk%3Dhigh"
    plain = client.get(QUEUE)
    assert plain.status_code == 302 and "HX-Redirect" not in plain
