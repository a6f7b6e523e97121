"""Reads of teams and organizations, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from cwa_site.errors import Forbidden, InvalidInput
from teams.models import Membership, Organization, Team
from teams.permissions import VIEW, admin_organization_ids, organizations_for, teams_for


def teams_visible_to(user: Any) -> QuerySet[Team]:
    return teams_for(user, VIEW).order_by("department", "name", "id")


def team_get_visible(user: Any, team_id: Any) -> Team | None:
    """One team if the user may see it; None for missing and forbidden alike."""
    try:
        return teams_for(user, VIEW).select_related("organization").get(pk=team_id)
    except (Team.DoesNotExist, ValidationError, ValueError, TypeError):
        return None


def memberships_of(team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("created_at", "id")


def organization_to_administer(
    user: Any, organization_id: Any | None, *, doing: str
) -> Organization:
    """The organization an org-level write applies to.

    Named explicitly, it must be one the user belongs to (the service then checks admin rights,
    so a member gets 403). Left out, it is the one organization the user administers.
    """
    if organization_id is not None:
        org = organizations_for(user).filter(pk=organization_id).first()
        if org is None:
            raise InvalidInput("Unknown organization.", field="organization")
        return org
    administered = list(Organization.objects.filter(pk__in=admin_organization_ids(user))[:2])
    if not administered:
        raise Forbidden(f"Only organization admins can {doing}.")
    if len(administered) > 1:
        raise InvalidInput(
            "You administer several organizations: name one in `organization`.",
            field="organization",
        )
    return administered[0]


def team_for_proposal(user: Any, team_id: Any) -> Team | None:
    """A team of one of the user's organizations (the propose service then checks what the user
    or their agent may do there). None when missing or another organization's."""
    return Team.objects.filter(
        pk=team_id, organization_id__in=organizations_for(user).values("id")
    ).first()
