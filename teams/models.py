"""Tenants, teams, who belongs where, and the agents that propose actions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from teams.choices import AutonomyLevel, OrgRole, Role, TeamStatus


class Organization(models.Model):
    """A tenant. Nothing crosses organizations: every other row hangs off one of these.

    `automation_paused` is the kill switch: while set, every proposal waits for a person and
    nothing executes. `next_action_number` hands out the short per-organization action numbers;
    `audit_seq`/`audit_head` are the tip of the organization's audit hash chain, so deleting the
    newest events is detectable too.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    automation_paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=500, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    next_action_number = models.PositiveIntegerField(default=1, editable=False)
    audit_seq = models.PositiveBigIntegerField(default=0, editable=False)
    audit_head = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["next_action_number", "audit_seq", "audit_head"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganizationMember(models.Model):
    """A user's place in an organization. Org admins administer every team of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_memberships"
    )
    role = models.CharField(max_length=16, choices=OrgRole.choices, default=OrgRole.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="uniq_org_member"),
            models.CheckConstraint(
                condition=models.Q(role__in=OrgRole.values), name="org_member_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Team(models.Model):
    """A team inside a department. Its autonomy level and status feed the gate."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=200)
    department = models.CharField(max_length=200)
    autonomy_level = models.CharField(
        max_length=20, choices=AutonomyLevel.choices, default=AutonomyLevel.SUPERVISED
    )
    status = models.CharField(max_length=10, choices=TeamStatus.choices, default=TeamStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["department", "name"]
        permissions = [
            ("approve_team", "Can decide the team's actions"),
            ("administer_team", "Can administer the team"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_team_name_per_org"),
            models.CheckConstraint(
                condition=models.Q(autonomy_level__in=AutonomyLevel.values),
                name="team_autonomy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TeamStatus.values), name="team_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} / {self.name}"

    @property
    def is_paused(self) -> bool:
        return self.status == TeamStatus.PAUSED


class Membership(models.Model):
    """A user's role in one team. The role is mirrored into guardian object permissions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="uniq_membership"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.team} ({self.role})"


class Agent(models.Model):
    """A named actor that proposes actions (an LLM agent, an integration, a policy engine).

    An agent may only propose the action types listed in `allowed_action_types`. When it talks
    to the API it authenticates as `user` (a service account holding the agent's token).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agent",
        help_text="Service account the agent authenticates as.",
    )
    allowed_action_types = models.ManyToManyField(
        "policies.ActionType", blank=True, related_name="agents"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[allowed_action_types])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_agent_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class TeamUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian table: permission checks join on a real FK (indexed)."""

    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class TeamGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False


class UserProfile(models.Model):
    """Per-user settings that Django's user model lacks (the Slack identity, digest opt-in)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    slack_user_id = models.CharField(max_length=32, blank=True, db_index=True)
    daily_digest = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"
