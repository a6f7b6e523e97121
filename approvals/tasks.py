"""django-q2 task entry points: take ids, re-read state, call one service. Safe to run twice."""

from __future__ import annotations

from django.db import transaction

from approvals import dispatch, execution, services


def execute_action(action_id: str) -> str | None:
    return execution.action_execute(action_id=action_id)


def execute_actions(action_ids: list[str]) -> int:
    """Fan a bulk approval out to one task per action, so they run in parallel on the workers."""
    with transaction.atomic():
        for action_id in action_ids:
            dispatch.enqueue_execution([action_id])
    return len(action_ids)


def sweep() -> dict[str, int]:
    """Every minute: expire what is overdue, remind and escalate, settle stuck attempts, start due
    retries."""
    expired = services.actions_expire_due()
    nudged = services.actions_remind_and_escalate()
    return {"expired": expired, **nudged, **execution.actions_sweep()}
