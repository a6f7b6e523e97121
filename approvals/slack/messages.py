"""Slack messages that show actions: post a pending action to its team's channels, redraw the
messages when the action changes, answer on a response_url.

Posting is at most once per (action, connector, channel): the SlackMessage row is the claim and
is written before chat.postMessage goes out; an unknown outcome is never retried. These are
notifications, not side effects of the action, so they are not audited (the decisions they
lead to are, by the decide service).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django_q.tasks import async_task

from approvals.choices import ActionStatus
from approvals.executors import ExecutorError, OutcomeUnknown, PermanentError, TransientError
from approvals.executors.http import classify_response, is_loopback, send
from approvals.executors.slack import slack_call
from approvals.models import Action, Decision, SlackMessage, SlackRoute
from approvals.slack import blocks
from workitems.models import Connector

log = logging.getLogger(__name__)
POST_TASK = "approvals.slack.tasks.post_pending"
MAX_POST_ATTEMPTS = 3
State = SlackMessage.State


def enqueue_post_pending(action: Action) -> None:
    """Called by action_propose inside its transaction when an action starts waiting: the task
    row commits with the proposal (or not at all). One cheap query when no route exists."""
    if SlackRoute.objects.filter(team_id=action.team_id, enabled=True).exists():
        async_task(POST_TASK, str(action.pk), task_name=f"slack post {action.pk}")


def _claim(action: Action, route: SlackRoute) -> SlackMessage | None:
    """The message row for (action, route), if this caller may post it now."""
    try:
        with transaction.atomic():
            message, created = SlackMessage.objects.get_or_create(
                action=action,
                connector=route.connector,
                channel=route.channel,
                defaults={"attempts": 1},
            )
    except IntegrityError:
        return None  # another worker claimed it a moment ago
    if created:
        return message
    claimed = SlackMessage.objects.filter(
        pk=message.pk, state=State.RETRY, attempts__lt=MAX_POST_ATTEMPTS
    ).update(state=State.POSTING, attempts=F("attempts") + 1)
    if not claimed:
        return None
    message.refresh_from_db()
    return message


def post_pending(*, action_id: Any) -> int:
    """Post a pending action to every enabled route of its team. Safe to run twice."""
    pk = _uuid(action_id)
    shown = blocks.load([pk]).get(pk) if pk else None
    if shown is None or shown.action.status != ActionStatus.PENDING:
        return 0
    action = shown.action
    routes = SlackRoute.objects.filter(
        team_id=action.team_id, enabled=True, connector__enabled=True
    ).select_related("connector")
    posted = 0
    for route in routes:
        message = _claim(action, route)
        if message is None:
            continue
        stamp = timezone.now()
        body = {
            "channel": route.channel,
            **blocks.render(shown),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        try:
            data = slack_call(
                route.connector, "chat.postMessage", body, timeout=settings.CWA_SLACK_TIMEOUT
            )
        except TransientError as exc:
            state = State.RETRY if message.attempts < MAX_POST_ATTEMPTS else State.FAILED
            _save(message, state=state, error=exc.message)
        except OutcomeUnknown as exc:
            _save(message, state=State.UNKNOWN, error=exc.message)
        except PermanentError as exc:
            _save(message, state=State.FAILED, error=exc.message)
        else:
            _save(
                message,
                state=State.POSTED,
                error="",
                ts=str(data.get("ts") or ""),
                channel_id=str(data.get("channel") or route.channel),
                rendered_at=stamp,
            )
            posted += 1
    return posted


def _save(message: SlackMessage, **fields: Any) -> None:
    if "error" in fields:
        fields["error"] = fields["error"][:2000]
    SlackMessage.objects.filter(pk=message.pk).update(**fields)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def response_url_allowed(url: Any) -> bool:
    """Only Slack's own hosts (CWA_SLACK_RESPONSE_URL_PREFIXES), or loopback in development."""
    if not isinstance(url, str):
        return False
    if any(url.startswith(prefix) for prefix in settings.CWA_SLACK_RESPONSE_URL_PREFIXES):
        return True
    parts = urlsplit(url)
    return bool(
        settings.CWA_WEBHOOK_ALLOW_LOOPBACK_HTTP
        and parts.scheme in ("http", "https")
        and parts.hostname
        and is_loopback(parts.hostname)
    )


def respond(response_url: Any, body: dict[str, Any]) -> bool:
    """POST to a Slack response_url (ephemeral answers, or replacing the clicked message)."""
    if not response_url_allowed(response_url):
        log.warning("refusing to post to a response_url outside Slack: %r", response_url)
        return False
    try:
        response = send(
            "POST",
            response_url,
            what="Slack response_url",
            timeout=settings.CWA_SLACK_TIMEOUT,
            json=body,
        )
        classify_response(response, "Slack response_url")
    except ExecutorError as exc:
        log.warning("Slack response_url failed: %s", exc.message)
        return False
    return True


def ephemeral(response_url: Any, text: str) -> bool:
    return respond(
        response_url, {"response_type": "ephemeral", "replace_original": False, "text": text}
    )


def refresh(*, action_id: Any, clicked: dict[str, Any] | None = None) -> int:
    """Redraw every Slack message of the action from its current state.

    `clicked` (channel, ts, response_url) is the message a button was pressed on; if CWA does not
    track it, it is replaced through its response_url. A decision that lands while we draw
    moves `updated_at` or adds a Decision after `stamp`, so we draw again (at most 3 times);
    the periodic sync covers whatever still slips through.
    """
    pk = _uuid(action_id)
    updated = 0
    for _ in range(3):
        stamp = timezone.now()
        shown = blocks.load([pk]).get(pk)
        if shown is None:
            return updated
        drawn = blocks.render(shown)
        messages = list(
            SlackMessage.objects.filter(action_id=pk, state=State.POSTED).select_related(
                "connector"
            )
        )
        tracked = set()
        for message in messages:
            channel = message.channel_id or message.channel
            tracked.add((channel, message.ts))
            try:
                slack_call(
                    message.connector,
                    "chat.update",
                    {"channel": channel, "ts": message.ts, **drawn},
                    timeout=settings.CWA_SLACK_TIMEOUT,
                )
            except ExecutorError as exc:
                log.warning("chat.update of %s failed: %s", message.pk, exc.message)
                continue
            SlackMessage.objects.filter(pk=message.pk).update(rendered_at=stamp, error="")
            updated += 1
        if clicked and (clicked.get("channel"), clicked.get("ts")) not in tracked:
            if respond(clicked.get("response_url"), {"replace_original": True, **drawn}):
                updated += 1
            clicked = None  # replace it once; later rounds use the tracked messages
        changed = (
            Action.objects.filter(pk=pk, updated_at__gt=stamp).exists()
            or Decision.objects.filter(action_id=pk, created_at__gt=stamp).exists()
        )
        if not changed:
            break
    return updated


def sync(*, now: Any = None) -> dict[str, int]:
    """Every minute: post pending actions whose post was lost or failed transiently, and redraw
    messages of actions that changed elsewhere (decided on the web, expired, edited, ran)."""
    now = now or timezone.now()
    recent = now - timedelta(days=1)
    posted = 0
    for route in SlackRoute.objects.filter(enabled=True, connector__enabled=True):
        missing = (
            Action.objects.filter(team_id=route.team_id, status=ActionStatus.PENDING)
            .filter(created_at__gte=recent)
            .exclude(
                Exists(
                    SlackMessage.objects.filter(
                        action=OuterRef("pk"),
                        connector_id=route.connector_id,
                        channel=route.channel,
                    ).exclude(state=State.RETRY)
                )
            )
            .values_list("pk", flat=True)[:100]
        )
        for pk in missing:
            posted += post_pending(action_id=pk)
    newer_decision = Decision.objects.filter(
        action_id=OuterRef("action_id"), created_at__gt=OuterRef("rendered_at")
    )
    stale = set(
        SlackMessage.objects.filter(state=State.POSTED, created_at__gte=now - timedelta(days=14))
        .filter(Q(action__updated_at__gt=F("rendered_at")) | Exists(newer_decision))
        .values_list("action_id", flat=True)[:200]
    )
    redrawn = sum(refresh(action_id=pk) for pk in stale)
    return {"posted": posted, "redrawn": redrawn}


def connector_or_none(connector_id: Any) -> Connector | None:
    pk = _uuid(connector_id)
    if pk is None:
        return None
    return (
        Connector.objects.filter(pk=pk, kind="slack", enabled=True)
        .select_related("organization")
        .first()
    )
