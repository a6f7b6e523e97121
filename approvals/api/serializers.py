"""Output shapes of actions (shared by list, propose, detail and decisions)."""

from __future__ import annotations

from rest_framework import serializers

from approvals.models import Action, Decision, Execution, Notification
from audit.api.serializers import AuditEventOutput
from policies.models import ActionType


class ActionOutput(serializers.ModelSerializer):
    """The contract fields of an action (DESIGN.md), plus a few that help an integrator."""

    team = serializers.UUIDField(source="team_id")
    action_type = serializers.CharField(source="action_type.key")
    proposed_by = serializers.CharField(
        source="proposed_by.username", allow_null=True, default=None
    )
    agent = serializers.CharField(source="agent.name", allow_null=True, default=None)
    work_item = serializers.UUIDField(source="work_item_id", allow_null=True)

    class Meta:
        model = Action
        fields = [
            "id",
            "number",
            "team",
            "action_type",
            "payload",
            "risk_level",
            "status",
            "requires_approval",
            "auto_approved",
            "gate_reason",
            "proposed_by",
            "expires_at",
            "created_at",
            "title",
            "agent",
            "work_item",
            "revision",
            "required_approvals",
            "decided_at",
        ]


class DecisionOutput(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = Decision
        fields = [
            "id",
            "user",
            "decision",
            "notes",
            "revision",
            "payload_hash",
            "via",
            "created_at",
        ]


class ExecutionOutput(serializers.ModelSerializer):
    class Meta:
        model = Execution
        fields = ["id", "attempt", "status", "started_at", "finished_at", "transient", "error"]


class ActionDetailOutput(ActionOutput):
    decisions = DecisionOutput(many=True)
    executions = ExecutionOutput(many=True)
    audit_trail = AuditEventOutput(many=True, help_text="Every event about this action, in order.")

    class Meta(ActionOutput.Meta):
        fields = [
            *ActionOutput.Meta.fields,
            "payload_hash",
            "requested_risk",
            "attempts",
            "finished_at",
            "result",
            "last_error",
            "decisions",
            "executions",
            "audit_trail",
        ]


class OutcomeOutput(serializers.Serializer):
    """What happened to one action of a decision request (approvals.services.Outcome)."""

    id = serializers.CharField()
    number = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["decided", "skipped"])
    result = serializers.CharField(
        help_text="approved, rejected, approval_recorded; or why it was skipped: not_found, "
        "forbidden, separation_of_duties, not_pending, expired, already_decided, changed."
    )
    status = serializers.CharField(allow_null=True, help_text="The action's status afterwards.")
    message = serializers.CharField()


class ActionTypeOutput(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id")

    class Meta:
        model = ActionType
        fields = [
            "key",
            "name",
            "default_risk",
            "executor",
            "idempotent",
            "id",
            "organization",
            "description",
            "enabled",
            "max_attempts",
            "rollback_note",
        ]


class NotificationOutput(serializers.ModelSerializer):
    team = serializers.UUIDField(source="team_id", allow_null=True)
    action = serializers.UUIDField(source="action_id", allow_null=True)
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "level",
            "title",
            "body",
            "team",
            "action",
            "created_at",
            "read_at",
            "unread",
        ]

    def get_unread(self, obj: Notification) -> bool:
        return obj.read_at is None
