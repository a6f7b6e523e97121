"""Executors against fake servers speaking the real wire formats: success and failure paths,
Retry-After, unknown outcomes, and what an action looks like afterwards."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals.choices import ActionStatus, ExecutionStatus
from approvals.execution import action_execute, actions_sweep
from approvals.executors.linear import comment_id_for
from approvals.models import Action, Execution
from approvals.services import action_propose
from audit.models import AuditEvent
from cwa_site.errors import InvalidInput
from tests import factories as f
from tests.conftest import drain_tasks
from tests.fakes import slack as slack_replies
from tests.fakes.connectors import (  # noqa: F401 (pytest fixtures)
    jira_connector,
    linear_connector,
    slack_connector,
)
from tests.fakes.http_server import Reply
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear, graphql_error
from tests.fakes.slack import FakeSlack, fixture
from tests.fakes.smtp import FakeSMTP


@pytest.fixture
def fake_slack():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def fake_linear():
    with FakeLinear() as server:
        yield server


@pytest.fixture
def fake_jira():
    with FakeJira() as server:
        yield server


def run(actor, team, action_type, payload) -> Action:
    """Propose a low-risk action (it runs by itself in a semi-autonomous team) and work the queue."""
    action = action_propose(actor=actor, team=team, action_type=action_type, payload=payload).action
    assert action.status == ActionStatus.APPROVED and action.auto_approved
    drain_tasks()
    action.refresh_from_db()
    return action


def later(action: Action) -> None:
    """Let the clock reach the action's retry time (the row is due; nothing else changes)."""
    Action.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now())


# --------------------------------------------------------------------------- Slack


@pytest.fixture
def slack_type(org, fake_slack):
    slack_connector(org, fake_slack, channel="C0123OPS45")
    return f.make_action_type(
        org, "slack-post", executor="slack.post_message", timeout_seconds=1, max_attempts=3
    )


def test_slack_post_message_speaks_the_wire_format(team, proposer, slack_type, fake_slack):
    action = run(proposer, team, slack_type, {"text": "Deploy payments-api v2.14.0 to prod"})

    assert action.status == ActionStatus.SUCCEEDED
    (request,) = fake_slack.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-test-token"
    assert request.headers["content-type"].startswith("application/json")
    sent = request.json()
    expected = fixture("slack_chat_postMessage_request.json")
    assert set(sent) <= set(expected)  # only fields Slack documents
    assert sent["channel"] == "C0123OPS45" and sent["unfurl_links"] is False
    (message,) = fake_slack.messages
    assert message["text"] == "Deploy payments-api v2.14.0 to prod"
    assert action.result == {"channel": "C0123OPS45", "ts": message["ts"]}
    assert Execution.objects.get(action=action).status == ExecutionStatus.SUCCEEDED


def test_slack_ok_false_is_a_permanent_failure_with_the_reason(
    team, proposer, slack_type, fake_slack
):
    action = run(proposer, team, slack_type, {"text": "hi", "channel": "no-such-channel"})

    assert action.status == ActionStatus.FAILED
    assert "channel_not_found" in action.last_error
    assert "does not exist" in action.last_error
    assert len(fake_slack.requests) == 1  # never retried
    failed = AuditEvent.objects.get(verb="execution.failed", target_id=str(action.pk))
    assert failed.data["transient"] is False


def test_slack_revoked_token_fails_at_once(org, team, proposer, fake_slack):
    connector = slack_connector(org, fake_slack, channel="C0123OPS45")
    connector.credentials = "xoxb-revoked"
    connector.save()
    kind = f.make_action_type(org, "slack-post", executor="slack.post_message")

    action = run(proposer, team, kind, {"text": "hi"})

    assert action.status == ActionStatus.FAILED
    assert "invalid_auth" in action.last_error and "token" in action.last_error


def test_slack_429_retry_after_is_honoured(team, proposer, slack_type, fake_slack):
    fake_slack.script("chat.postMessage", slack_replies.ratelimited(30))
    before = timezone.now()

    action = run(proposer, team, slack_type, {"text": "hello"})

    assert action.status == ActionStatus.APPROVED  # waiting for its retry
    assert action.next_attempt_at >= before + timedelta(seconds=30)
    assert "429" in action.last_error
    # Nothing runs before Retry-After: a redelivered task and the sweep both leave it alone.
    assert action_execute(action_id=action.pk) is None
    assert actions_sweep()["enqueued"] == 0
    assert len(fake_slack.requests) == 1

    later(action)
    assert actions_sweep()["enqueued"] == 1
    drain_tasks()
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED
    assert len(fake_slack.messages) == 1
    assert [e.status for e in action.executions.order_by("attempt")] == ["failed", "succeeded"]


def test_slack_ratelimited_in_an_ok_false_body_is_transient(team, proposer, slack_type, fake_slack):
    fake_slack.script(
        "chat.postMessage",
        Reply(status=200, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "7"}),
    )
    before = timezone.now()
    action = run(proposer, team, slack_type, {"text": "hello"})
    assert action.status == ActionStatus.APPROVED
    assert action.next_attempt_at >= before + timedelta(seconds=7)


def test_slack_5xx_retries_then_gives_up(team, proposer, slack_type, fake_slack):
    fake_slack.script(
        "chat.postMessage", *[Reply(status=503, body={"ok": False, "error": "x"})] * 3
    )
    action = run(proposer, team, slack_type, {"text": "hello"})
    for _ in range(2):
        assert action.status == ActionStatus.APPROVED
        later(action)
        actions_sweep()
        drain_tasks()
        action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert "gave up after 3 attempts" in action.last_error
    assert fake_slack.messages == []


def test_slack_fatal_error_is_an_unknown_outcome_and_never_repeated(
    org, team, proposer, fake_slack
):
    slack_connector(org, fake_slack, channel="C0123OPS45")
    # Even an admin who calls it idempotent does not make chat.postMessage repeatable.
    kind = f.make_action_type(org, "slack-post", executor="slack.post_message", idempotent=True)
    fake_slack.script("chat.postMessage", slack_replies.error("fatal_error"))

    action = run(proposer, team, kind, {"text": "hello"})

    assert action.status == ActionStatus.NEEDS_ATTENTION
    assert "fatal_error" in action.last_error
    assert Execution.objects.get(action=action).status == ExecutionStatus.UNKNOWN


def test_slack_timeout_goes_to_a_person_not_a_second_message(
    team, proposer, slack_type, fake_slack
):
    fake_slack.script("chat.postMessage", Reply(hang=5))  # posts, then answers too late
    action = run(proposer, team, slack_type, {"text": "hello"})

    assert action.status == ActionStatus.NEEDS_ATTENTION
    assert "did not answer within 1 s" in action.last_error
    assert actions_sweep()["enqueued"] == 0
    assert len(fake_slack.messages) == 1


def test_slack_unreachable_is_transient(org, team, proposer):
    with FakeSlack() as gone:
        slack_connector(org, gone, channel="C0123OPS45")
    kind = f.make_action_type(org, "slack-post", executor="slack.post_message")
    action = run(proposer, team, kind, {"text": "hello"})
    assert action.status == ActionStatus.APPROVED
    assert "could not connect" in action.last_error


def test_slack_payload_is_validated_at_proposal(team, proposer, slack_type):
    with pytest.raises(InvalidInput) as err:
        action_propose(actor=proposer, team=team, action_type=slack_type, payload={"text": ""})
    assert err.value.field == "payload.text"
    with pytest.raises(InvalidInput) as err:
        action_propose(
            actor=proposer,
            team=team,
            action_type=slack_type,
            payload={"text": "x", "blocks": "not a list"},
        )
    assert err.value.field == "payload.blocks"


def test_missing_connector_is_a_permanent_failure_naming_the_fix(team, proposer, org):
    kind = f.make_action_type(org, "slack-post", executor="slack.post_message")
    action = run(proposer, team, kind, {"text": "hello", "channel": "C1"})
    assert action.status == ActionStatus.FAILED
    assert "no enabled Slack connector" in action.last_error


def test_named_connector_is_used_and_other_orgs_connectors_are_not(
    org, other_org, team, proposer, fake_slack
):
    with FakeSlack() as elsewhere:
        slack_connector(other_org, elsewhere, name="ops")
        slack_connector(org, fake_slack, name="ops", channel="C0123OPS45")
        slack_connector(org, fake_slack, name="second")
        kind = f.make_action_type(
            org, "slack-post", executor="slack.post_message", config={"connector": "ops"}
        )
        action = run(proposer, team, kind, {"text": "hello"})
    assert action.status == ActionStatus.SUCCEEDED
    assert elsewhere.requests == [] and len(fake_slack.messages) == 1


# --------------------------------------------------------------------------- Linear


@pytest.fixture
def linear_comment_type(org, fake_linear):
    linear_connector(org, fake_linear)
    return f.make_action_type(
        org, "linear-comment", executor="linear.comment", idempotent=True, timeout_seconds=1
    )


def test_linear_comment_speaks_graphql(team, proposer, linear_comment_type, fake_linear):
    body = "Approved in CWA: rollout can proceed."
    action = run(proposer, team, linear_comment_type, {"issue_id": "OPS-42", "body": body})

    assert action.status == ActionStatus.SUCCEEDED
    (request,) = fake_linear.requests
    sent = request.json()
    wire = fixture("linear_comment_create_request.json")
    assert sent["query"] == wire["query"] and sent["operationName"] == wire["operationName"]
    assert request.headers["authorization"] == "lin_api_testkey"
    expected_id = comment_id_for(action.idempotency_token)
    assert sent["variables"]["input"] == {"id": expected_id, "issueId": "OPS-42", "body": body}
    assert action.result["comment_id"] == expected_id
    assert list(fake_linear.comments) == [expected_id]


def test_linear_comment_repeated_after_a_timeout_creates_one_comment(
    team, proposer, linear_comment_type, fake_linear
):
    fake_linear.script("CommentCreate", Reply(hang=3))  # created, answer lost
    action = run(proposer, team, linear_comment_type, {"issue_id": "OPS-42", "body": "hi"})
    assert action.status == ActionStatus.APPROVED  # idempotent: retried with the same key

    later(action)
    actions_sweep()
    drain_tasks()
    action.refresh_from_db()

    assert action.status == ActionStatus.SUCCEEDED and action.result["repeat"] is True
    assert len(fake_linear.comments) == 1
    creates = [
        r.json() for r in fake_linear.requests if r.json()["operationName"] == "CommentCreate"
    ]
    assert len(creates) == 2
    assert creates[0]["variables"]["input"]["id"] == creates[1]["variables"]["input"]["id"]


def test_linear_refusal_is_permanent_with_its_message(
    team, proposer, linear_comment_type, fake_linear
):
    action = run(proposer, team, linear_comment_type, {"issue_id": "OPS-999", "body": "hi"})
    assert action.status == ActionStatus.FAILED
    assert "Could not find referenced Issue" in action.last_error


def test_linear_ratelimited_honours_retry_after(team, proposer, linear_comment_type, fake_linear):
    limited = graphql_error("ratelimited", "Rate limit exceeded")
    limited.headers = {"Retry-After": "45"}
    fake_linear.script("CommentCreate", limited)
    before = timezone.now()
    action = run(proposer, team, linear_comment_type, {"issue_id": "OPS-42", "body": "hi"})
    assert action.status == ActionStatus.APPROVED
    assert action.next_attempt_at >= before + timedelta(seconds=45)
    assert fake_linear.comments == {}


def test_linear_issue_update(org, team, proposer, fake_linear):
    linear_connector(org, fake_linear)
    kind = f.make_action_type(org, "linear-update", executor="linear.issue_update", idempotent=True)
    action = run(
        proposer, team, kind, {"issue_id": "OPS-42", "update": {"stateId": "done-1", "priority": 1}}
    )
    assert action.status == ActionStatus.SUCCEEDED
    assert fake_linear.issues["OPS-42"]["stateId"] == "done-1"
    assert fake_linear.issues["OPS-42"]["priority"] == 1
    assert action.result["identifier"] == "OPS-42"


def test_linear_bad_key_is_permanent(org, team, proposer, fake_linear):
    connector = linear_connector(org, fake_linear)
    connector.credentials = "lin_api_wrong"
    connector.save()
    kind = f.make_action_type(org, "linear-update", executor="linear.issue_update")
    action = run(proposer, team, kind, {"issue_id": "OPS-42", "update": {"priority": 1}})
    assert action.status == ActionStatus.FAILED
    assert "Authentication required" in action.last_error


def test_linear_update_fields_are_validated(org, team, proposer):
    kind = f.make_action_type(org, "linear-update", executor="linear.issue_update")
    for update, field in (
        ({"teamId": "x"}, "payload.update.teamId"),
        ({"priority": 9}, "payload.update.priority"),
        ({"title": 5}, "payload.update.title"),
    ):
        with pytest.raises(InvalidInput) as err:
            action_propose(
                actor=proposer,
                team=team,
                action_type=kind,
                payload={"issue_id": "OPS-42", "update": update},
            )
        assert err.value.field == field


# --------------------------------------------------------------------------- Jira


@pytest.fixture
def jira_types(org, fake_jira):
    jira_connector(org, fake_jira)
    return (
        f.make_action_type(org, "jira-comment", executor="jira.comment"),
        f.make_action_type(org, "jira-transition", executor="jira.transition"),
    )


def test_jira_comment_sends_an_adf_document(team, proposer, jira_types, fake_jira):
    text = "Approved in Slack by Maria Lopez via /cwa. Rollout of payments-api v2.14.0 can proceed."
    action = run(proposer, team, jira_types[0], {"issue": "OPS-42", "text": text})

    assert action.status == ActionStatus.SUCCEEDED
    (request,) = fake_jira.requests
    assert request.path == "/rest/api/3/issue/OPS-42/comment"
    assert request.json() == fixture("jira_add_comment_request.json")
    token = base64.b64encode(b"cwa@acme.example:jira-token").decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert action.result["comment_id"] == "10183"


def test_jira_unknown_issue_fails_with_jiras_message(team, proposer, jira_types):
    action = run(proposer, team, jira_types[0], {"issue": "OPS-7", "text": "x"})
    assert action.status == ActionStatus.FAILED
    assert "HTTP 404" in action.last_error and "Issue does not exist" in action.last_error


def test_jira_transition_and_refused_transition(team, proposer, jira_types, fake_jira):
    action = run(proposer, team, jira_types[1], {"issue": "OPS-42", "transition_id": "31"})
    assert action.status == ActionStatus.SUCCEEDED
    assert fake_jira.issues["OPS-42"]["status"] == "Done"

    again = run(proposer, team, jira_types[1], {"issue": "OPS-42", "transition_id": "31"})
    assert again.status == ActionStatus.FAILED
    assert "Transition id '31' is not valid" in again.last_error


def test_jira_503_is_transient(team, proposer, jira_types, fake_jira):
    fake_jira.script("comment", Reply(status=503, body={"errorMessages": ["down"]}))
    action = run(proposer, team, jira_types[0], {"issue": "OPS-42", "text": "x"})
    assert action.status == ActionStatus.APPROVED
    assert fake_jira.comments == []


def test_jira_issue_key_is_validated(team, proposer, jira_types):
    with pytest.raises(InvalidInput) as err:
        action_propose(
            actor=proposer,
            team=team,
            action_type=jira_types[0],
            payload={"issue": "../../admin", "text": "x"},
        )
    assert err.value.field == "payload.issue"


# --------------------------------------------------------------------------- e-mail


@pytest.fixture
def email_type(org):
    return f.make_action_type(
        org,
        "email",
        executor="email.send",
        config={"from": "ops@acme.example", "allowed_domains": ["acme.example"]},
        timeout_seconds=1,
    )


def test_email_goes_through_djangos_mail_backend(team, proposer, email_type):
    action = run(
        proposer,
        team,
        email_type,
        {"to": ["dev@acme.example"], "subject": "Rollout", "body": "It can proceed."},
    )
    assert action.status == ActionStatus.SUCCEEDED
    (message,) = mail.outbox
    assert message.to == ["dev@acme.example"] and message.from_email == "ops@acme.example"
    assert message.extra_headers["Message-ID"] == f"<{action.idempotency_token}@acme.example>"


def test_email_recipients_are_validated(team, proposer, email_type):
    for to in (["not-an-address"], ["someone@elsewhere.example"], []):
        with pytest.raises(InvalidInput) as err:
            action_propose(
                actor=proposer,
                team=team,
                action_type=email_type,
                payload={"to": to, "subject": "s", "body": "b"},
            )
        assert err.value.field == "payload.to"


@pytest.fixture
def smtp(settings):
    with FakeSMTP() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield server


def test_email_over_smtp_success_and_refused_recipient(team, proposer, email_type, smtp):
    ok = run(proposer, team, email_type, {"to": "a@acme.example", "subject": "s", "body": "b"})
    assert ok.status == ActionStatus.SUCCEEDED
    assert smtp.delivered[0]["to"] == ["a@acme.example"]

    smtp.refuse.add("gone@acme.example")
    refused = run(
        proposer, team, email_type, {"to": "gone@acme.example", "subject": "s", "body": "b"}
    )
    assert refused.status == ActionStatus.FAILED
    assert "550" in refused.last_error and "gone@acme.example" in refused.last_error


def test_email_4xx_is_transient_and_a_cut_off_delivery_is_unknown(team, proposer, email_type, smtp):
    smtp.data_reply = "451 4.3.0 Try again later"
    busy = run(proposer, team, email_type, {"to": "a@acme.example", "subject": "s", "body": "b"})
    assert busy.status == ActionStatus.APPROVED and "451" in busy.last_error

    smtp.data_reply, smtp.hang_after_data = "250 Ok", 3
    cut = run(proposer, team, email_type, {"to": "b@acme.example", "subject": "s2", "body": "b"})
    assert cut.status == ActionStatus.NEEDS_ATTENTION
    assert len(smtp.delivered) == 1  # it may well have gone out: a person checks


def test_email_server_down_is_transient(team, proposer, email_type, settings):
    with FakeSMTP() as gone:
        port = gone.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    action = run(proposer, team, email_type, {"to": "a@acme.example", "subject": "s", "body": "b"})
    assert action.status == ActionStatus.APPROVED
    assert "could not reach the mail server" in action.last_error


# --------------------------------------------------------------------------- webhook and sweep


def test_webhook_sends_the_idempotency_key(team, proposer, webhook_type, fake_webhook):
    action = run(proposer, team, webhook_type, {"body": {"incident": 7}})
    assert action.status == ActionStatus.SUCCEEDED
    (request,) = fake_webhook.requests
    assert request.headers["idempotency-key"] == action.idempotency_token
    assert json.loads(request.body) == {"incident": 7}


def _stuck(action: Action, minutes: int = 5) -> None:
    """What a worker that died mid-call leaves behind: executing, a running attempt."""
    started = timezone.now() - timedelta(minutes=minutes)
    Action.objects.filter(pk=action.pk).update(
        status=ActionStatus.EXECUTING,
        attempts=1,
        execution_deadline=started + timedelta(seconds=30),
    )
    Execution.objects.create(
        action=action,
        attempt=1,
        idempotency_key=action.idempotency_token,
        started_at=started,
        worker="dead:1",
    )


@pytest.mark.parametrize("idempotent", [True, False])
def test_sweep_settles_stuck_actions_by_the_idempotency_rule(
    org, team, proposer, fake_webhook, idempotent
):
    kind = f.make_action_type(
        org,
        f"hook-{idempotent}",
        executor="webhook.post",
        config={"url": fake_webhook.url},
        idempotent=idempotent,
    )
    action = action_propose(actor=proposer, team=team, action_type=kind, payload={}).action
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()  # the worker took the task and died
    _stuck(action)

    result = actions_sweep()
    action.refresh_from_db()
    assert result["settled"] == 1
    assert Execution.objects.get(action=action, attempt=1).status == ExecutionStatus.UNKNOWN
    if idempotent:
        assert action.status == ActionStatus.APPROVED and result["enqueued"] == 1
        drain_tasks()
        action.refresh_from_db()
        assert action.status == ActionStatus.SUCCEEDED
        assert fake_webhook.requests[0].headers["idempotency-key"] == action.idempotency_token
    else:
        assert action.status == ActionStatus.NEEDS_ATTENTION and result["enqueued"] == 0
        assert drain_tasks() == [] and fake_webhook.requests == []
        assert AuditEvent.objects.filter(verb="action.needs_attention").exists()


def test_sweep_leaves_attempts_in_flight_alone(team, proposer, webhook_type):
    action = action_propose(actor=proposer, team=team, action_type=webhook_type, payload={}).action
    _stuck(action, minutes=0)  # deadline 30 s ahead
    assert actions_sweep()["settled"] == 0
    action.refresh_from_db()
    assert action.status == ActionStatus.EXECUTING


def test_ids_that_do_not_exist_are_ignored(db):
    assert action_execute(action_id=uuid.uuid4()) is None
