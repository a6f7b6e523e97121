from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cwa_site.admin_scoping import OrgScopedAdmin, ReadOnlyAdmin
from teams.permissions import admin_organization_ids
from workitems.models import Connector, Delivery, WorkItem


@admin.register(WorkItem)
class WorkItemAdmin(OrgScopedAdmin):
    """Work items mirror their source: the source's fields are read-only here (the next
    delivery would overwrite an edit); an admin can move an item to another team."""

    list_display = [
        "title",
        "source",
        "external_id",
        "status",
        "priority",
        "assignee",
        "team",
        "last_activity_at",
    ]
    list_filter = ["source", "status", "organization"]
    search_fields = ["title", "external_id", "assignee"]
    list_select_related = ["organization", "team"]
    date_hierarchy = "last_activity_at"
    readonly_fields = [
        "organization",
        "connector",
        "source",
        "external_id",
        "title",
        "description",
        "status",
        "source_status",
        "priority",
        "assignee",
        "labels",
        "due_at",
        "last_activity_at",
        "source_updated_at",
        "url",
        "raw",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The inbound delivery log (accepted deliveries; refusals store nothing)."""

    list_display = ["received_at", "connector", "event", "outcome", "detail", "delivery_id"]
    list_filter = ["outcome", "connector__kind", "organization"]
    search_fields = ["delivery_id", "event", "detail"]
    list_select_related = ["connector"]
    date_hierarchy = "received_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(organization__in=admin_organization_ids(request.user))


class ConnectorForm(forms.ModelForm):
    """Secrets are write-only: blank keeps the stored value, and nothing is ever shown back."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signing secret or expected bearer token for inbound deliveries. Blank keeps the current one.",
    )
    credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Token for outbound calls (e.g. a Slack bot token). Blank keeps the current one.",
    )

    class Meta:
        model = Connector
        fields = ["organization", "kind", "name", "team", "config", "enabled"]

    def save(self, commit: bool = True) -> Any:
        connector = super().save(commit=False)
        for field in ("secret", "credentials"):
            if self.cleaned_data.get(field):
                setattr(connector, field, self.cleaned_data[field])
        if commit:
            connector.save()
        return connector


@admin.register(Connector)
class ConnectorAdmin(OrgScopedAdmin):
    form = ConnectorForm
    list_display = ["name", "kind", "organization", "team", "enabled", "webhook_path", "created_at"]
    list_filter = ["kind", "enabled", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization", "team"]
    readonly_fields = ["webhook_path"]
