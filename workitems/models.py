"""Work mirrored from the tools teams already use. CWA never invents work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from workitems import crypto
from workitems.choices import ConnectorKind, Source, WorkItemStatus


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


class Connector(models.Model):
    """A link to one outside tool for one organization.

    Inbound: deliveries arrive at `webhook_url` and are verified with `secret` (the signing secret,
    or the expected bearer token). Outbound: executors read `credentials` (e.g. a bot token) and
    `config` (e.g. `base_url`, a default channel). Both secrets are encrypted at rest and never
    shown back.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="connectors"
    )
    kind = models.CharField(max_length=20, choices=ConnectorKind.choices)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="connectors",
        help_text="Team that work items from this connector belong to by default.",
    )
    secret_encrypted = models.TextField(blank=True, editable=False)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["secret_encrypted", "credentials_encrypted"])

    class Meta:
        ordering = ["organization", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_connector_name"),
            models.CheckConstraint(
                condition=models.Q(kind__in=ConnectorKind.values), name="connector_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @property
    def credentials(self) -> str:
        return crypto.decrypt(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: str) -> None:
        self.credentials_encrypted = crypto.encrypt(value)

    @property
    def webhook_path(self) -> str:
        return f"/hooks/{self.kind}/{self.id}/"

    @property
    def webhook_url(self) -> str:
        return settings.SITE_URL + self.webhook_path
