"""Reads of policies and their results, scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action
from policies.conditions import ConditionError, Matcher, compile_condition, item_facts
from policies.models import Policy
from teams.permissions import VIEW, organizations_for, team_ids_for
from workitems.models import WorkItem


def policies_visible_to(user: Any) -> QuerySet[Policy]:
    """Policies of the user's teams, and organization-wide policies of their organizations."""
    return (
        Policy.objects.filter(
            Q(team_id__in=team_ids_for(user, VIEW))
            | Q(team__isnull=True, organization__in=organizations_for(user))
        )
        .select_related("organization", "team", "action_type")
        .order_by("name")
    )


def policy_get_visible(user: Any, policy_id: Any) -> Policy | None:
    try:
        return policies_visible_to(user).get(pk=policy_id)
    except (Policy.DoesNotExist, ValidationError, ValueError, TypeError):
        return None


def policy_precision(user: Any) -> QuerySet[Policy]:
    """Per policy: how many actions it proposed and how many people rejected (noisy rules)."""
    return policies_visible_to(user).annotate(
        proposed=Count("actions"),
        rejected=Count("actions", filter=Q(actions__status=ActionStatus.REJECTED)),
    )


def llm_spend(user: Any, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Drafting spend per team the user can see: cost (USD), tokens in and out, actions drafted."""
    actions = Action.objects.filter(team_id__in=team_ids_for(user, VIEW), llm_tokens_in__gt=0)
    if since is not None:
        actions = actions.filter(created_at__gte=since)
    return list(
        actions.values("team_id", "team__name")
        .annotate(
            cost=Sum("llm_cost"),
            tokens_in=Sum("llm_tokens_in"),
            tokens_out=Sum("llm_tokens_out"),
            drafted=Count("id", filter=Q(drafted=True)),
        )
        .order_by("team__name")
    )


@dataclass
class DryRun:
    """How a condition would do on the organization's current work items."""

    total: int = 0
    matched: int = 0
    errors: int = 0
    sample: list[WorkItem] = field(default_factory=list)
    first_error: str = ""
    error: str = ""  # the condition does not compile


def policy_dry_run(
    policy: Policy, *, condition: str | None = None, sample_size: int = 10, now: Any = None
) -> DryRun:
    """Evaluate the policy's condition (or `condition`) over its scope, proposing nothing."""
    now = now or timezone.now()
    result = DryRun()
    try:
        compiled = compile_condition(condition if condition is not None else policy.condition)
    except ConditionError as exc:
        result.error = exc.message
        return result
    items = WorkItem.objects.filter(organization_id=policy.organization_id).select_related("team")
    if policy.team_id:
        items = items.filter(team_id=policy.team_id)
    description = "description" in compiled.fields
    items = items.defer(*(("raw",) if description else ("raw", "description")))
    matcher = Matcher([compiled], now)
    chunk: list[WorkItem] = []

    def flush() -> None:
        outcomes = matcher.run(0, [item_facts(i, now, description=description) for i in chunk])
        for item, outcome in zip(chunk, outcomes, strict=True):
            if outcome is True:
                result.matched += 1
                if len(result.sample) < sample_size:
                    result.sample.append(item)
            elif outcome is not False:
                result.errors += 1
                result.first_error = result.first_error or outcome.message
        chunk.clear()

    for item in items.order_by("-last_activity_at").iterator(chunk_size=2000):
        result.total += 1
        chunk.append(item)
        if len(chunk) == 2000:
            flush()
    flush()
    return result


def spend_total(rows: list[dict[str, Any]]) -> Decimal:
    return sum((row["cost"] or Decimal("0") for row in rows), Decimal("0"))
