"""Every shared fixture ingests with a valid signature and is refused with a bad one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django_q.models import OrmQ

from tests.workitems.conftest import SECRET, basic, body_of, hexmac, signed
from workitems.models import Delivery, WorkItem

SLACK_TS = {
    "slack_event_message": 1716890413,
    "slack_event_app_mention": 1716890611,
    "slack_url_verification": 1716890400,
}
LINEAR_TS = {"linear_issue_create": 1716891302.312, "linear_issue_update": 1716892065.791}


def nothing_stored() -> bool:
    return not WorkItem.objects.exists() and not Delivery.objects.exists()


# --------------------------------------------------------------------------- Slack


@pytest.mark.parametrize("name", ["slack_event_message", "slack_event_app_mention"])
def test_slack_event_ingests(name, connector_for, post, clock):
    connector = connector_for("slack", config={"workspace_url": "https://acme.slack.com"})
    clock(SLACK_TS[name] + 10)
    response = post(connector, *signed("slack", name))
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    item = WorkItem.objects.get()
    event = json.loads(body_of(name))["event"]
    assert item.source == "slack"
    assert item.external_id == f"{event['channel']}:{event['ts']}"
    assert item.status == item.source_status == "open"
    assert item.team == connector.team and item.connector == connector
    assert item.last_activity_at == datetime.fromtimestamp(float(event["ts"]), tz=UTC)
    assert item.url == f"https://acme.slack.com/archives/C0123OPS45/p{event['ts'].replace('.', '')}"
    delivery = Delivery.objects.get()
    assert delivery.delivery_id == json.loads(body_of(name))["event_id"]
    assert delivery.outcome == "applied" and list(delivery.work_items.all()) == [item]
    assert delivery.body_sha256 and delivery.body_bytes == len(body_of(name))
    if name == "slack_event_app_mention":
        assert item.title == "@U07CWABOT01 approve 42" and item.labels == ["mention"]
    else:
        assert item.title.startswith("Deploy of payments-api v2.14.0 to prod is blocked")


@pytest.mark.parametrize("name", list(SLACK_TS))
def test_slack_bad_stale_or_missing_signature_is_refused(name, connector_for, post, clock):
    connector = connector_for("slack")
    body, headers = signed("slack", name, secret="not-the-secret")
    clock(SLACK_TS[name])
    assert post(connector, body, headers).status_code == 401
    body, headers = signed("slack", name)
    clock(SLACK_TS[name] + 301)  # replayed after the 5-minute window
    response = post(connector, body, headers)
    assert response.status_code == 401 and "stale" in response.json()["detail"]
    del headers["X-Slack-Signature"]
    clock(SLACK_TS[name])
    assert post(connector, body, headers).status_code == 401
    assert nothing_stored()


def test_slack_url_verification_echoes_the_challenge_and_stores_nothing(connector_for, post, clock):
    connector = connector_for("slack")
    clock(SLACK_TS["slack_url_verification"])
    response = post(connector, *signed("slack", "slack_url_verification"))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert nothing_stored()


def test_slack_retries_are_deduplicated_on_event_id(connector_for, post, clock):
    connector = connector_for("slack")
    clock(SLACK_TS["slack_event_message"])
    body, headers = signed("slack", "slack_event_message")
    assert post(connector, body, headers).json()["duplicate"] is False
    retry = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(connector, body, retry).json() == {"ok": True, "duplicate": True}
    assert Delivery.objects.count() == 1 and WorkItem.objects.count() == 1


def test_slack_thread_reply_is_activity_on_the_thread(connector_for, post, clock):
    connector = connector_for("slack")
    clock(SLACK_TS["slack_event_message"])
    post(connector, *signed("slack", "slack_event_message"))
    data = json.loads(body_of("slack_event_message"))
    data["event_id"] = "Ev-reply-1"
    data["event"].update(ts="1716890500.000100", thread_ts=data["event"]["ts"], text="on it")
    body = json.dumps(data, separators=(",", ":")).encode()
    assert post(connector, *signed("slack", "slack_event_message", body=body)).status_code == 200
    item = WorkItem.objects.get()  # still one item
    assert item.title.startswith("Deploy of payments-api")
    assert item.last_activity_at == datetime.fromtimestamp(1716890500.0001, tz=UTC)


def test_slack_bot_messages_are_ignored_but_acknowledged(connector_for, post, clock):
    connector = connector_for("slack")
    clock(SLACK_TS["slack_event_message"])
    data = json.loads(body_of("slack_event_message"))
    data["event"]["bot_id"] = "B07CWABOT01"
    body = json.dumps(data).encode()
    response = post(connector, *signed("slack", "slack_event_message", body=body))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert not WorkItem.objects.exists()
    assert Delivery.objects.get().outcome == "ignored"


# --------------------------------------------------------------------------- Linear


def test_linear_issue_create_and_update(connector_for, post, clock):
    connector = connector_for("linear")
    clock(LINEAR_TS["linear_issue_create"] + 5)
    response = post(connector, *signed("linear", "linear_issue_create"))
    assert response.status_code == 200, response.content
    item = WorkItem.objects.get()
    assert (item.source, item.external_id) == ("linear", "9a7c1e44-2b3d-4f5e-8a6b-7c8d9e0f1a2b")
    assert item.title == "payments-api p99 latency above SLO in prod-eu-1"
    assert (item.status, item.priority, item.assignee) == ("open", "high", "Dev Patel")
    assert item.labels == ["incident"]
    assert (
        item.url
        == "https://linear.app/acme/issue/OPS-42/payments-api-p99-latency-above-slo-in-prod-eu-1"
    )
    assert item.description.startswith("Alertmanager group `HighLatency`")
    assert item.raw["data"]["identifier"] == "OPS-42"
    assert Delivery.objects.get().delivery_id == "234d1a4e-b617-4388-90fe-adc3633d6b72"

    clock(LINEAR_TS["linear_issue_update"] + 5)
    response = post(connector, *signed("linear", "linear_issue_update"))
    assert response.json()["updated"] == 1
    item.refresh_from_db()
    assert item.status == "in_progress"
    assert item.source_updated_at == datetime(2024, 5, 28, 10, 27, 45, 608000, tzinfo=UTC)


def test_linear_older_event_arriving_late_changes_nothing(connector_for, post, clock):
    connector = connector_for("linear")
    clock(LINEAR_TS["linear_issue_update"])
    post(connector, *signed("linear", "linear_issue_update"))
    clock(LINEAR_TS["linear_issue_create"])
    response = post(connector, *signed("linear", "linear_issue_create"))
    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"
    item = WorkItem.objects.get()
    assert item.status == "in_progress"
    assert Delivery.objects.count() == 2


@pytest.mark.parametrize("name", list(LINEAR_TS))
def test_linear_bad_or_stale_signature_is_refused(name, connector_for, post, clock):
    connector = connector_for("linear")
    clock(LINEAR_TS[name])
    assert post(connector, *signed("linear", name, secret="wrong")).status_code == 401
    clock(LINEAR_TS[name] + 61)
    response = post(connector, *signed("linear", name))
    assert response.status_code == 401 and "stale" in response.json()["detail"]
    body, headers = signed("linear", name)
    del headers["Linear-Signature"]
    clock(LINEAR_TS[name])
    assert post(connector, body, headers).status_code == 401
    assert nothing_stored()


def test_linear_known_answer_signature_is_accepted(connector_for, post, clock):
    """The signature from KNOWN_ANSWERS.md, not one we computed."""
    connector = connector_for("linear")
    clock(LINEAR_TS["linear_issue_create"])
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Linear-Signature": "e85d09dfa78d12b4a3db52decb5735754e2a79dd9a88c28d8e02026acdf10bbc",
    }
    assert post(connector, body_of("linear_issue_create"), headers).status_code == 200


# --------------------------------------------------------------------------- Jira


def test_jira_issue_created_then_updated(connector_for, post):
    connector = connector_for("jira")
    response = post(connector, *signed("jira", "jira_issue_created"))
    assert response.status_code == 200, response.content
    item = WorkItem.objects.get()
    assert (item.source, item.external_id) == ("jira", "10042")
    assert item.title == "payments-api p99 latency above SLO in prod-eu-1"
    assert (item.status, item.priority, item.assignee) == ("open", "high", "Dev Patel")
    assert item.labels == ["payments", "prod-eu-1"]
    assert item.url == "https://acme-ops.atlassian.net/browse/OPS-42"
    assert Delivery.objects.get().delivery_id == "4e2b8d1a-0f3c-4a7e-9b5d-6c1e8f2a3b4d"
    assert post(connector, *signed("jira", "jira_issue_updated")).json()["updated"] == 1
    item.refresh_from_db()
    assert item.status == "in_progress"
    assert item.last_activity_at == datetime(2024, 5, 28, 10, 27, 45, 911000, tzinfo=UTC)


def test_jira_known_answer_and_refusals(connector_for, post):
    connector = connector_for("jira")
    body, headers = signed("jira", "jira_issue_created", secret="wrong")
    assert post(connector, body, headers).status_code == 401
    headers["X-Hub-Signature"] = "sha1=" + hexmac(SECRET, body, "sha1")
    assert post(connector, body, headers).status_code == 401  # only sha256 is accepted
    del headers["X-Hub-Signature"]
    assert post(connector, body, headers).status_code == 401
    assert nothing_stored()
    headers["X-Hub-Signature"] = (
        "sha256=e0415fdbd68ba919fa2ff74504a79e1761a19c18c7fd16d985827d0c6848ef5d"
    )
    assert post(connector, body, headers).status_code == 200


# --------------------------------------------------------------------------- GitHub


def test_github_issue_opened(connector_for, post):
    connector = connector_for("github")
    response = post(connector, *signed("github", "github_issues_opened"))
    assert response.status_code == 200, response.content
    item = WorkItem.objects.get()
    assert (item.source, item.external_id) == ("github", "mlopez-dev/payments-api#57")
    assert item.title == "payments-api returns 502 on POST /v1/refunds after v2.14.0"
    assert (item.status, item.assignee, item.labels) == ("open", "mlopez-dev", ["bug"])
    assert item.url == "https://github.com/mlopez-dev/payments-api/issues/57"
    assert item.due_at == datetime(2024, 6, 7, 7, tzinfo=UTC)  # the milestone's due date
    assert Delivery.objects.get().delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_github_bad_or_missing_signature_is_refused(connector_for, post):
    connector = connector_for("github")
    body, headers = signed("github", "github_issues_opened", secret="wrong")
    assert post(connector, body, headers).status_code == 401
    assert (
        post(connector, body + b" ", signed("github", "github_issues_opened")[1]).status_code == 401
    )
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=ecf861b6cbe8d4661dc5e26ec93629a9d9b315a2"  # legacy only
    assert post(connector, body, headers).status_code == 401
    assert nothing_stored()
    headers["X-Hub-Signature-256"] = (
        "sha256=406150c8164230f2543e9318414fba7b3c3a9cc030294069ea2686e4fbd3472e"
    )
    assert post(connector, body, headers).status_code == 200


def test_github_ping_is_acknowledged_and_ignored(connector_for, post):
    connector = connector_for("github")
    body = b'{"zen":"Keep it logically awesome.","hook_id":1}'
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1"}
    headers["X-Hub-Signature-256"] = "sha256=" + hexmac(SECRET, body)
    response = post(connector, body, headers)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_group_is_one_item_per_fingerprint_and_resolved_closes(connector_for, post):
    connector = connector_for("alertmanager")
    response = post(connector, *signed("alertmanager", "alertmanager_firing"))
    assert response.status_code == 200 and response.json()["created"] == 2
    items = {i.external_id: i for i in WorkItem.objects.all()}
    assert set(items) == {"645b154d809cdf38", "900bf0ef1f6cbcc6"}
    first = items["645b154d809cdf38"]
    assert first.title == "payments-api 5xx error rate above 5% in prod-eu-1"
    assert (first.status, first.priority) == ("open", "urgent")
    assert (
        "severity=critical" in first.labels and "pod=payments-api-7c9d6b5f4-x2k8p" in first.labels
    )
    assert first.description.startswith("7.3% of requests")
    assert list(Delivery.objects.get().work_items.order_by("external_id")) == sorted(
        items.values(), key=lambda i: i.external_id
    )

    # Alertmanager repeats the group every repeat_interval: nothing new, nothing stored.
    assert post(connector, *signed("alertmanager", "alertmanager_firing")).json()["duplicate"]

    response = post(connector, *signed("alertmanager", "alertmanager_resolved"))
    assert response.json()["updated"] == 2
    assert set(WorkItem.objects.values_list("status", flat=True)) == {"done"}
    assert WorkItem.objects.get(external_id="645b154d809cdf38").last_activity_at == datetime(
        2024, 5, 28, 10, 41, 33, 347000, tzinfo=UTC
    )


def test_alertmanager_late_firing_after_resolved_changes_nothing(connector_for, post):
    connector = connector_for("alertmanager")
    post(connector, *signed("alertmanager", "alertmanager_resolved"))
    response = post(connector, *signed("alertmanager", "alertmanager_firing"))
    assert response.json()["outcome"] == "unchanged"
    assert set(WorkItem.objects.values_list("status", flat=True)) == {"done"}


def test_alertmanager_basic_auth_and_refusals(connector_for, post):
    connector = connector_for("alertmanager", secret=basic("alertmanager", SECRET))
    body, headers = signed("alertmanager", "alertmanager_firing")
    assert post(connector, body, headers).status_code == 401  # bearer, but basic is expected
    headers["Authorization"] = "Basic YWxlcnRtYW5hZ2VyOnRlc3Qtc2VjcmV0"  # KNOWN_ANSWERS.md
    assert post(connector, body, headers).status_code == 200
    bearer = connector_for("alertmanager")
    headers["Authorization"] = "Bearer nope"
    assert post(bearer, body, headers).status_code == 401
    del headers["Authorization"]
    assert post(bearer, body, headers).status_code == 401
    assert WorkItem.objects.count() == 2 and Delivery.objects.count() == 1


# --------------------------------------------------------------------------- e-mail


def test_inbound_email_becomes_a_work_item_for_its_thread(connector_for, post):
    connector = connector_for("email")
    body, headers = signed("email", "email_inbound")
    response = post(connector, body, {**headers, "Content-Type": "message/rfc822"})
    assert response.status_code == 200, response.content
    item = WorkItem.objects.get()
    assert item.source == "email"
    assert item.external_id == "cwa-cr-42.1716890500.7f3c9a@ops.acme.example"  # the thread root
    assert item.title == "Re: [CWA-42] Freigabe erforderlich: payments-api – Deploy v2.14.0"
    assert item.description.startswith("From: María López <maria.lopez@acme.example>\n\napprove")
    assert item.last_activity_at == datetime(2024, 5, 28, 10, 31, 2, tzinfo=UTC)
    assert Delivery.objects.get().delivery_id == (
        "CAJ8x2Fq0b7Yt+3mZ1wQ9kLr5vN4hT6cXe2pA8sD1fG=Hj7K@mail.gmail.com"
    )
    again = post(connector, body, {**headers, "Content-Type": "message/rfc822"})
    assert again.json()["duplicate"] is True


def test_inbound_email_without_the_token_is_refused(connector_for, post):
    connector = connector_for("email")
    body, headers = signed("email", "email_inbound", secret="wrong")
    assert post(connector, body, {**headers, "Content-Type": "message/rfc822"}).status_code == 401
    del headers["Authorization"]
    assert post(connector, body, {**headers, "Content-Type": "message/rfc822"}).status_code == 401
    assert nothing_stored()


# --------------------------------------------------------------------------- the endpoint itself


def test_unknown_disabled_or_mismatched_connector_is_404(connector_for, post, client):
    connector = connector_for("github")
    body, headers = signed("github", "github_issues_opened")
    assert post(connector, body, headers, path=f"/hooks/jira/{connector.pk}/").status_code == 404
    missing = "/hooks/github/00000000-0000-0000-0000-000000000000/"
    assert post(connector, body, headers, path=missing).status_code == 404
    assert post(connector, body, headers, path=f"/hooks/webhook/{connector.pk}/").status_code == 404
    connector.enabled = False
    connector.save()
    assert post(connector, body, headers).status_code == 404
    assert client.get(connector.webhook_path).status_code == 405
    assert nothing_stored()


def test_oversized_body_is_413_before_anything_else(connector_for, post, settings):
    settings.CWA_WEBHOOK_MAX_BYTES = 1024
    connector = connector_for("github")
    body, headers = signed("github", "github_issues_opened")  # ~14 KB, correctly signed
    response = post(connector, body, headers)
    assert response.status_code == 413
    assert nothing_stored()


def test_connector_without_secret_refuses_everything(connector_for, post):
    connector = connector_for("github", secret="")
    body, headers = signed("github", "github_issues_opened", secret="")
    assert post(connector, body, headers).status_code == 401
    assert nothing_stored()


def test_connector_secret_is_stored_encrypted(connector_for):
    connector = connector_for("github", secret="s3cret-value")
    connector.refresh_from_db()
    assert "s3cret-value" not in connector.secret_encrypted
    assert connector.secret == "s3cret-value"


MALFORMED = [
    b"not json",
    b"[1, 2, 3]",
    b'"a string"',
    b"{}",
    b'{"type": "event_callback", "event_id": "Ev1", "event": []}',
    b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "ts": "x", "channel": "C1"}}',
    b'{"type": "Issue", "action": "create", "data": {"id": 5, "labels": 7, "state": "x", "priority": "high"}}',
    b'{"type": "Issue", "action": "update", "data": "nope"}',
    b'{"webhookEvent": "jira:issue_updated", "issue": {"fields": []}}',
    b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "fields": {"status": 3, "labels": {"a": 1}}}}',
    b'{"action": "opened", "issue": {"number": null}}',
    b'{"action": "opened", "issue": {"number": 1, "labels": "bug", "milestone": 5}}',
    b'{"alerts": {"a": 1}}',
    b'{"alerts": [{"status": "firing"}]}',
    b'{"alerts": [{"fingerprint": "f1", "labels": [1, 2], "startsAt": 7}]}',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"webhookTimestamp": 1e400, "type": "Issue"}',
    b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "ts": "1e400", "channel": "C1"}}',
    b'{"alerts": [{"fingerprint": "f1", "startsAt": "0001-01-01T00:00:00Z", "endsAt": "9999-99-99"}]}',
]


@pytest.mark.parametrize("kind", ["slack", "linear", "jira", "github", "alertmanager", "email"])
def test_authentic_but_odd_bodies_never_answer_500(kind, connector_for, post, clock):
    """Correctly signed bodies of every odd shape answer 200 or 400, never 500/503."""
    connector = connector_for(kind)
    clock(1716890413)
    for i, body in enumerate(MALFORMED):
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "issues"}
        if kind == "slack":
            headers["X-Slack-Request-Timestamp"] = "1716890413"
            headers["X-Slack-Signature"] = "v0=" + hexmac(SECRET, b"v0:1716890413:" + body)
        elif kind == "linear":
            # Linear checks the signed timestamp in the body after the signature.
            headers["Linear-Signature"] = hexmac(SECRET, body)
            headers["Linear-Timestamp"] = "1716890413000"
        elif kind in ("jira", "github"):
            name = "X-Hub-Signature" if kind == "jira" else "X-Hub-Signature-256"
            headers[name] = "sha256=" + hexmac(SECRET, body)
            headers["X-GitHub-Delivery"] = headers["X-Atlassian-Webhook-Identifier"] = f"d-{i}"
        else:
            headers["Authorization"] = f"Bearer {SECRET}"
        response = post(connector, body, headers)
        # Linear's replay window reads the signed body's webhookTimestamp (the header only as a
        # fallback): without a readable one the delivery cannot be shown to be fresh.
        allowed = (200, 400, 401) if kind == "linear" else (200, 400)
        assert response.status_code in allowed, (kind, body[:80], response.content)
        if response.status_code != 200:
            assert response.json()["detail"]


def test_a_delivery_queues_policy_evaluation_only_when_policies_exist(connector_for, post, org):
    from policies.models import Policy
    from tests import factories as f

    connector = connector_for("github")
    post(connector, *signed("github", "github_issues_opened"))
    assert not OrmQ.objects.exists()
    Policy.objects.create(
        organization=org,
        name="new issues",
        trigger="created",
        condition='item.source == "github"',
        action_type=f.make_action_type(org, "note"),
        payload_template={"note": "{{ item.title }}"},
    )
    body, headers = signed("github", "github_issues_opened")
    data = json.loads(body)
    data["issue"]["number"] = 58
    body = json.dumps(data).encode()
    headers.update(
        {"X-GitHub-Delivery": "other", "X-Hub-Signature-256": "sha256=" + hexmac(SECRET, body)}
    )
    assert post(connector, body, headers).json()["created"] == 1
    assert OrmQ.objects.count() == 1


def test_a_comment_is_activity_that_wakes_a_stalled_issue(connector_for, post, clock):
    connector = connector_for("linear")
    clock(LINEAR_TS["linear_issue_update"])
    post(connector, *signed("linear", "linear_issue_update"))
    WorkItem.objects.update(status="stalled")
    comment = {
        "action": "create",
        "type": "Comment",
        "createdAt": "2024-05-29T08:00:00.000Z",
        "data": {
            "id": "c0mment-1",
            "body": "Looking into it",
            "issueId": "9a7c1e44-2b3d-4f5e-8a6b-7c8d9e0f1a2b",
            "createdAt": "2024-05-29T08:00:00.000Z",
            "updatedAt": "2024-05-29T08:00:00.000Z",
        },
        "webhookTimestamp": 1716969600000,
    }
    body = json.dumps(comment).encode()
    clock(1716969600)
    headers = {"Linear-Delivery": "comment-1", "Linear-Event": "Comment"}
    headers["Linear-Signature"] = hexmac(SECRET, body)
    assert post(connector, body, headers).json()["updated"] == 1
    item = WorkItem.objects.get()
    assert item.status == "in_progress"  # back to what Linear says
    assert item.last_activity_at == datetime(2024, 5, 29, 8, tzinfo=UTC)
    # A comment on an issue CWA has never seen is acknowledged and creates nothing.
    comment["data"]["issueId"] = "unknown-issue"
    body = json.dumps(comment).encode()
    headers.update({"Linear-Delivery": "comment-2", "Linear-Signature": hexmac(SECRET, body)})
    assert post(connector, body, headers).json()["outcome"] == "ignored"
    assert WorkItem.objects.count() == 1
