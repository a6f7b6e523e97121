"""The planner decides simple comparisons in Python: it must agree with CEL, always."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from policies.conditions import ConditionError, Matcher, compile_condition, evaluate

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)

CONDITIONS = [
    'item.status == "stalled" && item.days_since_update > 3',
    'item.source == "linear" && item.status == "stalled"',
    '"incident" in item.labels && item.priority == "urgent"',
    'item.priority in ["urgent", "high"] && item.assignee == ""',
    'has(item.due_at) && item.due_at < now && item.status != "done"',
    "item.is_overdue",
    "!item.is_overdue && item.age_days >= 2",
    'item.hours_since_update > 48 && item.status == "in_progress"',
    'item.title.contains("pay") && item.status != "done"',
    'item.team == "Support" || item.team == "Sales"',
    "size(item.labels) > 2 && item.priority == 'low'",
    'item.assignee.startsWith("dev") && item.days_since_update >= 7',
    'item.title.startsWith("billing") || item.title.endsWith("eu-1")',
    "3 < item.days_since_update && 10 >= item.days_since_update",
    '(item.status == "open") && (item.priority != "")',
    '(item.status == "open" || item.status == "blocked") && item.days_since_update > 1',
    'item.status == "open" && item.title + "x" == "ax"',
    'item.status == "open" || item.title.size() > 10',
    'item.status == "open" ? item.days_since_update > 2 : false',
    'item.external_id == "it\\"s" || item.title == "a\\nb"',
    "item.title < \"m\" && item.priority >= 'high'",
    "item.days_since_update == 0 || item.days_since_update != 5",
    "has(item.due_at) || item.age_days > 20",
    "item.due_at > now",  # fails without a due date
    "10 / item.days_since_update > 1",  # fails on zero days
]


def random_facts(rng: random.Random) -> dict:
    due = NOW + timedelta(days=rng.randint(-5, 5)) if rng.random() < 0.4 else None
    return {
        "id": str(rng.random()),
        "source": rng.choice(["linear", "jira", "github", "email"]),
        "external_id": rng.choice(["OPS-1", 'it"s', "X-7"]),
        "title": rng.choice(["payments down", "billing eu-1", "a", "a\nb", "zebra", "", "ax"]),
        "status": rng.choice(["open", "in_progress", "blocked", "stalled", "done"]),
        "priority": rng.choice(["urgent", "high", "medium", "low", ""]),
        "assignee": rng.choice(["dev1", "sam", ""]),
        "labels": tuple(rng.sample(["bug", "incident", "x", "y"], rng.randint(0, 4))),
        "team": rng.choice(["Support", "Sales", "Ops", ""]),
        "url": "",
        "created_at": NOW - timedelta(days=30),
        "last_activity_at": NOW - timedelta(days=3),
        "days_since_update": rng.randint(0, 12),
        "hours_since_update": rng.randint(0, 300),
        "age_days": rng.randint(0, 30),
        "is_overdue": rng.random() < 0.3,
        "due_at": due,
    }


def cel_only(condition, facts):
    try:
        return evaluate(condition, facts, NOW)
    except ConditionError:
        return "error"


@pytest.mark.parametrize("expression", CONDITIONS)
def test_the_engine_agrees_with_cel_on_random_items(expression):
    condition = compile_condition(expression)
    rng = random.Random(expression)
    facts = [random_facts(rng) for _ in range(400)]
    outcomes = Matcher([condition], NOW).run(0, facts)
    engine = [o if isinstance(o, bool) else "error" for o in outcomes]
    assert engine == [cel_only(condition, f) for f in facts]


@pytest.mark.parametrize(
    ("expression", "exact"),
    [
        ('item.status == "stalled" && item.days_since_update > 3', True),
        ('"bug" in item.labels', True),
        ('item.team == "Support" || item.team == "Sales"', True),
        ('has(item.due_at) && item.due_at < now && item.status != "done"', False),
        ('item.status == "open" ? true : false', None),
        ('item.status == "open" || item.title.size() > 10', None),
        ('item.external_id == "it\\"s"', None),  # escapes are left to CEL
        ("item.days_since_update > 3u", None),  # so are uints
    ],
)
def test_what_the_planner_takes_on(expression, exact):
    plan = compile_condition(expression).plan
    assert (plan.exact if plan else None) is exact
