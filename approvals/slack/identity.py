"""Who clicked: a Slack user id mapped to a CWA user of the connector's organization."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from workitems.models import Connector

UNKNOWN_USER = (
    "Your Slack account is not linked to a CWA user of this organization, so CWA cannot "
    "decide anything for you. Ask an admin to put your Slack member id ({slack_id}) on your "
    "CWA profile."
)
WRONG_WORKSPACE = "This Slack workspace is not connected to CWA."


def workspace_matches(connector: Connector, team_id: Any) -> bool:
    """A connector may pin its workspace (`config["team_id"]`); requests from others are refused."""
    expected = (connector.config or {}).get("team_id")
    return not expected or expected == team_id


def user_for_slack_id(connector: Connector, slack_user_id: Any) -> Any | None:
    """The one active CWA user of the connector's organization with this Slack id, else None."""
    if not isinstance(slack_user_id, str) or not slack_user_id:
        return None
    users = list(
        get_user_model()
        .objects.filter(
            is_active=True,
            profile__slack_user_id=slack_user_id,
            org_memberships__organization_id=connector.organization_id,
        )
        .distinct()[:2]
    )
    return users[0] if len(users) == 1 else None
