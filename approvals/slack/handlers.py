"""The work behind a Slack click or slash command, done in a task after Slack got its answer.

Every decision goes through approvals.services.action_decide with via=slack, so permissions,
separation of duties, quorum, expiry and the payload hash hold exactly as on the web page, and a
second click is refused there ("already decided"), never decided twice.
"""

from __future__ import annotations

from typing import Any

from approvals.choices import DecisionChannel, DecisionKind
from approvals.models import Action
from approvals.selectors import actions_decidable_by
from approvals.services import action_decide
from approvals.slack import blocks, messages
from approvals.slack.identity import (
    UNKNOWN_USER,
    WRONG_WORKSPACE,
    user_for_slack_id,
    workspace_matches,
)
from cwa_site.errors import ServiceError
from workitems.models import Connector

USAGE = (
    "Usage: `/cwa pending` lists what waits for you; `/cwa approve 42` approves action #42; "
    "`/cwa reject 42 <reason>` rejects it."
)
PENDING_LIMIT = 10


def _action_id(connector: Connector, number: int) -> Any | None:
    return (
        Action.objects.filter(organization_id=connector.organization_id, number=number)
        .values_list("pk", flat=True)
        .first()
    )


def _refusal(error: ServiceError, action_id: Any) -> str:
    """The service's refusal, plus who decided when the action is no longer pending."""
    text = error.message
    if error.code == "not_pending" and action_id is not None:
        shown = blocks.load([action_id]).get(action_id)
        if shown and shown.decisions:
            text = f"{text.rstrip('.')}: {blocks.decided_by(shown)}."
    return text


def decide(
    *,
    connector: Connector,
    slack_user_id: str,
    number: int,
    decision: str,
    notes: str = "",
    expected_hash: str | None = None,
) -> tuple[bool, str, Any | None]:
    """Decide action #number for the Slack user. Returns (decided, message for them, action id)."""
    user = user_for_slack_id(connector, slack_user_id)
    if user is None:
        return False, UNKNOWN_USER.format(slack_id=slack_user_id), None
    action_id = _action_id(connector, number)
    if action_id is None:
        return False, f"There is no action #{number} that you can see.", None
    try:
        _, outcome = action_decide(
            actor=user,
            action_id=action_id,
            decision=decision,
            notes=notes,
            via=DecisionChannel.SLACK,
            expected_hash=expected_hash,
        )
    except ServiceError as error:
        if error.code == "not_found":
            return False, f"There is no action #{number} that you can see.", None
        return False, _refusal(error, action_id), action_id
    return True, outcome.message, action_id


def handle_click(*, connector_id: str, click: dict[str, Any]) -> str:
    """A button press: decide, then redraw the message(s) so they show who decided."""
    connector = messages.connector_or_none(connector_id)
    if connector is None:
        return "connector gone"
    response_url = click.get("response_url")
    if not workspace_matches(connector, click.get("team_id")):
        messages.ephemeral(response_url, WRONG_WORKSPACE)
        return "wrong workspace"
    parsed = blocks.parse_button_value(click.get("value"))
    kind = {blocks.APPROVE: DecisionKind.APPROVE, blocks.REJECT: DecisionKind.REJECT}.get(
        click.get("action_id")
    )
    if parsed is None or kind is None:
        return "not ours"
    number, digest = parsed
    decided, text, action_id = decide(
        connector=connector,
        slack_user_id=click.get("user_id", ""),
        number=number,
        decision=kind,
        expected_hash=digest,
    )
    if not decided:
        messages.ephemeral(response_url, text)
    if action_id is not None:
        # Decided or refused, the message must show the action's real state now.
        messages.refresh(
            action_id=action_id,
            clicked={
                "channel": click.get("channel_id"),
                "ts": click.get("message_ts"),
                "response_url": response_url,
            },
        )
    return "decided" if decided else "refused"


def handle_command(
    *,
    connector_id: str,
    slack_user_id: str,
    team_id: str,
    verb: str,
    number: int,
    notes: str,
    response_url: str,
) -> str:
    """`/cwa approve 42` or `/cwa reject 42 reason`, after the slash command was acknowledged."""
    connector = messages.connector_or_none(connector_id)
    if connector is None:
        return "connector gone"
    if not workspace_matches(connector, team_id):
        messages.ephemeral(response_url, WRONG_WORKSPACE)
        return "wrong workspace"
    kind = DecisionKind.APPROVE if verb == "approve" else DecisionKind.REJECT
    decided, text, action_id = decide(
        connector=connector,
        slack_user_id=slack_user_id,
        number=number,
        decision=kind,
        notes=notes,
    )
    messages.ephemeral(response_url, text)
    if decided and action_id is not None:
        messages.refresh(action_id=action_id)
    return "decided" if decided else "refused"


def pending_text(connector: Connector, slack_user_id: str) -> str:
    """`/cwa pending`: what the user may decide now, oldest first (a read; answered at once)."""
    user = user_for_slack_id(connector, slack_user_id)
    if user is None:
        return UNKNOWN_USER.format(slack_id=slack_user_id)
    rows = list(
        actions_decidable_by(user)
        .filter(organization_id=connector.organization_id)
        .order_by("created_at")[: PENDING_LIMIT + 1]
    )
    if not rows:
        return "Nothing waits for your decision."
    lines = [
        f"• *#{a.number}* {blocks.RISK_MARK.get(a.risk_level, '')} {blocks.escape(a.title)} "
        f"({blocks.escape(a.team.name)})"
        for a in rows[:PENDING_LIMIT]
    ]
    more = "\n…and more in the CWA queue." if len(rows) > PENDING_LIMIT else ""
    return "Waiting for you:\n" + "\n".join(lines) + more + "\n`/cwa approve <n>` decides one."
