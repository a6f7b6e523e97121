"""The policy engine: which policies match which work items, and proposing what they say.

It runs in the task workers: on ingest (`created` / `updated` policies for the items that
changed) and on the schedule (`scheduled` policies over all open work). For each match it
renders the policy's payload template, lets the action type's content field be drafted, and
proposes through `approvals.services.action_propose` as the system, so the gate applies exactly
as for anyone else. One (policy, work item) proposes at most once per cooldown window: the
window is part of the action's idempotency key and of a unique evaluation row, so concurrent
engines agree. A condition, template or proposal that fails is recorded as an audited
evaluation error for that policy (at most once per cooldown window) and the engine goes on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import compress
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django_q.tasks import async_task

from approvals.models import Action
from approvals.services import action_propose
from audit.services import EventSpec, audit_record_many
from cwa_site.errors import Conflict, ServiceError
from policies.choices import EvaluationOutcome, Trigger
from policies.conditions import Condition, ConditionError, Matcher, compile_condition, item_facts
from policies.drafting import draft_text
from policies.models import Policy, PolicyEvaluation
from policies.rendering import TemplateError, get_path, render_payload, set_path
from workitems.choices import WorkItemStatus
from workitems.models import WorkItem

log = logging.getLogger(__name__)
BATCH = 2000
PROPOSE = "policies.tasks.propose_queued"


@dataclass
class Report:
    items: int = 0
    evaluated: int = 0
    matched: int = 0
    proposed: int = 0
    queued: int = 0  # handed to a task of its own because its content is drafted
    skipped: int = 0  # matched, but already proposed in this cooldown window
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Failure:
    policy: Policy
    item: WorkItem | None
    message: str


@dataclass
class Compiled:
    policies: list[Policy]
    conditions: list[Condition]
    failures: list[Failure]

    @property
    def needs_description(self) -> bool:
        return any("description" in c.fields for c in self.conditions)


def compile_policies(policies: Iterable[Policy]) -> Compiled:
    compiled = Compiled([], [], [])
    for policy in policies:
        try:
            condition = compile_condition(policy.condition)
        except ConditionError as exc:
            compiled.failures.append(
                Failure(policy, None, f"the condition does not compile: {exc.message}")
            )
            continue
        compiled.policies.append(policy)
        compiled.conditions.append(condition)
    return compiled


def match(
    compiled: Compiled, items: Iterable[WorkItem], matcher: Matcher, report: Report
) -> tuple[list[tuple[Policy, WorkItem]], list[Failure]]:
    """The (policy, item) pairs whose condition holds, and the conditions that failed."""
    items = list(items)
    now = matcher.now
    description = compiled.needs_description
    facts = [item_facts(item, now, description=description) for item in items]
    report.items += len(items)
    matches: list[tuple[Policy, WorkItem]] = []
    failures: list[Failure] = []
    for index, policy in enumerate(compiled.policies):
        scope = items
        scope_facts = facts
        if policy.team_id is not None:
            keep = [i for i, item in enumerate(items) if item.team_id == policy.team_id]
            scope = [items[i] for i in keep]
            scope_facts = [facts[i] for i in keep]
        report.evaluated += len(scope)
        outcomes = matcher.run(index, scope_facts)
        if not matcher.failed:  # all bools: select at C speed
            matches.extend((policy, item) for item in compress(scope, outcomes))
            continue
        for item, outcome in zip(scope, outcomes, strict=True):
            if outcome is True:
                matches.append((policy, item))
            elif outcome is not False:
                failures.append(Failure(policy, item, f"the condition failed: {outcome.message}"))
    report.matched += len(matches)
    return matches, failures


def enabled_policies(organization_id: Any, trigger: str) -> list[Policy]:
    return list(
        Policy.objects.filter(organization_id=organization_id, trigger=trigger, enabled=True)
        .select_related("action_type", "team")
        .order_by("name")
    )


def _items(organization_id: Any, compiled: Compiled) -> Any:
    deferred = ("raw",) if compiled.needs_description else ("raw", "description")
    return (
        WorkItem.objects.filter(organization_id=organization_id)
        .select_related("team")
        .defer(*deferred)
    )


def evaluate_items(
    *, organization_id: Any, item_ids: list[Any], trigger: str, now: datetime | None = None
) -> Report:
    """Run the `trigger` policies of an organization on these work items."""
    now = now or timezone.now()
    report = Report()
    compiled = compile_policies(enabled_policies(organization_id, trigger))
    if not compiled.policies and not compiled.failures:
        return report
    matcher = Matcher(compiled.conditions, now)
    items = _items(organization_id, compiled).filter(pk__in=item_ids)
    matches, failures = match(compiled, items, matcher, report)
    _act(matches, compiled.failures + failures, trigger, now, report)
    return report


def evaluate_scheduled(*, now: datetime | None = None, organization_id: Any = None) -> Report:
    """Run every organization's `scheduled` policies over its open work, in batches."""
    now = now or timezone.now()
    report = Report()
    orgs = Policy.objects.filter(trigger=Trigger.SCHEDULED, enabled=True)
    if organization_id is not None:
        orgs = orgs.filter(organization_id=organization_id)
    # order_by(): Policy's default ordering would make DISTINCT return one row per policy.
    for org_id in orgs.order_by().values_list("organization_id", flat=True).distinct():
        compiled = compile_policies(enabled_policies(org_id, Trigger.SCHEDULED))
        matcher = Matcher(compiled.conditions, now)
        open_items = _items(org_id, compiled).exclude(status=WorkItemStatus.DONE).order_by("pk")
        failures = list(compiled.failures)
        last_pk = None
        while compiled.policies:
            page = open_items if last_pk is None else open_items.filter(pk__gt=last_pk)
            batch = list(page[:BATCH])
            if not batch:
                break
            last_pk = batch[-1].pk
            matches, batch_failures = match(compiled, batch, matcher, report)
            _act(matches, failures + batch_failures, Trigger.SCHEDULED, now, report)
            failures = []
        if failures:
            _act([], failures, Trigger.SCHEDULED, now, report)
    return report


# --------------------------------------------------------------------------- acting on matches


def _last_evaluations(pairs: set[tuple[Any, Any]]) -> dict[tuple[Any, Any, str], datetime]:
    """When each (policy, item) last proposed and last failed: the cooldown anchors."""
    if not pairs:
        return {}
    policy_ids = {p for p, _ in pairs}
    item_ids = {i for _, i in pairs if i is not None}
    rows = (
        PolicyEvaluation.objects.filter(policy_id__in=policy_ids)
        .filter(Q(work_item_id__in=item_ids) | Q(work_item__isnull=True))
        .values("policy_id", "work_item_id", "outcome")
        .annotate(last=Max("created_at"))
    )
    return {(r["policy_id"], r["work_item_id"], r["outcome"]): r["last"] for r in rows}


def _cooling(last: dict, policy: Policy, item_id: Any, outcome: str, now: datetime) -> Any:
    """(still in cooldown?, the previous time) for this pair and outcome."""
    previous = last.get((policy.pk, item_id, outcome))
    return previous is not None and now < previous + timedelta(
        seconds=policy.cooldown_seconds
    ), previous


def _act(
    matches: list[tuple[Policy, WorkItem]],
    failures: list[Failure],
    trigger: str,
    now: datetime,
    report: Report,
) -> None:
    last = _last_evaluations(
        {(p.pk, i.pk) for p, i in matches}
        | {(f.policy.pk, f.item.pk if f.item else None) for f in failures}
    )
    for policy, item in matches:
        cooling, previous = _cooling(last, policy, item.pk, EvaluationOutcome.PROPOSED, now)
        if cooling:
            report.skipped += 1
            continue
        window = previous.isoformat() if previous else "first"
        if policy.action_type.draft_field and settings.ANTHROPIC_API_KEY:
            # A draft takes seconds: one task per proposal keeps the scan short, and the
            # window key keeps a second scan's task from proposing again.
            async_task(
                PROPOSE,
                str(policy.pk),
                str(item.pk),
                window,
                trigger,
                now.isoformat(),
                task_name=f"policy {policy.pk} → {item.external_id}"[:100],
            )
            report.queued += 1
            continue
        try:
            outcome = _propose(policy, item, window, trigger, now)
        except Exception as exc:
            # The engine's boundary: one policy's unexpected failure is recorded for that
            # policy and never stops the others.
            log.exception("policy %s on work item %s failed", policy.pk, item.pk)
            outcome = Failure(policy, item, f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Failure):
            failures.append(outcome)
        elif outcome:
            report.proposed += 1
        else:
            report.skipped += 1
    report.errors += len(failures)
    fresh, seen = [], set()
    for failure in failures:
        item_id = failure.item.pk if failure.item else None
        key = (failure.policy.pk, item_id)
        if key in seen or _cooling(last, failure.policy, item_id, EvaluationOutcome.ERROR, now)[0]:
            continue
        seen.add(key)
        fresh.append(failure)
    _record_failures(fresh, trigger, now)


def propose_queued(
    *, policy_id: Any, item_id: Any, window: str, trigger: str, now: datetime
) -> str:
    """A queued proposal (see `_act`): re-read, re-check the condition, propose once."""
    policy = (
        Policy.objects.select_related("action_type", "team")
        .filter(pk=policy_id, enabled=True)
        .first()
    )
    item = WorkItem.objects.select_related("team").filter(pk=item_id).first()
    if policy is None or item is None:
        return "gone"
    report = Report()
    try:
        condition = compile_condition(policy.condition)
    except ConditionError as exc:
        outcome: bool | Failure = Failure(
            policy, item, f"the condition does not compile: {exc.message}"
        )
    else:
        still = Matcher([condition], now).check(0, item_facts(item, now, description=True))
        if still is not True:
            return "no longer matches"
        try:
            outcome = _propose(policy, item, window, trigger, now)
        except Exception as exc:
            log.exception("policy %s on work item %s failed", policy.pk, item.pk)
            outcome = Failure(policy, item, f"{type(exc).__name__}: {exc}")
    if isinstance(outcome, Failure):
        _act([], [outcome], trigger, now, report)
        return "error"
    return "proposed" if outcome else "already proposed"


def _propose(
    policy: Policy, item: WorkItem, window: str, trigger: str, now: datetime
) -> bool | Failure:
    """Propose the policy's action for the item; False if this window already has one."""
    key = f"cwa-policy:{policy.pk}:{item.pk}:{window}"
    if Action.objects.filter(organization_id=policy.organization_id, idempotency_key=key).exists():
        return False
    team = policy.team or item.team
    if team is None:
        return Failure(policy, item, "the work item has no team and the policy names none")
    facts = item_facts(item, now, description=True)
    context = {"item": facts, "policy": {"id": str(policy.pk), "name": policy.name}, "now": now}
    try:
        payload = render_payload(policy.payload_template, context)
    except TemplateError as exc:
        return Failure(policy, item, f"the payload template failed: {exc.message}")
    action_type = policy.action_type
    draft = None
    if action_type.draft_field:
        fallback = get_path(payload, action_type.draft_field)
        draft = draft_text(
            instructions=policy.draft_instructions or action_type.draft_instructions,
            facts=facts,
            fallback=fallback if isinstance(fallback, str) else "",
        )
        payload = set_path(payload, action_type.draft_field, draft.text)
    try:
        with transaction.atomic():
            proposal = action_propose(
                actor=None,
                team=team,
                action_type=action_type,
                payload=payload,
                policy_risk=policy.risk or None,
                work_item=item,
                idempotency_key=key,
                policy=policy,
                draft=draft,
            )
            if not proposal.created:
                return False
            PolicyEvaluation.objects.create(
                organization_id=policy.organization_id,
                policy=policy,
                work_item=item,
                trigger=trigger,
                outcome=EvaluationOutcome.PROPOSED,
                action=proposal.action,
                window_key=window,
                created_at=now,
            )
    except Conflict as exc:
        if exc.field == "idempotency_key":
            return False  # a concurrent run proposed this window (with another draft)
        return Failure(policy, item, f"the proposal was refused: {exc.message}")
    except IntegrityError:
        return False  # a concurrent run recorded this window first; our action rolled back
    except ServiceError as exc:
        return Failure(policy, item, f"the proposal was refused: {exc.message}")
    return True


def _record_failures(failures: list[Failure], trigger: str, now: datetime) -> None:
    by_org: dict[Any, list[Failure]] = defaultdict(list)
    for failure in failures:
        by_org[failure.policy.organization_id].append(failure)
    for org_id, group in by_org.items():
        with transaction.atomic():
            PolicyEvaluation.objects.bulk_create(
                [
                    PolicyEvaluation(
                        organization_id=org_id,
                        policy=f.policy,
                        work_item=f.item,
                        trigger=trigger,
                        outcome=EvaluationOutcome.ERROR,
                        error=f.message[:5000],
                        created_at=now,
                    )
                    for f in group
                ]
            )
            audit_record_many(
                organization=org_id,
                events=[
                    EventSpec(
                        verb="policy.evaluation_failed",
                        actor_label="policy-engine",
                        target=f.policy,
                        team=f.policy.team_id or (f.item.team_id if f.item else None),
                        data={
                            "trigger": trigger,
                            "work_item": str(f.item.pk) if f.item else None,
                            "external_id": f.item.external_id if f.item else None,
                        },
                        was_automatic=True,
                        success=False,
                        error=f.message,
                    )
                    for f in group
                ],
            )
        log.warning("policy evaluation errors in %s: %s", org_id, [f.message for f in group])
