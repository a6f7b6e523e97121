from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.http import HttpRequest

from cwa_site.admin_scoping import OrgScopedAdmin
from teams import services
from teams.models import Agent, Membership, Organization, OrganizationMember, Team, UserProfile
from teams.permissions import admin_organization_ids

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    """Org admins see and pick only the users of organizations they administer."""

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            org_memberships__organization__in=admin_organization_ids(request.user)
        ).distinct()


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdmin):
    org_path = ""
    list_display = ["name", "slug", "automation_paused", "team_count", "created_at"]
    list_filter = ["automation_paused"]
    search_fields = ["name", "slug"]
    readonly_fields = ["paused_at"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(n_teams=Count("teams", distinct=True))

    @admin.display(description="Teams", ordering="n_teams")
    def team_count(self, obj: Organization) -> int:
        return obj.n_teams

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        if change and "automation_paused" in form.changed_data:
            # The kill switch goes through its service: audited, and resuming runs what waited.
            org = services.organization_set_kill_switch(
                actor=request.user,
                organization=obj,
                paused=obj.automation_paused,
                reason=obj.paused_reason,
            )
            obj.paused_at, obj.paused_reason = org.paused_at, org.paused_reason
            form.changed_data.remove("automation_paused")
            if not form.changed_data:
                return
        super().save_model(request, obj, form, change)


@admin.register(OrganizationMember)
class OrganizationMemberAdmin(OrgScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(OrgScopedAdmin):
    list_display = [
        "name",
        "department",
        "organization",
        "autonomy_level",
        "status",
        "member_count",
    ]
    list_filter = ["autonomy_level", "status", "department", "organization"]
    search_fields = ["name", "department"]
    list_select_related = ["organization"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(n_members=Count("memberships", distinct=True))

    @admin.display(description="Members", ordering="n_members")
    def member_count(self, obj: Team) -> int:
        return obj.n_members

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        if change:
            # Autonomy and pause go through their services: audited, and resume runs what waited.
            if "autonomy_level" in form.changed_data:
                services.team_set_autonomy(
                    actor=request.user, team=obj, autonomy_level=obj.autonomy_level
                )
                form.changed_data.remove("autonomy_level")
            if "status" in form.changed_data:
                services.team_set_status(actor=request.user, team=obj, status=obj.status)
                form.changed_data.remove("status")
            if not form.changed_data:
                return
        super().save_model(request, obj, form, change)


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    org_path = "team__organization"
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team__department", "team__organization"]
    search_fields = ["user__username", "team__name"]
    list_select_related = ["user", "team", "team__organization"]
    autocomplete_fields = ["user"]


@admin.register(Agent)
class AgentAdmin(OrgScopedAdmin):
    list_display = ["name", "organization", "user", "is_active", "allowed_count"]
    list_filter = ["is_active", "organization"]
    search_fields = ["name", "description"]
    list_select_related = ["organization", "user"]
    filter_horizontal = ["allowed_action_types"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(n_allowed=Count("allowed_action_types", distinct=True))
        )

    @admin.display(description="Allowed action types", ordering="n_allowed")
    def allowed_count(self, obj: Agent) -> int:
        return obj.n_allowed


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "slack_user_id", "daily_digest"]
    search_fields = ["user__username", "slack_user_id"]
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            user__org_memberships__organization__in=admin_organization_ids(request.user)
        ).distinct()
