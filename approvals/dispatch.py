"""Handing approved actions to the workers.

Enqueuing happens inside the caller's transaction: django-q2's ORM broker writes the task row
in the same database transaction as the approval, so an approval never commits without its task
and a rolled-back approval never leaves one behind (a transactional outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django_q.tasks import async_task

EXECUTE = "approvals.tasks.execute_action"
FAN_OUT = "approvals.tasks.execute_actions"


def enqueue_execution(action_ids: Sequence[Any]) -> None:
    """One task for one action; one fan-out task for many, so a bulk approval of N actions
    writes one queue row instead of N."""
    ids = [str(pk) for pk in action_ids]
    if not ids:
        return
    if len(ids) == 1:
        async_task(EXECUTE, ids[0], task_name=f"execute {ids[0]}")
    else:
        async_task(FAN_OUT, ids, task_name=f"execute {len(ids)} actions")
