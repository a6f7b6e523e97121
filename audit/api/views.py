"""The audit trail over the API."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audit.api.serializers import AuditEventOutput
from audit.models import AuditEvent
from audit.selectors import audit_events_visible_to
from cwa_site.api import IsoDateTimeFilter, error_responses
from cwa_site.api_views import GenericAPIView


class AuditEventFilter(filters.FilterSet):
    team = filters.UUIDFilter(field_name="team_id")
    organization = filters.UUIDFilter(field_name="organization_id")
    since = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Events at or after (ISO 8601)."
    )
    until = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Events before (ISO 8601)."
    )
    verb = filters.CharFilter(max_length=64)
    target_type = filters.CharFilter(max_length=64, label="e.g. approvals.action")
    target_id = filters.CharFilter(max_length=64)

    class Meta:
        model = AuditEvent
        fields = ["team", "organization", "since", "until", "verb", "target_type", "target_id"]


class AuditEventListView(GenericAPIView):
    serializer_class = AuditEventOutput
    filterset_class = AuditEventFilter

    def get_queryset(self) -> Any:
        return audit_events_visible_to(self.request.user)

    @extend_schema(
        operation_id="audit_list",
        summary="Audit events you may see, newest first",
        description="Org admins see every event of their organization; others see the events "
        "of teams they can view. `since`/`until` take ISO 8601 date-times.",
        tags=["audit"],
        responses={200: AuditEventOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AuditEventOutput(page, many=True).data)
