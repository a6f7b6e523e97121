"""Teams and memberships over the API: thin views over teams.selectors and teams.services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db import IntegrityError
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response

from cwa_site.api import RETRY_AFTER, error_responses
from cwa_site.api_views import GenericAPIView
from cwa_site.errors import InvalidInput, NotFound
from teams import selectors, services
from teams.choices import AutonomyLevel, Role, TeamStatus
from teams.models import Membership, Team


class TeamOutput(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "department", "autonomy_level", "status", "organization"]


class TeamFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    department = filters.CharFilter()
    autonomy_level = filters.ChoiceFilter(choices=AutonomyLevel.choices)
    status = filters.ChoiceFilter(choices=TeamStatus.choices)

    class Meta:
        model = Team
        fields = ["organization", "department", "autonomy_level", "status"]


def _visible_team(request: Request, team_id: Any) -> Team:
    team = selectors.team_get_visible(request.user, team_id)
    if team is None:
        raise NotFound("Team not found.")
    return team


class TeamListView(GenericAPIView):
    filterset_class = TeamFilter
    serializer_class = TeamOutput

    @extend_schema_serializer(component_name="TeamCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        department = serializers.CharField(max_length=200)
        autonomy_level = serializers.ChoiceField(
            choices=AutonomyLevel.choices, default=AutonomyLevel.SUPERVISED
        )
        organization = serializers.UUIDField(
            required=False,
            help_text="Needed only when you administer several organizations.",
        )

    def get_queryset(self) -> Any:
        return selectors.teams_visible_to(self.request.user)

    @extend_schema(
        operation_id="teams_list",
        summary="Teams you can see",
        tags=["teams"],
        responses={200: TeamOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(TeamOutput(page, many=True).data)

    @extend_schema(
        operation_id="teams_create",
        summary="Create a team (organization admins)",
        tags=["teams"],
        request=InputSerializer,
        responses={201: TeamOutput, **error_responses(400, 401, 403, 409, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = selectors.organization_to_administer(
            request.user, data.get("organization"), doing="create teams"
        )
        team = services.team_create(
            actor=request.user,
            organization=organization,
            name=data["name"],
            department=data["department"],
            autonomy_level=data["autonomy_level"],
        )
        return Response(TeamOutput(team).data, status=status.HTTP_201_CREATED)


class TeamDetailView(GenericAPIView):
    serializer_class = TeamOutput

    @extend_schema_serializer(component_name="TeamUpdate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        department = serializers.CharField(max_length=200, required=False)
        autonomy_level = serializers.ChoiceField(choices=AutonomyLevel.choices, required=False)
        status = serializers.ChoiceField(choices=TeamStatus.choices, required=False)
        reason = serializers.CharField(
            max_length=500,
            required=False,
            default="",
            allow_blank=True,
            help_text="Recorded in the audit trail with the change.",
        )

    @extend_schema(
        operation_id="teams_retrieve",
        summary="One team",
        tags=["teams"],
        responses={200: TeamOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, team_id: Any) -> Response:
        return Response(TeamOutput(_visible_team(request, team_id)).data)

    @extend_schema(
        operation_id="teams_partial_update",
        summary="Change a team (team admins)",
        description="Autonomy level and status changes are audited; resuming a paused team "
        "runs the approved actions that waited.",
        tags=["teams"],
        request=InputSerializer,
        responses={200: TeamOutput, **error_responses(400, 401, 403, 404, 409, 413, 415)},
    )
    def patch(self, request: Request, team_id: Any) -> Response:
        team = _visible_team(request, team_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = services.team_update(actor=request.user, team=team, **serializer.validated_data)
        return Response(TeamOutput(team).data)


class MembershipOutput(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]


class MemberListView(GenericAPIView):
    serializer_class = MembershipOutput
    queryset = Membership.objects.none()  # only for the schema; rows come from the selector

    @extend_schema_serializer(component_name="MembershipSet")
    class InputSerializer(serializers.Serializer):
        user = serializers.CharField(max_length=150, help_text="The user's username.")
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        operation_id="teams_members_list",
        summary="Members of a team",
        tags=["teams"],
        responses={200: MembershipOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, team_id: Any) -> Response:
        team = _visible_team(request, team_id)
        page = self.paginate_queryset(selectors.memberships_of(team))
        return self.get_paginated_response(MembershipOutput(page, many=True).data)

    @extend_schema(
        operation_id="teams_members_set",
        summary="Add a member or change their role (team admins)",
        description="201 when the user joined the team, 200 when an existing membership's role "
        "was set. The role grants the team's object permissions at once (and a lower role "
        "revokes them).",
        tags=["teams"],
        request=InputSerializer,
        responses={
            201: MembershipOutput,
            200: MembershipOutput,
            **error_responses(400, 401, 403, 404, 413, 415),
        },
    )
    def post(self, request: Request, team_id: Any) -> Response:
        team = _visible_team(request, team_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = services.membership_set(
            actor=request.user,
            team=team,
            username=serializer.validated_data["user"],
            role=serializer.validated_data["role"],
        )
        return Response(
            MembershipOutput(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TokenView(GenericAPIView):
    """Exchange a username and password for the user's API token (created on first use)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_scope = "token"
    serializer_class = None

    @extend_schema_serializer(component_name="TokenRequest")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=1000, trim_whitespace=False, write_only=True)

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get your API token",
        description="Returns the same token until it is deleted (Django admin, Tokens). Service "
        "accounts of agents have no password: an org admin creates their token in admin or "
        "with `manage.py drf_create_token <username>`.",
        tags=["auth"],
        request=InputSerializer,
        auth=[],
        parameters=[RETRY_AFTER],
        responses={200: OutputSerializer, **error_responses(400, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise InvalidInput("Unknown username or wrong password.", code="bad_credentials")
        try:
            token, _ = Token.objects.get_or_create(user=user)
        except IntegrityError:  # a concurrent first request created it
            token = Token.objects.get(user=user)
        return Response({"token": token.key})
