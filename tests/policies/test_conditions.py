"""Conditions: compiled and checked on save, evaluated per item, memoized per run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from policies.conditions import (
    ConditionError,
    Matcher,
    compile_condition,
    evaluate,
    item_facts,
    sample_facts,
)
from tests import factories as f
from workitems.models import WorkItem

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def check(expression: str, **facts) -> bool:
    return evaluate(compile_condition(expression), {**sample_facts(NOW), **facts}, NOW)


def test_the_design_example_compiles_and_evaluates():
    condition = compile_condition('item.status == "stalled" && item.days_since_update > 3')
    assert condition.fields == ("days_since_update", "status")
    assert not condition.uses_now
    assert check('item.status == "stalled" && item.days_since_update > 3', status="stalled")
    assert not check(
        'item.status == "stalled" && item.days_since_update > 3',
        status="stalled",
        days_since_update=3,
    )


@pytest.mark.parametrize(
    "expression",
    [
        '"bug" in item.labels && item.priority in ["urgent", "high"]',
        'item.title.contains("prod") || item.title.matches("^payments-")',
        'has(item.due_at) && item.due_at < now + duration("24h")',
        'item.assignee == "" ? item.age_days > 1 : item.hours_since_update >= 48',
        "size(item.labels) > 0 && !item.is_overdue",
        'item.source == "linear" // a comment',
    ],
)
def test_allowed_conditions_compile(expression):
    assert isinstance(check(expression), bool)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("item.status ==", "Syntax error"),
        ('item.stauts == "open"', "has no field 'stauts'"),
        ("item.status == foo", "Unknown variable 'foo'"),
        ('item.labels.exists(l, l == "bug")', "exists() is not allowed"),
        ("item.labels.map(item, item + item).size() > 1", "map() is not allowed"),
        ("[1, 2].filter(x, x > 1).size() > 0", "filter() is not allowed"),
        ('item["status"] == "open"', "as item.<field>"),
        ("size(item) > 2", "as item.<field>"),
        ("item.title.lowerAscii() == 'x'", "'lowerAscii' is not available"),
        ("item.priority > 2", "cannot work on a work item"),
        ("item.title", "must be true or false"),
        ("", "Write a condition"),
        ("true || " * 400 + "true", "at most 2000 characters"),
    ],
)
def test_bad_conditions_are_refused_with_a_message(expression, message):
    with pytest.raises(ConditionError) as excinfo:
        compile_condition(expression)
    assert message in excinfo.value.message


def test_field_names_inside_strings_are_not_references():
    assert compile_condition('item.title == "item.nonsense"').fields == ("title",)


def test_runtime_errors_are_reported_not_raised_as_crashes():
    condition = compile_condition("item.due_at < now")  # fine on the sample, which has a due date
    facts = sample_facts(NOW)
    del facts["due_at"]
    with pytest.raises(ConditionError) as excinfo:
        evaluate(condition, facts, NOW)
    assert "has no due_at (test it first with has(item.due_at))" in excinfo.value.message
    with pytest.raises(ConditionError):
        evaluate(compile_condition("10 / (item.age_days - 10) > 1"), sample_facts(NOW), NOW)


def test_facts_of_a_work_item(db):
    org = f.make_org()
    team = f.make_team(org, "Ops")
    item = WorkItem.objects.create(
        organization=org,
        team=team,
        source="jira",
        external_id="OPS-1",
        title="t",
        status="in_progress",
        labels=["a"],
        last_activity_at=NOW - timedelta(days=4, hours=2),
        due_at=NOW - timedelta(hours=1),
    )
    item = WorkItem.objects.select_related("team").get(pk=item.pk)
    facts = item_facts(item, NOW)
    assert facts["days_since_update"] == 4 and facts["hours_since_update"] == 98
    assert facts["team"] == "Ops" and facts["labels"] == ("a",) and facts["is_overdue"] is True
    assert "description" not in facts
    assert item_facts(item, NOW, description=True)["description"] == ""


def test_matcher_memoizes_on_the_fields_a_condition_reads():
    # Concatenation is not something the planner decides in Python: CEL evaluates it.
    compiled = compile_condition('item.status + "" == "stalled"')
    assert compiled.plan is None
    calls = []

    class Counting:
        def execute(self, context):
            calls.append(context.variables)
            return compiled.program.execute(context)

    condition = dataclasses.replace(compiled, program=Counting())
    matcher = Matcher([condition], NOW)
    facts = [
        {**sample_facts(NOW), "status": s, "title": str(i)}
        for i, s in enumerate(["stalled", "open"] * 50)
    ]
    assert matcher.run(0, facts[:60]) == [True, False] * 30
    assert matcher.run(0, facts[60:]) == [True, False] * 20  # the memo lasts the whole run
    assert len(calls) == matcher.evaluations == 2  # once per distinct status, whatever the titles
    # Only the fields the condition reads were converted into CEL (not the title, ...).
    assert calls[0] == {"now": NOW, "item_status": "stalled"}
