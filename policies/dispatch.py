"""Handing changed work items to the policy engine, inside the change's transaction.

One task per trigger per call (not per item), and none when the organization has no enabled
policy for that trigger, so ingesting stays cheap. The task row commits with the change
(django-q2's ORM broker), so the engine never misses a committed change and never sees an
uncommitted one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django_q.tasks import async_task

from policies.models import Policy

EVALUATE = "policies.tasks.evaluate_work_items"


def enqueue_evaluations(*, organization_id: Any, changes: Iterable[tuple[Any, str]]) -> int:
    """Queue evaluation of (work item id, trigger) pairs; returns the number of tasks."""
    by_trigger: dict[str, list[str]] = defaultdict(list)
    for item_id, trigger in changes:
        by_trigger[trigger].append(str(item_id))
    if not by_trigger:
        return 0
    wanted = set(
        Policy.objects.filter(
            organization_id=organization_id, enabled=True, trigger__in=list(by_trigger)
        )
        .order_by()
        .values_list("trigger", flat=True)
        .distinct()
    )
    queued = 0
    for trigger, ids in by_trigger.items():
        if trigger in wanted:
            async_task(
                EVALUATE,
                str(organization_id),
                ids,
                trigger,
                task_name=f"policies {trigger} {len(ids)} item(s)",
            )
            queued += 1
    return queued
