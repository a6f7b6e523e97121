"""Live push: the relay turns committed audit events and notifications into group messages,
and the websocket consumer passes on only what its user may see."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.conf import settings
from django.db import connection

from approvals import live
from approvals.consumers import NotificationConsumer
from approvals.live import Cursor, OutboxReader
from approvals.models import Notification
from approvals.services import action_decide
from audit.models import AuditEvent
from cwa_site.asgi import application
from teams.models import Membership, Organization
from teams.services import organization_set_kill_switch, team_set_status
from tests import factories as f
from tests.web.conftest import propose
from tests.web.websocket import WebsocketClient as WebsocketCommunicator


def reader_from_now() -> OutboxReader:
    """A reader that has delivered everything committed so far (no look-back)."""
    heads = {str(pk): seq for pk, seq in Organization.objects.values_list("id", "audit_seq")}
    newest = Notification.objects.order_by("-id").values_list("id", "created_at").first()
    if newest is None:
        return OutboxReader(Cursor(heads=heads))
    return OutboxReader(
        Cursor(heads=heads, floor=newest[0], mark=(newest[0], newest[1].isoformat()))
    )


def by_type(messages, kind):
    return [(group, message) for group, message in messages if message["type"] == kind]


# --- the relay's reader (synchronous)


def test_a_proposal_reaches_the_team_and_the_approvers(agent, team, medium_type, approver):
    reader = reader_from_now()
    action = propose(agent, team, medium_type, "hello")
    messages = reader.read()
    [(group, actions)] = by_type(messages, "live.actions")
    assert group == live.team_group(team.pk)
    assert actions["ids"] == [str(action.pk)] and actions["proposed"] == [str(action.pk)]
    toasts = dict(by_type(messages, "live.notification"))
    assert live.user_group(approver.pk) in toasts
    note = toasts[live.user_group(approver.pk)]
    assert note["kind"] == "action.pending" and note["unread"] == 1
    assert note["url"] == f"/approvals/{action.pk}/"
    assert note["toast"] is False  # medium risk: counted, not popped up
    assert reader.read() == []  # delivered once


def test_high_risk_failures_and_team_status_pop_up(agent, team, org, approver, org_admin):
    high = f.make_action_type(org, "page", risk="high")
    agent.allowed_action_types.add(high)
    reader = reader_from_now()
    propose(agent, team, high)
    team_set_status(actor=org_admin, team=team, status="paused", reason="incident")
    messages = reader.read()
    toasts = [m for _, m in by_type(messages, "live.notification") if m["user_id"] == approver.pk]
    assert {m["kind"] for m in toasts if m["toast"]} == {"action.pending", "team.status"}
    [(group, team_msg)] = by_type(messages, "live.team")
    assert group == live.team_group(team.pk) and team_msg["to"] == "paused"


def test_decisions_update_rows_and_the_kill_switch_reaches_the_organization(
    agent, team, medium_type, approver, org_admin, org
):
    action = propose(agent, team, medium_type)
    reader = reader_from_now()
    action_decide(actor=approver, action_id=action.pk, decision="reject", notes="no")
    organization_set_kill_switch(actor=org_admin, organization=org, paused=True, reason="drill")
    messages = reader.read()
    [(_, actions)] = by_type(messages, "live.actions")
    assert actions["ids"] == [str(action.pk)] and actions["proposed"] == []
    [(group, org_msg)] = by_type(messages, "live.org")
    assert group == live.org_group(org.pk) and org_msg["paused"] and org_msg["reason"] == "drill"


def test_starting_relay_replays_the_last_seconds(agent, team, medium_type):
    action = propose(agent, team, medium_type)
    messages = OutboxReader().read()
    assert any(str(action.pk) in m.get("ids", []) for _, m in messages)


def test_notifications_committed_out_of_id_order_are_still_delivered(approver, org, team):
    reader = reader_from_now()
    first = Notification.objects.create(user=approver, organization=org, kind="k", title="first")
    second = Notification.objects.create(user=approver, organization=org, kind="k", title="second")
    # The reader saw `second` before `first` committed (PostgreSQL hands ids out at insert).
    reader.cursor.delivered.add(second.pk)
    titles = [m["title"] for _, m in by_type(reader.read(), "live.notification")]
    assert titles == ["first"]
    assert reader.read() == []
    assert first.pk > 0


def test_many_notifications_for_one_person_are_summarized(approver, org):
    reader = reader_from_now()
    Notification.objects.bulk_create(
        [Notification(user=approver, organization=org, kind="k", title=f"n{i}") for i in range(12)]
    )
    sent = [m for _, m in by_type(reader.read(), "live.notification")]
    assert len(sent) == live.MAX_TOASTS_PER_USER and sent[-1]["more"] == 7
    assert sent[-1]["unread"] == 12


def test_a_cursor_from_another_database_is_dropped(approver, org, team):
    note = Notification.objects.create(user=approver, organization=org, kind="k", title="t")
    reader = reader_from_now()
    reader.read()
    kept = Cursor.loads(reader.cursor.dumps())
    assert kept == reader.cursor and kept.mark == (note.pk, note.created_at.isoformat())
    assert OutboxReader().valid(kept)
    # Same ids, another database: the newest notification it saw is not the same row.
    assert not OutboxReader().valid(Cursor(floor=note.pk, mark=(note.pk, "2001-01-01T00:00:00")))
    assert not OutboxReader().valid(Cursor(heads={str(org.pk): 10**6}, mark=kept.mark))
    assert not OutboxReader().valid(Cursor(delivered={note.pk}))
    assert OutboxReader().valid(Cursor())


def test_a_stale_cursor_is_replaced_on_the_first_read(agent, team, medium_type, approver):
    action = propose(agent, team, medium_type)
    stale = Cursor(floor=10**6, delivered={10**6 + 1}, mark=(10**6, "2001-01-01T00:00:00"))
    messages = OutboxReader(stale, check=True).read()
    assert any(str(action.pk) in m.get("ids", []) for _, m in messages)
    assert by_type(messages, "live.notification")


# --- the consumer (asynchronous, a real relay on a fast poll)


@pytest.fixture
def fast_relay(settings):
    settings.CWA_LIVE_POLL_SECONDS = 0.05
    channel_layers.backends.clear()  # a fresh in-memory layer per test (and event loop)
    yield
    channel_layers.backends.clear()


async def connect(user):
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=3)
    assert hello["type"] == "hello"
    return communicator, hello


async def next_of(communicator, kind, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.05, deadline - loop.time()))
        if message["type"] == kind:
            return message


async def nothing_about(communicator, needle: str, wait: float = 1.0) -> bool:
    """True when `wait` seconds pass without any message mentioning `needle`."""
    while not await communicator.receive_nothing(timeout=wait):
        message = await communicator.receive_json_from()
        if needle in str(message):
            return False
    return True


async def stop(*communicators):
    for communicator in communicators:
        await communicator.disconnect()
    await live.stop_relay()


@pytest.mark.django_db(transaction=True)
async def test_unauthenticated_socket_is_closed_with_a_reason(fast_relay):
    from django.contrib.auth.models import AnonymousUser

    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = AnonymousUser()
    connected, _ = await communicator.connect()
    assert connected
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_session_authenticated_socket_through_the_asgi_app(fast_relay, approver, client):
    await sync_to_async(client.force_login)(approver)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=3)
    assert hello == {"type": "hello", "unread": 0, "teams": 1}
    await stop(communicator)


@pytest.mark.django_db(transaction=True)
async def test_new_pending_action_reaches_approvers_and_not_other_organizations(
    fast_relay, agent, team, medium_type, approver, mallory
):
    bob, _ = await connect(approver)
    eve, _ = await connect(mallory)
    action = await sync_to_async(propose)(agent, team, medium_type, "live one")
    message = await next_of(bob, "actions")
    assert message["ids"] == [str(action.pk)] and message["proposed"] == [str(action.pk)]
    note = await next_of(bob, "notification")
    assert note["kind"] == "action.pending" and note["unread"] == 1
    assert await nothing_about(eve, str(action.pk))
    await stop(bob, eve)


@pytest.mark.django_db(transaction=True)
async def test_visibility_is_checked_again_for_every_message(
    fast_relay, agent, team, medium_type, viewer
):
    carol, _ = await connect(viewer)
    await sync_to_async(Membership.objects.filter(user=viewer).delete)()
    action = await sync_to_async(propose)(agent, team, medium_type, "after removal")
    assert await nothing_about(carol, str(action.pk))
    await stop(carol)


@pytest.mark.django_db(transaction=True)
async def test_kill_switch_reaches_members_live(fast_relay, org, org_admin, viewer, mallory):
    carol, _ = await connect(viewer)
    eve, _ = await connect(mallory)
    await sync_to_async(organization_set_kill_switch)(
        actor=org_admin, organization=org, paused=True, reason="drill"
    )
    message = await next_of(carol, "org")
    assert message == {"type": "org", "paused": True, "actor": "alice", "reason": "drill"}
    assert await nothing_about(eve, "drill")
    await stop(carol, eve)


def _subprocess_env() -> dict[str, str]:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true"}
    env["DJANGO_SETTINGS_MODULE"] = "cwa_site.settings"
    return env


PROPOSE_SCRIPT = """
from approvals.services import action_propose
from policies.models import ActionType
from teams.models import Agent, Team
agent = Agent.objects.get(name="triage-bot")
action = action_propose(actor=agent.user, agent=agent, team=Team.objects.get(pk="{team}"),
    action_type=ActionType.objects.get(pk="{type}"), payload={{"note": "from another process"}}).action
print(action.pk)
"""


@pytest.mark.django_db(transaction=True)
async def test_events_from_another_process_arrive(fast_relay, agent, team, medium_type, approver):
    """Like a django-q2 worker: another process writes, this process's relay delivers."""
    bob, _ = await connect(approver)
    script = PROPOSE_SCRIPT.format(team=team.pk, type=medium_type.pk)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=Path(settings.BASE_DIR),
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    action_id = done.stdout.strip().splitlines()[-1]
    message = await next_of(bob, "actions", timeout=8)
    assert message["proposed"] == [action_id]
    assert await sync_to_async(AuditEvent.objects.filter(target_id=action_id).exists)()
    await stop(bob)


@pytest.mark.django_db(transaction=True)
async def test_garbage_from_the_browser_is_ignored(fast_relay, approver):
    bob, _ = await connect(approver)
    await bob.send_input({"type": "websocket.receive", "text": "{not json"})
    await bob.send_json_to({"type": "ping"})
    assert await bob.receive_json_from(timeout=2) == {"type": "pong"}
    await stop(bob)


def test_notification_links(approver, org, team):
    action_id = "6f1c6a52-3c1e-4d7e-9a58-3c1f1e2a9b10"
    assert (
        live.notification_url({"action_id": action_id, "kind": "x"}) == f"/approvals/{action_id}/"
    )
    assert live.notification_url({"team_id": team.pk, "kind": "autonomy.suggested"}) == (
        f"/teams/{team.pk}/"
    )
    assert live.notification_url({"kind": "breaker.opened"}) == "/dashboard/"
    assert live.notification_url({"kind": "team.status"}) == "/inbox/"
