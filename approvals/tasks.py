"""django-q2 task entry points: take ids, re-read state, call one service. Safe to run twice."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

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


def send_daily_digests() -> int:
    """Every morning: one digest task per person (each sends at most once per day)."""
    from django_q.tasks import async_task

    from approvals.notifications import digest_recipient_ids

    day = timezone.now().date().isoformat()
    with transaction.atomic():
        user_ids = digest_recipient_ids()
        for user_id in user_ids:
            async_task(DIGEST, user_id, day, task_name=f"digest {user_id} {day}")
    return len(user_ids)


def send_digest(user_id: int, day: str) -> bool:
    from approvals.notifications import digest_send

    return digest_send(user_id=user_id, day=date.fromisoformat(day))


def refresh_autonomy_suggestions() -> int:
    """Hourly: suggest earned autonomy where a long streak of approvals has built up."""
    from approvals.autonomy import autonomy_suggestions_refresh

    return autonomy_suggestions_refresh()


DIGEST = "approvals.tasks.send_digest"
