"""Running approved actions, at most once each.

The flow for one attempt:
1. claim: in a short transaction, lock the action, check it may run (approved, not paused, due),
   move it to `executing`, write an Execution row and an audit event, and commit;
2. call the executor outside any transaction, with a timeout and the action's idempotency key;
3. settle: in a second transaction, record the outcome (succeeded / retry later / failed).

A worker that dies between 1 and 3 leaves the action `executing` with a `running` Execution.
Whoever finds it after its deadline (task redelivery or the periodic sweep) settles it: an
idempotent executor is tried again with the same key; anything else goes to `needs_attention`,
because the side effect may have happened and a blind retry could do it twice.

The circuit breaker (approvals/breaker.py) is consulted in the claim and updated in the settle,
inside the same transactions: while it is open the claim leaves the action `approved` with
`next_attempt_at` at the next probe time and calls nothing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from approvals import dispatch, notifications
from approvals.breaker import breaker_admit, breaker_is_holding, breaker_probes_due, breaker_record
from approvals.choices import ActionStatus, ExecutionStatus
from approvals.executors import (
    REGISTRY,
    ExecutionRequest,
    ExecutorError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
    get_executor,
    may_repeat,
)
from approvals.models import Action, Execution
from approvals.services import action_return_stale
from approvals.staleness import staleness_reason
from audit.services import EventSpec, audit_record_many
from teams.choices import TeamStatus

log = logging.getLogger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor."""
    ceiling = min(
        settings.CWA_RETRY_MAX_SECONDS, settings.CWA_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.CWA_RETRY_MAX_SECONDS))
    return delay


def _timeout(action: Action) -> float:
    return float(min(action.action_type.timeout_seconds, settings.CWA_EXECUTOR_TIMEOUT * 6))


def _event(action: Action, verb: str, **fields: Any) -> EventSpec:
    return EventSpec(
        verb=verb,
        actor_label="worker",
        target=action,
        team=action.team_id,
        was_automatic=action.auto_approved,
        **fields,
    )


def _settle_abandoned(action: Action, now: Any) -> list[EventSpec]:
    """An attempt whose worker never reported back. Returns the audit events it wrote."""
    running = action.executions.filter(status=ExecutionStatus.RUNNING).order_by("-attempt").first()
    if running is not None:
        running.status = ExecutionStatus.UNKNOWN
        running.finished_at = now
        running.error = "The worker stopped before reporting an outcome."
        running.save(update_fields=["status", "finished_at", "error"])
    events = [
        _event(
            action,
            "execution.abandoned",
            success=False,
            error="The worker stopped mid-call; the outcome is unknown.",
            data={"attempt": action.attempts},
        )
    ]
    repeatable = may_repeat(
        REGISTRY.get(action.action_type.executor), action.action_type.idempotent
    )
    if repeatable and action.attempts < action.max_attempts:
        action.status = ActionStatus.APPROVED
        action.next_attempt_at = None
        events.append(
            _event(
                action,
                "execution.retry_scheduled",
                data={"reason": "idempotent executor, same idempotency key"},
            )
        )
    else:
        action.status = ActionStatus.NEEDS_ATTENTION
        action.last_error = (
            "A worker stopped while running this action and the executor is not idempotent: "
            "check the target system, then retry or close it."
        )
        action.finished_at = now
        events.append(
            _event(action, "action.needs_attention", success=False, error=action.last_error)
        )
        notifications.notify_action_outcome(action, failed=False)
    action.execution_deadline = None
    action.save(
        update_fields=[
            "status",
            "next_attempt_at",
            "last_error",
            "finished_at",
            "execution_deadline",
            "updated_at",
        ]
    )
    return events


def _claim(action_id: Any) -> tuple[Action, Execution] | None:
    now = timezone.now()
    with transaction.atomic():
        action = (
            Action.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("action_type", "team", "organization")
            .filter(pk=action_id)
            .first()
        )
        if action is None:
            return None  # missing, or another worker holds it right now
        events: list[EventSpec] = []
        if action.status == ActionStatus.EXECUTING:
            if action.execution_deadline and action.execution_deadline > now:
                return None  # the attempt in flight may still finish
            events = _settle_abandoned(action, now)
        runnable = (
            action.status == ActionStatus.APPROVED
            and not action.organization.automation_paused
            and action.team.status != TeamStatus.PAUSED
            and (action.next_attempt_at is None or action.next_attempt_at <= now)
        )
        if not runnable:
            if events:
                audit_record_many(organization=action.organization_id, events=events)
            return None
        if action.attempts == 0 and (reason := staleness_reason(action)):
            # The world moved since the approval: a person looks again before anything runs.
            action_return_stale(action=action, reason=reason)
            return None
        deadline = now + timedelta(seconds=_timeout(action) + settings.CWA_EXECUTION_GRACE)
        admission = breaker_admit(action=action, deadline=deadline, now=now)
        if not admission.allowed:
            # The service is failing: wait for the breaker instead of calling (no attempt used).
            if action.next_attempt_at != admission.until:
                action.next_attempt_at = admission.until
                action.save(update_fields=["next_attempt_at", "updated_at"])
                events.append(
                    _event(
                        action,
                        "execution.held",
                        data={
                            "executor": action.action_type.executor,
                            "until": admission.until.isoformat() if admission.until else None,
                            "reason": "circuit breaker open",
                        },
                    )
                )
            if events:
                audit_record_many(organization=action.organization_id, events=events)
            return None
        events.extend(admission.events)
        action.attempts += 1
        action.status = ActionStatus.EXECUTING
        action.execution_deadline = deadline
        action.next_attempt_at = None
        action.save(
            update_fields=[
                "attempts",
                "status",
                "execution_deadline",
                "next_attempt_at",
                "updated_at",
            ]
        )
        execution = Execution.objects.create(
            action=action,
            attempt=action.attempts,
            idempotency_key=action.idempotency_token,
            started_at=now,
            worker=WORKER,
        )
        events.append(
            _event(
                action,
                "execution.started",
                data={"attempt": action.attempts, "idempotency_key": action.idempotency_token},
            )
        )
        audit_record_many(organization=action.organization_id, events=events)
    return action, execution


def _finish(
    action: Action,
    execution: Execution,
    *,
    status: str,
    execution_status: str,
    error: str = "",
    transient: bool | None = None,
    response: dict[str, Any] | None = None,
    retry_at: Any = None,
    healthy: bool | None = None,
    retry_after: float | None = None,
) -> None:
    """Record the attempt's outcome. `healthy` feeds the circuit breaker: True when the service
    answered (success or a permanent refusal), False when it failed (transient or unknown),
    None when the attempt says nothing about the service (an executor bug)."""
    now = timezone.now()
    released: list[Any] = []
    with transaction.atomic():
        # Only the claimant settles its attempt: if the sweep already declared it abandoned,
        # this late result is recorded on the execution but the action is not moved again.
        locked = Action.objects.select_for_update(of=("self",)).get(pk=action.pk)
        Execution.objects.filter(pk=execution.pk).update(
            status=execution_status,
            finished_at=now,
            error=error[:5000],
            transient=transient,
            response=response or {},
        )
        events: list[EventSpec] = []
        if locked.status != ActionStatus.EXECUTING or locked.attempts != execution.attempt:
            events.append(
                _event(
                    action,
                    "execution.late_result",
                    success=not error,
                    error=error,
                    data={"attempt": execution.attempt, "status": execution_status},
                )
            )
        else:
            locked.status = status
            locked.execution_deadline = None
            locked.last_error = error[:5000]
            if status == ActionStatus.APPROVED:
                locked.next_attempt_at = retry_at
            else:
                locked.finished_at = now
            if response is not None and status == ActionStatus.SUCCEEDED:
                locked.result = response
            locked.save(
                update_fields=[
                    "status",
                    "execution_deadline",
                    "last_error",
                    "next_attempt_at",
                    "finished_at",
                    "result",
                    "updated_at",
                ]
            )
            data = {"attempt": execution.attempt}
            if status == ActionStatus.SUCCEEDED:
                events.append(_event(action, "execution.succeeded", data=data))
            else:
                events.append(
                    _event(
                        action,
                        "execution.failed",
                        success=False,
                        error=error,
                        data={**data, "transient": transient},
                    )
                )
                if status == ActionStatus.APPROVED:
                    events.append(
                        _event(
                            action, "execution.retry_scheduled", data={"at": retry_at.isoformat()}
                        )
                    )
                elif status == ActionStatus.NEEDS_ATTENTION:
                    events.append(
                        _event(action, "action.needs_attention", success=False, error=error)
                    )
                if status in (ActionStatus.FAILED, ActionStatus.NEEDS_ATTENTION):
                    notifications.notify_action_outcome(
                        locked, failed=status == ActionStatus.FAILED
                    )
        if healthy is not None:
            breaker_events, released = breaker_record(
                organization_id=action.organization_id,
                executor=action.action_type.executor,
                action_id=action.pk,
                ok=healthy,
                error=error,
                retry_after=retry_after,
                now=now,
            )
            events.extend(breaker_events)
        audit_record_many(organization=action.organization_id, events=events)
        # The breaker closed: the actions it held are due (enqueued with this commit).
        dispatch.enqueue_execution(released)


def action_execute(*, action_id: Any) -> str | None:
    """Run one attempt of an approved action if it is due. Safe to call any number of times."""
    claimed = _claim(action_id)
    if claimed is None:
        return None
    action, execution = claimed
    executor_type = action.action_type
    request = ExecutionRequest(
        payload=action.payload,
        idempotency_key=action.idempotency_token,
        timeout=_timeout(action),
        config=executor_type.config,
        action_id=str(action.pk),
        organization_id=str(action.organization_id),
    )
    executor = REGISTRY.get(executor_type.executor)
    try:
        response = get_executor(executor_type.executor).execute(request)
    except TransientError as exc:
        if action.attempts < action.max_attempts:
            retry_at = timezone.now() + timedelta(
                seconds=backoff_seconds(action.attempts, exc.retry_after)
            )
            _finish(
                action,
                execution,
                status=ActionStatus.APPROVED,
                execution_status=ExecutionStatus.FAILED,
                error=exc.message,
                transient=True,
                response=exc.response,
                retry_at=retry_at,
                healthy=False,
                retry_after=exc.retry_after,
            )
            return ActionStatus.APPROVED
        _finish(
            action,
            execution,
            status=ActionStatus.FAILED,
            execution_status=ExecutionStatus.FAILED,
            error=f"{exc.message} (gave up after {action.attempts} attempts)",
            transient=True,
            response=exc.response,
            healthy=False,
            retry_after=exc.retry_after,
        )
        return ActionStatus.FAILED
    except OutcomeUnknown as exc:
        if may_repeat(executor, executor_type.idempotent) and action.attempts < action.max_attempts:
            retry_at = timezone.now() + timedelta(seconds=backoff_seconds(action.attempts))
            _finish(
                action,
                execution,
                status=ActionStatus.APPROVED,
                execution_status=ExecutionStatus.UNKNOWN,
                error=exc.message,
                transient=True,
                response=exc.response,
                retry_at=retry_at,
                healthy=False,
            )
            return ActionStatus.APPROVED
        _finish(
            action,
            execution,
            status=ActionStatus.NEEDS_ATTENTION,
            execution_status=ExecutionStatus.UNKNOWN,
            error=exc.message,
            response=exc.response,
            healthy=False,
        )
        return ActionStatus.NEEDS_ATTENTION
    except PermanentError as exc:
        _finish(
            action,
            execution,
            status=ActionStatus.FAILED,
            execution_status=ExecutionStatus.FAILED,
            error=exc.message,
            transient=False,
            response=exc.response,
            # The service answered (it is up; this request cannot work), unless nothing was sent.
            healthy=True if exc.reached else None,
        )
        return ActionStatus.FAILED
    except ExecutorError as exc:  # pragma: no cover - the three above cover the hierarchy
        _finish(
            action,
            execution,
            status=ActionStatus.NEEDS_ATTENTION,
            execution_status=ExecutionStatus.UNKNOWN,
            error=exc.message,
        )
        return ActionStatus.NEEDS_ATTENTION
    except Exception as exc:
        # A bug in an executor: we cannot know whether the effect happened. Record it for a person.
        log.exception("executor %s crashed on action %s", executor_type.executor, action.pk)
        _finish(
            action,
            execution,
            status=ActionStatus.NEEDS_ATTENTION,
            execution_status=ExecutionStatus.UNKNOWN,
            error=f"executor crashed: {exc!r}",
        )
        return ActionStatus.NEEDS_ATTENTION
    _finish(
        action,
        execution,
        status=ActionStatus.SUCCEEDED,
        execution_status=ExecutionStatus.SUCCEEDED,
        response=response,
        healthy=True,
    )
    return ActionStatus.SUCCEEDED


def actions_sweep(*, now: Any = None) -> dict[str, int]:
    """The periodic safety net: start due retries, settle attempts whose worker vanished, pick
    up approved actions whose team or organization was resumed, and start breaker probes."""
    now = now or timezone.now()
    # Approved actions normally have a task queued already; only re-enqueue those whose retry is
    # due or whose task should long have run (lost with a crashed broker row, or held by a pause).
    forgotten = now - timedelta(seconds=settings.Q_CLUSTER["retry"])
    # Actions held by an open breaker are not due: only its probe is (one per breaker).
    due = list(
        Action.objects.filter(status=ActionStatus.APPROVED)
        .filter(organization__automation_paused=False, team__status=TeamStatus.ACTIVE)
        .filter(
            Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, updated_at__lte=forgotten)
        )
        .exclude(breaker_is_holding())
        .values_list("pk", flat=True)[:1000]
    )
    due.extend(pk for pk in breaker_probes_due(now=now) if pk not in due)
    stuck = list(
        Action.objects.filter(
            status=ActionStatus.EXECUTING, execution_deadline__lte=now
        ).values_list("pk", flat=True)[:1000]
    )
    settled = 0
    for pk in stuck:
        try:
            # A stuck action is settled by trying to claim it; the claim applies the rule.
            with transaction.atomic():
                action = (
                    Action.objects.select_for_update(of=("self",), skip_locked=True)
                    .select_related("action_type")
                    .filter(pk=pk, status=ActionStatus.EXECUTING, execution_deadline__lte=now)
                    .first()
                )
                if action is None:
                    continue
                events = _settle_abandoned(action, now)
                audit_record_many(organization=action.organization_id, events=events)
                settled += 1
                if action.status == ActionStatus.APPROVED:
                    due.append(action.pk)
        except DatabaseError:
            log.exception("could not settle stuck action %s", pk)
    if due:
        with transaction.atomic():
            dispatch.enqueue_execution(due)
    return {"enqueued": len(due), "settled": settled}
