"""How an action looks in Slack (Block Kit), pending with buttons or decided without.

Buttons carry `<number>:<payload hash>`: a click decides the revision the person saw, and is
refused as "changed" if the action was edited after the message was drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from approvals.choices import ActionStatus, DecisionKind
from approvals.models import Action, Decision
from teams.models import UserProfile

APPROVE = "cwa_approve"
REJECT = "cwa_reject"
RISK_MARK = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}
STATUS_HEADLINE = {
    ActionStatus.PENDING: "waits for approval",
    ActionStatus.APPROVED: "approved",
    ActionStatus.REJECTED: "rejected",
    ActionStatus.EXPIRED: "expired",
    ActionStatus.CANCELLED: "cancelled",
    ActionStatus.EXECUTING: "approved, running",
    ActionStatus.SUCCEEDED: "approved, done",
    ActionStatus.FAILED: "approved, failed",
    ActionStatus.NEEDS_ATTENTION: "approved, needs attention",
}
MAX_PREVIEW = 2500


def escape(text: Any) -> str:
    """Slack's three control characters; everything shown from our data goes through this."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(action: Action) -> str:
    return f"{action.number}:{action.payload_hash}"


def parse_button_value(value: Any) -> tuple[int, str | None] | None:
    """`42:<hash>` from our buttons, or a bare `42`; None for anything else."""
    number, _, digest = str(value or "").partition(":")
    if not number.isdigit() or len(number) > 9:
        return None
    return int(number), (digest or None)


@dataclass
class Shown:
    """What a message shows: the action and the decisions on its current revision."""

    action: Action
    decisions: list[Decision] = field(default_factory=list)
    slack_ids: dict[Any, str] = field(default_factory=dict)


def person(shown: Shown, user: Any) -> str:
    slack_id = shown.slack_ids.get(user.pk)
    return f"<@{slack_id}>" if slack_id else escape(user.get_username())


def decided_by(shown: Shown) -> str:
    """ "approved by <@U1>, rejected by bob"-style summary of the current revision."""
    parts = []
    for decision in shown.decisions:
        verb = "approved" if decision.decision == DecisionKind.APPROVE else "rejected"
        parts.append(f"{verb} by {person(shown, decision.user)}")
    return ", ".join(parts)


def render(shown: Shown) -> dict[str, Any]:
    """`{"text", "blocks"}` for chat.postMessage / chat.update / response_url."""
    action = shown.action
    headline = STATUS_HEADLINE.get(action.status, action.status)
    mark = RISK_MARK.get(action.risk_level, "")
    title = escape(action.title or action.action_type.name)
    text = f"#{action.number} {headline}: {title}"
    proposer = (
        f"agent {action.agent.name}"
        if action.agent_id
        else (action.proposed_by.get_username() if action.proposed_by_id else "a policy")
    )
    fields = [
        f"*Team*\n{escape(action.team.name)}",
        f"*Risk*\n{mark} {escape(action.get_risk_level_display())}",
        f"*Action*\n{escape(action.action_type.name)} (`{escape(action.action_type.key)}`)",
        f"*Proposed by*\n{escape(proposer)}",
    ]
    if action.status == ActionStatus.PENDING and action.expires_at:
        stamp = int(action.expires_at.timestamp())
        fallback = action.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        fields.append(f"*Expires*\n<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>")
    preview = json.dumps(action.payload, indent=1, ensure_ascii=False, sort_keys=True)
    if len(preview) > MAX_PREVIEW:
        preview = preview[:MAX_PREVIEW] + "\n…"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": f"cwa_{action.number}_summary",
            "text": {"type": "mrkdwn", "text": f"*#{action.number} {headline}*\n{title}"},
            "fields": [{"type": "mrkdwn", "text": value} for value in fields],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Why it waits: {escape(action.gate_reason)}"}],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"```{escape(preview)}```"},
        },
    ]
    if shown.decisions:
        summary = decided_by(shown)
        if action.status == ActionStatus.PENDING and action.required_approvals > 1:
            approvals = sum(1 for d in shown.decisions if d.decision == DecisionKind.APPROVE)
            summary = f"Approval {approvals} of {action.required_approvals}: {summary}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]})
        text += f" ({decided_by(shown)})"
    if action.status == ActionStatus.PENDING:
        value = button_value(action)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"cwa_{action.number}_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                        "style": "primary",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "action_id": REJECT,
                        "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                        "style": "danger",
                        "value": value,
                    },
                ],
            }
        )
    return {"text": text[:3000], "blocks": blocks}


def load(action_ids: list[Any]) -> dict[Any, Shown]:
    """Everything `render` needs for these actions, in three queries whatever their number."""
    actions = Action.objects.filter(pk__in=action_ids).select_related(
        "team", "action_type", "agent", "proposed_by"
    )
    shown = {action.pk: Shown(action) for action in actions}
    decisions = Decision.objects.filter(action_id__in=list(shown)).select_related("user")
    for decision in decisions:
        entry = shown[decision.action_id]
        if decision.revision == entry.action.revision:
            entry.decisions.append(decision)
    users = {d.user_id for entry in shown.values() for d in entry.decisions}
    slack_ids = dict(
        UserProfile.objects.filter(user_id__in=users)
        .exclude(slack_user_id="")
        .values_list("user_id", "slack_user_id")
    )
    for entry in shown.values():
        entry.slack_ids = slack_ids
    return shown
