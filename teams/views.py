"""Team settings: autonomy level (with a what-if), pause/resume, the organization's kill switch
and earned-autonomy suggestions. Every change is a confirmation page that says what will change,
then a POST to the audited service (teams.services, approvals.autonomy)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from approvals.autonomy import (
    autonomy_streaks,
    autonomy_what_if,
    streak_threshold,
    suggestion_accept,
    suggestion_dismiss,
)
from approvals.choices import ActionStatus
from approvals.gate import evaluate
from approvals.models import Action, AutonomyOverride, AutonomySuggestion
from cwa_site.errors import ServiceError
from policies.choices import RiskLevel
from policies.models import ActionType
from teams import services
from teams.choices import AutonomyLevel, TeamStatus
from teams.models import Membership, Organization, Team, TeamUserObjectPermission
from teams.permissions import (
    ADMINISTER,
    VIEW,
    admin_organization_ids,
    has_team_perm,
    is_org_admin,
    team_ids_for,
)
from teams.selectors import team_get_visible

LEVEL_HELP = {
    AutonomyLevel.SUPERVISED: "Every action waits for a person.",
    AutonomyLevel.SEMI_AUTONOMOUS: "Low-risk actions run by themselves; the rest wait.",
    AutonomyLevel.AUTONOMOUS: "Everything but critical actions runs by itself.",
}


def _visible_team(user: Any, pk: uuid.UUID) -> Team:
    team = team_get_visible(user, pk)
    if team is None:
        raise Http404("Team not found.")
    return team


def _gate_rows(team: Team, level: str | None = None) -> list[dict[str, Any]]:
    """The default matrix for the team's level (and another level, to compare)."""
    rows = []
    for risk in RiskLevel.values:
        now = evaluate(risk=risk, autonomy_level=team.autonomy_level)
        then = evaluate(risk=risk, autonomy_level=level) if level else None
        rows.append(
            {
                "risk": risk,
                "now": now.required_approvals,
                "then": then.required_approvals if then else None,
                "changed": then is not None and then.required_approvals != now.required_approvals,
            }
        )
    return rows


def _count(rows: QuerySet) -> Coalesce:
    """A per-team count of `rows` as a subquery annotation."""
    counted = (
        rows.filter(team_id=OuterRef("pk")).order_by().values("team_id").annotate(n=Count("pk"))
    )
    return Coalesce(Subquery(counted.values("n")), Value(0))


def _waiting_to_run(team_ids: Any) -> int:
    return Action.objects.filter(team_id__in=team_ids, status=ActionStatus.APPROVED).count()


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    administers = TeamUserObjectPermission.objects.filter(
        user_id=user.pk, content_object_id=OuterRef("pk"), permission__codename=ADMINISTER
    )
    teams = list(
        Team.objects.filter(id__in=team_ids_for(user, VIEW))
        .select_related("organization")
        .annotate(
            can_administer=Exists(administers),
            # Counted in subqueries: joining both relations would multiply one by the other.
            pending=_count(Action.objects.filter(status=ActionStatus.PENDING)),
            open_suggestions=_count(
                AutonomySuggestion.objects.filter(status=AutonomySuggestion.Status.OPEN)
            ),
        )
        .order_by("organization__name", "department", "name")
    )
    admin_orgs = list(
        Organization.objects.filter(id__in=admin_organization_ids(user)).order_by("name")
    )
    return render(
        request,
        "teams/index.html",
        {"teams": teams, "admin_orgs": admin_orgs, "level_help": LEVEL_HELP},
    )


@login_required
def detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    team = _visible_team(request.user, pk)
    can_administer = has_team_perm(request.user, ADMINISTER, team)
    streaks = sorted(
        (s for s in autonomy_streaks(team_ids=[team.pk]) if s["streak"] > 0),
        key=lambda s: -s["streak"],
    )[:8]
    type_names = dict(
        ActionType.objects.filter(pk__in=[s["action_type_id"] for s in streaks]).values_list(
            "pk", "name"
        )
    )
    for row in streaks:
        row["name"] = type_names.get(row["action_type_id"], "?")
    suggestions = list(
        AutonomySuggestion.objects.filter(team=team)
        .select_related("action_type", "decided_by")
        .order_by("-created_at")[:20]
    )
    context = {
        "team": team,
        "can_administer": can_administer,
        "is_org_admin": is_org_admin(request.user, team.organization),
        "levels": [(value, label, LEVEL_HELP[value]) for value, label in AutonomyLevel.choices],
        "gate_rows": _gate_rows(team),
        "open_suggestions": [s for s in suggestions if s.status == AutonomySuggestion.Status.OPEN],
        "past_suggestions": [s for s in suggestions if s.status != AutonomySuggestion.Status.OPEN],
        "overrides": list(
            AutonomyOverride.objects.filter(team=team)
            .select_related("action_type", "created_by")
            .order_by("action_type__name")
        ),
        "streaks": streaks,
        "threshold": streak_threshold(),
        "members": list(
            Membership.objects.filter(team=team).select_related("user").order_by("role", "user")
        ),
        "pending": Action.objects.filter(team=team, status=ActionStatus.PENDING).count(),
        "waiting": _waiting_to_run([team.pk]),
    }
    return render(request, "teams/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def autonomy(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET: what changing the level means, with the last 30 days replayed. POST: change it."""
    team = _visible_team(request.user, pk)
    level = (request.POST if request.method == "POST" else request.GET).get("autonomy_level", "")
    if level not in AutonomyLevel.values:
        messages.error(request, "Choose an autonomy level.")
        return redirect("teams:detail", pk=team.pk)
    if not has_team_perm(request.user, ADMINISTER, team):
        return _forbidden(request, f"Only admins of {team.name} can change its autonomy level.")
    if request.method == "POST":
        try:
            services.team_set_autonomy(
                actor=request.user,
                team=team,
                autonomy_level=level,
                reason=request.POST.get("reason", "")[:500],
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{team.name} is now {AutonomyLevel(level).label.lower()}.")
        return redirect("teams:detail", pk=team.pk)
    context = {
        "team": team,
        "level": level,
        "level_label": AutonomyLevel(level).label,
        "level_help": LEVEL_HELP[level],
        "gate_rows": _gate_rows(team, level),
        "what_if": autonomy_what_if(team=team, autonomy_level=level),
        "overrides": AutonomyOverride.objects.filter(team=team).count(),
    }
    return render(request, "teams/confirm_autonomy.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def status(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET: what pausing or resuming does to this team. POST: do it."""
    team = _visible_team(request.user, pk)
    wanted = (request.POST if request.method == "POST" else request.GET).get("status", "")
    if wanted not in TeamStatus.values:
        messages.error(request, "Choose pause or resume.")
        return redirect("teams:detail", pk=team.pk)
    if not has_team_perm(request.user, ADMINISTER, team):
        return _forbidden(request, f"Only admins of {team.name} can pause or resume it.")
    if request.method == "POST":
        try:
            services.team_set_status(
                actor=request.user,
                team=team,
                status=wanted,
                reason=request.POST.get("reason", "")[:500],
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            word = "paused" if wanted == TeamStatus.PAUSED else "resumed"
            messages.success(request, f"{team.name} is {word}.")
        return redirect("teams:detail", pk=team.pk)
    context = {
        "team": team,
        "wanted": wanted,
        "pausing": wanted == TeamStatus.PAUSED,
        "waiting": _waiting_to_run([team.pk]),
        "pending": Action.objects.filter(team=team, status=ActionStatus.PENDING).count(),
        "org_paused": team.organization.automation_paused,
    }
    return render(request, "teams/confirm_status.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def kill_switch(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The organization's kill switch, for org admins: GET explains, POST flips it."""
    org = Organization.objects.filter(pk=pk, members__user_id=request.user.pk).first()
    if org is None:
        raise Http404("Organization not found.")
    if not is_org_admin(request.user, org):
        return _forbidden(request, "Only organization admins can use the kill switch.")
    source = request.POST if request.method == "POST" else request.GET
    paused = source.get("paused") == "1"
    if request.method == "POST":
        try:
            services.organization_set_kill_switch(
                actor=request.user,
                organization=org,
                paused=paused,
                reason=source.get("reason", "")[:500],
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Automation for {org.name} is {'stopped' if paused else 'running again'}.",
            )
        return redirect("teams:index")
    team_ids = org.teams.values("pk")
    context = {
        "org": org,
        "paused": paused,
        "teams": org.teams.count(),
        "waiting": _waiting_to_run(team_ids),
        "pending": Action.objects.filter(team_id__in=team_ids, status=ActionStatus.PENDING).count(),
    }
    return render(request, "teams/confirm_kill_switch.html", context)


@login_required
@require_POST
def suggestion(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Accept or dismiss an earned-autonomy suggestion, in one click."""
    choice = request.POST.get("decision")
    service = {"accept": suggestion_accept, "dismiss": suggestion_dismiss}.get(choice or "")
    if service is None:
        messages.error(request, "Choose accept or dismiss.")
        return redirect(request.POST.get("next") or reverse("teams:index"))
    try:
        done = service(actor=request.user, suggestion_id=pk)
    except ServiceError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message)
        messages.error(request, exc.message)
        return redirect("teams:index")
    if choice == "accept":
        messages.success(
            request,
            f"{done.action_type.name} now runs by itself in {done.team.name} "
            "(an override you can revoke in admin).",
        )
    else:
        messages.info(request, f"Dismissed. The count for {done.action_type.name} starts again.")
    return redirect("teams:detail", pk=done.team_id)


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)
