"""GET /api/v1/metrics/: the department dashboard's numbers as JSON (approvals.metrics is the
one source for both)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from approvals import metrics
from cwa_site.api import error_responses
from cwa_site.api_views import GenericAPIView
from cwa_site.errors import NotFound
from teams.permissions import organizations_for


class SummaryOutput(serializers.Serializer):
    proposed = serializers.IntegerField()
    auto = serializers.IntegerField(help_text="Ran by themselves (auto-approved by the gate).")
    needed_person = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    executed = serializers.IntegerField(help_text="Executions finished in the period.")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    needs_attention = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Pending now.")
    expiring_soon = serializers.IntegerField(help_text="Pending and expiring within the hour.")
    llm_spend = serializers.FloatField(help_text="USD spent drafting content.")
    approval_rate = serializers.FloatField(allow_null=True)
    success_rate = serializers.FloatField(allow_null=True)
    manual_rate = serializers.FloatField(allow_null=True, help_text="Share that needed a person.")
    median_decision_seconds = serializers.FloatField(allow_null=True)


class TeamMetricsOutput(SummaryOutput):
    id = serializers.UUIDField()
    name = serializers.CharField()
    department = serializers.CharField()
    autonomy_level = serializers.CharField()
    status = serializers.CharField()


class DepartmentMetricsOutput(SummaryOutput):
    organization = serializers.CharField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    teams = TeamMetricsOutput(many=True)


class PeriodOutput(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class TrendDayOutput(serializers.Serializer):
    day = serializers.DateField()
    auto = serializers.IntegerField()
    held = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class BreakerOutput(serializers.Serializer):
    id = serializers.UUIDField()
    executor = serializers.CharField()
    state = serializers.CharField()
    opened_at = serializers.DateTimeField(allow_null=True)
    next_probe_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    consecutive_failures = serializers.IntegerField()
    organization = serializers.CharField(source="organization__name")


@extend_schema_serializer(component_name="Metrics")
class MetricsOutput(serializers.Serializer):
    period = PeriodOutput()
    totals = SummaryOutput()
    departments = DepartmentMetricsOutput(many=True)
    trend = TrendDayOutput(many=True, help_text="The last 30 days, oldest first.")
    open_circuit_breakers = BreakerOutput(many=True)


class MetricsView(GenericAPIView):
    serializer_class = MetricsOutput
    pagination_class = None

    class QueryInput(serializers.Serializer):
        period = serializers.ChoiceField(
            choices=list(metrics.PERIODS), default="7d", required=False
        )
        organization = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="metrics_retrieve",
        summary="The dashboard's numbers for the teams you can see",
        tags=["metrics"],
        parameters=[QueryInput],
        responses={200: MetricsOutput, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        query = self.QueryInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        org_id = query.validated_data.get("organization")
        if org_id is not None and not organizations_for(request.user).filter(pk=org_id).exists():
            raise NotFound("No such organization.", field="organization")
        data = metrics.dashboard_metrics(
            user=request.user,
            days=metrics.PERIODS[query.validated_data.get("period", "7d")],
            organization_id=org_id,
        )
        data["trend"] = metrics.daily_trend(user=request.user, organization_id=org_id)
        data["open_circuit_breakers"] = metrics.open_circuit_breakers(user=request.user)
        return Response(MetricsOutput(data).data)
