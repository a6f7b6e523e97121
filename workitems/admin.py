from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from cwa_site.admin_scoping import OrgScopedAdmin
from workitems.models import Connector, WorkItem


@admin.register(WorkItem)
class WorkItemAdmin(OrgScopedAdmin):
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
