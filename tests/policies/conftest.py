from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.models import Policy
from teams.choices import AutonomyLevel
from tests import factories as f
from workitems.models import WorkItem

NOW = datetime(2025, 3, 3, 9, tzinfo=UTC)


@pytest.fixture
def support(org):
    return f.make_team(org, "Support", level=AutonomyLevel.SEMI_AUTONOMOUS)


@pytest.fixture
def nudge(org):
    return f.make_action_type(
        org,
        "nudge",
        risk="low",
        draft_field="note",
        draft_instructions="Write a short, friendly nudge to the assignee.",
    )


@pytest.fixture
def make_item(org):
    def make(team, external_id="OPS-1", **fields):
        defaults = {
            "source": "linear",
            "title": f"Issue {external_id}",
            "status": "open",
            "source_status": "open",
            "assignee": "Dev Patel",
            "last_activity_at": NOW - timedelta(days=5),
        }
        defaults.update(fields)
        return WorkItem.objects.create(
            organization=org, team=team, external_id=external_id, **defaults
        )

    return make


@pytest.fixture
def make_policy(org):
    def make(action_type, condition, trigger="scheduled", **fields):
        fields.setdefault("name", f"policy {Policy.objects.count() + 1}")
        fields.setdefault(
            "payload_template",
            {
                "note": "{{ item.external_id }} has been quiet for {{ item.days_since_update }} days."
            },
        )
        policy = Policy(
            organization=org,
            action_type=action_type,
            condition=condition,
            trigger=trigger,
            **fields,
        )
        policy.full_clean()
        policy.save()
        return policy

    return make
