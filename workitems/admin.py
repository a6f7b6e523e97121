from django.contrib import admin

from cwa_site.admin_scoping import OrgScopedAdmin
from workitems.models import WorkItem


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
