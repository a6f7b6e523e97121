"""django-q2 entry points for the policy engine: ids in, state re-read, safe to run twice
(a second run finds the proposals of the first inside their cooldown window)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from policies import engine
from workitems.services import work_items_mark_stalled


def evaluate_work_items(organization_id: str, item_ids: list[str], trigger: str) -> dict[str, int]:
    return engine.evaluate_items(
        organization_id=organization_id, item_ids=item_ids, trigger=trigger
    ).as_dict()


def propose_queued(policy_id: str, item_id: str, window: str, trigger: str, at: str) -> str:
    return engine.propose_queued(
        policy_id=policy_id,
        item_id=item_id,
        window=window,
        trigger=trigger,
        now=datetime.fromisoformat(at),
    )


def run_schedule() -> dict[str, Any]:
    """Every few minutes: mark quiet work stalled (which queues `updated` policies for it), then
    evaluate the scheduled policies over all open work."""
    stalled = work_items_mark_stalled()
    return {"stalled": len(stalled), **engine.evaluate_scheduled().as_dict()}
