"""Work mirrored from the tools teams already use. CWA never invents work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from workitems import crypto
from workitems.choices import ConnectorKind, DeliveryOutcome, Source, WorkItemStatus


class WorkItem(models.Model):
    """A normalized unit of work from a source, upserted by (organization, source, external id).

    `source_status` is the status the source reports (mapped per source); `status` is what CWA
    shows, which is the same except that an open item without activity for a while becomes
    `stalled` (and goes back to `source_status` with the next activity). `source_updated_at` is the
    source's timestamp of the last snapshot applied: a delivery with an older or equal one changes
    nothing, so redeliveries and late arrivals are harmless. `last_activity_at` is the newest
    activity seen (snapshots, comments, replies).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="work_items"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="work_items"
    )
    connector = models.ForeignKey(
        "workitems.Connector",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_items",
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500)
    status = models.CharField(
        max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    source_status = models.CharField(
        max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=20, blank=True)
    assignee = models.CharField(max_length=200, blank=True)
    labels = models.JSONField(default=list, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
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
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["team", "-last_activity_at"]),
            models.Index(fields=["status", "last_activity_at"]),
        ]

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


class Delivery(models.Model):
    """One accepted inbound delivery: the de-duplication log and the work items' timeline.

    `delivery_id` is the source's own id for the delivery (Slack `event_id`, `Linear-Delivery`,
    `X-GitHub-Delivery`, `X-Atlassian-Webhook-Identifier`, the e-mail's Message-ID, a digest of an
    Alertmanager notification's alerts). Sources retry; the unique constraint makes a repeat a
    no-op even when two copies arrive at once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="deliveries"
    )
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=255)
    event = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=20, choices=DeliveryOutcome.choices)
    detail = models.CharField(max_length=300, blank=True)
    body_sha256 = models.CharField(max_length=64)
    body_bytes = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    work_items = models.ManyToManyField(WorkItem, blank=True, related_name="deliveries")

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "delivery_id"], name="uniq_delivery_per_connector"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=DeliveryOutcome.values),
                name="delivery_outcome_valid",
            ),
        ]
        indexes = [models.Index(fields=["connector", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.event or 'delivery'} {self.delivery_id}"
