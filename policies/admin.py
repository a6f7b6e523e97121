from django.contrib import admin

from cwa_site.admin_scoping import OrgScopedAdmin
from policies.models import ActionType


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
        "enabled",
    ]
    list_filter = ["default_risk", "executor", "idempotent", "enabled", "organization"]
    search_fields = ["key", "name", "description"]
    list_select_related = ["organization"]
