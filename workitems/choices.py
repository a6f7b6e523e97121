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
