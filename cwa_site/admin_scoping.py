"""Django admin for org admins: every admin page sees only the user's own organizations.

Superusers (platform operators) see everything. Everyone else sees rows of organizations they
administer, and foreign-key choices are narrowed the same way, so an org admin can never pick
another organization's team, user or action type. Every save and delete is audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from audit.services import audit_record
from policies.models import ActionType
from teams.models import Organization, Team
from teams.permissions import admin_organization_ids


class OrgScopedAdmin(SimpleHistoryAdmin):
    """Base admin: scoped to the user's organizations, audited, history shown."""

    #: lookup path from this model to its Organization
    org_path = "organization"

    def scope(self, request: HttpRequest, qs: QuerySet) -> QuerySet:
        if request.user.is_superuser:
            return qs
        if not self.org_path:
            return qs.filter(pk__in=admin_organization_ids(request.user))
        return qs.filter(**{f"{self.org_path}__in": admin_organization_ids(request.user)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope(request, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._narrow(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._narrow(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _narrow(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        if request.user.is_superuser:
            return
        orgs = admin_organization_ids(request.user)
        model = db_field.remote_field.model
        if model is Organization:
            kwargs["queryset"] = Organization.objects.filter(pk__in=orgs)
        elif model in (Team, ActionType):
            kwargs["queryset"] = model.objects.filter(organization__in=orgs)
        elif model is get_user_model():
            kwargs["queryset"] = model.objects.filter(
                org_memberships__organization__in=orgs
            ).distinct()

    def _organization_of(self, obj: models.Model) -> Any:
        if isinstance(obj, Organization):
            return obj.pk
        value: Any = obj
        for part in self.org_path.split("__"):
            value = getattr(value, part, None)
        return value.pk if isinstance(value, models.Model) else None

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if (org := self._organization_of(obj)) is not None:
                audit_record(
                    organization=org,
                    verb=f"admin.{obj._meta.model_name}.{'changed' if change else 'created'}",
                    actor=request.user,
                    target=obj,
                    team=obj if isinstance(obj, Team) else getattr(obj, "team", None),
                    data={"changes": self._changes(form)},
                )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            org = self._organization_of(form.instance)
            if org is None:
                return
            for verb, objs in (
                ("created", formset.new_objects),
                ("changed", [obj for obj, _ in formset.changed_objects]),
                ("deleted", formset.deleted_objects),
            ):
                for obj in objs:
                    audit_record(
                        organization=org,
                        verb=f"admin.{obj._meta.model_name}.{verb}",
                        actor=request.user,
                        target=obj,
                        team=getattr(obj, "team", None) if verb != "deleted" else None,
                        data={"repr": str(obj)},
                    )

    @staticmethod
    def _changes(form: Any) -> dict[str, list[str]]:
        if form is None:
            return {}
        return {
            name: [str(form.initial.get(name, "")), str(form.cleaned_data.get(name, ""))]
            for name in sorted(form.changed_data)
        }

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            org = self._organization_of(obj)
            if org is not None:
                audit_record(
                    organization=org,
                    verb=f"admin.{obj._meta.model_name}.deleted",
                    actor=request.user,
                    target=obj,
                    data={},
                )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows only services write (actions' lifecycle, decisions, executions, audit)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
