"""The work item pages: a filtered list, and one item's story (the deliveries that shaped it,
the policy evaluations it caused, the actions proposed for it).

Read-only: work items mirror their source and change only through deliveries. Every read goes
through workitems.selectors, so a hidden item answers 404 exactly like a missing one. The list's
filter form targets its results with HTMX; plain requests get the whole page, so it works
without JavaScript too.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from approvals.choices import FINAL_STATUSES
from approvals.models import Action
from approvals.selectors import action_visibility
from teams.models import Team
from teams.permissions import VIEW, teams_for
from workitems.choices import Source, WorkItemStatus
from workitems.models import WorkItem
from workitems.selectors import work_item_get_visible, work_item_list, work_item_timeline

PAGE_SIZE = 50
TIMELINE_LIMIT = 200


class WorkItemFilterForm(forms.Form):
    """The list's filters. Team choices are the teams the user may view; an unknown value is
    ignored (the filter is simply not applied) rather than answered with an error."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(
        required=False, label="Status", choices=[("", "Any status"), *WorkItemStatus.choices]
    )
    source = forms.ChoiceField(
        required=False, label="Source", choices=[("", "Any source"), *Source.choices]
    )
    team = forms.ModelChoiceField(
        required=False, label="Team", queryset=Team.objects.none(), empty_label="All teams"
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_for(user, VIEW).order_by("department", "name")

    def values(self) -> dict[str, Any]:
        """The valid filters (an invalid one is dropped, the others still apply)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


def _with_open_actions(items: QuerySet[WorkItem], user: Any) -> QuerySet[WorkItem]:
    """Annotate each item with its unfinished actions the user may see (a subquery: no join,
    no extra query per row)."""
    unfinished = (
        Action.objects.filter(action_visibility(user), work_item_id=OuterRef("pk"))
        .exclude(status__in=FINAL_STATUSES)
        .order_by()
        .values("work_item_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return items.annotate(open_actions=Coalesce(Subquery(unfinished), Value(0)))


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@login_required
@require_GET
def work_item_index(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = WorkItemFilterForm(request.GET or None, user=user)
    chosen = form.values()
    items = work_item_list(
        user,
        status=chosen.get("status"),
        source=chosen.get("source"),
        team=chosen["team"].pk if chosen.get("team") else None,
        search=(chosen.get("q") or "").strip() or None,
    )
    page = Paginator(_with_open_actions(items, user), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "active_filters": len(chosen),
    }
    if _is_fragment(request) and request.htmx.target == "workitem-results":
        return render(request, "workitems/index.html#results", context)
    return render(request, "workitems/index.html", context)


@login_required
@require_GET
def work_item_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    item = work_item_get_visible(request.user, pk)
    if item is None:
        raise Http404("No such work item.")
    timeline = work_item_timeline(request.user, item, limit=TIMELINE_LIMIT)
    context = {
        "item": item,
        "timeline": timeline,
        "timeline_full": len(timeline) >= TIMELINE_LIMIT,
        "open_actions": [
            e.obj for e in timeline if e.kind == "action" and e.obj.status not in FINAL_STATUSES
        ],
        "stalled_after_days": settings.CWA_STALLED_AFTER_DAYS,
        "now": timezone.now(),
    }
    return render(request, "workitems/detail.html", context)
