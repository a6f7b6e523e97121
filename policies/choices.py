from django.db import models


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


RISK_ORDER = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}


def highest_risk(*levels: str | None) -> str:
    """The highest of the given risk levels (None ignored)."""
    present = [level for level in levels if level]
    return max(present, key=lambda level: RISK_ORDER[RiskLevel(level)])


class Executor(models.TextChoices):
    """Executors implemented in approvals/executors/. Keep in step with that registry."""

    INTERNAL_NOTE = "internal.note", "Internal note (no outside effect)"
    WEBHOOK_POST = "webhook.post", "HTTPS webhook POST"
    SLACK_POST_MESSAGE = "slack.post_message", "Slack: post a message (chat.postMessage)"
    LINEAR_COMMENT = "linear.comment", "Linear: comment on an issue"
    LINEAR_ISSUE_UPDATE = "linear.issue_update", "Linear: update an issue"
    JIRA_COMMENT = "jira.comment", "Jira Cloud: comment on an issue"
    JIRA_TRANSITION = "jira.transition", "Jira Cloud: transition an issue"
    EMAIL_SEND = "email.send", "E-mail (Django mail backend)"


class Trigger(models.TextChoices):
    CREATED = "created", "Work item created"
    UPDATED = "updated", "Work item updated"
    SCHEDULED = "scheduled", "On a schedule (time-based conditions)"


class EvaluationOutcome(models.TextChoices):
    PROPOSED = "proposed", "Proposed an action"
    ERROR = "error", "Error"
