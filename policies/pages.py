"""The policy pages: every visible policy with its precision (how often people reject what it
proposes, so noisy rules are found), and one policy's condition, template and recent results.

Read-only: policies are edited in Django admin, where conditions are compiled and checked on
save. Reads go through policies.selectors; a hidden policy answers 404 like a missing one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from approvals.choices import ActionStatus
from approvals.models import Action
from approvals.selectors import actions_visible_to
from policies.choices import EvaluationOutcome, RiskLevel, Trigger, highest_risk
from policies.models import Policy, PolicyEvaluation
from policies.selectors import policy_precision
from teams.permissions import is_org_admin
from workitems.selectors import work_items_visible_to

PAGE_SIZE = 50
# A policy is "noisy" when people reject at least this share of its proposals, once it has
# proposed enough for the share to mean something.
NOISY_PERCENT = 30
NOISY_MIN_PROPOSALS = 5
ERROR_WINDOW = timedelta(days=7)
RECENT_EVALUATIONS = 50
RECENT_ACTIONS = 20

SORTS = {
    "noisy": ("Noisiest first", (F("rate").desc(nulls_last=True), "-proposed", "name")),
    "proposed": ("Most proposals", ("-proposed", "name")),
    "name": ("Name", ("name",)),
}
# Statuses of an action that was approved, by a person or by the gate.
WENT_AHEAD = (
    ActionStatus.APPROVED,
    ActionStatus.EXECUTING,
    ActionStatus.SUCCEEDED,
    ActionStatus.FAILED,
    ActionStatus.NEEDS_ATTENTION,
)
TRIGGER_SHORT = {
    Trigger.CREATED: "On create",
    Trigger.UPDATED: "On update",
    Trigger.SCHEDULED: "Scheduled",
}


def _with_precision(user: Any, *, since: Any) -> QuerySet[Policy]:
    """policy_precision plus the rejection rate, the noisy flag and the evaluation errors since
    `since`. Rate and flag are computed in the query so the list sorts on them; the noisy test
    is in integers (rejected × 100 ≥ percent × proposed), so 30 % is exactly 30 %. Errors are
    counted in a subquery: a join would multiply the action counts."""
    errors = (
        PolicyEvaluation.objects.filter(
            policy_id=OuterRef("pk"), outcome=EvaluationOutcome.ERROR, created_at__gte=since
        )
        .order_by()
        .values("policy_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        policy_precision(user)
        .annotate(rejected_x100=F("rejected") * 100, proposed_x_noisy=F("proposed") * NOISY_PERCENT)
        .annotate(
            rate=Cast(F("rejected"), FloatField()) / NullIf(Cast(F("proposed"), FloatField()), 0.0),
            noisy=Case(
                When(
                    proposed__gte=NOISY_MIN_PROPOSALS,
                    rejected_x100__gte=F("proposed_x_noisy"),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            ),
            recent_errors=Coalesce(Subquery(errors), Value(0)),
        )
    )


def _decorate(policy: Policy) -> Policy:
    """What the templates show beside the stored fields (no queries)."""
    policy.effective_risk = highest_risk(policy.action_type.default_risk, policy.risk)
    policy.effective_risk_label = RiskLevel(policy.effective_risk).label
    policy.trigger_short = TRIGGER_SHORT.get(policy.trigger, policy.get_trigger_display())
    return policy


@login_required
@require_GET
def policy_index(request: HttpRequest) -> HttpResponse:
    user = request.user
    sort = request.GET.get("sort", "noisy")
    if sort not in SORTS:
        sort = "noisy"
    now = timezone.now()
    policies = _with_precision(user, since=now - ERROR_WINDOW)
    page = Paginator(policies.order_by(*SORTS[sort][1]), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for policy in page.object_list:
        _decorate(policy)
    context = {
        "page": page,
        "sort": sort,
        "sorts": {key: label for key, (label, _) in SORTS.items()},
        "noisy_count": policies.filter(noisy=True).count(),
        "noisy_percent": NOISY_PERCENT,
        "noisy_min": NOISY_MIN_PROPOSALS,
        "error_days": ERROR_WINDOW.days,
    }
    return render(request, "policies/index.html", context)


@login_required
@require_GET
def policy_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = request.user
    now = timezone.now()
    policy = _with_precision(user, since=now - ERROR_WINDOW).filter(pk=pk).first()
    if policy is None:
        raise Http404("No such policy.")
    _decorate(policy)
    went_ahead = Q(status__in=WENT_AHEAD)
    outcomes = Action.objects.filter(policy=policy).aggregate(
        pending=Count("pk", filter=Q(status=ActionStatus.PENDING)),
        by_person=Count("pk", filter=went_ahead & Q(auto_approved=False)),
        auto=Count("pk", filter=went_ahead & Q(auto_approved=True)),
        lapsed=Count("pk", filter=Q(status__in=(ActionStatus.EXPIRED, ActionStatus.CANCELLED))),
    )
    errors_only = request.GET.get("errors") == "1"
    # Evaluations of work items the user may not see are left out (an organization-wide
    # policy looks at every team's work).
    evaluations = (
        PolicyEvaluation.objects.filter(policy=policy)
        .filter(
            Q(work_item__isnull=True) | Q(work_item__in=work_items_visible_to(user).values("pk"))
        )
        .select_related("work_item", "action")
        .order_by("-created_at")
    )
    if errors_only:
        evaluations = evaluations.filter(outcome=EvaluationOutcome.ERROR)
    actions = actions_visible_to(user).filter(policy=policy).order_by("-created_at")
    recent = list(evaluations[:RECENT_EVALUATIONS])
    for evaluation in recent:
        evaluation.trigger_short = TRIGGER_SHORT.get(evaluation.trigger, evaluation.trigger)
    context = {
        "policy": policy,
        "outcomes": outcomes,
        "evaluations": recent,
        "errors_only": errors_only,
        "actions": list(actions[:RECENT_ACTIONS]),
        "can_edit": user.is_staff and is_org_admin(user, policy.organization),
        "admin_url": reverse("admin:policies_policy_change", args=[policy.pk]),
        "noisy_percent": NOISY_PERCENT,
        "noisy_min": NOISY_MIN_PROPOSALS,
        "error_days": ERROR_WINDOW.days,
        "recent_evaluations": RECENT_EVALUATIONS,
        "recent_actions": RECENT_ACTIONS,
    }
    return render(request, "policies/detail.html", context)
