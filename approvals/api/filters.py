from __future__ import annotations

from django_filters import rest_framework as filters

from approvals.choices import ActionStatus
from approvals.models import Action, Notification
from policies.choices import Executor, RiskLevel
from policies.models import ActionType


class ActionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ActionStatus.choices)
    team = filters.UUIDFilter(field_name="team_id")
    risk_level = filters.ChoiceFilter(choices=RiskLevel.choices)
    action_type = filters.CharFilter(
        field_name="action_type__key", max_length=100, label="Action type key"
    )
    requires_approval = filters.BooleanFilter()

    class Meta:
        model = Action
        fields = ["status", "team", "risk_level", "action_type", "requires_approval"]


class ActionTypeFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    executor = filters.ChoiceFilter(choices=Executor.choices)
    default_risk = filters.ChoiceFilter(choices=RiskLevel.choices)
    enabled = filters.BooleanFilter()

    class Meta:
        model = ActionType
        fields = ["organization", "executor", "default_risk", "enabled"]


class NotificationFilter(filters.FilterSet):
    unread = filters.BooleanFilter(
        field_name="read_at", lookup_expr="isnull", label="Only unread (true) or read (false)."
    )

    class Meta:
        model = Notification
        fields = ["unread"]
