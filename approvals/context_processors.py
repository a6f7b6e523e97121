"""What every page's layout shows: the person's teams, unread count and pending badge.

Lazy, so HTMX fragments that do not render the layout pay no queries for it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, CharField, OuterRef, Q, Subquery, Value, When
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from teams.choices import OrgRole
from teams.models import Membership, Organization, OrganizationMember, Team
from teams.permissions import VIEW, team_ids_for


def _teams(user: Any) -> list[Team]:
    role = Membership.objects.filter(team_id=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    admin_of = OrganizationMember.objects.filter(user_id=user.pk, role=OrgRole.ADMIN).values(
        "organization_id"
    )
    return list(
        Team.objects.filter(id__in=team_ids_for(user, VIEW))
        .annotate(
            my_role=Case(
                When(Q(organization_id__in=admin_of), then=Value("admin")),
                default=Subquery(role),
                output_field=CharField(),
            )
        )
        .select_related("organization")
        .order_by("organization__name", "department", "name")
    )


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from approvals.filters import pending_queue
    from approvals.notifications import unread_count

    return {
        "nav_teams": SimpleLazyObject(lambda: _teams(user)),
        "nav_unread": SimpleLazyObject(lambda: unread_count(user)),
        "nav_decidable": SimpleLazyObject(
            lambda: pending_queue(user).filter(can_decide=True).count()
        ),
        "nav_paused_orgs": SimpleLazyObject(
            lambda: list(
                Organization.objects.filter(members__user_id=user.pk, automation_paused=True)
            )
        ),
    }
