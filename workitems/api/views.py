"""Work items (read model) and connectors over the API."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cwa_site.api import error_responses
from cwa_site.api_views import GenericAPIView
from cwa_site.errors import InvalidInput
from teams.models import Team
from teams.selectors import organization_to_administer
from workitems.choices import ConnectorKind, Source, WorkItemStatus
from workitems.connectors import connector_create
from workitems.models import Connector, WorkItem
from workitems.selectors import connectors_visible_to, work_items_visible_to


class WorkItemOutput(serializers.ModelSerializer):
    team = serializers.UUIDField(source="team_id", allow_null=True)

    class Meta:
        model = WorkItem
        fields = [
            "id",
            "source",
            "external_id",
            "title",
            "status",
            "priority",
            "assignee",
            "url",
            "last_activity_at",
            "team",
            "labels",
            "due_at",
            "created_at",
        ]


class WorkItemFilter(filters.FilterSet):
    team = filters.UUIDFilter(field_name="team_id")
    source = filters.ChoiceFilter(choices=Source.choices)
    status = filters.ChoiceFilter(choices=WorkItemStatus.choices)
    external_id = filters.CharFilter(max_length=255)

    class Meta:
        model = WorkItem
        fields = ["team", "source", "status", "external_id"]


class WorkItemListView(GenericAPIView):
    serializer_class = WorkItemOutput
    filterset_class = WorkItemFilter

    def get_queryset(self) -> Any:
        return work_items_visible_to(self.request.user).order_by("-last_activity_at", "-id")

    @extend_schema(
        operation_id="workitems_list",
        summary="Work items of teams you can see, most recently active first",
        tags=["workitems"],
        responses={200: WorkItemOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(WorkItemOutput(page, many=True).data)


class ConnectorOutput(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id")
    team = serializers.UUIDField(source="team_id", allow_null=True)
    webhook_url = serializers.CharField(
        read_only=True, help_text="Point the source's webhook here."
    )

    class Meta:
        model = Connector
        fields = ["id", "kind", "name", "webhook_url", "organization", "team", "enabled"]


class ConnectorListView(GenericAPIView):
    serializer_class = ConnectorOutput

    @extend_schema_serializer(component_name="ConnectorCreate")
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ConnectorKind.choices)
        name = serializers.CharField(max_length=200)
        secret = serializers.CharField(
            max_length=1000,
            write_only=True,
            trim_whitespace=False,
            help_text="Signing secret or expected bearer token. Write-only: never shown back.",
        )
        team = serializers.UUIDField(
            required=False, allow_null=True, help_text="Default team of its work items."
        )
        organization = serializers.UUIDField(
            required=False, help_text="Needed only when you administer several organizations."
        )

    def get_queryset(self) -> Any:
        return connectors_visible_to(self.request.user).order_by("kind", "name", "id")

    @extend_schema(
        operation_id="connectors_list",
        summary="Connectors of organizations you administer",
        tags=["connectors"],
        responses={200: ConnectorOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ConnectorOutput(page, many=True).data)

    @extend_schema(
        operation_id="connectors_create",
        summary="Add an inbound connector (organization admins)",
        description="The secret is stored encrypted and never returned; the response carries "
        "the `webhook_url` to configure in the source.",
        tags=["connectors"],
        request=InputSerializer,
        responses={201: ConnectorOutput, **error_responses(400, 401, 403, 409, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_to_administer(
            request.user, data.get("organization"), doing="add connectors"
        )
        team = None
        if data.get("team") is not None:
            team = Team.objects.filter(pk=data["team"], organization=organization).first()
            if team is None:
                raise InvalidInput("Unknown team.", field="team")
        connector = connector_create(
            actor=request.user,
            organization=organization,
            kind=data["kind"],
            name=data["name"],
            secret=data["secret"],
            team=team,
        )
        return Response(ConnectorOutput(connector).data, status=status.HTTP_201_CREATED)
