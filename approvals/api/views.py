"""Actions, the capability registry and notifications over the API.

Views parse input, resolve references within the user's organizations, call a service or a
selector and render. Who may do what is decided by the services (403), what exists for the user
by the selectors (404).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from approvals import selectors, services
from approvals.api.filters import ActionFilter, ActionTypeFilter, NotificationFilter
from approvals.api.serializers import (
    ActionDetailOutput,
    ActionOutput,
    ActionTypeOutput,
    NotificationOutput,
    OutcomeOutput,
)
from approvals.choices import DecisionChannel, DecisionKind
from approvals.notifications import notifications_mark_read
from audit.selectors import audit_trail_of
from cwa_site.api import RETRY_AFTER, error_responses
from cwa_site.api_views import GenericAPIView
from cwa_site.errors import Conflict, InvalidInput, NotFound
from policies.choices import RiskLevel
from policies.models import ActionType
from teams.selectors import team_for_proposal
from workitems.models import WorkItem

MAX_BULK_IDS = 1000


class ActionListView(GenericAPIView):
    serializer_class = ActionOutput
    filterset_class = ActionFilter
    throttle_scope = "propose"

    @extend_schema_serializer(component_name="ProposeAction")
    class InputSerializer(serializers.Serializer):
        team = serializers.UUIDField(help_text="The team's id.")
        action_type = serializers.CharField(
            max_length=100, help_text="The action type's key in the team's organization."
        )
        payload = serializers.DictField(help_text="What to do; its shape depends on the executor.")
        risk_level = serializers.ChoiceField(
            choices=RiskLevel.choices,
            required=False,
            allow_null=True,
            help_text="Raise the risk above the action type's floor (never lower).",
        )
        work_item = serializers.UUIDField(required=False, allow_null=True)
        idempotency_key = serializers.CharField(
            max_length=200,
            required=False,
            allow_null=True,
            help_text="Proposing again with the same key returns the first action (200).",
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def get_queryset(self) -> Any:
        return selectors.actions_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(
        operation_id="actions_list",
        summary="Actions you can see, newest first",
        tags=["actions"],
        responses={200: ActionOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ActionOutput(page, many=True).data)

    @extend_schema(
        operation_id="actions_propose",
        summary="Propose an action",
        description="The autonomy gate decides at once whether it runs by itself "
        "(`status: approved`, `auto_approved: true`) or waits for approval (`pending`, with "
        "`gate_reason`). 201 for a new action; 200 with the first action when "
        "`idempotency_key` was already used for the same proposal (409 if for another one).",
        tags=["actions"],
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            201: ActionOutput,
            200: OpenApiResponse(ActionOutput, description="Replay of an idempotency_key."),
            **error_responses(400, 401, 403, 404, 409, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_proposal(request.user, data["team"])
        if team is None:
            raise NotFound("Team not found.", field="team")
        action_type = ActionType.objects.filter(
            organization_id=team.organization_id, key=data["action_type"]
        ).first()
        if action_type is None:
            raise InvalidInput(
                f"Unknown action type {data['action_type']!r} in this organization.",
                field="action_type",
            )
        work_item = None
        if data.get("work_item") is not None:
            work_item = WorkItem.objects.filter(
                pk=data["work_item"], organization_id=team.organization_id
            ).first()
            if work_item is None:
                raise InvalidInput("Unknown work item.", field="work_item")
        proposal = services.action_propose(
            actor=request.user,
            team=team,
            action_type=action_type,
            payload=data["payload"],
            risk_level=data.get("risk_level"),
            work_item=work_item,
            idempotency_key=data.get("idempotency_key"),
            expires_at=data.get("expires_at"),
        )
        if proposal.created:
            return Response(ActionOutput(proposal.action).data, status=status.HTTP_201_CREATED)
        # A replay shows the first action only to someone who may see it (its proposer, or a
        # viewer of its team); for anyone else the key is simply taken.
        action = selectors.action_get_visible(request.user, proposal.action.pk)
        if action is None:
            raise Conflict(
                f"idempotency_key {data['idempotency_key']!r} was already used by another proposer.",
                field="idempotency_key",
            )
        return Response(ActionOutput(action).data, status=status.HTTP_200_OK)


class ActionDetailView(GenericAPIView):
    serializer_class = ActionDetailOutput

    @extend_schema(
        operation_id="actions_retrieve",
        summary="One action, with its decisions, executions and audit trail",
        tags=["actions"],
        responses={200: ActionDetailOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, action_id: Any) -> Response:
        action = selectors.action_detail_visible(request.user, action_id)
        if action is None:
            raise NotFound("No such action.")
        action.audit_trail = list(audit_trail_of("approvals.action", action.pk))
        return Response(ActionDetailOutput(action).data)


class DecisionView(GenericAPIView):
    serializer_class = ActionOutput
    throttle_scope = "decide"

    @extend_schema_serializer(component_name="DecisionRequest")
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=DecisionKind.choices)
        notes = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)
        expected_payload_hash = serializers.CharField(
            max_length=64,
            required=False,
            help_text="The payload_hash you reviewed: if the action was edited since, 409.",
        )

    @extend_schema_serializer(component_name="DecisionResult")
    class OutputSerializer(serializers.Serializer):
        outcome = OutcomeOutput()
        action = ActionOutput()

    @extend_schema(
        operation_id="actions_decide",
        summary="Approve or reject a pending action",
        description="403 when you are not an approver of the action's team or you proposed it; "
        "409 when it is no longer pending, has expired, was edited since `expected_payload_hash`, "
        "or you already decided it (critical actions need two different approvers).",
        tags=["actions"],
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            200: OutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 413, 415, 429),
        },
    )
    def post(self, request: Request, action_id: Any) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        action, outcome = services.action_decide(
            actor=request.user,
            action_id=action_id,
            decision=data["decision"],
            notes=data["notes"],
            via=DecisionChannel.API,
            expected_hash=data.get("expected_payload_hash"),
        )
        return Response({"outcome": outcome.as_dict(), "action": ActionOutput(action).data})


class BulkDecisionView(GenericAPIView):
    serializer_class = OutcomeOutput
    throttle_scope = "decide"

    @extend_schema_serializer(component_name="BulkDecisionRequest")
    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.CharField(max_length=64),
            min_length=1,
            max_length=MAX_BULK_IDS,
            help_text=f"Action ids (at most {MAX_BULK_IDS}).",
        )
        decision = serializers.ChoiceField(choices=DecisionKind.choices)
        notes = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)

    @extend_schema_serializer(component_name="BulkDecisionResult")
    class OutputSerializer(serializers.Serializer):
        decided = serializers.IntegerField()
        skipped = serializers.IntegerField()
        results = OutcomeOutput(many=True)

    @extend_schema(
        operation_id="actions_bulk_decide",
        summary="Approve or reject many actions at once",
        description="Each id is decided or skipped with a reason, under the same rules as a "
        "single decision; unknown and hidden ids are skipped as `not_found`.",
        tags=["actions"],
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcomes = services.actions_decide(
            actor=request.user,
            ids=data["ids"],
            decision=data["decision"],
            notes=data["notes"],
            via=DecisionChannel.API,
        )
        decided = sum(1 for outcome in outcomes if outcome.ok)
        return Response(
            {
                "decided": decided,
                "skipped": len(outcomes) - decided,
                "results": [outcome.as_dict() for outcome in outcomes],
            }
        )


class ActionTypeListView(GenericAPIView):
    serializer_class = ActionTypeOutput
    filterset_class = ActionTypeFilter

    def get_queryset(self) -> Any:
        return selectors.action_types_visible_to(self.request.user).order_by(
            "organization_id", "key"
        )

    @extend_schema(
        operation_id="action_types_list",
        summary="The capability registry of your organizations",
        tags=["actions"],
        responses={200: ActionTypeOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ActionTypeOutput(page, many=True).data)


class NotificationListView(GenericAPIView):
    serializer_class = NotificationOutput
    filterset_class = NotificationFilter

    def get_queryset(self) -> Any:
        return selectors.notifications_for(self.request.user)

    @extend_schema(
        operation_id="notifications_list",
        summary="Your notifications, newest first",
        tags=["notifications"],
        responses={200: NotificationOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(NotificationOutput(page, many=True).data)


class NotificationMarkReadView(GenericAPIView):
    serializer_class = NotificationOutput

    @extend_schema_serializer(component_name="MarkRead")
    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            required=False,
            max_length=MAX_BULK_IDS,
            help_text="Notification ids; leave out to mark all your unread notifications read.",
        )

    @extend_schema_serializer(component_name="MarkReadResult")
    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField(help_text="How many notifications changed.")

    @extend_schema(
        operation_id="notifications_mark_read",
        summary="Mark your notifications read",
        tags=["notifications"],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = notifications_mark_read(
            user=request.user,
            ids=serializer.validated_data.get("ids"),
            everything="ids" not in serializer.validated_data,
        )
        return Response({"marked": marked})
