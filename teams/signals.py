"""Keep guardian's permission rows in step with memberships.

The permission table is a derived cache of `Membership` and `OrganizationMember`; these
receivers are its invalidation, so admin, API, services and fixtures all stay consistent.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from teams.choices import OrgRole
from teams.models import Membership, OrganizationMember, Team
from teams.permissions import sync_team_permissions


@receiver([post_save, post_delete], sender=Membership)
def membership_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    sync_team_permissions(user=instance.user, teams=[instance.team])


@receiver([post_save, post_delete], sender=OrganizationMember)
def org_member_changed(sender: type, instance: OrganizationMember, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    teams = Team.objects.filter(organization_id=instance.organization_id)
    sync_team_permissions(user=instance.user, teams=teams)


@receiver(post_save, sender=Team)
def team_created(sender: type, instance: Team, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    for member in OrganizationMember.objects.filter(
        organization_id=instance.organization_id, role=OrgRole.ADMIN
    ).select_related("user"):
        sync_team_permissions(user=member.user, teams=[instance])
