"""The approval queue: which pending actions a person sees, filtered, sorted and annotated with
what they may do, in a fixed number of queries whatever the queue's length."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import django_filters
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from approvals.choices import ActionStatus, DecisionKind
from approvals.models import Action, Decision
from approvals.selectors import actions_visible_to
from policies.choices import RISK_ORDER, RiskLevel
from policies.models import ActionType
from teams.models import Agent, Team
from teams.permissions import APPROVE, VIEW, team_ids_for

# age filter: label, lookup on created_at, how long ago
AGES = {
    "1h": ("Last hour", "gte", timedelta(hours=1)),
    "24h": ("Last 24 hours", "gte", timedelta(hours=24)),
    "older": ("Older than a day", "lt", timedelta(hours=24)),
    "3d": ("Older than 3 days", "lt", timedelta(days=3)),
}
SORTS = {
    "newest": ("Newest first", ("-created_at",)),
    "expiring": ("Expiring first", ("expires_at", "-created_at")),
    "risk": ("Highest risk first", ("-risk_rank", "-created_at")),
}
GROUPED_ORDER = ("agent__name", "action_type__name")
_NUMBER = re.compile(r"^#?(\d{1,9})$")


def row_annotations(user: Any) -> QuerySet[Action]:
    """Actions the user may view (any status), annotated for the queue rows: `is_approver`
    (of the action's team), `can_decide`
    (pending and unexpired, approver of the team, not the proposer, has not approved this
    revision yet), `approvals` (approvals given to the current revision), `decided_by` (who
    decided last) and `risk_rank`."""
    now = timezone.now()
    mine = Decision.objects.filter(
        action_id=OuterRef("pk"), revision=OuterRef("revision"), user_id=user.pk
    )
    approvals = (
        Decision.objects.filter(
            action_id=OuterRef("pk"),
            revision=OuterRef("revision"),
            decision=DecisionKind.APPROVE,
        )
        .order_by()
        .values("action_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    latest = Decision.objects.filter(action_id=OuterRef("pk")).order_by("-created_at")
    approver = Q(team_id__in=team_ids_for(user, APPROVE))
    return actions_visible_to(user).annotate(
        is_approver=ExpressionWrapper(approver, output_field=BooleanField()),
        can_decide=ExpressionWrapper(
            Q(status=ActionStatus.PENDING)
            & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            & approver
            & ~Q(proposed_by_id=user.pk)
            & ~Exists(mine),
            output_field=BooleanField(),
        ),
        approvals=Coalesce(Subquery(approvals), Value(0)),
        decided_by=Subquery(latest.values("user__username")[:1]),
        risk_rank=Case(
            *[When(risk_level=level, then=Value(rank)) for level, rank in RISK_ORDER.items()],
            output_field=IntegerField(),
        ),
    )


def pending_queue(user: Any) -> QuerySet[Action]:
    """The approval queue: pending, unexpired actions the user may view, annotated as above."""
    return row_annotations(user).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()),
        status=ActionStatus.PENDING,
    )


class QueueFilter(django_filters.FilterSet):
    """Queue filters. Choices are limited to what the user may view."""

    q = django_filters.CharFilter(method="search", label="Search")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.none(), empty_label="All teams")
    department = django_filters.ChoiceFilter(
        field_name="team__department", empty_label="All departments"
    )
    risk = django_filters.MultipleChoiceFilter(
        field_name="risk_level", choices=RiskLevel.choices, label="Risk"
    )
    action_type = django_filters.ModelChoiceFilter(
        queryset=ActionType.objects.none(), empty_label="All action types"
    )
    agent = django_filters.ModelChoiceFilter(queryset=Agent.objects.none(), empty_label="Any agent")
    age = django_filters.ChoiceFilter(
        choices=[(k, label) for k, (label, _, _) in AGES.items()],
        method="filter_age",
        empty_label="Any age",
    )
    sort = django_filters.ChoiceFilter(
        choices=[(k, label) for k, (label, _) in SORTS.items()],
        method="noop",
        empty_label=None,
        label="Sort",
    )

    class Meta:
        model = Action
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        visible = team_ids_for(user, VIEW)
        teams = Team.objects.filter(id__in=visible).order_by("department", "name")
        self.filters["team"].queryset = teams
        orgs = Team.objects.filter(id__in=visible).values("organization_id")
        self.filters["action_type"].queryset = ActionType.objects.filter(
            organization_id__in=orgs
        ).order_by("name")
        self.filters["agent"].queryset = Agent.objects.filter(organization_id__in=orgs).order_by(
            "name"
        )
        self.filters["department"].extra["choices"] = [
            (d, d)
            for d in teams.order_by("department").values_list("department", flat=True).distinct()
        ]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        match = _NUMBER.match(value)
        if match:
            return queryset.filter(number=int(match.group(1)))
        return queryset.filter(
            Q(title__icontains=value)
            | Q(gate_reason__icontains=value)
            | Q(agent__name__icontains=value)
            | Q(action_type__name__icontains=value)
            | Q(team__name__icontains=value)
            | Q(work_item__external_id__icontains=value)
            | Q(work_item__title__icontains=value)
        )

    def filter_age(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value not in AGES:
            return queryset
        _, lookup, ago = AGES[value]
        return queryset.filter(**{f"created_at__{lookup}": timezone.now() - ago})

    def noop(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset

    def ordering(self, grouped: bool) -> tuple[str, ...]:
        sort = self.form.cleaned_data.get("sort") if self.is_bound and self.is_valid() else None
        order = SORTS.get(sort or "newest", SORTS["newest"])[1]
        return GROUPED_ORDER + order if grouped else order

    def active_count(self) -> int:
        if not self.is_bound or not self.is_valid():
            return 0
        return sum(
            1
            for key, value in self.form.cleaned_data.items()
            if key != "sort" and value not in (None, "", [])
        )
