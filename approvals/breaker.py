"""The circuit breaker per (organization, executor): stop hammering a service that is down.

State lives in CircuitBreaker rows and changes only inside the claim and settle transactions of
approvals/execution.py (after the action's row lock, before the audit append; always in that
order, so there is no lock cycle):

- closed: calls go out. Every answer from the service (a success, or a permanent refusal, which
  proves it is up) resets the failure count; every transient failure or unknown outcome adds
  one. At CWA_BREAKER_FAILURES in a row the breaker opens, admins are notified.
- open: the claim holds actions instead of calling (they stay `approved`, with
  `next_attempt_at` = the next probe time, and their attempts are not used up). The sweep does
  not re-enqueue held actions.
- half-open: from `next_probe_at`, the first action to be claimed becomes the only probe (the
  breaker row lock makes it exactly one). Its success closes the breaker and releases every
  held action; its failure opens the breaker again with the cooldown doubled (up to
  CWA_BREAKER_MAX_COOLDOWN_SECONDS), or longer if the service sent Retry-After.

Worker crashes and executor bugs say nothing about the service and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from approvals import dispatch, notifications
from approvals.choices import ActionStatus
from approvals.models import Action, CircuitBreaker, Notification
from audit.services import EventSpec, audit_record_many
from cwa_site.errors import NotFound
from policies.choices import Executor
from teams.choices import TeamStatus
from teams.models import OrganizationMember
from teams.permissions import admin_organization_ids

State = CircuitBreaker.State
RELEASE_LIMIT = 1000


@dataclass
class Admission:
    """The breaker's answer to a claim: go ahead (perhaps as the probe), or wait until `until`."""

    allowed: bool
    until: datetime | None = None
    probe: bool = False
    events: list[EventSpec] = field(default_factory=list)


def _label(executor: str) -> str:
    try:
        return Executor(executor).label
    except ValueError:
        return executor


def _cooldown(trips: int, retry_after: float | None) -> float:
    base = settings.CWA_BREAKER_COOLDOWN_SECONDS * 2 ** max(0, trips - 1)
    cooldown = min(float(settings.CWA_BREAKER_MAX_COOLDOWN_SECONDS), base)
    if retry_after:
        cooldown = max(cooldown, min(retry_after, settings.CWA_BREAKER_MAX_COOLDOWN_SECONDS))
    return cooldown


def _event(breaker: CircuitBreaker, verb: str, **data: Any) -> EventSpec:
    return EventSpec(
        verb=verb,
        actor_label="worker",
        target=breaker,
        data={
            "executor": breaker.executor,
            "state": breaker.state,
            "consecutive_failures": breaker.consecutive_failures,
            **data,
        },
        was_automatic=True,
        success=verb in ("breaker.closed", "breaker.reset"),
        error=breaker.last_error if verb in ("breaker.opened", "breaker.reopened") else "",
    )


def breaker_admit(*, action: Action, deadline: datetime, now: datetime) -> Admission:
    """May this (locked, runnable) action call out now? Must run in the claim's transaction."""
    breaker = (
        CircuitBreaker.objects.select_for_update()
        .filter(organization_id=action.organization_id, executor=action.action_type.executor)
        .first()
    )
    if breaker is None or breaker.state == State.CLOSED:
        return Admission(True)
    if breaker.state == State.OPEN and now < breaker.next_probe_at:
        return Admission(False, until=breaker.next_probe_at)
    if breaker.state == State.HALF_OPEN and breaker.probe_action_id != action.pk:
        probe_alive = breaker.probe_deadline is not None and breaker.probe_deadline > now
        if probe_alive:
            return Admission(False, until=breaker.probe_deadline)
    # This action is the one probe: open past its cooldown, or a half-open breaker whose
    # previous probe never reported back (its worker died; the sweep settles that action).
    was = breaker.state
    breaker.state = State.HALF_OPEN
    breaker.probe_action = action
    breaker.probe_deadline = deadline
    breaker.save(update_fields=["state", "probe_action", "probe_deadline", "updated_at"])
    events = []
    if was == State.OPEN:
        events.append(_event(breaker, "breaker.half_open", probe_action=str(action.pk)))
    return Admission(True, probe=True, events=events)


def breaker_record(
    *,
    organization_id: Any,
    executor: str,
    action_id: Any,
    ok: bool,
    error: str = "",
    retry_after: float | None = None,
    now: datetime,
) -> tuple[list[EventSpec], list[Any]]:
    """Record one answer (ok=True: the service answered) or failure from the service, inside
    the settle transaction. Returns the audit events to append and the actions to enqueue."""
    breaker = (
        CircuitBreaker.objects.select_for_update()
        .filter(organization_id=organization_id, executor=executor)
        .first()
    )
    if ok:
        if breaker is None:
            return [], []
        return _record_success(breaker, now)
    if breaker is None:
        CircuitBreaker.objects.get_or_create(organization_id=organization_id, executor=executor)
        breaker = CircuitBreaker.objects.select_for_update().get(
            organization_id=organization_id, executor=executor
        )
    return _record_failure(breaker, action_id, error, retry_after, now), []


def _record_success(breaker: CircuitBreaker, now: datetime) -> tuple[list[EventSpec], list[Any]]:
    if breaker.state == State.CLOSED:
        if breaker.consecutive_failures:
            breaker.consecutive_failures = 0
            breaker.last_success_at = now
            breaker.save(update_fields=["consecutive_failures", "last_success_at", "updated_at"])
        return [], []
    return _close(breaker, now, verb="breaker.closed")


def _close(
    breaker: CircuitBreaker, now: datetime, *, verb: str, actor: Any = None
) -> tuple[list[EventSpec], list[Any]]:
    was_open_since = breaker.opened_at
    breaker.state = State.CLOSED
    breaker.consecutive_failures = 0
    breaker.trips = 0
    breaker.opened_at = None
    breaker.next_probe_at = None
    breaker.probe_action = None
    breaker.probe_deadline = None
    breaker.last_success_at = now
    breaker.save()
    # Everything that waited is due now; the sweep picks up whatever is not enqueued here.
    # Rows another worker is claiming right now are skipped, not waited for: that worker waits
    # for this breaker row, so waiting for its action row would be a lock cycle.
    released = list(
        Action.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(
            organization_id=breaker.organization_id,
            action_type__executor=breaker.executor,
            status=ActionStatus.APPROVED,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:RELEASE_LIMIT]
    )
    Action.objects.filter(pk__in=released, next_attempt_at__gt=now).update(next_attempt_at=now)
    event = _event(
        breaker,
        verb,
        released=len(released),
        open_since=was_open_since.isoformat() if was_open_since else None,
    )
    event.actor = actor
    if actor is not None:
        event.actor_label = None
        event.was_automatic = False
    notifications.notify(
        organization_id=breaker.organization_id,
        team_id=None,
        kind="breaker.closed",
        audience="admins",
        level=Notification.Level.INFO,
        title=f"{_label(breaker.executor)} works again: {len(released)} waiting action(s) resume",
    )
    return [event], released


def _record_failure(
    breaker: CircuitBreaker,
    action_id: Any,
    error: str,
    retry_after: float | None,
    now: datetime,
) -> list[EventSpec]:
    breaker.consecutive_failures += 1
    breaker.last_error = error[:2000]
    breaker.last_failure_at = now
    events: list[EventSpec] = []
    if (
        breaker.state == State.CLOSED
        and breaker.consecutive_failures >= settings.CWA_BREAKER_FAILURES
    ):
        breaker.state = State.OPEN
        breaker.trips = 1
        breaker.opened_at = now
        breaker.next_probe_at = now + timedelta(seconds=_cooldown(1, retry_after))
        events.append(_event(breaker, "breaker.opened", next_probe_at=breaker.next_probe_at))
        notifications.notify(
            organization_id=breaker.organization_id,
            team_id=None,
            kind="breaker.opened",
            audience="admins",
            level=Notification.Level.DANGER,
            title=(
                f"{_label(breaker.executor)} is failing: actions wait until it recovers "
                f"({breaker.consecutive_failures} failures in a row)"
            ),
            body=(
                f"Last error: {breaker.last_error}\nNext probe at "
                f"{breaker.next_probe_at:%Y-%m-%d %H:%M:%S} UTC. Approved actions stay approved "
                "and run when a probe succeeds."
            ),
        )
    elif breaker.state == State.HALF_OPEN and str(breaker.probe_action_id) == str(action_id):
        breaker.state = State.OPEN
        breaker.trips += 1
        breaker.next_probe_at = now + timedelta(seconds=_cooldown(breaker.trips, retry_after))
        breaker.probe_action = None
        breaker.probe_deadline = None
        events.append(_event(breaker, "breaker.reopened", next_probe_at=breaker.next_probe_at))
    breaker.save()
    return events


def breaker_is_holding() -> Exists:
    """For Action querysets: the action's executor has an open or half-open breaker."""
    return Exists(
        CircuitBreaker.objects.filter(
            organization_id=OuterRef("organization_id"),
            executor=OuterRef("action_type__executor"),
        ).exclude(state=State.CLOSED)
    )


def breaker_probes_due(*, now: datetime) -> list[Any]:
    """One waiting action per breaker whose probe is due (the claim makes it the probe)."""
    due = []
    for breaker in CircuitBreaker.objects.exclude(state=State.CLOSED).only(
        "organization_id", "executor", "state", "next_probe_at", "probe_deadline"
    ):
        if breaker.state == State.OPEN and breaker.next_probe_at > now:
            continue
        if (
            breaker.state == State.HALF_OPEN
            and breaker.probe_deadline is not None
            and breaker.probe_deadline > now
        ):
            continue
        candidate = (
            Action.objects.filter(
                organization_id=breaker.organization_id,
                action_type__executor=breaker.executor,
                status=ActionStatus.APPROVED,
                organization__automation_paused=False,
                team__status=TeamStatus.ACTIVE,
            )
            .order_by("next_attempt_at", "created_at")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is not None:
            due.append(candidate)
    return due


def breaker_reset(*, actor: AbstractBaseUser, breaker_id: Any) -> CircuitBreaker:
    """An org admin closes a breaker by hand (the service is known to be fixed): held actions
    are released at once. Audited like every change."""
    with transaction.atomic():
        breakers = CircuitBreaker.objects.select_for_update().filter(pk=breaker_id)
        if not actor.is_superuser:
            breakers = breakers.filter(organization_id__in=admin_organization_ids(actor))
        breaker = breakers.first()
        if breaker is None:
            raise NotFound("No such circuit breaker.")
        events, released = _close(breaker, timezone.now(), verb="breaker.reset", actor=actor)
        audit_record_many(organization=breaker.organization_id, events=events)
        dispatch.enqueue_execution(released)
    return breaker


def breakers_visible_to(user: Any) -> QuerySet[CircuitBreaker]:
    """Breakers of the user's organizations, not closed first (for the dashboard)."""
    if not user.is_authenticated:
        return CircuitBreaker.objects.none()
    orgs = OrganizationMember.objects.filter(user_id=user.pk).values("organization_id")
    return CircuitBreaker.objects.filter(organization_id__in=orgs).order_by("state", "executor")


def breakers_open_for(user: Any) -> QuerySet[CircuitBreaker]:
    """The open and half-open breakers of the user's organizations."""
    return breakers_visible_to(user).exclude(state=State.CLOSED)
