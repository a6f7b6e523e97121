"""Approvals from Slack against a fake Slack: posting pending actions, button clicks, the /cwa
slash command, signatures, identity, and the decide service's rules holding from Slack."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from approvals.choices import ActionStatus, DecisionChannel
from approvals.models import Action, Decision, SlackMessage, SlackRoute
from approvals.services import action_decide, action_edit, action_propose
from approvals.slack import messages as slack_messages
from audit.models import AuditEvent
from teams.choices import Role
from teams.models import UserProfile
from tests import factories as f
from tests.conftest import drain_tasks
from tests.fakes.connectors import (  # noqa: F401
    make_connector,
    slack_connector,
    slack_headers,
)
from tests.fakes.http_server import Reply
from tests.fakes.slack import FakeSlack, error, fixture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MARIA = "U061F7AUR"  # the Slack user of the fixtures


@pytest.fixture(autouse=True)
def only_loopback(settings):
    """Slack's real response_url host is refused in tests: nothing may leave 127.0.0.1."""
    settings.CWA_SLACK_RESPONSE_URL_PREFIXES = []


@pytest.fixture
def fake_slack():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def connector(org, fake_slack):
    return slack_connector(org, fake_slack, team_id="T061EG9R6")


@pytest.fixture
def route(team, connector):
    return SlackRoute.objects.create(team=team, connector=connector, channel="C0123OPS45")


@pytest.fixture
def maria(approver):
    """The approver `bob`, known in Slack as the fixtures' user."""
    UserProfile.objects.create(user=approver, slack_user_id=MARIA)
    return approver


@pytest.fixture
def medium_type(org):
    return f.make_action_type(org, "escalate", risk="medium")


@pytest.fixture
def pending(team, proposer, medium_type, route, fake_slack):
    """A pending action, posted to the team's channel."""
    action = action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "page on-call"}
    ).action
    assert action.status == ActionStatus.PENDING
    drain_tasks()
    return action


def click_body(
    action: Action | None,
    fake: FakeSlack,
    *,
    user: str = MARIA,
    button: str = "cwa_approve",
    value: str | None = None,
    ts: str | None = None,
) -> bytes:
    """A block_actions delivery shaped like tests/fixtures/slack_block_actions.json."""
    payload = fixture("slack_block_actions.json")
    payload["user"]["id"] = user
    payload["response_url"] = fake.response_url()
    pressed = payload["actions"][0]
    pressed["action_id"] = button
    if value is None and action is not None:
        value = f"{action.number}:{action.payload_hash}"
    pressed["value"] = value
    if ts is None and fake.messages:
        ts = fake.messages[-1]["ts"]
    payload["container"]["message_ts"] = payload["message"]["ts"] = ts or "1716890500.000200"
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def post(client, url: str, body: bytes, **headers):
    return client.post(
        url,
        data=body,
        content_type="application/x-www-form-urlencoded",
        **{**slack_headers(body), **headers},
    )


def click(client, connector, body: bytes):
    return post(client, f"/slack/interactivity/{connector.pk}/", body)


def command_body(text: str, fake: FakeSlack, *, user: str = MARIA) -> bytes:
    fields = dict(parse_qsl((FIXTURES / "slack_slash_command.raw.txt").read_text().strip()))
    fields.update(text=text, user_id=user, response_url=fake.response_url("cmd"))
    return urlencode(fields).encode()


def command(client, connector, body: bytes):
    return post(client, f"/slack/commands/{connector.pk}/", body)


def last_response(fake: FakeSlack) -> dict:
    return fake.responses[-1]


# --------------------------------------------------------------------------- posting


def test_pending_action_is_posted_with_buttons(pending, fake_slack):
    (message,) = fake_slack.messages
    assert message["channel"] == "C0123OPS45"
    assert f"#{pending.number} waits for approval" in message["text"]
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    values = {e["action_id"]: e["value"] for e in actions["elements"]}
    expected = f"{pending.number}:{pending.payload_hash}"
    assert values == {"cwa_approve": expected, "cwa_reject": expected}
    assert message["request"]["unfurl_links"] is False
    row = SlackMessage.objects.get(action=pending)
    assert row.state == SlackMessage.State.POSTED and row.ts == message["ts"]


def test_posting_is_at_most_once(pending, fake_slack):
    assert slack_messages.post_pending(action_id=pending.pk) == 0
    assert slack_messages.sync()["posted"] == 0
    assert len(fake_slack.messages) == 1


def test_auto_approved_and_unrouted_actions_are_not_posted(
    org, team, proposer, route, fake_slack, note_type
):
    other_team = f.make_team(org, "Sales")
    f.add_member(proposer, other_team, Role.APPROVER)
    action_propose(actor=proposer, team=team, action_type=note_type, payload={"note": "auto"})
    action_propose(
        actor=proposer, team=other_team, action_type=note_type, payload={"note": "unrouted"}
    )
    ran = [func for func, _args, _result in drain_tasks()]
    assert "approvals.slack.tasks.post_pending" not in ran
    assert fake_slack.messages == []


def test_a_failed_post_is_recorded_and_retried_by_the_sync_when_transient(
    team, proposer, medium_type, route, fake_slack
):
    fake_slack.script("chat.postMessage", Reply(status=503, body={"ok": False, "error": "x"}))
    action = action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "n"}
    ).action
    drain_tasks()
    row = SlackMessage.objects.get(action=action)
    assert row.state == SlackMessage.State.RETRY and "503" in row.error

    assert slack_messages.sync()["posted"] == 1
    row.refresh_from_db()
    assert row.state == SlackMessage.State.POSTED and row.attempts == 2
    assert len(fake_slack.messages) == 1


def test_a_refused_post_is_not_retried(team, proposer, medium_type, route, fake_slack):
    fake_slack.script("chat.postMessage", error("not_in_channel"))
    action = action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "n"}
    ).action
    drain_tasks()
    row = SlackMessage.objects.get(action=action)
    assert row.state == SlackMessage.State.FAILED and "invite the app" in row.error
    assert slack_messages.sync()["posted"] == 0
    assert len(fake_slack.requests) == 1


# --------------------------------------------------------------------------- clicks


def test_button_click_decides_once_and_updates_the_message(
    client, connector, pending, maria, fake_slack
):
    started = time.monotonic()
    answer = click(client, connector, click_body(pending, fake_slack))
    assert answer.status_code == 200 and answer.content == b""
    assert time.monotonic() - started < 3
    assert not Decision.objects.exists()  # decided after the answer, by the worker

    drain_tasks()

    decision = Decision.objects.get(action=pending)
    assert decision.user == maria and decision.via == DecisionChannel.SLACK
    pending.refresh_from_db()
    assert pending.status in (ActionStatus.APPROVED, ActionStatus.SUCCEEDED)
    (update,) = fake_slack.updates
    assert update["ts"] == fake_slack.messages[0]["ts"]
    shown = fake_slack.messages[0]
    assert f"approved by <@{MARIA}>" in shown["text"]
    assert not any(b["type"] == "actions" for b in shown["blocks"])  # no more buttons


def test_repeated_click_decides_nothing_twice(client, connector, pending, maria, fake_slack):
    body = click_body(pending, fake_slack)
    for _ in range(3):
        assert click(client, connector, body).status_code == 200
        drain_tasks()
    assert Decision.objects.filter(action=pending).count() == 1
    refusal = last_response(fake_slack)
    assert refusal["response_type"] == "ephemeral"
    assert "already" in refusal["text"] and f"approved by <@{MARIA}>" in refusal["text"]
    assert f"approved by <@{MARIA}>" in fake_slack.messages[0]["text"]


def test_reject_button(client, connector, pending, maria, fake_slack):
    click(client, connector, click_body(pending, fake_slack, button="cwa_reject"))
    drain_tasks()
    pending.refresh_from_db()
    assert pending.status == ActionStatus.REJECTED
    assert f"rejected by <@{MARIA}>" in fake_slack.messages[0]["text"]


def test_approver_from_another_team_is_refused(client, org, connector, pending, fake_slack):
    sales = f.make_team(org, "Sales")
    outsider = f.make_user("sam", org)
    f.add_member(outsider, sales, Role.APPROVER)
    UserProfile.objects.create(user=outsider, slack_user_id="U0SALES01")

    click(client, connector, click_body(pending, fake_slack, user="U0SALES01"))
    drain_tasks()

    assert not Decision.objects.exists()
    pending.refresh_from_db()
    assert pending.status == ActionStatus.PENDING
    assert f"no action #{pending.number} that you can see" in last_response(fake_slack)["text"]
    assert fake_slack.updates == []  # the message still offers its buttons to the right people


def test_viewer_and_proposer_are_refused_with_the_services_reason(
    client, connector, pending, proposer, viewer, fake_slack
):
    UserProfile.objects.create(user=viewer, slack_user_id="U0VIEWER1")
    UserProfile.objects.create(user=proposer, slack_user_id="U0PROPOSR")
    click(client, connector, click_body(pending, fake_slack, user="U0VIEWER1"))
    click(client, connector, click_body(pending, fake_slack, user="U0PROPOSR"))
    drain_tasks()
    texts = [r["text"] for r in fake_slack.responses]
    assert any("not an approver of Support" in t for t in texts)
    assert any("You proposed this action" in t for t in texts)
    assert not Decision.objects.exists()


def test_unknown_slack_user_gets_a_clear_ephemeral_refusal(client, connector, pending, fake_slack):
    click(client, connector, click_body(pending, fake_slack, user="U0NOBODY1"))
    drain_tasks()
    refusal = last_response(fake_slack)
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "not linked to a CWA user" in refusal["text"] and "U0NOBODY1" in refusal["text"]
    assert not Decision.objects.exists()


def test_slack_user_of_another_organization_is_unknown_here(
    client, other_org, connector, pending, fake_slack
):
    stranger = f.make_user("mallory", other_org)
    UserProfile.objects.create(user=stranger, slack_user_id="U0GLOBEX1")
    click(client, connector, click_body(pending, fake_slack, user="U0GLOBEX1"))
    drain_tasks()
    assert "not linked" in last_response(fake_slack)["text"]
    assert not Decision.objects.exists()


def test_critical_action_needs_two_clicks_from_two_people(
    client, org, team, proposer, connector, route, maria, approver2, fake_slack
):
    critical = f.make_action_type(org, "credit", risk="critical")
    action = action_propose(
        actor=proposer, team=team, action_type=critical, payload={"note": "refund"}
    ).action
    drain_tasks()
    UserProfile.objects.create(user=approver2, slack_user_id="U0ERIN001")

    click(client, connector, click_body(action, fake_slack))
    drain_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING
    shown = fake_slack.messages[0]
    assert any(b["type"] == "actions" for b in shown["blocks"])  # still waiting for a second
    assert "Approval 1 of 2" in json.dumps(shown["blocks"])

    click(client, connector, click_body(action, fake_slack, user="U0ERIN001"))
    drain_tasks()
    action.refresh_from_db()
    assert action.status in (ActionStatus.APPROVED, ActionStatus.SUCCEEDED)
    assert Decision.objects.filter(action=action).count() == 2


def test_click_on_an_edited_action_is_refused(
    client, connector, pending, maria, approver2, fake_slack
):
    body = click_body(pending, fake_slack)  # drawn before the edit
    action_edit(actor=approver2, action_id=pending.pk, payload={"note": "page everyone"})
    click(client, connector, body)
    drain_tasks()
    assert not Decision.objects.exists()
    assert "edited since you saw it" in last_response(fake_slack)["text"]
    # The message is redrawn with the new revision's buttons.
    pending.refresh_from_db()
    assert pending.payload_hash in json.dumps(fake_slack.messages[0]["blocks"])


def test_click_on_an_expired_action_is_refused_and_shown(
    client, connector, pending, maria, fake_slack
):
    Action.objects.filter(pk=pending.pk).update(expires_at=timezone.now())
    click(client, connector, click_body(pending, fake_slack))
    drain_tasks()
    assert not Decision.objects.exists()
    assert "expired" in last_response(fake_slack)["text"]
    assert "expired" in fake_slack.messages[0]["text"]


def test_a_click_on_a_message_cwa_did_not_post_is_replaced_by_response_url(
    client, connector, team, proposer, medium_type, maria, fake_slack
):
    action = action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "x"}
    ).action  # no route: nothing posted
    click(client, connector, click_body(action, fake_slack, ts="1716890500.000200"))
    drain_tasks()
    replaced = last_response(fake_slack)
    assert replaced["replace_original"] is True and "approved by" in replaced["text"]


def test_answer_comes_before_the_work_even_when_slack_is_slow(
    client, connector, pending, maria, fake_slack
):
    fake_slack.script("chat.update", Reply(hang=5))
    started = time.monotonic()
    assert click(client, connector, click_body(pending, fake_slack)).status_code == 200
    assert time.monotonic() - started < 1
    fake_slack.release.set()


# --------------------------------------------------------------------------- request checks


def test_fixture_bytes_verify_and_a_stale_signature_is_refused(client, connector, maria):
    raw = (FIXTURES / "slack_block_actions.raw.txt").read_bytes().strip()
    stale = post(
        client,
        f"/slack/interactivity/{connector.pk}/",
        raw,
        **slack_headers(raw, timestamp=1716890533),
    )
    assert stale.status_code == 401 and b"stale" in stale.content
    assert OrmQ.objects.count() == 0

    fresh = click(client, connector, raw)
    assert fresh.status_code == 200
    assert OrmQ.objects.count() == 1
    drain_tasks()  # value "42": no such action; Slack's real response_url is not called
    assert not Decision.objects.exists()


def test_bad_signature_get_and_unknown_connector_decide_nothing(
    client, connector, pending, maria, fake_slack
):
    body = click_body(pending, fake_slack)
    forged = client.post(
        f"/slack/interactivity/{connector.pk}/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        **slack_headers(body, secret="not-the-secret"),
    )
    assert forged.status_code == 401
    unsigned = client.post(
        f"/slack/interactivity/{connector.pk}/",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert unsigned.status_code == 401
    preview = client.get(f"/slack/interactivity/{connector.pk}/?payload=x")  # a link preview
    assert preview.status_code == 405
    assert client.get(f"/slack/commands/{connector.pk}/").status_code == 405
    assert click(client, type(connector)(pk=uuid.uuid4()), body).status_code == 404
    big = b"payload=" + b"x" * (300 * 1024)
    assert click(client, connector, big).status_code == 413
    assert OrmQ.objects.count() == 0
    assert not Decision.objects.exists()


def test_disabled_connector_is_not_found(client, connector, pending, fake_slack):
    connector.enabled = False
    connector.save()
    assert click(client, connector, click_body(pending, fake_slack)).status_code == 404


def test_malformed_bodies_get_400_not_500(client, connector):
    assert click(client, connector, b"payload=%7Bnot-json").status_code == 400
    assert click(client, connector, b"\xff\xfe").status_code == 400
    assert (
        click(client, connector, b"payload=%7B%22type%22%3A%22view_submission%22%7D").status_code
        == 200
    )
    assert OrmQ.objects.count() == 0


def test_other_workspace_is_refused(client, connector, pending, maria, fake_slack):
    payload = json.loads(dict(parse_qsl(click_body(pending, fake_slack).decode()))["payload"])
    payload["team"]["id"] = "T0OTHER00"
    click(client, connector, urlencode({"payload": json.dumps(payload)}).encode())
    drain_tasks()
    assert not Decision.objects.exists()
    assert "not connected" in last_response(fake_slack)["text"]


# --------------------------------------------------------------------------- slash command


def test_slash_approve_decides_once(client, connector, pending, maria, fake_slack):
    body = command_body(f"approve {pending.number}", fake_slack)
    answer = command(client, connector, body)
    assert answer.status_code == 200
    assert answer.json() == {"response_type": "ephemeral", "text": f"Approving #{pending.number}…"}
    assert not Decision.objects.exists()

    drain_tasks()
    decision = Decision.objects.get(action=pending)
    assert decision.user == maria and decision.via == DecisionChannel.SLACK
    assert last_response(fake_slack)["text"] == f"Action #{pending.number} approved."
    assert f"approved by <@{MARIA}>" in fake_slack.messages[0]["text"]

    command(client, connector, body)
    drain_tasks()
    assert Decision.objects.filter(action=pending).count() == 1
    refusal = last_response(fake_slack)["text"]
    assert "is already" in refusal and f"approved by <@{MARIA}>" in refusal


def test_slash_reject_keeps_the_reason(client, connector, pending, maria, fake_slack):
    command(
        client,
        connector,
        command_body(f"reject #{pending.number} not during the freeze", fake_slack),
    )
    drain_tasks()
    decision = Decision.objects.get(action=pending)
    assert decision.decision == "reject" and decision.notes == "not during the freeze"
    pending.refresh_from_db()
    assert pending.status == ActionStatus.REJECTED


def test_slash_approve_by_approver_of_another_team_is_refused(
    client, org, connector, pending, fake_slack
):
    sales = f.make_team(org, "Sales")
    outsider = f.make_user("sam", org)
    f.add_member(outsider, sales, Role.APPROVER)
    UserProfile.objects.create(user=outsider, slack_user_id="U0SALES01")
    command(
        client, connector, command_body(f"approve {pending.number}", fake_slack, user="U0SALES01")
    )
    drain_tasks()
    assert not Decision.objects.exists()
    assert "that you can see" in last_response(fake_slack)["text"]


def test_slash_command_from_unknown_user_is_refused_at_once(client, connector, pending, fake_slack):
    answer = command(
        client, connector, command_body(f"approve {pending.number}", fake_slack, user="U0NOBODY1")
    )
    assert answer.json()["response_type"] == "ephemeral"
    assert "not linked to a CWA user" in answer.json()["text"]
    assert OrmQ.objects.count() == 0


def test_slash_help_and_bad_numbers(client, connector, maria, fake_slack):
    for text in ("", "help", "frobnicate 3"):
        assert "Usage" in command(client, connector, command_body(text, fake_slack)).json()["text"]
    assert (
        "Which action"
        in command(client, connector, command_body("approve x", fake_slack)).json()["text"]
    )
    assert OrmQ.objects.count() == 0


def test_slash_pending_lists_what_the_user_may_decide_in_constant_queries(
    client, org, team, proposer, maria, connector, medium_type, fake_slack
):
    def propose(n: int) -> None:
        for i in range(n):
            action_propose(
                actor=proposer, team=team, action_type=medium_type, payload={"note": f"n{i}"}
            )

    own = f.make_user("self", org)
    f.add_member(own, team, Role.APPROVER)
    action_propose(actor=maria, team=team, action_type=medium_type, payload={"note": "mine"})
    propose(2)
    body = command_body("pending", fake_slack)
    with CaptureQueriesContext(connection) as few:
        answer = command(client, connector, body)
    text = answer.json()["text"]
    assert text.count("•") == 2  # not the one maria proposed herself
    propose(6)
    with CaptureQueriesContext(connection) as many:
        text = command(client, connector, body).json()["text"]
    assert text.count("•") == 8
    assert len(many) == len(few)
    assert OrmQ.objects.count() == 0  # answered at once, nothing left for a worker


def test_raw_fixture_command_verifies(client, connector, maria):
    raw = (FIXTURES / "slack_slash_command.raw.txt").read_bytes().strip()
    answer = command(client, connector, raw)
    assert answer.status_code == 200 and answer.json()["text"] == "Approving #42…"


# --------------------------------------------------------------------------- sync


def test_sync_redraws_messages_of_actions_decided_on_the_web(pending, approver, fake_slack):
    action_decide(actor=approver, action_id=pending.pk, decision="approve")
    result = slack_messages.sync()
    assert result["redrawn"] == 1
    assert "approved by bob" in fake_slack.messages[0]["text"]
    assert slack_messages.sync()["redrawn"] == 0  # nothing changed since


# --------------------------------------------------------------------------- admin


@pytest.fixture
def staff_admin(org_admin):
    org_admin.is_staff = True
    org_admin.save()
    org_admin.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="approvals", codename__endswith="slackroute"
        ),
        *Permission.objects.filter(codename="view_slackmessage"),
    )
    return org_admin


def test_route_admin_offers_only_own_slack_connectors(
    client, staff_admin, org, other_org, team, connector, fake_slack
):
    foreign = slack_connector(other_org, fake_slack, name="globex-slack")
    linear = make_connector(org, "linear", name="linear")
    client.force_login(staff_admin)
    form = client.get("/admin/approvals/slackroute/add/").context["adminform"].form
    offered = set(form.fields["connector"].queryset)
    assert offered == {connector} and foreign not in offered and linear not in offered

    answer = client.post(
        "/admin/approvals/slackroute/add/",
        {
            "team": str(team.pk),
            "connector": str(connector.pk),
            "channel": "C0123OPS45",
            "enabled": "on",
        },
    )
    assert answer.status_code == 302
    route = SlackRoute.objects.get(team=team)
    assert route.channel == "C0123OPS45"
    assert AuditEvent.objects.filter(
        verb="admin.slackroute.created", target_id=str(route.pk)
    ).exists()


def test_route_refuses_a_connector_of_another_organization(other_org, team, fake_slack):
    foreign = slack_connector(other_org, fake_slack, name="globex-slack")
    with pytest.raises(ValidationError):
        SlackRoute(team=team, connector=foreign, channel="C1").full_clean()


def test_slack_admin_lists_in_constant_queries(
    client, staff_admin, team, proposer, medium_type, route, fake_slack
):
    client.force_login(staff_admin)

    def pages() -> int:
        with CaptureQueriesContext(connection) as queries:
            for url in ("/admin/approvals/slackroute/", "/admin/approvals/slackmessage/"):
                assert client.get(url).status_code == 200
        return len(queries)

    action_propose(actor=proposer, team=team, action_type=medium_type, payload={"note": "a"})
    drain_tasks()
    few = pages()
    for i in range(5):
        action_propose(actor=proposer, team=team, action_type=medium_type, payload={"note": f"{i}"})
    drain_tasks()
    assert SlackMessage.objects.count() == 6
    assert pages() == few
