"""Work mirrored from the tools teams already use. CWA never invents work."""

from __future__ import annotations

import uuid

from django.db import models

from workitems.choices import Source, WorkItemStatus


class WorkItem(models.Model):
    """A normalized unit of work from a source, upserted by (organization, source, external id)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="work_items"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="work_items"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500)
    status = models.CharField(
        max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    priority = models.CharField(max_length=20, blank=True)
    assignee = models.CharField(max_length=200, blank=True)
    labels = models.JSONField(default=list, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_activity_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"], name="uniq_work_item_source_id"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=WorkItemStatus.values), name="work_item_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.external_id}: {self.title}"
