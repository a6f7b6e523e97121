"""Object permissions per team: the only module that talks to guardian.

A membership's role (and an org-admin seat) is mirrored into guardian's direct foreign-key
table `TeamUserObjectPermission`. Every list in the product is filtered with `team_ids_for`, a
subquery on that table, so lists never check rows one by one and a forbidden row is simply
absent (404), exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.db.models import QuerySet

from teams.choices import ADMINISTER, APPROVE, ROLE_PERMISSIONS, VIEW, OrgRole, Role
from teams.models import (
    Membership,
    Organization,
    OrganizationMember,
    Team,
    TeamUserObjectPermission,
)

User = AbstractBaseUser | AnonymousUser

__all__ = ["ADMINISTER", "APPROVE", "VIEW"]


def _permission_ids() -> dict[str, int]:
    return dict(
        Permission.objects.filter(
            content_type__app_label="teams", codename__in=(VIEW, APPROVE, ADMINISTER)
        ).values_list("codename", "id")
    )


def desired_codenames(*, user: AbstractBaseUser, team: Team) -> set[str]:
    if OrganizationMember.objects.filter(
        user=user, organization_id=team.organization_id, role=OrgRole.ADMIN
    ).exists():
        return set(ROLE_PERMISSIONS[Role.ADMIN])
    role = Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()
    return set(ROLE_PERMISSIONS.get(role, ())) if role else set()


def sync_team_permissions(*, user: AbstractBaseUser, teams: Iterable[Team]) -> None:
    """Make the user's guardian permissions on these teams match their memberships."""
    perm_ids = _permission_ids()
    for team in teams:
        wanted = {perm_ids[c] for c in desired_codenames(user=user, team=team)}
        existing = set(
            TeamUserObjectPermission.objects.filter(user=user, content_object=team).values_list(
                "permission_id", flat=True
            )
        )
        if stale := existing - wanted:
            TeamUserObjectPermission.objects.filter(
                user=user, content_object=team, permission_id__in=stale
            ).delete()
        TeamUserObjectPermission.objects.bulk_create(
            [
                TeamUserObjectPermission(user=user, content_object=team, permission_id=pid)
                for pid in wanted - existing
            ]
        )


def team_ids_for(user: User, codename: str = VIEW) -> QuerySet:
    """A subquery of the ids of teams on which `user` holds `codename` (not evaluated)."""
    if not user.is_authenticated:
        return Team.objects.none().values("id")
    return TeamUserObjectPermission.objects.filter(
        user_id=user.pk, permission__codename=codename, permission__content_type__app_label="teams"
    ).values("content_object_id")


def teams_for(user: User, codename: str = VIEW) -> QuerySet[Team]:
    return Team.objects.filter(id__in=team_ids_for(user, codename))


def has_team_perm(user: User, codename: str, team: Team | None) -> bool:
    if team is None or not user.is_authenticated:
        return False
    # Same rule as the list filter (no superuser bypass): one rule for lists and objects.
    return team_ids_for(user, codename).filter(content_object_id=team.pk).exists()


def organizations_for(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(members__user_id=user.pk)


def admin_organization_ids(user: User) -> QuerySet:
    if not user.is_authenticated:
        return Organization.objects.none().values("id")
    return OrganizationMember.objects.filter(user_id=user.pk, role=OrgRole.ADMIN).values(
        "organization_id"
    )


def is_org_admin(user: User, organization: Organization | None) -> bool:
    if organization is None or not user.is_authenticated:
        return False
    return OrganizationMember.objects.filter(
        user_id=user.pk, organization=organization, role=OrgRole.ADMIN
    ).exists()
