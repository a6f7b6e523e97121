"""The capability registry (action types). Policies and playbooks build on it."""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from policies.choices import Executor, RiskLevel

action_type_key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,99}$", "Use lowercase letters, digits, dots, dashes and underscores."
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
