"""Staleness check at execution: does the world still look like what the approver saw?

Just before an action's first attempt, the executor re-checks its work item: the fields a person
judges by must be as they were at proposal, and the policy that proposed it must still match.
If not, the action does not run: it goes back to the approval queue as a new revision (earlier
approvals no longer count) with the reason, so a person looks again.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

#: What a person judges a work item by. Any change here after the proposal makes it stale.
SNAPSHOT_FIELDS = ("title", "status", "priority", "assignee", "due_at", "last_activity_at")


def work_item_snapshot(item: Any) -> dict[str, Any]:
    snap = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(item, name)
        snap[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return snap


def _describe(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [
        f"{name.replace('_', ' ')} {before.get(name) or '—'} → {after.get(name) or '—'}"
        for name in SNAPSHOT_FIELDS
        if name in before and before.get(name) != after.get(name)
    ]
    return "; ".join(changed)


def staleness_reason(action: Any) -> str | None:
    """Why this action should not run as approved, or None when it still should.

    Reads the action's work item and policy (loaded by the caller with select_related).
    """
    if not action.work_item_snapshot:
        return None
    item = action.work_item
    if item is None:
        return "its work item was deleted after the proposal"
    now_snapshot = work_item_snapshot(item)
    if changes := _describe(action.work_item_snapshot, now_snapshot):
        return f"the work item changed after the proposal ({changes})"
    policy = action.policy
    if policy is not None:
        from policies.conditions import ConditionError, compile_condition, evaluate, item_facts

        try:
            holds = evaluate(
                compile_condition(policy.condition),
                item_facts(item, timezone.now()),
                timezone.now(),
            )
        except ConditionError as exc:
            return f"policy “{policy.name}” could not be re-checked: {exc.message}"
        if not holds:
            return f"policy “{policy.name}” no longer matches its work item"
    return None
