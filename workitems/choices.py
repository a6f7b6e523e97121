from django.db import models


class Source(models.TextChoices):
    SLACK = "slack", "Slack"
    LINEAR = "linear", "Linear"
    JIRA = "jira", "Jira"
    GITHUB = "github", "GitHub"
    ALERTMANAGER = "alertmanager", "Alertmanager"
    EMAIL = "email", "E-mail"
    MANUAL = "manual", "Manual"


class WorkItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    BLOCKED = "blocked", "Blocked"
    STALLED = "stalled", "Stalled"
    DONE = "done", "Done"


class ConnectorKind(models.TextChoices):
    SLACK = "slack", "Slack"
    LINEAR = "linear", "Linear"
    JIRA = "jira", "Jira Cloud"
    GITHUB = "github", "GitHub"
    ALERTMANAGER = "alertmanager", "Alertmanager"
    EMAIL = "email", "Inbound e-mail"
    WEBHOOK = "webhook", "Generic webhook"


class DeliveryOutcome(models.TextChoices):
    """What one accepted delivery did. Refused deliveries (401, 400, 413) are never stored."""

    APPLIED = "applied", "Applied"  # created or changed at least one work item
    UNCHANGED = "unchanged", "Unchanged"  # a repeat or an older event: nothing changed
    IGNORED = "ignored", "Ignored"  # an event CWA does not mirror (a bot message, a ping)


# Statuses a work item can go stalled from (no activity for CWA_STALLED_AFTER_DAYS).
STALLABLE = (WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS)
# Normalized priorities, most urgent first; "" means the source set none.
PRIORITIES = ("urgent", "high", "medium", "low")
