from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from cwa_site.admin_scoping import OrgScopedAdmin, ReadOnlyAdmin
from policies.conditions import ITEM_FIELDS
from policies.models import ActionType, Policy, PolicyEvaluation
from policies.selectors import DryRun, policy_dry_run
from teams.permissions import admin_organization_ids


@admin.register(ActionType)
class ActionTypeAdmin(OrgScopedAdmin):
    list_display = [
        "key",
        "name",
        "organization",
        "default_risk",
        "executor",
        "idempotent",
        "max_attempts",
        "draft_field",
        "enabled",
    ]
    list_filter = ["default_risk", "executor", "idempotent", "enabled", "organization"]
    search_fields = ["key", "name", "description"]
    list_select_related = ["organization"]


def _dry_run_summary(run: DryRun) -> str:
    if run.error:
        return f"The condition does not compile: {run.error}"
    text = f"matches {run.matched} of {run.total} current work items"
    if run.sample:
        text += " (e.g. " + ", ".join(item.external_id for item in run.sample[:5]) + ")"
    if run.errors:
        text += f"; fails on {run.errors}: {run.first_error}"
    return text


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = [
            "organization",
            "name",
            "description",
            "enabled",
            "team",
            "trigger",
            "condition",
            "action_type",
            "payload_template",
            "draft_instructions",
            "risk",
            "cooldown_minutes",
        ]
        widgets = {
            "condition": forms.Textarea(attrs={"rows": 3, "cols": 100, "spellcheck": "false"}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "draft_instructions": forms.Textarea(attrs={"rows": 3}),
        }


@admin.register(Policy)
class PolicyAdmin(OrgScopedAdmin):
    """Conditions are compiled and checked on save (Policy.clean); the change page shows a dry
    run over the current work items, and the list offers one for the selected policies."""

    form = PolicyForm
    list_display = [
        "name",
        "organization",
        "team",
        "trigger",
        "action_type",
        "risk",
        "cooldown_minutes",
        "enabled",
        "updated_at",
    ]
    list_filter = ["trigger", "enabled", "risk", "organization"]
    search_fields = ["name", "description", "condition"]
    list_select_related = ["organization", "team", "action_type"]
    readonly_fields = ["dry_run", "fields_reference"]
    actions = ["dry_run_selected"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        fieldsets = [
            (None, {"fields": ["organization", "name", "description", "enabled", "team"]}),
            ("When", {"fields": ["trigger", "condition", "fields_reference"]}),
            (
                "Then",
                {
                    "fields": [
                        "action_type",
                        "payload_template",
                        "draft_instructions",
                        "risk",
                        "cooldown_minutes",
                    ]
                },
            ),
        ]
        if obj is not None:
            fieldsets.insert(2, ("Dry run", {"fields": ["dry_run"]}))
        return fieldsets

    @admin.display(description="Dry run")
    def dry_run(self, obj: Policy) -> str:
        if obj is None or obj.pk is None:
            return "Save the policy to see which work items it matches."
        run = policy_dry_run(obj)
        if run.error:
            return _dry_run_summary(run)
        sample = format_html_join(
            "", "<li>{} — {} ({})</li>", ((i.external_id, i.title, i.status) for i in run.sample)
        )
        head = f"Matches {run.matched} of {run.total} current work items."
        if run.errors:
            head += f" Fails on {run.errors}: {run.first_error}"
        return format_html("<p>{}</p><ul>{}</ul>", head, sample)

    @admin.display(description="What a condition can use")
    def fields_reference(self, obj: Any = None) -> str:
        rows = format_html_join(
            "",
            "<li><code>item.{}</code> ({}): {}</li>",
            ((n, t, d) for n, (t, d) in ITEM_FIELDS.items()),
        )
        return format_html(
            "<ul>{}</ul><p><code>now</code> is the time of evaluation. Operators, "
            "<code>in</code>, <code>has()</code>, <code>size()</code>, string functions and "
            "<code>timestamp()</code>/<code>duration()</code> work; list macros such as "
            "<code>exists()</code> do not.</p>",
            rows,
        )

    @admin.action(description="Dry run: how many current work items match")
    def dry_run_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for policy in queryset.select_related("organization"):
            run = policy_dry_run(policy)
            level = messages.WARNING if run.error or run.errors else messages.INFO
            self.message_user(request, f"{policy.name}: {_dry_run_summary(run)}", level)


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(ReadOnlyAdmin):
    """What policies did: proposals and errors (non-matches are not stored)."""

    list_display = ["created_at", "policy", "work_item", "trigger", "outcome", "action", "error"]
    list_filter = ["outcome", "trigger", "organization"]
    search_fields = ["policy__name", "work_item__external_id", "error"]
    list_select_related = ["policy", "work_item", "action"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(organization__in=admin_organization_ids(request.user))
