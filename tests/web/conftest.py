"""Fixtures for the web pages: a small organization with every role, and pending actions."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action
from approvals.services import action_propose
from teams.choices import AutonomyLevel, Role
from tests import factories as f


@pytest.fixture
def sales(org):
    return f.make_team(org, "Sales", level=AutonomyLevel.SUPERVISED, department="Commercial")


@pytest.fixture
def medium_type(org):
    return f.make_action_type(org, "escalate", risk="medium", name="Escalation note")


@pytest.fixture
def agent(org, note_type, medium_type):
    return f.make_agent(org, "triage-bot", [note_type, medium_type])


@pytest.fixture
def mallory(other_org):
    team = f.make_team(other_org, "Globex Ops")
    user = f.make_user("mallory", other_org)
    f.add_member(user, team, Role.APPROVER)
    return user


def propose(agent: Any, team: Any, action_type: Any, note: str = "x", **kw: Any) -> Action:
    return action_propose(
        actor=agent.user,
        team=team,
        action_type=action_type,
        payload={"note": note},
        agent=agent,
        **kw,
    ).action


def bulk_pending(team: Any, action_type: Any, n: int, *, agent: Any = None, start: int = 1000):
    """Many pending rows at once (builders write rows directly; behaviour goes via services)."""
    now = timezone.now()
    rows = []
    for i in range(n):
        payload = {"note": f"bulk {i}"}
        rows.append(
            Action(
                number=start + i,
                organization_id=team.organization_id,
                team=team,
                action_type=action_type,
                agent=agent,
                title=f"Record note: bulk {i}",
                payload=payload,
                payload_hash=hashlib.sha256(str(payload).encode()).hexdigest(),
                risk_level=action_type.default_risk,
                status=ActionStatus.PENDING,
                requires_approval=True,
                required_approvals=1,
                gate_reason="medium risk, team is supervised",
                expires_at=now + timedelta(hours=24),
            )
        )
    return Action.objects.bulk_create(rows)
