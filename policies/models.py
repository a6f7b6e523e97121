"""The capability registry (action types) and the policies that propose actions from work."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from policies.choices import EvaluationOutcome, Executor, RiskLevel, Trigger

action_type_key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,99}$", "Use lowercase letters, digits, dots, dashes and underscores."
)
payload_path_validator = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,4}$",
    "A payload field name, or a dotted path into the payload (body.text).",
)


class ActionType(models.Model):
    """Something CWA can do, with its risk floor and how it runs.

    `default_risk` is a floor: a proposal can raise an action's risk, never lower it below this.
    `idempotent` means the executor can be safely called again for the same action (the remote
    side de-duplicates on our idempotency key); only then does a crashed attempt retry by itself.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="action_types"
    )
    key = models.CharField(max_length=100, validators=[action_type_key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_risk = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.LOW)
    executor = models.CharField(max_length=50, choices=Executor.choices)
    idempotent = models.BooleanField(
        default=False,
        help_text="The executor may be re-run for the same action without a second effect.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    rollback_note = models.TextField(blank=True, help_text="How a person undoes this action.")
    config = models.JSONField(default=dict, blank=True, help_text="Executor settings (e.g. url).")
    draft_field = models.CharField(
        max_length=100,
        blank=True,
        validators=[payload_path_validator],
        help_text="Payload field whose text an LLM drafts when policies propose this action "
        "(e.g. note, text, body.text). Blank: nothing is drafted. Only content: the gate, "
        "the engine and the executor never read the draft.",
    )
    draft_instructions = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(4000)],
        help_text="What the drafted text should say (a policy can give its own).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="uniq_action_type_key"),
            models.CheckConstraint(
                condition=models.Q(default_risk__in=RiskLevel.values), name="action_type_risk_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1, max_attempts__lte=10),
                name="action_type_attempts_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class Policy(models.Model):
    """A deterministic rule: when a work item matches `condition`, propose an action.

    The condition is CEL over the work item (`item.status == "stalled" &&
    item.days_since_update > 3`), compiled and checked against the work item's fields when saved.
    `trigger` says when it is evaluated: when an item is created, when it changes, or on the
    schedule (for time-based conditions). A (policy, work item) pair proposes at most one action
    per `cooldown_minutes`. Proposals go through the same service and gate as everyone else's;
    `risk` can only raise the action type's risk. With a `team`, the policy looks only at that
    team's work; without one, at the whole organization's, proposing to the item's team.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="policies"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text="Only this team's work items, and its actions go to this team. Blank: every "
        "work item of the organization, proposed to the item's team.",
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.UPDATED)
    condition = models.TextField(
        help_text='CEL over the work item, e.g. item.status == "stalled" && '
        "item.days_since_update > 3. See the field list below."
    )
    action_type = models.ForeignKey(ActionType, on_delete=models.PROTECT, related_name="policies")
    payload_template = models.JSONField(
        default=dict,
        blank=True,
        help_text='The action\'s payload. Strings are templates: {"note": "{{ item.title }} has '
        'been quiet for {{ item.days_since_update }} days"}.',
    )
    draft_instructions = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(4000)],
        help_text="Instructions for the drafted text, if the action type drafts one (blank: the "
        "action type's).",
    )
    risk = models.CharField(
        max_length=10,
        choices=RiskLevel.choices,
        blank=True,
        help_text="Raise the risk of this policy's actions (never below the action type's).",
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=24 * 60,
        validators=[MinValueValidator(1), MaxValueValidator(366 * 24 * 60)],
        help_text="At most one proposal per work item within this many minutes.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_policy_name"),
            models.CheckConstraint(
                condition=models.Q(trigger__in=Trigger.values), name="policy_trigger_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(risk="") | models.Q(risk__in=RiskLevel.values),
                name="policy_risk_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(cooldown_minutes__gte=1), name="policy_cooldown_positive"
            ),
        ]
        indexes = [models.Index(fields=["organization", "trigger", "enabled"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Imported here: conditions and rendering import this module's neighbours.
        from policies.conditions import ConditionError, compile_condition
        from policies.rendering import payload_template_errors

        errors: dict[str, Any] = {}
        try:
            compile_condition(self.condition or "")
        except ConditionError as exc:
            errors["condition"] = exc.message
        template_errors = payload_template_errors(self.payload_template)
        if template_errors:
            errors["payload_template"] = template_errors
        if self.organization_id:
            if self.team_id and self.team.organization_id != self.organization_id:
                errors["team"] = "The team belongs to another organization."
            if self.action_type_id:
                action_type = self.action_type
                if action_type.organization_id != self.organization_id:
                    errors["action_type"] = "The action type belongs to another organization."
                elif action_type.draft_field and "payload_template" not in errors:
                    from policies.rendering import get_path

                    if not isinstance(
                        get_path(self.payload_template, action_type.draft_field), str
                    ):
                        errors["payload_template"] = (
                            f"{action_type.key} drafts `{action_type.draft_field}`: give it a "
                            "text here, used whenever no draft can be made."
                        )
        if errors:
            raise ValidationError(errors)

    @property
    def cooldown_seconds(self) -> int:
        return self.cooldown_minutes * 60


class PolicyEvaluation(models.Model):
    """What a policy did for a work item: proposed an action, or failed (and why).

    Evaluations that simply do not match are not stored (a schedule looks at every open item).
    For proposals, `window_key` names the cooldown window (the previous proposal's time, or
    `first`); it is unique per (policy, work item), and it is part of the action's idempotency
    key, so concurrent engines still propose once per window.
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "teams.Organization", on_delete=models.CASCADE, related_name="policy_evaluations"
    )
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="evaluations")
    work_item = models.ForeignKey(
        "workitems.WorkItem",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="policy_evaluations",
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    outcome = models.CharField(max_length=20, choices=EvaluationOutcome.choices)
    action = models.ForeignKey(
        "approvals.Action",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="policy_evaluations",
    )
    window_key = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "work_item", "window_key"],
                condition=models.Q(outcome="proposed"),
                name="uniq_policy_proposal_per_window",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=EvaluationOutcome.values),
                name="policy_evaluation_outcome_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["policy", "work_item", "outcome", "-created_at"]),
            models.Index(fields=["work_item", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.policy} → {self.get_outcome_display()}"
