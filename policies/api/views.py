"""Policies over the API: a read model, with each policy's precision (how often people reject
what it proposes), so integrators and dashboards can find noisy rules."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cwa_site.api import error_responses
from cwa_site.api_views import GenericAPIView
from policies.choices import RiskLevel, Trigger
from policies.models import Policy
from policies.selectors import policy_precision


class PolicyOutput(serializers.ModelSerializer):
    team = serializers.UUIDField(source="team_id", allow_null=True)
    organization = serializers.UUIDField(source="organization_id")
    action_type = serializers.CharField(source="action_type.key")
    proposed = serializers.IntegerField(help_text="Actions this policy proposed.")
    rejected = serializers.IntegerField(help_text="Of those, how many people rejected.")
    rejection_rate = serializers.SerializerMethodField(
        help_text="rejected / proposed (null before the first proposal)."
    )

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "description",
            "organization",
            "team",
            "trigger",
            "condition",
            "action_type",
            "risk",
            "cooldown_minutes",
            "enabled",
            "proposed",
            "rejected",
            "rejection_rate",
            "created_at",
            "updated_at",
        ]

    def get_rejection_rate(self, obj: Policy) -> float | None:
        return round(obj.rejected / obj.proposed, 4) if obj.proposed else None


class PolicyFilter(filters.FilterSet):
    team = filters.UUIDFilter(field_name="team_id")
    trigger = filters.ChoiceFilter(choices=Trigger.choices)
    risk = filters.ChoiceFilter(choices=RiskLevel.choices)
    enabled = filters.BooleanFilter()
    action_type = filters.CharFilter(field_name="action_type__key", max_length=100)

    class Meta:
        model = Policy
        fields = ["team", "trigger", "risk", "enabled", "action_type"]


class PolicyListView(GenericAPIView):
    serializer_class = PolicyOutput
    filterset_class = PolicyFilter

    def get_queryset(self) -> Any:
        return policy_precision(self.request.user).order_by("name", "id")

    @extend_schema(
        operation_id="policies_list",
        summary="Policies of your teams and organizations, with their rejection rate",
        tags=["policies"],
        responses={200: PolicyOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PolicyOutput(page, many=True).data)
