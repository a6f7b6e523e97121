from django.contrib import admin

from audit.models import AuditEvent
from cwa_site.admin_scoping import ReadOnlyAdmin
from teams.permissions import admin_organization_ids


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "seq",
        "created_at",
        "organization",
        "actor_label",
        "verb",
        "target_label",
        "team",
        "was_automatic",
        "success",
    ]
    list_filter = ["verb", "was_automatic", "success", "organization"]
    search_fields = ["verb", "actor_label", "target_label", "target_id"]
    list_select_related = ["organization", "team"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(organization__in=admin_organization_ids(request.user))
