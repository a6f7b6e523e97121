"""Stored notifications (inbox, unread badge) and the daily digest e-mail."""

from __future__ import annotations

from datetime import date

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import OrmQ, Schedule

from approvals.models import DigestDelivery, Notification
from approvals.notifications import digest_recipient_ids, digest_send
from approvals.tasks import send_daily_digests
from teams.models import UserProfile
from tests.web.conftest import propose


@pytest.fixture
def waiting(agent, team, medium_type, approver):
    return [propose(agent, team, medium_type, f"w{i}") for i in range(3)]


def test_inbox_lists_own_notifications_with_unread_badge(client, approver, viewer, waiting):
    client.force_login(approver)
    page = client.get("/inbox/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="unread"') == 3
    assert "data-unread-count>3<" in html
    client.force_login(viewer)  # viewers are not asked to approve
    assert "waits for approval" not in client.get("/inbox/").content.decode()


def test_mark_one_and_all_read(client, approver, waiting):
    client.force_login(approver)
    first = Notification.objects.filter(user=approver).first()
    client.post(reverse("approvals:inbox-read"), {"ids": [first.pk]})
    assert Notification.objects.filter(user=approver, read_at__isnull=True).count() == 2
    response = client.post(
        reverse("approvals:inbox-read"), {"all": "on", "next": "/inbox/?unread=1"}
    )
    assert response["Location"] == "/inbox/?unread=1"
    assert not Notification.objects.filter(user=approver, read_at__isnull=True).exists()
    html = client.get("/inbox/", {"unread": "1"}).content.decode()
    assert "You have read everything" in html


def test_cannot_mark_someone_elses_notifications(client, approver, approver2, waiting):
    theirs = Notification.objects.filter(user=approver2).first()
    client.force_login(approver)
    client.post(reverse("approvals:inbox-read"), {"ids": [theirs.pk, "junk"]})
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_inbox_htmx_fragment_and_query_count(client, approver, agent, team, medium_type):
    client.force_login(approver)
    propose(agent, team, medium_type)
    client.get("/inbox/")
    with CaptureQueriesContext(connection) as few:
        client.get("/inbox/")
    for i in range(40):
        propose(agent, team, medium_type, f"more {i}")
    with CaptureQueriesContext(connection) as many:
        client.get("/inbox/")
    assert len(many) == len(few)
    fragment = client.get("/inbox/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-list")
    assert b"<html" not in fragment.content and b'id="inbox-list"' in fragment.content


# --- digest


def test_digest_says_what_waits_and_is_sent_once_a_day(approver, waiting):
    approver.email = "bob@example.com"
    approver.save()
    assert digest_send(user_id=approver.pk, day=date(2026, 1, 5))
    assert not digest_send(user_id=approver.pk, day=date(2026, 1, 5))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["bob@example.com"]
    assert message.subject.startswith("CWA: 3 waiting for you")
    assert f"#{waiting[0].number}" in message.body and "w0" in message.body
    assert "nothing is decided until you press Approve" in message.body
    html = message.alternatives[0][0]
    assert "Open the approval queue" in html
    assert DigestDelivery.objects.get().pending_count == 3


def test_nothing_to_say_sends_nothing(approver):
    approver.email = "bob@example.com"
    approver.save()
    assert not digest_send(user_id=approver.pk)
    assert mail.outbox == [] and not DigestDelivery.objects.exists()


def test_recipients_skip_agents_opt_outs_and_users_without_email(
    approver, approver2, viewer, agent
):
    for user in (approver, approver2, agent.user):
        user.email = f"{user.username}@example.com"
        user.save()
    UserProfile.objects.create(user=approver2, daily_digest=False)
    assert digest_recipient_ids() == [approver.pk]


def test_daily_task_fans_out_one_task_per_person(approver, waiting, run_tasks):
    approver.email = "bob@example.com"
    approver.save()
    OrmQ.objects.all().delete()
    assert send_daily_digests() == 1
    run_tasks()
    assert len(mail.outbox) == 1
    send_daily_digests()
    run_tasks()
    assert len(mail.outbox) == 1  # same day: not again


def test_schedules_exist(db):
    names = set(Schedule.objects.values_list("name", "func"))
    assert ("cwa-daily-digest", "approvals.tasks.send_daily_digests") in names
    assert ("cwa-autonomy-suggestions", "approvals.tasks.refresh_autonomy_suggestions") in names
