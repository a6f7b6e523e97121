from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    team = serializers.UUIDField(source="team_id", allow_null=True)
    organization = serializers.UUIDField(source="organization_id")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "organization",
            "seq",
            "created_at",
            "actor",
            "actor_label",
            "verb",
            "target_type",
            "target_id",
            "target_label",
            "team",
            "data",
            "was_automatic",
            "success",
            "error",
            "prev_hash",
            "hash",
        ]
