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


OPEN_STATUSES = (ActionStatus.PENDING, ActionStatus.APPROVED, ActionStatus.EXECUTING)
FINAL_STATUSES = (
    ActionStatus.REJECTED,
    ActionStatus.EXPIRED,
    ActionStatus.CANCELLED,
    ActionStatus.SUCCEEDED,
    ActionStatus.FAILED,
)

# Every allowed status change. Services assert against this table; conditional UPDATEs use the
# "from" side so a row that moved meanwhile is left alone.
TRANSITIONS: dict[str, frozenset[str]] = {
    ActionStatus.PENDING: frozenset(
        {ActionStatus.APPROVED, ActionStatus.REJECTED, ActionStatus.EXPIRED, ActionStatus.CANCELLED}
    ),
    ActionStatus.APPROVED: frozenset({ActionStatus.EXECUTING, ActionStatus.CANCELLED}),
    ActionStatus.EXECUTING: frozenset(
        {
            ActionStatus.SUCCEEDED,
            ActionStatus.FAILED,
            ActionStatus.NEEDS_ATTENTION,
            ActionStatus.APPROVED,  # a transient failure waiting for its retry
        }
    ),
    ActionStatus.NEEDS_ATTENTION: frozenset(
        {ActionStatus.APPROVED, ActionStatus.SUCCEEDED, ActionStatus.FAILED}
    ),
}


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
