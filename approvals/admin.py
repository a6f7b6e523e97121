from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from approvals import services
from approvals.choices import DecisionChannel, DecisionKind
from approvals.models import (
    Action,
    ActionRevision,
    AutonomyOverride,
    AutonomySuggestion,
    CircuitBreaker,
    Decision,
    DigestDelivery,
    Execution,
    Notification,
    SlackMessage,
    SlackRoute,
)
from cwa_site.admin_scoping import OrgScopedAdmin, ReadOnlyAdmin
from teams.permissions import admin_organization_ids
from workitems.choices import ConnectorKind
from workitems.models import Connector


class ScopedReadOnly(ReadOnlyAdmin):
    org_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.org_path}__in": admin_organization_ids(request.user)})


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["created_at", "user", "decision", "revision", "via", "notes"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExecutionInline(admin.TabularInline):
    model = Execution
    extra = 0
    can_delete = False
    fields = ["attempt", "status", "started_at", "finished_at", "transient", "error", "worker"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _decide(modeladmin: Any, request: HttpRequest, queryset: QuerySet, decision: str) -> None:
    outcomes = services.actions_decide(
        actor=request.user,
        ids=list(queryset.values_list("pk", flat=True)),
        decision=decision,
        via=DecisionChannel.ADMIN,
    )
    done = [o for o in outcomes if o.ok]
    if done:
        modeladmin.message_user(
            request, f"{len(done)} action(s): {decision} recorded.", messages.SUCCESS
        )
    for outcome in outcomes:
        if not outcome.ok:
            modeladmin.message_user(request, outcome.message, messages.WARNING)


@admin.action(description="Approve selected actions")
def approve_selected(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, DecisionKind.APPROVE)


@admin.action(description="Reject selected actions")
def reject_selected(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, DecisionKind.REJECT)


@admin.register(Action)
class ActionAdmin(ScopedReadOnly):
    """Actions change only through services; admin offers the same approve/reject as the queue."""

    list_display = [
        "number",
        "title",
        "team",
        "action_type",
        "risk_level",
        "status",
        "auto_approved",
        "proposed_by",
        "agent",
        "created_at",
    ]
    list_filter = ["status", "risk_level", "auto_approved", "team__department", "organization"]
    search_fields = ["title", "gate_reason", "idempotency_key"]
    list_select_related = ["team", "action_type", "proposed_by", "agent", "organization"]
    date_hierarchy = "created_at"
    inlines = [DecisionInline, ExecutionInline]
    actions = [approve_selected, reject_selected]
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The changelist needs it for admin actions; the form itself stays read-only.
        return request.user.has_perm("approvals.change_action")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]


@admin.register(Decision)
class DecisionAdmin(ScopedReadOnly):
    org_path = "action__organization"
    list_display = ["action", "user", "decision", "revision", "via", "created_at"]
    list_filter = ["decision", "via"]
    search_fields = ["action__title", "user__username", "notes"]
    list_select_related = ["action", "user"]


@admin.register(Execution)
class ExecutionAdmin(ScopedReadOnly):
    org_path = "action__organization"
    list_display = [
        "action",
        "attempt",
        "status",
        "started_at",
        "finished_at",
        "transient",
        "worker",
    ]
    list_filter = ["status", "transient"]
    search_fields = ["action__title", "error", "idempotency_key"]
    list_select_related = ["action"]


@admin.register(ActionRevision)
class ActionRevisionAdmin(ScopedReadOnly):
    org_path = "action__organization"
    list_display = ["action", "revision", "edited_by", "created_at"]
    list_select_related = ["action", "edited_by"]


@admin.register(AutonomyOverride)
class AutonomyOverrideAdmin(OrgScopedAdmin):
    org_path = "team__organization"
    list_display = ["team", "action_type", "mode", "reason", "created_by", "created_at"]
    list_filter = ["mode", "team__organization"]
    search_fields = ["team__name", "action_type__key", "reason"]
    list_select_related = ["team", "action_type", "created_by"]

    def save_model(
        self, request: HttpRequest, obj: AutonomyOverride, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Notification)
class NotificationAdmin(ScopedReadOnly):
    list_display = ["created_at", "user", "kind", "level", "title", "team", "read_at"]
    list_filter = ["kind", "level"]
    search_fields = ["title", "user__username"]
    list_select_related = ["user", "team"]


# --- Circuit breakers and Slack (approvals/breaker.py, approvals/slack/)


@admin.action(description="Close selected breakers now (the service is fixed)")
def reset_breakers(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    from approvals.breaker import breaker_reset
    from cwa_site.errors import ServiceError

    for breaker in queryset.exclude(state=CircuitBreaker.State.CLOSED):
        try:
            breaker_reset(actor=request.user, breaker_id=breaker.pk)
        except ServiceError as exc:
            modeladmin.message_user(request, exc.message, messages.WARNING)
        else:
            modeladmin.message_user(request, f"{breaker} closed; waiting actions resume.")


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ScopedReadOnly):
    """State only the executor and the sweep change; an admin may close a breaker by hand."""

    list_display = [
        "executor",
        "organization",
        "state",
        "consecutive_failures",
        "opened_at",
        "next_probe_at",
        "last_failure_at",
        "last_success_at",
        "short_error",
    ]
    list_filter = ["state", "executor", "organization"]
    search_fields = ["executor", "last_error"]
    list_select_related = ["organization"]
    actions = [reset_breakers]

    @admin.display(description="last error")
    def short_error(self, obj: CircuitBreaker) -> str:
        return obj.last_error[:120]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the admin action on the changelist; the form itself stays read-only.
        return obj is None and request.user.has_perm("approvals.change_circuitbreaker")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]


class SlackRouteForm(forms.ModelForm):
    class Meta:
        model = SlackRoute
        fields = ["team", "connector", "channel", "enabled"]


@admin.register(SlackRoute)
class SlackRouteAdmin(OrgScopedAdmin):
    """Which teams' pending actions are posted to which Slack channel."""

    form = SlackRouteForm
    org_path = "team__organization"
    list_display = ["team", "connector", "channel", "enabled", "created_at"]
    list_filter = ["enabled", "team__organization"]
    search_fields = ["team__name", "channel"]
    list_select_related = ["team", "connector"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "connector":
            connectors = Connector.objects.filter(kind=ConnectorKind.SLACK)
            if not request.user.is_superuser:
                connectors = connectors.filter(
                    organization__in=admin_organization_ids(request.user)
                )
            kwargs["queryset"] = connectors
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(SlackMessage)
class SlackMessageAdmin(ScopedReadOnly):
    org_path = "action__organization"
    list_display = ["action", "channel", "state", "ts", "attempts", "created_at", "rendered_at"]
    list_filter = ["state"]
    search_fields = ["channel", "ts", "error"]
    list_select_related = ["action"]


@admin.register(AutonomySuggestion)
class AutonomySuggestionAdmin(ScopedReadOnly):
    """Accepted or dismissed on the team settings page (one click, audited)."""

    list_display = [
        "team",
        "action_type",
        "streak",
        "highest_risk",
        "status",
        "created_at",
        "decided_by",
    ]
    list_filter = ["status", "highest_risk"]
    search_fields = ["team__name", "action_type__key"]
    list_select_related = ["team", "action_type", "decided_by"]


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["user", "day", "sent_at", "pending_count"]
    list_filter = ["day"]
    search_fields = ["user__username"]
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            user__org_memberships__organization__in=admin_organization_ids(request.user)
        ).distinct()
