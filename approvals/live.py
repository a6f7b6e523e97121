"""Live push: what committed in the database reaches open browsers over the websocket.

The outbox is what every change already writes in its own transaction:
- the audit chain (every state change of an action, a team or an organization is audited in
  the same transaction, so nothing can change without an event), read per organization by
  `seq`: appends are serialized by the organization row lock, so `seq` order is commit order
  and the organization's `audit_seq` head says exactly what has committed;
- stored notifications (per user: toasts and the unread badge).

A relay reads both after they commit and `group_send`s small "what changed" messages to one
group per team, per organization and per user. Consumers (approvals/consumers.py) join the
groups of what their user may view and check visibility again on every message; the browser
then fetches the rows it shows through ordinary, permission-filtered views.

One relay runs per channel layer. The in-memory layer (embedded default) is per process, so each
web process runs its own relay; events raised in django-q2 workers (other processes) arrive
because the relay reads the database, not a process-local signal. With Redis the layer spans all
processes, so one relay in the cluster holds a lease in Redis and keeps its cursor there, and a
web process that takes the lease over resumes where the last holder stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone

from approvals.models import Notification
from audit.models import AuditEvent
from teams.models import Organization

log = logging.getLogger(__name__)

ACTION_TARGET = "approvals.action"
TEAM_VERBS = ("team.status_changed", "team.autonomy_changed")
ORG_VERBS = ("organization.paused", "organization.resumed")
# Notifications that pop up as a toast besides counting in the badge (warnings and dangers
# always do: high-risk pending actions, failures, a breaker opening).
TOAST_KINDS = ("team.", "breaker.", "organization.")
MAX_EVENTS_PER_READ = 2000
MAX_TOASTS_PER_USER = 5


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "")


def team_group(team_id: Any) -> str:
    return f"cwa.team.{_hex(team_id)}"


def org_group(org_id: Any) -> str:
    return f"cwa.org.{_hex(org_id)}"


def user_group(user_id: Any) -> str:
    return f"cwa.user.{user_id}"


def poll_seconds() -> float:
    return float(getattr(settings, "CWA_LIVE_POLL_SECONDS", 0.5))


def lookback() -> timedelta:
    """How far back the relay looks when it starts, and how long it re-checks recent
    notification ids for rows that committed out of id order (PostgreSQL sequences)."""
    return timedelta(seconds=float(getattr(settings, "CWA_LIVE_LOOKBACK_SECONDS", 10)))


@dataclass
class Cursor:
    """What the relay has delivered: per organization the last audit `seq`; for notifications
    every id up to `floor`, plus the ids above it in `delivered`. `mark` (id, created_at) is the
    newest notification seen: it identifies the database the cursor was taken from."""

    heads: dict[str, int] = field(default_factory=dict)
    floor: int = 0
    delivered: set[int] = field(default_factory=set)
    mark: tuple[int, str] | None = None

    def dumps(self) -> str:
        return json.dumps(
            {
                "heads": self.heads,
                "floor": self.floor,
                "delivered": sorted(self.delivered),
                "mark": self.mark,
            }
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> Cursor:
        data = json.loads(raw)
        mark = data.get("mark")
        return cls(
            heads={k: int(v) for k, v in data["heads"].items()},
            floor=int(data["floor"]),
            delivered=set(data["delivered"]),
            mark=(int(mark[0]), str(mark[1])) if mark else None,
        )


Message = tuple[str, dict[str, Any]]


class OutboxReader:
    """Reads what committed since the cursor and turns it into group messages (synchronous:
    it runs in the relay's own database thread)."""

    def __init__(self, cursor: Cursor | None = None, *, check: bool = False) -> None:
        """`check`: the cursor comes from outside (Redis) and is verified on the first read."""
        self.cursor = cursor
        self._checked = not check

    def start_cursor(self) -> Cursor:
        """Start a little in the past, so a page rendered just before the relay started still
        gets the changes it missed (re-sending a change is harmless: pages re-read rows)."""
        since = timezone.now() - lookback()
        heads = {str(pk): seq for pk, seq in Organization.objects.values_list("id", "audit_seq")}
        for org_id, first in (
            AuditEvent.objects.filter(created_at__gte=since)
            .values("organization_id")
            .annotate(first=Min("seq"))
            .values_list("organization_id", "first")
        ):
            heads[str(org_id)] = min(heads.get(str(org_id), first), first - 1)
        older = (
            Notification.objects.filter(created_at__lt=since)
            .order_by("-id")
            .values_list("id", "created_at")
            .first()
        )
        if older is None:
            return Cursor(heads=heads)
        return Cursor(heads=heads, floor=older[0], mark=(older[0], older[1].isoformat()))

    def valid(self, cursor: Cursor) -> bool:
        """A cursor kept in Redis is only good for the database it was taken from: a restored
        or re-created database hands out the same notification ids again, so the newest one the
        cursor saw must still be there, unchanged, and no organization may be behind it."""
        heads = {str(pk): seq for pk, seq in Organization.objects.values_list("id", "audit_seq")}
        if any(seq > heads.get(org, seq) for org, seq in cursor.heads.items()):
            return False
        if cursor.mark is None:
            return cursor.floor == 0 and not cursor.delivered
        mark_id, stamp = cursor.mark
        seen = Notification.objects.filter(pk=mark_id).values_list("created_at", flat=True).first()
        return seen is not None and seen.isoformat() == stamp

    def read(self) -> list[Message]:
        try:
            if self.cursor is not None and not self._checked:
                self._checked = True
                if not self.valid(self.cursor):
                    self.cursor = None
            if self.cursor is None:
                self.cursor = self.start_cursor()
            return self._audit_messages() + self._notification_messages()
        except DatabaseError:
            connection.close()  # a broken connection is replaced on the next poll
            raise

    # -- audit chain -> team / organization groups

    def _audit_messages(self) -> list[Message]:
        assert self.cursor is not None
        heads = {str(pk): seq for pk, seq in Organization.objects.values_list("id", "audit_seq")}
        ranges = {
            org: (self.cursor.heads.get(org, 0), head)
            for org, head in heads.items()
            if head > self.cursor.heads.get(org, 0)
        }
        if not ranges:
            return []
        events = list(
            AuditEvent.objects.filter(
                reduce(
                    or_,
                    (
                        Q(organization_id=org, seq__gt=low, seq__lte=high)
                        for org, (low, high) in ranges.items()
                    ),
                )
            )
            .order_by("organization_id", "seq")
            .values(
                "organization_id",
                "seq",
                "verb",
                "target_type",
                "target_id",
                "team_id",
                "actor_label",
                "data",
            )[:MAX_EVENTS_PER_READ]
        )
        changed: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
            lambda: {"ids": [], "proposed": []}
        )
        messages: list[Message] = []
        for event in events:
            org, team = str(event["organization_id"]), event["team_id"]
            self.cursor.heads[org] = event["seq"]
            if event["target_type"] == ACTION_TARGET and team is not None:
                bucket = changed[(org, str(team))]
                if event["target_id"] not in bucket["ids"]:
                    bucket["ids"].append(event["target_id"])
                if event["verb"] == "action.proposed":
                    bucket["proposed"].append(event["target_id"])
            elif event["verb"] in TEAM_VERBS and team is not None:
                messages.append(
                    (
                        team_group(team),
                        {
                            "type": "live.team",
                            "org_id": org,
                            "team_id": str(team),
                            "verb": event["verb"],
                            "to": event["data"].get("to"),
                            "actor": event["actor_label"],
                        },
                    )
                )
            elif event["verb"] in ORG_VERBS:
                messages.append(
                    (
                        org_group(org),
                        {
                            "type": "live.org",
                            "org_id": org,
                            "paused": event["verb"] == "organization.paused",
                            "actor": event["actor_label"],
                            "reason": event["data"].get("reason", ""),
                        },
                    )
                )
        for (org, team), bucket in changed.items():
            messages.append(
                (
                    team_group(team),
                    {"type": "live.actions", "org_id": org, "team_id": team, **bucket},
                )
            )
        return messages

    # -- notifications -> user groups

    def _notification_messages(self) -> list[Message]:
        assert self.cursor is not None
        cursor = self.cursor
        recent = list(
            Notification.objects.filter(id__gt=cursor.floor)
            .order_by("id")
            .values_list("id", "created_at")
        )
        new_ids = [pk for pk, _ in recent if pk not in cursor.delivered]
        old_enough = timezone.now() - lookback()
        rows = list(
            Notification.objects.filter(id__in=new_ids)
            .order_by("id")
            .values(
                "id",
                "user_id",
                "organization_id",
                "team_id",
                "action_id",
                "kind",
                "level",
                "title",
            )
            if new_ids
            else []
        )
        cursor.delivered.update(new_ids)
        if recent:
            cursor.mark = (recent[-1][0], recent[-1][1].isoformat())
        # Ids below the first recent row can no longer appear late; forget them.
        for pk, created_at in recent:
            if created_at >= old_enough:
                break
            cursor.floor = pk
        cursor.delivered = {pk for pk in cursor.delivered if pk > cursor.floor}
        if not rows:
            return []
        by_user: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_user[row["user_id"]].append(row)
        unread = dict(
            Notification.objects.filter(user_id__in=by_user, read_at__isnull=True)
            .values("user_id")
            .annotate(n=Count("id"))
            .values_list("user_id", "n")
        )
        messages: list[Message] = []
        for user_id, items in by_user.items():
            for row in items[-MAX_TOASTS_PER_USER:]:
                messages.append(
                    (
                        user_group(user_id),
                        {
                            "type": "live.notification",
                            "id": row["id"],
                            "user_id": user_id,
                            "org_id": str(row["organization_id"]),
                            "team_id": str(row["team_id"]) if row["team_id"] else None,
                            "kind": row["kind"],
                            "level": row["level"],
                            "title": row["title"],
                            "url": notification_url(row),
                            "toast": row["level"] != Notification.Level.INFO
                            or row["kind"].startswith(TOAST_KINDS),
                            "unread": unread.get(user_id, 0),
                            "more": max(0, len(items) - MAX_TOASTS_PER_USER),
                        },
                    )
                )
        return messages


def notification_url(row: dict[str, Any]) -> str:
    """Where a notification leads: its action, the team's settings, the dashboard (circuit
    breakers) or the inbox."""
    if row.get("action_id"):
        return reverse("approvals:detail", args=[row["action_id"]])
    kind = str(row.get("kind", ""))
    if row.get("team_id") and kind.startswith("autonomy."):
        return reverse("teams:detail", args=[row["team_id"]])
    if kind.startswith("breaker."):
        return reverse("approvals:dashboard")
    return reverse("approvals:inbox")


# --------------------------------------------------------------------------- leases


class LocalLease:
    """The in-memory layer is one process: its relay is always the only one."""

    async def hold(self) -> bool:
        return True

    async def load_cursor(self) -> Cursor | None:
        return None

    async def save_cursor(self, cursor: Cursor) -> None:
        return None

    async def release(self) -> None:
        return None


_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """One relay per Redis channel layer: a key with a short expiry, renewed while held. The
    cursor lives next to it, so whoever takes over continues without a gap. Keys are per
    database, so two installations (or a test run) sharing a Redis do not share a relay."""

    def __init__(self, url: str, ttl_ms: int = 5000) -> None:
        import redis.asyncio as redis

        database = hashlib.sha256(str(settings.DATABASES["default"]["NAME"]).encode()).hexdigest()
        self.key = f"cwa:live:{database[:16]}:relay"
        self.cursor_key = f"cwa:live:{database[:16]}:cursor"
        self.client = redis.from_url(url)
        self.token = secrets.token_hex(16)
        self.ttl_ms = ttl_ms
        self.held = False

    async def hold(self) -> bool:
        if self.held and await self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms):
            return True
        self.held = bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    async def load_cursor(self) -> Cursor | None:
        raw = await self.client.get(self.cursor_key)
        return Cursor.loads(raw) if raw else None

    async def save_cursor(self, cursor: Cursor) -> None:
        await self.client.set(self.cursor_key, cursor.dumps(), ex=3600)

    async def release(self) -> None:
        if self.held:
            await self.client.eval(_RELEASE, 1, self.key, self.token)
            self.held = False
        await self.client.aclose()


def make_lease() -> LocalLease | RedisLease:
    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"].endswith("RedisChannelLayer"):
        host = layer["CONFIG"]["hosts"][0]
        return RedisLease(host["address"] if isinstance(host, dict) else host)
    return LocalLease()


# --------------------------------------------------------------------------- the relay


class Relay:
    """Polls the outbox and publishes to the channel layer, while it holds the lease."""

    def __init__(self, *, layer: Any, lease: Any = None, interval: float | None = None) -> None:
        self.layer = layer
        self.lease = lease or make_lease()
        self.interval = poll_seconds() if interval is None else interval
        self.reader: OutboxReader | None = None
        # One thread, so the relay keeps one database connection instead of one per poll.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cwa-live")
        self.stopping = asyncio.Event()

    async def step(self) -> int:
        """One poll: returns the number of messages sent (0 when another relay holds the lease)."""
        if not await self.lease.hold():
            self.reader = None  # someone else delivers; re-read their cursor if we take over
            return 0
        if self.reader is None:
            self.reader = OutboxReader(await self.lease.load_cursor(), check=True)
        loop = asyncio.get_running_loop()
        messages = await loop.run_in_executor(self.executor, self.reader.read)
        for group, message in messages:
            await self.layer.group_send(group, message)
        if self.reader.cursor is not None:
            await self.lease.save_cursor(self.reader.cursor)
        return len(messages)

    async def run(self) -> None:
        task = asyncio.current_task()
        try:
            # `cancelling()` as well as the stop event: a cancellation that lands inside a client
            # library (redis-py has swallowed some) must still end the loop.
            while not self.stopping.is_set() and not (task and task.cancelling()):
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The relay's boundary: record the error, keep relaying on the next poll.
                    log.exception("live relay poll failed")
                    self.reader = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.interval)
        finally:
            # Close the relay thread's connection (an open one blocks dropping a database), in
            # that thread and after any read still running there.
            self.executor.submit(_close_connection)
            self.executor.shutdown(wait=False)
            await self.lease.release()


def _close_connection() -> None:
    connection.close()  # runs in the relay's thread: closes that thread's connection


_relays: dict[asyncio.AbstractEventLoop, tuple[Relay, asyncio.Task]] = {}


async def ensure_relay(layer: Any) -> None:
    """Start this process's relay on the running event loop unless it runs already."""
    loop = asyncio.get_running_loop()
    running = _relays.get(loop)
    if running is None or running[1].done():
        relay = Relay(layer=layer)
        _relays[loop] = (relay, loop.create_task(relay.run(), name="cwa-live-relay"))


async def stop_relay(timeout: float = 10) -> None:
    """Stop this loop's relay: let it finish its poll, cancel it only if it does not."""
    running = _relays.pop(asyncio.get_running_loop(), None)
    if running is None:
        return
    relay, task = running
    relay.stopping.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
