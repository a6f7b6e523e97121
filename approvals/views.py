"""The managers' pages: approval queue, action detail, inbox and department dashboard.

Views parse input, call a service or selector and render. Every list is scoped to the user in
the query (approvals.selectors / approvals.filters); a hidden action answers 404 like a missing
one. HTMX requests get the fragment they target (django-template-partials), plain requests the
whole page, so every page works without JavaScript too.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from approvals import metrics, notifications, services
from approvals.choices import DecisionChannel, DecisionKind
from approvals.filters import QueueFilter, pending_queue, row_annotations
from approvals.forms import BulkDecisionForm, DecisionForm, MarkReadForm
from approvals.models import Action, Decision, Notification
from approvals.selectors import action_get_visible
from audit.models import AuditEvent
from cwa_site.errors import ServiceError
from teams.permissions import APPROVE, team_ids_for

LIVE_ROWS_MAX = 100
BULK_LIST_MAX = 100  # per-item results listed after a bulk decision (the rest are counted)


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("approvals:queue")


# --------------------------------------------------------------------------- queue


def _queue_page(request: HttpRequest, params: QueryDict) -> dict[str, Any]:
    """The queue for `params`: filters, one page of rows, group counts. A fixed number of
    queries whatever the number of pending actions."""
    user = request.user
    grouped = params.get("group") == "1"
    queue = QueueFilter(params or None, queryset=pending_queue(user), user=user)
    rows = queue.qs.order_by(*queue.ordering(grouped))
    paginator = Paginator(rows, settings.CWA_QUEUE_PAGE_SIZE)
    page = paginator.get_page(params.get("page"))
    groups: list[dict[str, Any]] = []
    if grouped:
        totals = {
            (row["agent_id"], row["action_type_id"]): row["n"]
            for row in queue.qs.order_by()
            .values("agent_id", "action_type_id")
            .annotate(n=Count("id"))
        }
        for action in page.object_list:
            key = (action.agent_id, action.action_type_id)
            if not groups or groups[-1]["key"] != key:
                groups.append(
                    {
                        "key": key,
                        "dom_key": f"{action.agent_id or '-'}|{action.action_type_id}",
                        "agent": action.agent,
                        "action_type": action.action_type,
                        "total": totals.get(key, 0),
                        "rows": [],
                    }
                )
            groups[-1]["rows"].append(action)
    filter_params = params.copy()
    filter_params.pop("page", None)
    return {
        "filter": queue,
        "filter_selects": [
            queue.form[name]
            for name in ("team", "department", "action_type", "agent", "age", "sort")
        ],
        "page": page,
        "grouped": grouped,
        "groups": groups,
        "filter_query": filter_params.urlencode(),
        "active_filters": queue.active_count(),
        "can_bulk": team_ids_for(user, APPROVE).exists(),
    }


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    context = _queue_page(request, request.GET)
    if _is_fragment(request) and request.htmx.target == "queue-results":
        return render(request, "approvals/queue.html#results", context)
    return render(request, "approvals/queue.html", context)


def _parse_ids(raw: list[str], limit: int) -> list[uuid.UUID]:
    ids = []
    for value in raw[:limit]:
        for part in value.split(","):
            try:
                ids.append(uuid.UUID(part.strip()))
            except ValueError:
                continue
    return ids


@login_required
@require_GET
def live_rows(request: HttpRequest) -> HttpResponse:
    """Rows for the live queue: the page asks for the actions a websocket message named.

    Each visible action comes back as its row; `data-matches` says whether it is pending and
    matches the page's filters (a new one is inserted only then), so a row already on the page
    is updated in place whatever its new status.
    """
    ids = _parse_ids(request.GET.getlist("ids"), LIVE_ROWS_MAX)
    params = request.GET.copy()
    params.pop("ids", None)
    user = request.user
    matching_qs = QueueFilter(params or None, queryset=pending_queue(user), user=user).qs
    matching = set(matching_qs.filter(pk__in=ids).values_list("pk", flat=True))
    rows = list(row_annotations(user).filter(pk__in=ids).order_by("-created_at"))
    return render(
        request,
        "approvals/partials/live_rows.html",
        {
            "rows": rows,
            "fragment": True,
            "matching": matching,
            "total": matching_qs.count(),
            "decidable": pending_queue(user).filter(can_decide=True).count(),
        },
    )


def _row_response(
    request: HttpRequest, action_id: Any, *, flash: str = "", flash_level: str = "success"
) -> HttpResponse:
    action = row_annotations(request.user).filter(pk=action_id).first()
    if action is None:
        raise Http404("No such action.")
    return render(
        request,
        "approvals/queue.html#row",
        {"action": action, "flash": flash, "flash_level": flash_level, "fragment": True},
    )


@login_required
@require_POST
def decide(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    form = DecisionForm(request.POST)
    fallback = _safe_next(request, reverse("approvals:queue"))
    if not form.is_valid():
        if _is_fragment(request):
            return _row_response(
                request, pk, flash="Choose approve or reject.", flash_level="error"
            )
        messages.error(request, "Choose approve or reject.")
        return redirect(fallback)
    try:
        _, outcome = services.action_decide(
            actor=request.user,
            action_id=pk,
            decision=form.cleaned_data["decision"],
            notes=form.cleaned_data["notes"],
            via=DecisionChannel.WEB,
            expected_hash=form.cleaned_data["expected_hash"] or None,
        )
        text, level = outcome.message, "success"
    except ServiceError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message)
        text, level = exc.message, "error"
    if _is_fragment(request):
        return _row_response(request, pk, flash=text, flash_level=level)
    (messages.success if level == "success" else messages.error)(request, text)
    return redirect(fallback)


@login_required
@require_POST
def bulk_decide(request: HttpRequest) -> HttpResponse:
    """Decide many actions in one request (the service is set-based: constant queries)."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        if _is_fragment(request):
            return render(request, "approvals/partials/bulk_result.html", {"bulk_error": error})
        messages.error(request, error)
        return redirect("approvals:queue")
    data = form.cleaned_data
    limit = settings.CWA_BULK_DECISION_MAX
    if data["all_matching"]:
        params = QueryDict(data["filter_query"])
        matching = QueueFilter(
            params or None, queryset=pending_queue(request.user), user=request.user
        )
        ids = list(matching.qs.filter(can_decide=True).values_list("pk", flat=True)[:limit])
    else:
        ids = data["ids"][:limit]
    outcomes = services.actions_decide(
        actor=request.user,
        ids=ids,
        decision=data["decision"],
        notes=data["notes"],
        via=DecisionChannel.BULK,
    )
    done = [o for o in outcomes if o.ok]
    skipped = [o for o in outcomes if not o.ok]
    verb = "approved" if data["decision"] == DecisionKind.APPROVE else "rejected"
    summary = f"{len(done)} {verb}" + (f", {len(skipped)} skipped" if skipped else "")
    if _is_fragment(request):
        # The selected rows come back updated in place (out of band). After "all matching"
        # the page refreshes the rows it shows itself; the decided ones may be anywhere.
        rows = []
        if not data["all_matching"]:
            decided_ids = [o.id for o in outcomes if o.result != "not_found"]
            rows = list(row_annotations(request.user).filter(pk__in=decided_ids[:LIVE_ROWS_MAX]))
        return render(
            request,
            "approvals/partials/bulk_result.html",
            {
                "summary": summary,
                "decided": done[:BULK_LIST_MAX],
                "decided_more": max(0, len(done) - BULK_LIST_MAX),
                "skipped": skipped[:BULK_LIST_MAX],
                "skipped_more": max(0, len(skipped) - BULK_LIST_MAX),
                "rows": rows,
                "fragment": True,
            },
        )
    messages.success(request, summary + ".")
    for outcome in skipped[:10]:
        messages.warning(request, outcome.message)
    return redirect(reverse("approvals:queue") + "?" + data["filter_query"])


@login_required
@require_GET
def preview(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The expanded row: full preview, diff, work item, policy and similar past decisions."""
    action = action_get_visible(request.user, pk)
    if action is None:
        raise Http404("No such action.")
    if not _is_fragment(request):
        return redirect("approvals:detail", pk=pk)
    return render(request, "approvals/partials/preview.html", _preview_context(action))


def _preview_context(action: Action) -> dict[str, Any]:
    latest_revision = (
        action.revisions.filter(revision=action.revision).only("diff", "edited_by").first()
        if action.revision > 1
        else None
    )
    similar = list(
        Decision.objects.filter(
            action__team_id=action.team_id, action__action_type_id=action.action_type_id
        )
        .exclude(action_id=action.pk)
        .select_related("user", "action")
        .order_by("-created_at")[:5]
    )
    tally = Decision.objects.filter(
        action__team_id=action.team_id, action__action_type_id=action.action_type_id
    ).aggregate(
        approved=Count("id", filter=Q(decision=DecisionKind.APPROVE)),
        rejected=Count("id", filter=Q(decision=DecisionKind.REJECT)),
    )
    return {
        "action": action,
        "revision": latest_revision,
        "similar": similar,
        "tally": tally,
        "policy": action.policy,
    }


# --------------------------------------------------------------------------- detail


@login_required
@require_GET
def detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    action = row_annotations(request.user).filter(pk=pk).first()
    if action is None:
        raise Http404("No such action.")
    events = list(
        AuditEvent.objects.filter(target_type="approvals.action", target_id=str(action.pk))
        .select_related("actor")
        .order_by("seq")
    )
    context = {
        **_preview_context(action),
        "events": events,
        "decisions": list(action.decisions.select_related("user").order_by("created_at")),
        "executions": list(action.executions.order_by("attempt")),
        "revisions": list(action.revisions.select_related("edited_by").order_by("revision")),
    }
    if _is_fragment(request) and request.htmx.target == "action-live":
        return render(request, "approvals/detail.html#live", context)
    # Opening an action reads its notifications, as in any inbox.
    notifications.notifications_mark_read(user=request.user, action_id=action.pk)
    return render(request, "approvals/detail.html", context)


# --------------------------------------------------------------------------- inbox


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    only_unread = request.GET.get("unread") == "1"
    items = Notification.objects.filter(user_id=request.user.pk).select_related("team", "action")
    if only_unread:
        items = items.filter(read_at__isnull=True)
    page = Paginator(items.order_by("-created_at"), 30).get_page(request.GET.get("page"))
    context = {"page": page, "only_unread": only_unread}
    if _is_fragment(request) and request.htmx.target == "inbox-list":
        return render(request, "approvals/inbox.html#list", context)
    return render(request, "approvals/inbox.html", context)


@login_required
@require_POST
def inbox_read(request: HttpRequest) -> HttpResponse:
    form = MarkReadForm(request.POST)
    changed = 0
    if form.is_valid():
        changed = notifications.notifications_mark_read(
            user=request.user, ids=form.cleaned_data["ids"], everything=form.cleaned_data["all"]
        )
    target = _safe_next(request, reverse("approvals:inbox"))
    if _is_fragment(request):
        response = HttpResponse(status=204)
        response["HX-Location"] = target
        return response
    if changed:
        messages.success(request, f"Marked {changed} notification(s) read.")
    return redirect(target)


# --------------------------------------------------------------------------- dashboard


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period", "7d")
    if period not in metrics.PERIODS:
        period = "7d"
    days = metrics.PERIODS[period]
    data = metrics.dashboard_metrics(user=request.user, days=days)
    trend = metrics.daily_trend(user=request.user)
    context = {
        "period": period,
        "periods": metrics.PERIODS,
        "data": data,
        "multi_org": len({d["organization_id"] for d in data["departments"]}) > 1,
        "chart": _trend_chart(trend),
        "recent_auto": metrics.recent_autonomous_actions(user=request.user),
        "paused_orgs": metrics.organizations_paused(user=request.user),
        "breakers": metrics.open_circuit_breakers(user=request.user),
    }
    return render(request, "approvals/dashboard.html", context)


def _trend_chart(trend: list[dict[str, Any]]) -> dict[str, Any]:
    """Coordinates for the server-drawn SVG: stacked bars (ran by itself / held for a person)
    and a line of failed executions, on a 30-day axis."""
    width, height, pad_left, pad_right, pad_bottom, pad_top = 720, 220, 36, 20, 24, 12
    plot_h = height - pad_bottom - pad_top
    peak = max([d["auto"] + d["held"] for d in trend] + [d["failed"] for d in trend] + [1])
    step = _nice_step(peak)
    top = step * -(-peak // step)
    slot = (width - pad_left - pad_right) / max(len(trend), 1)
    bar = max(slot * 0.64, 2)

    def y(value: float) -> float:
        return round(pad_top + plot_h - plot_h * value / top, 1)

    bars, points = [], []
    for i, d in enumerate(trend):
        x = round(pad_left + i * slot + (slot - bar) / 2, 1)
        held_top, auto_top = y(d["held"]), y(d["held"] + d["auto"])
        bars.append(
            {
                **d,
                "x": x,
                "w": round(bar, 1),
                "held_y": held_top,
                "held_h": round(y(0) - held_top, 1),
                "auto_y": auto_top,
                "auto_h": round(held_top - auto_top, 1),
                "label": i % 5 == 4 or i == len(trend) - 1,
                "cx": round(x + bar / 2, 1),
            }
        )
        points.append(f"{round(x + bar / 2, 1)},{y(d['failed'])}")
    ticks = [{"value": v, "y": y(v)} for v in range(0, top + 1, step)]
    return {
        "width": width,
        "height": height,
        "pad_left": pad_left,
        "right": width - pad_right,
        "baseline": y(0),
        "bars": bars,
        "failed_points": " ".join(points),
        "ticks": ticks,
        "total_auto": sum(d["auto"] for d in trend),
        "total_held": sum(d["held"] for d in trend),
        "total_failed": sum(d["failed"] for d in trend),
    }


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if peak / step <= 5:
            return step
    return 10 ** len(str(peak))
