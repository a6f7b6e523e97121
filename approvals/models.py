"""Proposed actions, the decisions on them and every attempt to run them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from approvals.choices import (
    ActionStatus,
    DecisionChannel,
    DecisionKind,
    ExecutionStatus,
    OverrideMode,
)
from policies.choices import RiskLevel


class Action(models.Model):
    """A proposed action and its lifecycle (see DESIGN.md, "The Action lifecycle").

    The approval is bound to `payload_hash`: what runs is exactly what was approved, and an edit
    is a new `revision` (an ActionRevision row) that needs its own decisions. `required_approvals`
    is fixed by the gate at proposal time (0 = runs by itself, 2 = critical quorum).
    `attempts` counts execution claims; the executor's idempotency key is derived from the id,
    so it is the same on every attempt.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.PositiveIntegerField(editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.PROTECT, related_name="actions"
    )
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="actions")
    action_type = models.ForeignKey(
        "policies.ActionType", on_delete=models.PROTECT, related_name="actions"
    )
    agent = models.ForeignKey(
        "teams.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="actions"
    )
    work_item = models.ForeignKey(
        "workitems.WorkItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="actions",
    )
    work_item_snapshot = models.JSONField(
        default=dict, blank=True, help_text="The work item as proposed (staleness check)."
    )
    title = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)
    payload_hash = models.CharField(max_length=64)
    revision = models.PositiveIntegerField(default=1)
    requested_risk = models.CharField(max_length=10, choices=RiskLevel.choices, blank=True)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices)
    status = models.CharField(max_length=20, choices=ActionStatus.choices, db_index=True)
    requires_approval = models.BooleanField()
    required_approvals = models.PositiveSmallIntegerField(default=0)
    auto_approved = models.BooleanField(default=False)
    gate_reason = models.CharField(max_length=500)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposed_actions",
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempt_limit = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Raised when a person retries; else the action type's max attempts.",
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    execution_deadline = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    # The policy that proposed it, and what drafting its content cost (content only: nothing in
    # the gate, the engine or execution reads these or the drafted text).
    policy = models.ForeignKey(
        "policies.Policy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="actions",
    )
    drafted = models.BooleanField(default=False)
    llm_model = models.CharField(max_length=100, blank=True)
    llm_tokens_in = models.PositiveIntegerField(default=0)
    llm_tokens_out = models.PositiveIntegerField(default=0)
    llm_cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="uniq_action_number"),
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="uniq_action_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ActionStatus.values), name="action_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(risk_level__in=RiskLevel.values), name="action_risk_valid"
            ),
            models.CheckConstraint(
                condition=Q(required_approvals__lte=2), name="action_required_approvals_range"
            ),
            # An auto-approved action required no approval; a gated one required at least one.
            models.CheckConstraint(
                condition=Q(auto_approved=False) | Q(requires_approval=False),
                name="action_auto_not_gated",
            ),
            models.CheckConstraint(
                condition=Q(requires_approval=False, required_approvals=0)
                | Q(requires_approval=True, required_approvals__gte=1),
                name="action_required_approvals_consistent",
            ),
            # Critical actions always need the two-person quorum.
            models.CheckConstraint(
                condition=~Q(risk_level=RiskLevel.CRITICAL) | Q(required_approvals=2),
                name="action_critical_quorum",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "status", "-created_at"]),
            models.Index(fields=["organization", "status", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title or self.action_type_id}"

    @property
    def max_attempts(self) -> int:
        return self.attempt_limit or self.action_type.max_attempts

    @property
    def idempotency_token(self) -> str:
        """The key sent to executors: stable across attempts, unique per action and revision."""
        return f"cwa-{self.id}-r{self.revision}"


class ActionRevision(models.Model):
    """A payload edit before approval. Decisions on earlier revisions no longer count."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    payload = models.JSONField()
    payload_hash = models.CharField(max_length=64)
    diff = models.TextField(blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["action", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["action", "revision"], name="uniq_action_revision")
        ]

    def __str__(self) -> str:
        return f"{self.action} r{self.revision}"


class Decision(models.Model):
    """One person's approve or reject of one revision of an action."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    decision = models.CharField(max_length=10, choices=DecisionKind.choices)
    notes = models.TextField(blank=True)
    revision = models.PositiveIntegerField()
    payload_hash = models.CharField(max_length=64)
    via = models.CharField(max_length=10, choices=DecisionChannel.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Quorum counts distinct people: one decision per person per revision.
            models.UniqueConstraint(
                fields=["action", "revision", "user"], name="uniq_decision_per_user"
            ),
            models.CheckConstraint(
                condition=Q(decision__in=DecisionKind.values), name="decision_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.decision}d {self.action}"


class Execution(models.Model):
    """One attempt to run an action. A row in `running` whose worker died is settled by the sweep."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="executions")
    attempt = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.RUNNING
    )
    idempotency_key = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    transient = models.BooleanField(null=True)
    error = models.TextField(blank=True)
    response = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["action", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["action", "attempt"], name="uniq_execution_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.action} attempt {self.attempt}: {self.status}"


class AutonomyOverride(models.Model):
    """An admin's override of the default gate matrix for one (team, action type).

    It can require approval where the matrix would run by itself, or let an action run by itself
    where the matrix would ask. It never removes the two-person rule for critical actions, and
    never applies while the team or organization is paused.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="overrides")
    action_type = models.ForeignKey(
        "policies.ActionType", on_delete=models.CASCADE, related_name="overrides"
    )
    mode = models.CharField(max_length=10, choices=OverrideMode.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "action_type"], name="uniq_override"),
            models.CheckConstraint(
                condition=Q(mode__in=OverrideMode.values), name="override_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.action_type.key} → {self.get_mode_display()}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if (
            self.team_id
            and self.action_type_id
            and self.team.organization_id != self.action_type.organization_id
        ):
            raise ValidationError(
                {"action_type": "The action type belongs to another organization."}
            )


class Notification(models.Model):
    """Something a person should know, stored per user so nothing is lost while a browser is
    closed (inbox, unread badge, daily digest) and pushed live over the websocket."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        DANGER = "danger", "Danger"

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="notifications"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    action = models.ForeignKey(
        Action, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user}: {self.title}"


class CircuitBreaker(models.Model):
    """Health of one executor for one organization (approvals/breaker.py has the rules).

    `closed`: calls go out. `open`: after `consecutive_failures` reached the threshold, actions
    wait (they stay approved, `next_attempt_at` = `next_probe_at`) instead of hammering a broken
    service. `half_open`: from `next_probe_at` on, exactly one action (`probe_action`) is let
    through; its success closes the breaker and releases the waiting actions, its failure opens
    it again for a doubled cooldown (`trips` counts the opens since it was last closed).
    """

    class State(models.TextChoices):
        CLOSED = "closed", "Closed (calls go out)"
        OPEN = "open", "Open (actions wait)"
        HALF_OPEN = "half_open", "Half-open (one probe)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="circuit_breakers"
    )
    executor = models.CharField(max_length=50)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    trips = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probe_action = models.ForeignKey(
        Action, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    probe_deadline = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "executor"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "executor"], name="uniq_breaker_per_executor"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["closed", "open", "half_open"]), name="breaker_state_valid"
            ),
            # An open or half-open breaker always knows when it opened and when to probe.
            models.CheckConstraint(
                condition=Q(state="closed")
                | Q(opened_at__isnull=False, next_probe_at__isnull=False),
                name="breaker_open_has_times",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_probe_at"])]

    def __str__(self) -> str:
        return f"{self.executor} breaker ({self.get_state_display()})"


class SlackRoute(models.Model):
    """Post a team's pending actions to a Slack channel, with Approve / Reject buttons."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="slack_routes")
    connector = models.ForeignKey(
        "workitems.Connector", on_delete=models.CASCADE, related_name="slack_routes"
    )
    channel = models.CharField(max_length=80, help_text="Channel id (C0123…) or name.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["team", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "connector", "channel"], name="uniq_slack_route"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team} → Slack {self.channel}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.connector_id and self.connector.kind != "slack":
            raise ValidationError({"connector": "Choose a Slack connector."})
        if (
            self.team_id
            and self.connector_id
            and self.team.organization_id != self.connector.organization_id
        ):
            raise ValidationError({"connector": "The connector belongs to another organization."})


class SlackMessage(models.Model):
    """One Slack message showing one action (posted by a SlackRoute or clicked in Slack).

    The row is written before chat.postMessage is called (`state=posting`), so a redelivered
    task never posts the action twice; `rendered_at` tells the sync which messages are stale.
    """

    class State(models.TextChoices):
        POSTING = "posting", "Posting"
        POSTED = "posted", "Posted"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="slack_messages")
    connector = models.ForeignKey(
        "workitems.Connector", on_delete=models.CASCADE, related_name="slack_messages"
    )
    channel = models.CharField(max_length=80, help_text="As the route names it.")
    channel_id = models.CharField(max_length=40, blank=True, help_text="As Slack answered it.")
    ts = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.POSTING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "connector", "channel"], name="uniq_slack_message_per_channel"
            )
        ]
        indexes = [models.Index(fields=["state", "rendered_at"])]

    def __str__(self) -> str:
        return f"{self.action} in Slack {self.channel}"


class AutonomySuggestion(models.Model):
    """Earned autonomy: a long run of approvals, without a rejection, of one action type in one
    team, offered to the team's admins as an override that runs it automatically.

    The system only suggests; a person accepts (an `AutonomyOverride` with mode auto is created,
    audited, revocable) or dismisses it. A dismissed pair is suggested again only after another
    full streak. Critical actions are never suggested.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="autonomy_suggestions"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="autonomy_suggestions"
    )
    action_type = models.ForeignKey(
        "policies.ActionType", on_delete=models.CASCADE, related_name="autonomy_suggestions"
    )
    streak = models.PositiveIntegerField(help_text="Approvals in a row when suggested.")
    highest_risk = models.CharField(max_length=10, choices=RiskLevel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    override = models.ForeignKey(
        AutonomyOverride, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "action_type"],
                condition=Q(status="open"),
                name="uniq_open_autonomy_suggestion",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "accepted", "dismissed"]),
                name="autonomy_suggestion_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(highest_risk=RiskLevel.CRITICAL),
                name="autonomy_suggestion_never_critical",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team}: auto-run {self.action_type.key}? ({self.streak} approvals)"


class DigestDelivery(models.Model):
    """One daily digest e-mail to one person on one day: the row is written before sending, so
    a digest task that runs twice sends nothing twice."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_deliveries"
    )
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)
    pending_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="uniq_digest_per_user_day")
        ]

    def __str__(self) -> str:
        return f"digest for {self.user} on {self.day}"
