from django.db import models


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    EXECUTING = "executing", "Executing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


FINAL_STATUSES = (
    ActionStatus.REJECTED,
    ActionStatus.EXPIRED,
    ActionStatus.CANCELLED,
    ActionStatus.SUCCEEDED,
    ActionStatus.FAILED,
)


class DecisionKind(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class DecisionChannel(models.TextChoices):
    WEB = "web", "Web"
    BULK = "bulk", "Bulk"
    API = "api", "API"
    SLACK = "slack", "Slack"
    ADMIN = "admin", "Admin"


class ExecutionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"


class OverrideMode(models.TextChoices):
    AUTO = "auto", "Run automatically"
    APPROVAL = "approval", "Require approval"
