"""Changes to organizations, teams and memberships. Atomic, permission-checked, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from approvals.notifications import notify
from audit.services import audit_record
from cwa_site.errors import Conflict, Forbidden, InvalidInput, NotFound
from teams.choices import AutonomyLevel, OrgRole, Role, TeamStatus
from teams.models import Membership, Organization, OrganizationMember, Team
from teams.permissions import ADMINISTER, VIEW, has_team_perm, is_org_admin


def _resume_waiting(*, team_ids: list[Any]) -> None:
    """Approved actions held by a pause run once the pause lifts (enqueued in this transaction)."""
    from approvals.choices import ActionStatus
    from approvals.dispatch import enqueue_execution
    from approvals.models import Action

    waiting = list(
        Action.objects.filter(
            team_id__in=team_ids,
            status=ActionStatus.APPROVED,
            team__status=TeamStatus.ACTIVE,
            organization__automation_paused=False,
        ).values_list("pk", flat=True)
    )
    enqueue_execution(waiting)


def _team_field_change(
    *,
    actor: AbstractBaseUser,
    team: Team,
    field: str,
    value: str,
    reason: str,
    refusal: str,
    verb: str,
) -> tuple[Team, str | None]:
    """Change one field of a team as its admin: permission-checked, history with the reason, audited.
    Returns the locked team and the previous value (None when nothing changed). Call it inside
    the caller's transaction."""
    if not has_team_perm(actor, VIEW, team):
        raise NotFound("Team not found.")
    if not has_team_perm(actor, ADMINISTER, team):
        raise Forbidden(f"Only admins of {team.name} can {refusal}.")
    locked = Team.objects.select_for_update().get(pk=team.pk)
    before = getattr(locked, field)
    if before == value:
        return locked, None
    setattr(locked, field, value)
    locked._change_reason = reason
    locked.save(update_fields=[field])
    audit_record(
        organization=locked.organization_id,
        verb=verb,
        actor=actor,
        target=locked,
        team=locked,
        data={"from": before, "to": value, "reason": reason},
    )
    return locked, before


def team_set_status(*, actor: AbstractBaseUser, team: Team, status: str, reason: str = "") -> Team:
    """Pause or resume a team. Paused: every proposal waits for a person and nothing runs."""
    if status not in TeamStatus.values:
        raise InvalidInput(f"Unknown team status {status!r}.", field="status")
    with transaction.atomic():
        locked, before = _team_field_change(
            actor=actor,
            team=team,
            field="status",
            value=status,
            reason=reason,
            refusal="pause or resume it",
            verb="team.status_changed",
        )
        if before is None:
            return locked
        paused = status == TeamStatus.PAUSED
        notify(
            organization_id=locked.organization_id,
            team_id=locked.pk,
            kind="team.status",
            audience="members",
            level="warning" if paused else "info",
            title=f"{locked.name} was {'paused' if paused else 'resumed'} by {actor.get_username()}",
            body=reason,
        )
        if not paused:
            _resume_waiting(team_ids=[locked.pk])
    return locked


def team_set_autonomy(
    *, actor: AbstractBaseUser, team: Team, autonomy_level: str, reason: str = ""
) -> Team:
    """Change a team's autonomy level. Applies to proposals from now on, never retroactively."""
    if autonomy_level not in AutonomyLevel.values:
        raise InvalidInput(f"Unknown autonomy level {autonomy_level!r}.", field="autonomy_level")
    with transaction.atomic():
        locked, _ = _team_field_change(
            actor=actor,
            team=team,
            field="autonomy_level",
            value=autonomy_level,
            reason=reason,
            refusal="change its autonomy level",
            verb="team.autonomy_changed",
        )
    return locked


def organization_set_kill_switch(
    *, actor: AbstractBaseUser, organization: Organization, paused: bool, reason: str = ""
) -> Organization:
    """The kill switch: pause (or resume) all automation of an organization at once."""
    if not is_org_admin(actor, organization):
        raise Forbidden("Only organization admins can use the kill switch.")
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.automation_paused == paused:
            return org
        org.automation_paused = paused
        org.paused_reason = reason if paused else ""
        org.paused_at = timezone.now() if paused else None
        org.save(update_fields=["automation_paused", "paused_reason", "paused_at"])
        audit_record(
            organization=org,
            verb="organization.paused" if paused else "organization.resumed",
            actor=actor,
            target=org,
            data={"reason": reason},
        )
        notify(
            organization_id=org.pk,
            team_id=None,
            kind="organization.paused" if paused else "organization.resumed",
            audience="organization",
            level="danger" if paused else "info",
            title=f"Automation {'paused' if paused else 'resumed'} for {org.name} by "
            f"{actor.get_username()}",
            body=(reason or "Every proposal waits for a person; nothing runs until resumed.")
            if paused
            else "Approved actions that waited run now.",
        )
        if not paused:
            _resume_waiting(team_ids=list(org.teams.values_list("pk", flat=True)))
    return org


def membership_set(
    *, actor: AbstractBaseUser | None, team: Team, username: str, role: str
) -> tuple[Membership, bool]:
    """Add a member to a team or change their role. The user must belong to the organization."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use admin, approver or viewer.", field="role")
    if actor is not None:
        if not has_team_perm(actor, VIEW, team):
            raise NotFound("Team not found.")
        if not has_team_perm(actor, ADMINISTER, team):
            raise Forbidden(f"Only admins of {team.name} can manage its members.")
    user = (
        get_user_model()
        .objects.filter(username=username, org_memberships__organization_id=team.organization_id)
        .first()
    )
    if user is None:
        raise InvalidInput(f"No user {username!r} in this organization.", field="user")
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            team=team, user=user, defaults={"role": role}
        )
        if not created and membership.role == role:
            return membership, False
        before = None if created else membership.role
        if not created:
            membership.role = role
            membership.save(update_fields=["role"])
        audit_record(
            organization=team.organization_id,
            verb="membership.changed",
            actor=actor,
            target=membership,
            team=team,
            data={"user": username, "from": before, "to": role},
        )
    return membership, created


def membership_remove(*, actor: AbstractBaseUser, membership: Membership) -> None:
    team = membership.team
    if not has_team_perm(actor, ADMINISTER, team):
        raise Forbidden(f"Only admins of {team.name} can manage its members.")
    with transaction.atomic():
        audit_record(
            organization=team.organization_id,
            verb="membership.removed",
            actor=actor,
            target=membership,
            team=team,
            data={"user": membership.user.get_username(), "role": membership.role},
        )
        membership.delete()


def organization_add_member(
    *,
    organization: Organization,
    user: AbstractBaseUser,
    role: str = OrgRole.MEMBER,
    actor: AbstractBaseUser | None = None,
) -> OrganizationMember:
    if role not in OrgRole.values:
        raise InvalidInput(f"Unknown organization role {role!r}.", field="role")
    with transaction.atomic():
        member, created = OrganizationMember.objects.get_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
        if not created and member.role == role:
            return member
        if not created:
            member.role = role
            member.save(update_fields=["role"])
        audit_record(
            organization=organization,
            verb="organization.member_changed",
            actor=actor,
            target=member,
            data={"user": user.get_username(), "role": role},
        )
    return member


def team_create(
    *,
    actor: AbstractBaseUser | None,
    organization: Organization,
    name: str,
    department: str,
    autonomy_level: str = AutonomyLevel.SUPERVISED,
) -> Team:
    if actor is not None and not is_org_admin(actor, organization):
        raise Forbidden("Only organization admins can create teams.")
    if autonomy_level not in AutonomyLevel.values:
        raise InvalidInput(f"Unknown autonomy level {autonomy_level!r}.", field="autonomy_level")
    if not name.strip():
        raise InvalidInput("A team needs a name.", field="name")
    with transaction.atomic():
        if Team.objects.filter(organization=organization, name=name).exists():
            raise Conflict(f"There is already a team named {name!r}.", field="name")
        team = Team.objects.create(
            organization=organization,
            name=name,
            department=department,
            autonomy_level=autonomy_level,
        )
        audit_record(
            organization=organization,
            verb="team.created",
            actor=actor,
            target=team,
            team=team,
            data={"department": department, "autonomy_level": autonomy_level},
        )
    return team


def team_update(
    *,
    actor: AbstractBaseUser,
    team: Team,
    name: str | None = None,
    department: str | None = None,
    autonomy_level: str | None = None,
    status: str | None = None,
    reason: str = "",
) -> Team:
    """Change a team's fields in one transaction (the API's PATCH). Only its admins may.

    Autonomy and status go through `team_set_autonomy` / `team_set_status`, so they are audited
    and resuming runs what waited; a rename is audited as `team.updated`.
    """
    if not has_team_perm(actor, VIEW, team):
        raise NotFound("Team not found.")
    if not has_team_perm(actor, ADMINISTER, team):
        raise Forbidden(f"Only admins of {team.name} can change it.")
    if name is not None and not name.strip():
        raise InvalidInput("A team needs a name.", field="name")
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        changes = {
            field: [getattr(locked, field), value]
            for field, value in (("name", name), ("department", department))
            if value is not None and value != getattr(locked, field)
        }
        if changes:
            if (
                "name" in changes
                and Team.objects.filter(organization_id=locked.organization_id, name=name)
                .exclude(pk=locked.pk)
                .exists()
            ):
                raise Conflict(f"There is already a team named {name!r}.", field="name")
            for field, (_, value) in changes.items():
                setattr(locked, field, value)
            locked._change_reason = reason
            locked.save(update_fields=list(changes))
            audit_record(
                organization=locked.organization_id,
                verb="team.updated",
                actor=actor,
                target=locked,
                team=locked,
                data={"changes": changes, "reason": reason},
            )
        if autonomy_level is not None:
            locked = team_set_autonomy(
                actor=actor, team=locked, autonomy_level=autonomy_level, reason=reason
            )
        if status is not None:
            locked = team_set_status(actor=actor, team=locked, status=status, reason=reason)
    return locked
