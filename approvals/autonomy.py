"""Earned autonomy and the autonomy what-if.

Earned autonomy (DESIGN.md): count approvals per (team, action type) since the last rejection;
after a long streak, *suggest* to the team's admins that the pair run automatically. Accepting
creates an `AutonomyOverride` (mode auto, audited, revocable in admin); dismissing is recorded
and restarts the count. Nothing here ever changes autonomy by itself, and critical actions are
never suggested (an override could not lift their two-person rule anyway).

What-if: before a team's level changes, show how the last 30 days' proposals would have gone
under the new level, from the stored risk levels through the real gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from approvals import notifications
from approvals.choices import ActionStatus, OverrideMode
from approvals.gate import evaluate
from approvals.models import Action, AutonomyOverride, AutonomySuggestion
from audit.services import EventSpec, audit_record_many
from cwa_site.errors import Conflict, Forbidden, NotFound
from policies.choices import RISK_ORDER, RiskLevel
from teams.models import Team
from teams.permissions import ADMINISTER, VIEW, has_team_perm, team_ids_for

# Statuses an action reaches only after it was approved.
APPROVED_STATUSES = (
    ActionStatus.APPROVED,
    ActionStatus.EXECUTING,
    ActionStatus.SUCCEEDED,
    ActionStatus.FAILED,
    ActionStatus.NEEDS_ATTENTION,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.get_fixed_timezone(0))
_RISK_RANK = Case(
    *[When(risk_level=level, then=Value(rank)) for level, rank in RISK_ORDER.items()],
    output_field=IntegerField(),
)
_RANK_RISK = {rank: str(level) for level, rank in RISK_ORDER.items()}


def streak_threshold() -> int:
    return int(getattr(settings, "CWA_AUTONOMY_SUGGESTION_STREAK", 20))


def autonomy_streaks(*, team_ids: Any = None) -> list[dict[str, Any]]:
    """Approvals in a row per (team, action type): one aggregate query.

    A streak counts human approvals decided after the later of the pair's last rejection and its
    last dismissed suggestion. Critical actions and critical action types are left out.
    """
    last_rejection = (
        Action.objects.filter(
            team_id=OuterRef("team_id"),
            action_type_id=OuterRef("action_type_id"),
            status=ActionStatus.REJECTED,
        )
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    last_dismissal = (
        AutonomySuggestion.objects.filter(
            team_id=OuterRef("team_id"),
            action_type_id=OuterRef("action_type_id"),
            status=AutonomySuggestion.Status.DISMISSED,
        )
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    since = Greatest(
        Coalesce(Subquery(last_rejection), Value(_EPOCH), output_field=DateTimeField()),
        Coalesce(Subquery(last_dismissal), Value(_EPOCH), output_field=DateTimeField()),
    )
    qs = Action.objects.filter(
        requires_approval=True,
        decided_at__isnull=False,
        status__in=APPROVED_STATUSES,
    ).exclude(Q(risk_level=RiskLevel.CRITICAL) | Q(action_type__default_risk=RiskLevel.CRITICAL))
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    rows = (
        qs.annotate(since=since)
        .filter(decided_at__gt=F("since"))
        .values("team_id", "action_type_id")
        .annotate(streak=Count("id"), risk_rank=Max(_RISK_RANK))
        .order_by()
    )
    return [
        {
            "team_id": row["team_id"],
            "action_type_id": row["action_type_id"],
            "streak": row["streak"],
            "highest_risk": _RANK_RISK[row["risk_rank"]],
        }
        for row in rows
    ]


def autonomy_suggestions_refresh(*, threshold: int | None = None) -> int:
    """Create open suggestions for pairs whose streak reached the threshold. Safe to run twice:
    an open suggestion per pair is unique, and pairs with an override are skipped."""
    threshold = threshold or streak_threshold()
    candidates = [row for row in autonomy_streaks() if row["streak"] >= threshold]
    if not candidates:
        return 0
    team_ids = {row["team_id"] for row in candidates}
    teams = {team.pk: team for team in Team.objects.filter(pk__in=team_ids)}
    overridden = set(
        AutonomyOverride.objects.filter(team_id__in=team_ids).values_list(
            "team_id", "action_type_id"
        )
    )
    already_open = set(
        AutonomySuggestion.objects.filter(
            team_id__in=team_ids, status=AutonomySuggestion.Status.OPEN
        ).values_list("team_id", "action_type_id")
    )
    created = 0
    for row in candidates:
        pair = (row["team_id"], row["action_type_id"])
        team = teams[row["team_id"]]
        if pair in overridden or pair in already_open:
            continue
        # Only suggest what the team's level would still hold for a person.
        if not evaluate(
            risk=row["highest_risk"], autonomy_level=team.autonomy_level
        ).requires_approval:
            continue
        try:
            with transaction.atomic():
                suggestion = AutonomySuggestion.objects.create(
                    organization_id=team.organization_id,
                    team=team,
                    action_type_id=row["action_type_id"],
                    streak=row["streak"],
                    highest_risk=row["highest_risk"],
                )
                audit_record_many(
                    organization=team.organization_id,
                    events=[
                        EventSpec(
                            verb="autonomy.suggested",
                            actor_label="system",
                            target=suggestion,
                            team=team,
                            data={
                                "action_type_id": str(row["action_type_id"]),
                                "streak": row["streak"],
                                "highest_risk": row["highest_risk"],
                            },
                            was_automatic=True,
                        )
                    ],
                )
                notifications.notify(
                    organization_id=team.organization_id,
                    team_id=team.pk,
                    kind="autonomy.suggested",
                    audience="admins",
                    title=f"{team.name}: {row['streak']} approvals in a row for "
                    f"{suggestion.action_type.name}. Let it run by itself?",
                    body="Accept or dismiss the suggestion in the team's settings.",
                )
        except IntegrityError:
            continue  # another run created it first
        created += 1
    return created


def _locked_suggestion(actor: AbstractBaseUser, suggestion_id: Any) -> AutonomySuggestion:
    try:
        suggestion = (
            AutonomySuggestion.objects.select_for_update(of=("self",))
            .select_related("team", "action_type")
            .get(pk=suggestion_id, team_id__in=team_ids_for(actor, VIEW))
        )
    except (AutonomySuggestion.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound("No such suggestion.")
    if not has_team_perm(actor, ADMINISTER, suggestion.team):
        raise Forbidden(f"Only admins of {suggestion.team.name} can decide autonomy suggestions.")
    if suggestion.status != AutonomySuggestion.Status.OPEN:
        raise Conflict(f"This suggestion was already {suggestion.get_status_display().lower()}.")
    return suggestion


def suggestion_accept(*, actor: AbstractBaseUser, suggestion_id: Any) -> AutonomySuggestion:
    """Accept: the pair runs automatically from now on (an override, revocable in admin)."""
    with transaction.atomic():
        suggestion = _locked_suggestion(actor, suggestion_id)
        if AutonomyOverride.objects.filter(
            team=suggestion.team, action_type=suggestion.action_type
        ).exists():
            raise Conflict("An override for this team and action type already exists.")
        override = AutonomyOverride(
            team=suggestion.team,
            action_type=suggestion.action_type,
            mode=OverrideMode.AUTO,
            reason=f"Earned autonomy: {suggestion.streak} approvals in a row, accepted by "
            f"{actor.get_username()}.",
            created_by=actor,
        )
        override._change_reason = "earned autonomy suggestion accepted"
        override.save()
        suggestion.status = AutonomySuggestion.Status.ACCEPTED
        suggestion.decided_at = timezone.now()
        suggestion.decided_by = actor
        suggestion.override = override
        suggestion.save(update_fields=["status", "decided_at", "decided_by", "override"])
        audit_record_many(
            organization=suggestion.organization_id,
            events=[
                EventSpec(
                    verb="autonomy.suggestion_accepted",
                    actor=actor,
                    target=suggestion,
                    team=suggestion.team,
                    data={"action_type": suggestion.action_type.key, "streak": suggestion.streak},
                ),
                EventSpec(
                    verb="autonomy.override_created",
                    actor=actor,
                    target=override,
                    team=suggestion.team,
                    data={"action_type": suggestion.action_type.key, "mode": OverrideMode.AUTO},
                ),
            ],
        )
    return suggestion


def suggestion_dismiss(*, actor: AbstractBaseUser, suggestion_id: Any) -> AutonomySuggestion:
    """Dismiss: recorded, and the pair's count starts again from zero."""
    with transaction.atomic():
        suggestion = _locked_suggestion(actor, suggestion_id)
        suggestion.status = AutonomySuggestion.Status.DISMISSED
        suggestion.decided_at = timezone.now()
        suggestion.decided_by = actor
        suggestion.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record_many(
            organization=suggestion.organization_id,
            events=[
                EventSpec(
                    verb="autonomy.suggestion_dismissed",
                    actor=actor,
                    target=suggestion,
                    team=suggestion.team,
                    data={"action_type": suggestion.action_type.key, "streak": suggestion.streak},
                )
            ],
        )
    return suggestion


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class WhatIfRow:
    risk: str
    proposals: int
    auto_now: int
    auto_then: int


@dataclass(frozen=True)
class WhatIf:
    days: int
    level: str
    proposals: int
    auto_now: int
    auto_then: int
    by_risk: list[WhatIfRow]

    @property
    def change(self) -> int:
        return self.auto_then - self.auto_now


def autonomy_what_if(*, team: Team, autonomy_level: str, days: int = 30) -> WhatIf:
    """How the last `days` of proposals would have gone under `autonomy_level`, compared with
    the team's current level (pauses left out: the question is about the level). One grouped
    query plus one for the team's overrides."""
    since = timezone.now() - timedelta(days=days)
    groups = (
        Action.objects.filter(team=team, created_at__gte=since)
        .values("risk_level", "action_type_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    overrides = dict(
        AutonomyOverride.objects.filter(team=team).values_list("action_type_id", "mode")
    )
    totals: dict[str, list[int]] = {level: [0, 0, 0] for level in RiskLevel.values}
    for group in groups:
        override = overrides.get(group["action_type_id"])
        now = evaluate(
            risk=group["risk_level"], autonomy_level=team.autonomy_level, override=override
        )
        then = evaluate(risk=group["risk_level"], autonomy_level=autonomy_level, override=override)
        row = totals[group["risk_level"]]
        row[0] += group["n"]
        row[1] += group["n"] if not now.requires_approval else 0
        row[2] += group["n"] if not then.requires_approval else 0
    by_risk = [WhatIfRow(level, *totals[level]) for level in RiskLevel.values]
    return WhatIf(
        days=days,
        level=autonomy_level,
        proposals=sum(r.proposals for r in by_risk),
        auto_now=sum(r.auto_now for r in by_risk),
        auto_then=sum(r.auto_then for r in by_risk),
        by_risk=by_risk,
    )
