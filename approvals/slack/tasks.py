"""django-q2 entry points for Slack: take ids and plain values, re-read state, safe to run twice."""

from __future__ import annotations

from typing import Any

from approvals.slack import handlers, messages


def post_pending(action_id: str) -> int:
    return messages.post_pending(action_id=action_id)


def handle_click(connector_id: str, click: dict[str, Any]) -> str:
    return handlers.handle_click(connector_id=connector_id, click=click)


def handle_command(
    connector_id: str,
    slack_user_id: str,
    team_id: str,
    verb: str,
    number: int,
    notes: str,
    response_url: str,
) -> str:
    return handlers.handle_command(
        connector_id=connector_id,
        slack_user_id=slack_user_id,
        team_id=team_id,
        verb=verb,
        number=number,
        notes=notes,
        response_url=response_url,
    )


def sync() -> dict[str, int]:
    """Every minute: lost or failed posts, and messages whose action changed elsewhere."""
    return messages.sync()
