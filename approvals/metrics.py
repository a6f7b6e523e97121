"""Aggregate numbers for the department dashboard (and the metrics API).

Every function here is a selector: scoped to what the user may view, computed with aggregate
queries (GROUP BY, window functions), never by looping over action rows in Python, and returning
plain data (dicts, lists, numbers, datetimes) so HTML pages and the JSON API share one source.

Definitions (shown on the dashboard too):
- executed: actions whose execution finished in the period (succeeded, failed or needs attention);
- success rate: succeeded / executed;
- approval rate: of the actions people decided in the period, the share approved;
- manual-intervention rate: of the actions proposed in the period, the share that needed a person
  (held for approval, or ended in needs attention);
- median time to decision: proposal → final human decision, for actions decided in the period;
- LLM spend: what drafting the content of the period's proposals cost (USD).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from approvals.autonomy import APPROVED_STATUSES
from approvals.breaker import breakers_open_for
from approvals.choices import ActionStatus
from approvals.models import Action
from teams.models import Organization, Team
from teams.permissions import VIEW, team_ids_for

PERIODS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
TREND_DAYS = 30
EXECUTED = (ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.NEEDS_ATTENTION)
COUNTERS = (
    "proposed",
    "auto",
    "needed_person",
    "approved",
    "rejected",
    "executed",
    "succeeded",
    "failed",
    "needs_attention",
    "pending",
    "expiring_soon",
)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _counts(actions: QuerySet[Action], *, start: datetime, now: datetime) -> QuerySet:
    """Per-team counters in one GROUP BY query."""
    in_period = Q(created_at__gte=start)
    decided = Q(requires_approval=True, decided_at__gte=start)
    finished = Q(finished_at__gte=start)
    return (
        actions.values("team_id")
        .annotate(
            llm_spend=Sum("llm_cost", filter=in_period),
            proposed=Count("id", filter=in_period),
            auto=Count("id", filter=in_period & Q(auto_approved=True)),
            needed_person=Count(
                "id",
                filter=in_period
                & (Q(requires_approval=True) | Q(status=ActionStatus.NEEDS_ATTENTION)),
            ),
            approved=Count("id", filter=decided & Q(status__in=APPROVED_STATUSES)),
            rejected=Count("id", filter=decided & Q(status=ActionStatus.REJECTED)),
            executed=Count("id", filter=finished & Q(status__in=EXECUTED)),
            succeeded=Count("id", filter=finished & Q(status=ActionStatus.SUCCEEDED)),
            failed=Count("id", filter=finished & Q(status=ActionStatus.FAILED)),
            needs_attention=Count("id", filter=finished & Q(status=ActionStatus.NEEDS_ATTENTION)),
            pending=Count("id", filter=Q(status=ActionStatus.PENDING, expires_at__gt=now)),
            expiring_soon=Count(
                "id",
                filter=Q(
                    status=ActionStatus.PENDING,
                    expires_at__gt=now,
                    expires_at__lte=now + timedelta(hours=1),
                ),
            ),
        )
        .order_by()
    )


def _medians(
    actions: QuerySet[Action], *, start: datetime, partition: tuple[str, ...]
) -> dict[tuple, float]:
    """Median seconds from proposal to human decision per `partition` key (empty: over all),
    in one query: number the durations within each partition, keep the middle one or two,
    average those."""
    over = [F(field) for field in partition] or None
    decided = actions.filter(
        requires_approval=True,
        decided_at__gte=start,
        status__in=(*APPROVED_STATUSES, ActionStatus.REJECTED),
    ).annotate(
        wait=ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
    )
    middle = (
        decided.annotate(
            rn=Window(RowNumber(), partition_by=over, order_by=F("wait").asc()),
            n=Window(Count("id"), partition_by=over),
        )
        .filter(Q(rn=(F("n") + 1) / 2) | Q(rn=(F("n") + 2) / 2))
        .values_list("wait", *partition)
    )
    found: dict[tuple, list[float]] = defaultdict(list)
    for wait, *key in middle:  # at most two rows per partition
        found[tuple(key)].append(wait.total_seconds())
    return {key: sum(waits) / len(waits) for key, waits in found.items()}


def _summarize(counts: dict[str, Any], median: float | None) -> dict[str, Any]:
    decided = counts["approved"] + counts["rejected"]
    return {
        **counts,
        "llm_spend": float(counts["llm_spend"]),
        "approval_rate": _rate(counts["approved"], decided),
        "success_rate": _rate(counts["succeeded"], counts["executed"]),
        "manual_rate": _rate(counts["needed_person"], counts["proposed"]),
        "median_decision_seconds": median,
    }


def dashboard_metrics(
    *, user: Any, days: int = 7, now: datetime | None = None, organization_id: Any = None
) -> dict[str, Any]:
    """The dashboard's numbers for the teams `user` may view, over the last `days` days.

    Returns {"period": {...}, "totals": {...}, "departments": [{..., "teams": [...]}]}; a
    fixed number of queries whatever the number of teams and actions.
    """
    now = now or timezone.now()
    start = now - timedelta(days=days)
    visible = team_ids_for(user, VIEW)
    teams_qs = Team.objects.filter(id__in=visible).select_related("organization")
    actions = Action.objects.filter(team_id__in=visible)
    if organization_id is not None:
        teams_qs = teams_qs.filter(organization_id=organization_id)
        actions = actions.filter(organization_id=organization_id)
    teams = list(teams_qs.order_by("organization__name", "department", "name"))
    by_team = {row["team_id"]: row for row in _counts(actions, start=start, now=now)}
    team_medians = _medians(actions, start=start, partition=("team_id",))
    dept_medians = _medians(actions, start=start, partition=("organization_id", "team__department"))
    total_median = _medians(actions, start=start, partition=()).get(())

    zero: dict[str, Any] = {**dict.fromkeys(COUNTERS, 0), "llm_spend": Decimal(0)}
    departments: dict[tuple[Any, str], dict[str, Any]] = {}
    totals = dict(zero)
    for team in teams:  # one entry per team (not per action)
        row = by_team.get(team.pk, zero)
        counts = {k: row[k] for k in COUNTERS}
        counts["llm_spend"] = row.get("llm_spend") or Decimal(0)
        key = (team.organization_id, team.department)
        dept = departments.setdefault(
            key,
            {
                "organization": team.organization.name,
                "organization_id": str(team.organization_id),
                "name": team.department,
                "counts": dict(zero),
                "teams": [],
            },
        )
        for k in (*COUNTERS, "llm_spend"):
            dept["counts"][k] += counts[k]
            totals[k] += counts[k]
        dept["teams"].append(
            {
                "id": str(team.pk),
                "name": team.name,
                "department": team.department,
                "autonomy_level": team.autonomy_level,
                "status": team.status,
                **_summarize(counts, team_medians.get((team.pk,))),
            }
        )
    return {
        "period": {"days": days, "start": start, "end": now},
        "totals": _summarize(totals, total_median),
        "departments": [
            {
                "organization": dept["organization"],
                "organization_id": dept["organization_id"],
                "name": dept["name"],
                "teams": dept["teams"],
                **_summarize(dept["counts"], dept_medians.get(key)),
            }
            for key, dept in departments.items()
        ],
    }


def daily_trend(
    *, user: Any, days: int = TREND_DAYS, now: datetime | None = None, organization_id: Any = None
) -> list[dict[str, Any]]:
    """Per day for the last `days` days: proposals (ran by themselves / needed a person) and
    finished executions (succeeded / failed). Two GROUP BY queries; missing days are zeros."""
    now = now or timezone.now()
    first: date = (now - timedelta(days=days - 1)).date()
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    actions = Action.objects.filter(team_id__in=team_ids_for(user, VIEW))
    if organization_id is not None:
        actions = actions.filter(organization_id=organization_id)
    proposed = (
        actions.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            auto=Count("id", filter=Q(auto_approved=True)),
            held=Count("id", filter=Q(requires_approval=True)),
        )
        .order_by()
    )
    finished = (
        actions.filter(finished_at__gte=start, status__in=EXECUTED)
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            succeeded=Count("id", filter=Q(status=ActionStatus.SUCCEEDED)),
            failed=Count("id", filter=~Q(status=ActionStatus.SUCCEEDED)),
        )
        .order_by()
    )
    series = {
        first + timedelta(days=i): {"auto": 0, "held": 0, "succeeded": 0, "failed": 0}
        for i in range(days)
    }
    for row in proposed:
        if row["day"] in series:
            series[row["day"]].update(auto=row["auto"], held=row["held"])
    for row in finished:
        if row["day"] in series:
            series[row["day"]].update(succeeded=row["succeeded"], failed=row["failed"])
    return [{"day": day, **values} for day, values in series.items()]


def recent_autonomous_actions(*, user: Any, limit: int = 8) -> list[Action]:
    return list(
        Action.objects.filter(team_id__in=team_ids_for(user, VIEW), auto_approved=True)
        .select_related("team", "action_type", "agent")
        .order_by("-created_at")[:limit]
    )


def organizations_paused(*, user: Any) -> list[Organization]:
    return list(
        Organization.objects.filter(
            teams__id__in=team_ids_for(user, VIEW), automation_paused=True
        ).distinct()
    )


def open_circuit_breakers(*, user: Any) -> list[dict[str, Any]]:
    """Circuit breakers that are not closed, in the user's organizations (approvals/breaker.py)."""
    return list(
        breakers_open_for(user)
        .order_by("opened_at")
        .values(
            "id",
            "executor",
            "state",
            "opened_at",
            "next_probe_at",
            "last_error",
            "consecutive_failures",
            "organization__name",
        )
    )
