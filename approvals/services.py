"""Every change to an action: propose, decide (one or many), edit, cancel, expire.

Each service is atomic, checks permissions, writes its audit events in the same transaction
and enqueues execution in that transaction too (django-q2's ORM broker is a transactional
outbox). Web pages, the API, admin, Slack and tasks all call these, so each rule lives here once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from approvals import dispatch, notifications
from approvals.choices import ActionStatus, DecisionChannel, DecisionKind
from approvals.executors import REGISTRY
from approvals.gate import evaluate
from approvals.models import Action, ActionRevision, AutonomyOverride, Decision, Notification
from approvals.selectors import action_visibility
from approvals.slack import messages as slack_messages
from approvals.staleness import work_item_snapshot
from audit.chain import canonical_json
from audit.services import EventSpec, audit_record_many, audit_record_standalone
from cwa_site.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from policies.choices import RiskLevel, highest_risk
from policies.models import ActionType
from teams.choices import TeamStatus
from teams.models import Agent, Organization, Team
from teams.permissions import APPROVE, VIEW, has_team_perm, team_ids_for

if TYPE_CHECKING:
    from policies.drafting import Draft
    from policies.models import Policy

MAX_PAYLOAD_BYTES = 256 * 1024


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _actor_label(actor: AbstractBaseUser | None, agent: Agent | None) -> str | None:
    if agent is not None:
        return f"agent:{agent.name}"
    return None


# --------------------------------------------------------------------------- propose


@dataclass(frozen=True)
class Proposal:
    action: Action
    created: bool


def _validate_payload(action_type: ActionType, payload: Any) -> None:
    if not isinstance(payload, dict):
        raise InvalidInput("The payload must be a JSON object.", field="payload")
    if len(canonical_json(payload).encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"The payload is larger than {MAX_PAYLOAD_BYTES // 1024} KiB.", field="payload"
        )
    executor = REGISTRY.get(action_type.executor)
    if executor is None:
        raise InvalidInput(
            f"Action type {action_type.key} uses executor {action_type.executor!r}, which is not "
            "installed.",
            field="action_type",
        )
    errors = executor.validate_payload(payload, action_type.config)
    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field)


def _resolve_agent(actor: AbstractBaseUser | None, agent: Agent | None) -> Agent | None:
    if agent is None and actor is not None:
        agent = Agent.objects.filter(user_id=actor.pk).first()
    return agent


def _check_may_propose(
    *, actor: AbstractBaseUser | None, agent: Agent | None, team: Team, action_type: ActionType
) -> None:
    if action_type.organization_id != team.organization_id:
        raise InvalidInput("Unknown action type for this team's organization.", field="action_type")
    if not action_type.enabled:
        raise InvalidInput(f"Action type {action_type.key} is disabled.", field="action_type")
    if agent is not None:
        if agent.organization_id != team.organization_id:
            raise NotFound("Team not found.", field="team")
        reason = None
        if not agent.is_active:
            reason = f"Agent {agent.name} is deactivated."
        elif not agent.allowed_action_types.filter(pk=action_type.pk).exists():
            reason = f"Agent {agent.name} may not propose {action_type.key}."
        if reason:
            audit_record_standalone(
                organization=team.organization_id,
                verb="action.refused",
                actor=actor,
                actor_label=_actor_label(actor, agent),
                team=team,
                data={"action_type": action_type.key, "agent": agent.name},
                success=False,
                error=reason,
            )
            raise Forbidden(reason, field="action_type", code="action_type_not_allowed")
        return
    if actor is None:
        return  # the policy engine proposes as the system; the gate still applies
    if not has_team_perm(actor, VIEW, team):
        raise NotFound("Team not found.", field="team")
    if not has_team_perm(actor, APPROVE, team):
        raise Forbidden("Viewers cannot propose actions for this team.")


def _replay(org_id: Any, key: str, team: Team, action_type: ActionType, digest: str) -> Proposal:
    existing = Action.objects.select_related("team", "action_type").get(
        organization_id=org_id, idempotency_key=key
    )
    if (
        existing.team_id != team.pk
        or existing.action_type_id != action_type.pk
        or existing.revision == 1
        and existing.payload_hash != digest
    ):
        raise Conflict(
            f"idempotency_key {key!r} was already used for a different proposal (#{existing.number}).",
            field="idempotency_key",
        )
    return Proposal(existing, False)


def action_propose(
    *,
    actor: AbstractBaseUser | None,
    team: Team,
    action_type: ActionType,
    payload: dict[str, Any],
    risk_level: str | None = None,
    policy_risk: str | None = None,
    work_item: Any = None,
    idempotency_key: str | None = None,
    expires_at: datetime | None = None,
    agent: Agent | None = None,
    policy: Policy | None = None,
    draft: Draft | None = None,
) -> Proposal:
    """Record a proposal, run it through the gate, and start it if the gate lets it run.

    Effective risk is the highest of the action type's floor, the risk asked for and the policy's.
    The same `idempotency_key` (per organization) returns the first action and creates nothing.
    `policy` links the action to the policy that fired; `draft` records what drafting its
    content cost. Neither changes how the gate decides.
    """
    agent = _resolve_agent(actor, agent)
    _check_may_propose(actor=actor, agent=agent, team=team, action_type=action_type)
    _validate_payload(action_type, payload)
    if risk_level and risk_level not in RiskLevel.values:
        raise InvalidInput(f"Unknown risk level {risk_level!r}.", field="risk_level")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future.", field="expires_at")
    if work_item is not None and work_item.organization_id != team.organization_id:
        raise InvalidInput("Unknown work item.", field="work_item")
    if policy is not None and policy.organization_id != team.organization_id:
        raise InvalidInput("Unknown policy.", field="policy")
    digest = payload_hash(payload)
    if (
        idempotency_key
        and Action.objects.filter(
            organization_id=team.organization_id, idempotency_key=idempotency_key
        ).exists()
    ):
        return _replay(team.organization_id, idempotency_key, team, action_type, digest)

    risk = highest_risk(action_type.default_risk, risk_level, policy_risk)
    try:
        with transaction.atomic():
            org = Organization.objects.select_for_update().get(pk=team.organization_id)
            team_now = Team.objects.get(pk=team.pk)
            override = (
                AutonomyOverride.objects.filter(team=team, action_type=action_type)
                .values_list("mode", flat=True)
                .first()
            )
            verdict = evaluate(
                risk=risk,
                autonomy_level=team_now.autonomy_level,
                team_paused=team_now.status == TeamStatus.PAUSED,
                org_paused=org.automation_paused,
                override=override,
            )
            number = org.next_action_number
            Organization.objects.filter(pk=org.pk).update(
                next_action_number=F("next_action_number") + 1
            )
            if verdict.requires_approval and expires_at is None:
                expires_at = now + timedelta(hours=settings.CWA_EXPIRY_HOURS[risk])
            executor = REGISTRY[action_type.executor]
            action = Action.objects.create(
                number=number,
                organization=org,
                team=team_now,
                action_type=action_type,
                agent=agent,
                work_item=work_item,
                work_item_snapshot=work_item_snapshot(work_item) if work_item is not None else {},
                title=executor.describe(payload, action_type.config)[:300],
                payload=payload,
                payload_hash=digest,
                requested_risk=risk_level or "",
                risk_level=risk,
                status=ActionStatus.PENDING if verdict.requires_approval else ActionStatus.APPROVED,
                requires_approval=verdict.requires_approval,
                required_approvals=verdict.required_approvals,
                auto_approved=not verdict.requires_approval,
                gate_reason=verdict.reason,
                proposed_by=actor,
                idempotency_key=idempotency_key or None,
                expires_at=expires_at,
                decided_at=None if verdict.requires_approval else now,
                policy=policy,
                drafted=bool(draft and draft.drafted),
                llm_model=draft.model if draft else "",
                llm_tokens_in=draft.tokens_in if draft else 0,
                llm_tokens_out=draft.tokens_out if draft else 0,
                llm_cost=draft.cost if draft else 0,
            )
            label = _actor_label(actor, agent)
            events = [
                EventSpec(
                    verb="action.proposed",
                    actor=actor,
                    actor_label=label,
                    target=action,
                    team=team_now,
                    data={
                        "action_type": action_type.key,
                        "risk_level": risk,
                        "requested_risk": risk_level or None,
                        "payload_hash": digest,
                        "gate_reason": verdict.reason,
                        "required_approvals": verdict.required_approvals,
                        "agent": agent.name if agent else None,
                        **({"policy": policy.name} if policy is not None else {}),
                        **({"drafted": draft.drafted} if draft is not None else {}),
                    },
                    was_automatic=actor is None,
                )
            ]
            if not verdict.requires_approval:
                events.append(
                    EventSpec(
                        verb="action.auto_approved",
                        actor_label="gate",
                        target=action,
                        team=team_now,
                        data={"gate_reason": verdict.reason, "payload_hash": digest},
                        was_automatic=True,
                    )
                )
                dispatch.enqueue_execution([action.pk])
            audit_record_many(organization=org, events=events)
            if verdict.requires_approval:
                notifications.notify_action_pending(action)
                slack_messages.enqueue_post_pending(action)
    except IntegrityError:
        # Two proposals with the same idempotency key raced; the other one won.
        if idempotency_key:
            return _replay(team.organization_id, idempotency_key, team, action_type, digest)
        raise
    return Proposal(action, True)


# --------------------------------------------------------------------------- decide


@dataclass
class Outcome:
    """What happened to one action in a decision request."""

    id: str
    ok: bool
    result: str  # approved, rejected, approval_recorded, or an error code
    message: str
    number: int | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "outcome": "decided" if self.ok else "skipped",
            "result": self.result,
            "status": self.status,
            "message": self.message,
        }


ERRORS_BY_RESULT: dict[str, type[ServiceError]] = {
    "not_found": NotFound,
    "forbidden": Forbidden,
    "separation_of_duties": Forbidden,
    "not_pending": Conflict,
    "expired": Conflict,
    "already_decided": Conflict,
    "changed": Conflict,
}


def _parse_ids(ids: Iterable[Any]) -> tuple[list[uuid.UUID], list[str]]:
    good, bad = [], []
    for raw in ids:
        try:
            good.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except (ValueError, TypeError, AttributeError):
            bad.append(str(raw))
    return list(dict.fromkeys(good)), bad


def actions_decide(
    *,
    actor: AbstractBaseUser,
    ids: Iterable[Any],
    decision: str,
    notes: str = "",
    via: str = DecisionChannel.BULK,
    expected_hashes: dict[str, str] | None = None,
) -> list[Outcome]:
    """Decide many actions at once: a constant number of queries, whatever their number.

    Rules (the same for a single decision, which is this with one id): only approvers of the
    action's team decide; nobody approves what they proposed; a decision applies only to a
    pending, unexpired action and to the revision the person saw; critical actions need two
    distinct approvers. Rows are locked, so concurrent deciders each see the other's result.
    """
    if decision not in DecisionKind.values:
        raise InvalidInput("decision must be 'approve' or 'reject'.", field="decision")
    if not actor.is_authenticated:
        raise Forbidden("Log in to decide actions.")
    notes = (notes or "")[:5000]
    wanted, malformed = _parse_ids(ids)
    outcomes: dict[str, Outcome] = {
        raw: Outcome(raw, False, "not_found", "No such action.") for raw in malformed
    }
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Action.objects.select_for_update(of=("self",))
            .select_related("team")
            .filter(action_visibility(actor), pk__in=wanted)
            .order_by("pk")
        )
        approver_of = set(
            team_ids_for(actor, APPROVE)
            .filter(content_object_id__in={row.team_id for row in rows})
            .values_list("content_object_id", flat=True)
        )
        approvals: dict[tuple[Any, int], int] = defaultdict(int)
        mine: set[tuple[Any, int]] = set()
        for action_id, revision, user_id, kind in Decision.objects.filter(
            action_id__in=[row.pk for row in rows]
        ).values_list("action_id", "revision", "user_id", "decision"):
            if kind == DecisionKind.APPROVE:
                approvals[(action_id, revision)] += 1
            if user_id == actor.pk:
                mine.add((action_id, revision))

        new_decisions: list[Decision] = []
        moved: dict[str, list[Action]] = defaultdict(list)
        events: dict[Any, list[EventSpec]] = defaultdict(list)
        for row in rows:
            key = str(row.pk)

            def skip(result: str, message: str, row: Action = row, key: str = key) -> None:
                outcomes[key] = Outcome(key, False, result, message, row.number, row.status)

            if row.team_id not in approver_of:
                skip("forbidden", f"You are not an approver of {row.team.name}.")
            elif row.status != ActionStatus.PENDING:
                skip(
                    "not_pending",
                    f"Action #{row.number} is already {row.get_status_display().lower()}.",
                )
            elif row.expires_at is not None and row.expires_at <= now:
                row.status = ActionStatus.EXPIRED
                moved[ActionStatus.EXPIRED].append(row)
                events[row.organization_id].append(
                    EventSpec(
                        verb="action.expired",
                        actor_label="system",
                        target=row,
                        team=row.team_id,
                        data={"expires_at": row.expires_at.isoformat()},
                        was_automatic=True,
                    )
                )
                skip(
                    "expired",
                    f"Action #{row.number} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC.",
                )
            elif decision == DecisionKind.APPROVE and row.proposed_by_id == actor.pk:
                skip(
                    "separation_of_duties",
                    "You proposed this action; another approver must decide it.",
                )
            elif expected_hashes and expected_hashes.get(key) not in (None, row.payload_hash):
                skip(
                    "changed", f"Action #{row.number} was edited since you saw it; review it again."
                )
            elif (row.pk, row.revision) in mine:
                skip(
                    "already_decided",
                    f"You already decided action #{row.number}; it needs another approver.",
                )
            else:
                new_decisions.append(
                    Decision(
                        action=row,
                        user=actor,
                        decision=decision,
                        notes=notes,
                        revision=row.revision,
                        payload_hash=row.payload_hash,
                        via=via,
                    )
                )
                data = {
                    "notes": notes,
                    "via": via,
                    "revision": row.revision,
                    "payload_hash": row.payload_hash,
                }
                if decision == DecisionKind.REJECT:
                    row.status, verb, result = ActionStatus.REJECTED, "action.rejected", "rejected"
                    moved[ActionStatus.REJECTED].append(row)
                    message = f"Action #{row.number} rejected."
                else:
                    count = approvals[(row.pk, row.revision)] + 1
                    data["approvals"] = f"{count}/{row.required_approvals}"
                    if count >= row.required_approvals:
                        row.status, verb, result = (
                            ActionStatus.APPROVED,
                            "action.approved",
                            "approved",
                        )
                        moved[ActionStatus.APPROVED].append(row)
                        message = f"Action #{row.number} approved."
                    else:
                        verb, result = "action.approval_recorded", "approval_recorded"
                        message = (
                            f"Approval {count} of {row.required_approvals} recorded for #{row.number}; "
                            "it needs another approver."
                        )
                events[row.organization_id].append(
                    EventSpec(verb=verb, actor=actor, target=row, team=row.team_id, data=data)
                )
                outcomes[key] = Outcome(key, True, result, message, row.number, row.status)

        Decision.objects.bulk_create(new_decisions)
        for status, changed in moved.items():
            stamps = (
                {"updated_at": now}
                if status == ActionStatus.EXPIRED
                else {"decided_at": now, "updated_at": now}
            )
            Action.objects.filter(
                pk__in=[row.pk for row in changed], status=ActionStatus.PENDING
            ).update(status=status, **stamps)
        for org_id, specs in events.items():
            audit_record_many(organization=org_id, events=specs)
        notifications.notify_users(
            [
                Notification(
                    user_id=row.proposed_by_id,
                    organization_id=row.organization_id,
                    team_id=row.team_id,
                    action_id=row.pk,
                    kind="action.decided",
                    level=Notification.Level.INFO
                    if status == ActionStatus.APPROVED
                    else Notification.Level.WARNING,
                    title=f"#{row.number} {status} by {actor.get_username()}: {row.title}"[:300],
                    body=notes,
                )
                for status in (ActionStatus.APPROVED, ActionStatus.REJECTED)
                for row in moved[status]
                if row.proposed_by_id and row.proposed_by_id != actor.pk
            ]
        )
        if moved[ActionStatus.APPROVED]:
            dispatch.enqueue_execution([row.pk for row in moved[ActionStatus.APPROVED]])

    for raw in wanted:
        outcomes.setdefault(str(raw), Outcome(str(raw), False, "not_found", "No such action."))
    order = [str(raw) for raw in wanted] + malformed
    return [outcomes[key] for key in order]


def action_decide(
    *,
    actor: AbstractBaseUser,
    action_id: Any,
    decision: str,
    notes: str = "",
    via: str = DecisionChannel.WEB,
    expected_hash: str | None = None,
) -> tuple[Action, Outcome]:
    """Decide one action; refusals raise (404 missing or hidden, 403 not allowed, 409 too late)."""
    expected = {str(action_id): expected_hash} if expected_hash else None
    (outcome,) = actions_decide(
        actor=actor,
        ids=[action_id],
        decision=decision,
        notes=notes,
        via=via,
        expected_hashes=expected,
    )
    if not outcome.ok:
        raise ERRORS_BY_RESULT[outcome.result](outcome.message, code=outcome.result)
    return Action.objects.get(pk=outcome.id), outcome


# --------------------------------------------------------------------------- edit, cancel, expire


def _locked_visible(actor: AbstractBaseUser, action_id: Any) -> Action:
    try:
        return (
            Action.objects.select_for_update(of=("self",))
            .select_related("team", "action_type")
            .get(action_visibility(actor), pk=action_id)
        )
    except (Action.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound("No such action.")


def action_edit(*, actor: AbstractBaseUser, action_id: Any, payload: dict[str, Any]) -> Action:
    """Replace a pending action's payload. This is a new revision: approvals given to the old
    payload no longer count, and the diff is kept."""
    with transaction.atomic():
        action = _locked_visible(actor, action_id)
        if not has_team_perm(actor, APPROVE, action.team):
            raise Forbidden(f"You are not an approver of {action.team.name}.")
        if action.status != ActionStatus.PENDING:
            raise Conflict(
                f"Action #{action.number} is {action.status}; only pending actions can be edited."
            )
        _validate_payload(action.action_type, payload)
        digest = payload_hash(payload)
        if digest == action.payload_hash:
            return action
        if action.revision == 1:
            ActionRevision.objects.create(
                action=action,
                revision=1,
                payload=action.payload,
                payload_hash=action.payload_hash,
                edited_by=action.proposed_by,
            )
        before = json.dumps(action.payload, indent=2, sort_keys=True).splitlines()
        after = json.dumps(payload, indent=2, sort_keys=True).splitlines()
        diff = "\n".join(
            difflib.unified_diff(
                before, after, f"r{action.revision}", f"r{action.revision + 1}", lineterm=""
            )
        )
        action.revision += 1
        action.payload, action.payload_hash = payload, digest
        executor = REGISTRY[action.action_type.executor]
        action.title = executor.describe(payload, action.action_type.config)[:300]
        ActionRevision.objects.create(
            action=action,
            revision=action.revision,
            payload=payload,
            payload_hash=digest,
            diff=diff,
            edited_by=actor,
        )
        action.save(update_fields=["revision", "payload", "payload_hash", "title", "updated_at"])
        audit_record_many(
            organization=action.organization_id,
            events=[
                EventSpec(
                    verb="action.edited",
                    actor=actor,
                    target=action,
                    team=action.team,
                    data={"revision": action.revision, "payload_hash": digest, "diff": diff},
                )
            ],
        )
    return action


def action_cancel(*, actor: AbstractBaseUser, action_id: Any, reason: str = "") -> Action:
    """Withdraw an action that has not started: its proposer or an approver of its team."""
    with transaction.atomic():
        action = _locked_visible(actor, action_id)
        if action.proposed_by_id != actor.pk and not has_team_perm(actor, APPROVE, action.team):
            raise Forbidden("Only the proposer or an approver of the team can cancel this action.")
        if action.status not in (ActionStatus.PENDING, ActionStatus.APPROVED):
            raise Conflict(
                f"Action #{action.number} is {action.status} and can no longer be cancelled."
            )
        action.status = ActionStatus.CANCELLED
        action.save(update_fields=["status", "updated_at"])
        audit_record_many(
            organization=action.organization_id,
            events=[
                EventSpec(
                    verb="action.cancelled",
                    actor=actor,
                    target=action,
                    team=action.team,
                    data={"reason": reason[:1000]},
                )
            ],
        )
    return action


def actions_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire pending actions past their expiry. Expired actions never run."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Action.objects.select_for_update(skip_locked=True)
            .filter(status=ActionStatus.PENDING, expires_at__lte=now)
            .order_by("expires_at")[:limit]
        )
        if not rows:
            return 0
        Action.objects.filter(pk__in=[r.pk for r in rows], status=ActionStatus.PENDING).update(
            status=ActionStatus.EXPIRED, updated_at=now
        )
        by_org: dict[Any, list[EventSpec]] = defaultdict(list)
        for row in rows:
            by_org[row.organization_id].append(
                EventSpec(
                    verb="action.expired",
                    actor_label="system",
                    target=row,
                    team=row.team_id,
                    data={"expires_at": row.expires_at.isoformat()},
                    was_automatic=True,
                )
            )
        for org_id, specs in by_org.items():
            audit_record_many(organization=org_id, events=specs)
    return len(rows)


RESOLUTIONS = {
    "retry": ActionStatus.APPROVED,
    "succeeded": ActionStatus.SUCCEEDED,
    "failed": ActionStatus.FAILED,
}


def action_resolve(
    *, actor: AbstractBaseUser, action_id: Any, resolution: str, notes: str = ""
) -> Action:
    """A person settles an action whose outcome was unknown (`needs_attention`): they checked the
    target system and either retry it (same idempotency key), or record what actually happened.
    A failed action can be retried the same way."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(
            "resolution must be 'retry', 'succeeded' or 'failed'.", field="resolution"
        )
    with transaction.atomic():
        action = _locked_visible(actor, action_id)
        if not has_team_perm(actor, APPROVE, action.team):
            raise Forbidden(f"You are not an approver of {action.team.name}.")
        allowed = {ActionStatus.NEEDS_ATTENTION: set(RESOLUTIONS), ActionStatus.FAILED: {"retry"}}
        if resolution not in allowed.get(action.status, set()):
            raise Conflict(
                f"Action #{action.number} is {action.status}; it cannot be marked {resolution}."
            )
        before = action.status
        action.status = RESOLUTIONS[resolution]
        action.next_attempt_at = None
        if resolution == "retry":
            # A fresh run budget: the person has checked that another call is safe.
            action.attempt_limit = action.attempts + action.action_type.max_attempts
            action.finished_at = None
        else:
            action.finished_at = timezone.now()
        action.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "attempt_limit",
                "finished_at",
                "updated_at",
            ]
        )
        audit_record_many(
            organization=action.organization_id,
            events=[
                EventSpec(
                    verb=f"action.resolved_{resolution}",
                    actor=actor,
                    target=action,
                    team=action.team,
                    data={"from": before, "notes": notes[:1000]},
                )
            ],
        )
        if resolution == "retry":
            dispatch.enqueue_execution([action.pk])
    return action


def actions_remind_and_escalate(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Before a pending action expires, remind its approvers once; a high or critical action
    still undecided after CWA_ESCALATE_AFTER_HOURS is escalated to the organization's admins once.
    Each action is claimed with a conditional UPDATE, so concurrent sweeps notify once."""
    now = now or timezone.now()
    soon = now + timedelta(minutes=settings.CWA_EXPIRY_REMINDER_MINUTES)
    reminded = escalated = 0
    with transaction.atomic():
        due = list(
            Action.objects.filter(
                status=ActionStatus.PENDING,
                reminded_at__isnull=True,
                expires_at__gt=now,
                expires_at__lte=soon,
            ).values_list("pk", flat=True)[:limit]
        )
        if due and Action.objects.filter(pk__in=due, reminded_at__isnull=True).update(
            reminded_at=now
        ):
            for action in Action.objects.filter(pk__in=due, reminded_at=now):
                notifications.notify(
                    organization_id=action.organization_id,
                    team_id=action.team_id,
                    kind="action.expiring",
                    level=Notification.Level.WARNING,
                    action_id=action.pk,
                    title=f"#{action.number} expires at {action.expires_at:%H:%M} UTC: {action.title}",
                    body="Decide it before it expires; expired actions never run.",
                    exclude_user_id=action.proposed_by_id,
                )
                reminded += 1
        stale = Q()
        for risk, hours in settings.CWA_ESCALATE_AFTER_HOURS.items():
            stale |= Q(risk_level=risk, created_at__lte=now - timedelta(hours=hours))
        late = list(
            Action.objects.filter(
                stale, status=ActionStatus.PENDING, escalated_at__isnull=True
            ).values_list("pk", flat=True)[:limit]
        )
        if late and Action.objects.filter(pk__in=late, escalated_at__isnull=True).update(
            escalated_at=now
        ):
            for action in Action.objects.filter(pk__in=late, escalated_at=now).select_related(
                "team"
            ):
                notifications.notify(
                    organization_id=action.organization_id,
                    team_id=None,
                    kind="action.escalated",
                    level=Notification.Level.DANGER,
                    action_id=action.pk,
                    title=f"#{action.number} ({action.risk_level}) is still undecided: {action.title}",
                    body=f"Proposed {action.created_at:%Y-%m-%d %H:%M} UTC for {action.team.name}; no "
                    "approver has decided it yet.",
                )
                audit_record_many(
                    organization=action.organization_id,
                    events=[
                        EventSpec(
                            verb="action.escalated",
                            actor_label="system",
                            target=action,
                            team=action.team_id,
                            was_automatic=True,
                        )
                    ],
                )
                escalated += 1
    return {"reminded": reminded, "escalated": escalated}


def action_return_stale(*, action: Action, reason: str) -> None:
    """Send an approved action that went stale back to the queue: a new revision that needs its
    own approvals (an auto-approved one now needs a person), with the reason as its gate reason.
    Runs inside the caller's transaction with the action row locked."""
    now = timezone.now()
    action.status = ActionStatus.PENDING
    action.revision += 1
    action.requires_approval = True
    action.required_approvals = max(1, action.required_approvals)
    action.auto_approved = False
    action.gate_reason = f"Back for review: {reason}"[:500]
    action.expires_at = now + timedelta(hours=settings.CWA_EXPIRY_HOURS[action.risk_level])
    action.decided_at = None
    action.reminded_at = action.escalated_at = None
    if action.work_item is not None:
        action.work_item_snapshot = work_item_snapshot(action.work_item)
    ActionRevision.objects.create(
        action=action,
        revision=action.revision,
        payload=action.payload,
        payload_hash=action.payload_hash,
        diff=f"(payload unchanged) {reason}"[:5000],
    )
    action.save()
    audit_record_many(
        organization=action.organization_id,
        events=[
            EventSpec(
                verb="action.stale",
                actor_label="worker",
                target=action,
                team=action.team_id,
                data={"reason": reason, "revision": action.revision},
                was_automatic=True,
            )
        ],
    )
    notifications.notify_action_pending(action)
