"""Policy conditions: CEL over a work item, compiled once and checked before it is saved.

The CEL implementation is `common-expression-language` (module `cel`, a Rust extension). It has
no type checker of its own for our data, so saving a condition runs our checks:

* it parses (the compiler's message is shown otherwise);
* it uses only the variables `item` and `now`, the allow-listed functions, and fields the work
  item has (`item.titel` is refused, naming the fields that exist);
* it uses no comprehension macros (`all`, `exists`, `exists_one`, `map`, `filter`): nested ones
  over lists take time exponential in the nesting, and every list here is small enough for
  `"bug" in item.labels`;
* evaluated against a sample item it returns true or false, not a type error.

How it runs fast enough for a schedule over thousands of items (see bench/): converting a
Python value into CEL costs about a microsecond, far more than evaluating, so

* each `item.<field>` is compiled as a top-level variable `item_<field>` (and `has(item.f)` as
  a boolean `item__has_f`): the same semantics, without building a CEL map per call;
* a run keeps one CEL context and converts a field of an item at most once, and only when some
  condition actually needs it;
* a run memoizes each condition on the values of the fields it reads (a condition is a pure
  function of them, and `now` is fixed for the run), so the repeated (status, source, days)
  combinations of real work are evaluated once; a condition whose inputs never repeat (a title)
  stops being memoized after a while.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from typing import Any

import cel

from policies.planner import Plan, plan
from workitems.choices import WorkItemStatus

MAX_CONDITION_LENGTH = 2000

#: What a condition can read: name → (CEL type, meaning). A value the item does not have is
#: null, and `has(item.due_at)` is false for it.
ITEM_FIELDS: dict[str, tuple[str, str]] = {
    "id": ("string", "CWA's id of the work item"),
    "source": ("string", "slack, linear, jira, github, alertmanager, email or manual"),
    "external_id": ("string", "the id in the source"),
    "title": ("string", "title"),
    "description": ("string", "description or message text"),
    "status": ("string", "open, in_progress, blocked, stalled or done"),
    "priority": ("string", 'urgent, high, medium, low or "" (none)'),
    "assignee": ("string", 'who it is assigned to ("" when nobody)'),
    "labels": ("list(string)", 'labels or tags: "bug" in item.labels'),
    "team": ("string", 'name of the team it belongs to ("" when none)'),
    "url": ("string", "link to the item in the source"),
    "created_at": ("timestamp", "when CWA first saw it"),
    "last_activity_at": ("timestamp", "last activity in the source"),
    "due_at": ("timestamp", "due date; null when there is none: has(item.due_at)"),
    "days_since_update": ("int", "whole days since the last activity"),
    "hours_since_update": ("int", "whole hours since the last activity"),
    "age_days": ("int", "whole days since CWA first saw it"),
    "is_overdue": ("bool", "due date passed and not done"),
}
VARIABLES = {"item": "the work item", "now": "the time of evaluation (timestamp)"}
FUNCTIONS = frozenset(
    {
        # operators, as the compiler names them
        "_==_",
        "_!=_",
        "_<_",
        "_<=_",
        "_>_",
        "_>=_",
        "_&&_",
        "_||_",
        "!_",
        "-_",
        "_+_",
        "_-_",
        "_*_",
        "_/_",
        "_%_",
        "_?_:_",
        "_[_]",
        "@in",
        # functions
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bool",
        "timestamp",
        "duration",
        "getFullYear",
        "getMonth",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
    }
)
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Errors the cel extension raises while evaluating: a missing key, a type mismatch, a bad
# argument to a function, arithmetic.
RUNTIME_ERRORS = (LookupError, TypeError, ValueError, ArithmeticError, RuntimeError)

_TOKENS = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>
        (?:[rR][bB]?|[bB][rR])(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n]*"|'[^'\n]*')
      | [bB]?(?:\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''
               |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    )
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<op>&&|\|\||==|!=|<=|>=)
  | (?P<punct>\S)
    """,
    re.VERBOSE,
)


class ConditionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Condition:
    """A compiled, checked condition and what it reads.

    `program` is the flattened form (`item_<field>` variables); `fields` are the item fields it
    reads, `presence` those it tests with has().
    """

    source: str
    program: Any
    fields: tuple[str, ...]
    presence: tuple[str, ...]
    uses_now: bool
    #: the parts Python decides column-wise (policies/planner.py), if any
    plan: Plan | None = None
    #: (CEL variable, field, is a has() flag) for everything the program reads
    variables: tuple[tuple[str, str, bool], ...] = ()

    def __post_init__(self) -> None:
        variables = tuple((f"item_{name}", name, False) for name in self.fields) + tuple(
            (f"item__has_{name}", name, True) for name in self.presence
        )
        object.__setattr__(self, "variables", variables)


@dataclass
class _Token:
    kind: str
    value: str
    start: int
    end: int


def _tokens(expression: str) -> list[_Token]:
    return [
        _Token(m.lastgroup or "punct", m.group(), m.start(), m.end())
        for m in _TOKENS.finditer(expression)
        if m.lastgroup != "space"
    ]


def _flatten(expression: str) -> tuple[str, set[str], set[str], list[str]]:
    """The expression with `item.f` → `item_f` and `has(item.f)` → `item__has_f`; the fields
    read, the fields tested for presence, and problems a parser does not catch."""
    tokens = _tokens(expression)
    fields: set[str] = set()
    presence: set[str] = set()
    problems: list[str] = []
    edits: list[tuple[int, int, str]] = []
    values = [t.value for t in tokens]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        before = values[i - 1] if i else ""
        if (
            token.kind == "ident"
            and token.value in MACROS
            and before == "."
            and values[i + 1 : i + 2] == ["("]
        ):
            problems.append(
                f"{token.value}() is not allowed (comprehensions can be very slow); for "
                'labels use "name" in item.labels.'
            )
        if (
            token.kind == "ident"
            and token.value == "has"
            and before != "."
            and values[i + 1 : i + 4] == ["(", "item", "."]
            and i + 5 < len(tokens)
            and tokens[i + 4].kind == "ident"
            and values[i + 5] == ")"
        ):
            name = values[i + 4]
            presence.add(name)
            edits.append((token.start, tokens[i + 5].end, f"item__has_{name}"))
            i += 6
            continue
        if token.kind == "ident" and token.value == "item" and before != ".":
            if (
                values[i + 1 : i + 2] == ["."]
                and i + 2 < len(tokens)
                and tokens[i + 2].kind == "ident"
            ):
                name = values[i + 2]
                fields.add(name)
                edits.append((token.start, tokens[i + 2].end, f"item_{name}"))
                i += 3
                continue
            problems.append("Read the work item's fields as item.<field> (e.g. item.status).")
        i += 1
    flat = []
    cursor = 0
    for start, end, text in edits:
        flat.append(expression[cursor:start])
        flat.append(text)
        cursor = end
    flat.append(expression[cursor:])
    return "".join(flat), fields, presence, problems


def sample_facts(now: datetime) -> dict[str, Any]:
    """A work item with every field set, to check a condition's types before it is saved."""
    return {
        "id": "00000000-0000-0000-0000-000000000000",
        "source": "linear",
        "external_id": "OPS-1",
        "title": "Sample",
        "description": "Sample description",
        "status": WorkItemStatus.OPEN.value,
        "priority": "high",
        "assignee": "sam",
        "labels": ("bug",),
        "team": "Operations",
        "url": "https://example.com/OPS-1",
        "created_at": now - timedelta(days=10),
        "last_activity_at": now - timedelta(days=4),
        "due_at": now + timedelta(days=1),
        "days_since_update": 4,
        "hours_since_update": 96,
        "age_days": 10,
        "is_overdue": False,
    }


def _field_list() -> str:
    return ", ".join(sorted(ITEM_FIELDS))


@lru_cache(maxsize=2048)
def compile_condition(expression: str) -> Condition:
    """Compile and check a condition; ConditionError with a message a person can act on."""
    expression = expression.strip()
    if not expression:
        raise ConditionError('Write a condition, e.g. item.status == "stalled".')
    if len(expression) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"A condition is at most {MAX_CONDITION_LENGTH} characters.")
    try:
        program = cel.compile(expression)
    except ValueError as exc:
        raise ConditionError(str(exc))
    flat, fields, presence, problems = _flatten(expression)
    if problems:
        raise ConditionError(problems[0])
    references = program.references()
    unknown_vars = sorted(set(references["variables"]) - set(VARIABLES))
    if unknown_vars:
        raise ConditionError(
            f"Unknown variable {unknown_vars[0]!r}: a condition can use item and now "
            f"(e.g. item.status). Comprehension macros are not allowed."
        )
    unknown_functions = sorted(set(references["functions"]) - FUNCTIONS)
    if unknown_functions:
        raise ConditionError(f"The function {unknown_functions[0]!r} is not available here.")
    unknown_fields = sorted((fields | presence) - set(ITEM_FIELDS))
    if unknown_fields:
        raise ConditionError(
            f"A work item has no field {unknown_fields[0]!r}. Fields: {_field_list()}."
        )
    try:
        flat_program = cel.compile(flat)
    except ValueError as exc:  # our rewrite must never break a valid expression
        raise ConditionError(f"This condition cannot be prepared: {exc}")
    condition = Condition(
        source=expression,
        program=flat_program,
        fields=tuple(sorted(fields)),
        presence=tuple(sorted(presence)),
        uses_now="now" in references["variables"],
        plan=plan(_tokens(expression)),
    )
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    try:
        result = condition.program.execute(activation(condition, sample_facts(now), now))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConditionError(f"This condition cannot work on a work item: {exc}")
    except (LookupError, ArithmeticError):
        result = False  # depends on the data (a zero, a missing value): checked at run time
    if not isinstance(result, bool):
        raise ConditionError(
            f"A condition must be true or false; this one gives a {type(result).__name__}."
        )
    return condition


def activation(condition: Condition, facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    """CEL variables for one evaluation. A field without a value is null (so using it fails)
    and its has() flag is false."""
    values: dict[str, Any] = {
        variable: (facts.get(name) is not None) if flag else facts.get(name)
        for variable, name, flag in condition.variables
    }
    if condition.uses_now:
        values["now"] = now
    return values


def _failure(condition: Condition, facts: dict[str, Any], exc: Exception) -> ConditionError:
    missing = [name for name in condition.fields if facts.get(name) is None]
    if missing:
        return ConditionError(
            f"the work item has no {missing[0]} (test it first with has(item.{missing[0]}))"
        )
    return ConditionError(f"{type(exc).__name__}: {exc}")


def _result(result: Any) -> bool:
    if not isinstance(result, bool):
        raise ConditionError(f"the condition gave a {type(result).__name__}, not true or false")
    return result


def evaluate(condition: Condition, facts: dict[str, Any], now: datetime) -> bool:
    """True or False for one item; ConditionError when the condition fails on it."""
    try:
        result = condition.program.execute(activation(condition, facts, now))
    except RUNTIME_ERRORS as exc:
        raise _failure(condition, facts, exc)
    return _result(result)


class Matcher:
    """Evaluates conditions over many items within one run (see the module docstring).

    Column by column: for one condition, the values of the fields it reads are taken from every
    item at once, the condition is evaluated once per distinct combination (memoized for the
    rest of the run), and each item gets its combination's outcome. One CEL context serves the
    run, so only the values actually evaluated are ever converted into CEL.
    """

    MAX_MEMO = 100_000

    def __init__(self, conditions: Iterable[Condition], now: datetime) -> None:
        self.conditions = list(conditions)
        self.now = now
        self._memo: list[dict[Any, bool | ConditionError]] = [{} for _ in self.conditions]
        self._getters = [
            itemgetter(*sorted(set(c.fields) | set(c.presence))) if c.fields or c.presence else None
            for c in self.conditions
        ]
        self._context = cel.Context({"now": now})
        self.evaluations = 0  # CEL calls actually made (the rest came from the memo)
        self.failed = False

    def run(self, index: int, facts_list: list[dict[str, Any]]) -> list[bool | ConditionError]:
        """The outcome of condition `index` for each of the facts, in order. Afterwards
        `failed` says whether any outcome is a ConditionError (else they are all bools)."""
        self.failed = False
        if not facts_list:
            return []
        condition_plan = self.conditions[index].plan
        if condition_plan is not None:
            try:
                mask = condition_plan.mask(facts_list)
            except (KeyError, TypeError):  # a field that was not loaded
                return self._cel(index, facts_list)
            if condition_plan.exact:
                return mask
            # `atoms && rest`: false wherever an atom is false; CEL decides the others.
            survivors = list(compress(facts_list, mask))
            decided = iter(self._cel(index, survivors))
            return [next(decided) if ok else False for ok in mask]
        return self._cel(index, facts_list)

    def _cel(self, index: int, facts_list: list[dict[str, Any]]) -> list[bool | ConditionError]:
        if not facts_list:
            return []
        condition, getter = self.conditions[index], self._getters[index]
        if getter is None:  # reads no field of the item (`true`, or only `now`)
            outcome = self._evaluate(condition, facts_list[0])
            self.failed = not isinstance(outcome, bool)
            return [outcome] * len(facts_list)
        memo = self._memo[index]
        if len(memo) > self.MAX_MEMO:
            memo.clear()
        try:
            keys = list(map(getter, facts_list))
            representatives = dict(zip(keys, facts_list, strict=True))
        except (KeyError, TypeError):  # a field not loaded, or a value that cannot be a key
            outcomes = [self._evaluate(condition, facts) for facts in facts_list]
            self.failed = not all(isinstance(o, bool) for o in outcomes)
            return outcomes
        for key, facts in representatives.items():
            if key not in memo:
                memo[key] = self._evaluate(condition, facts)
        self.failed = not all(isinstance(memo[key], bool) for key in representatives)
        return list(map(memo.__getitem__, keys))

    def check(self, index: int, facts: dict[str, Any]) -> bool | ConditionError:
        return self.run(index, [facts])[0]

    def _evaluate(self, condition: Condition, facts: dict[str, Any]) -> bool | ConditionError:
        self.evaluations += 1
        context = self._context
        for variable, name, flag in condition.variables:
            value = facts.get(name)
            context.add_variable(variable, (value is not None) if flag else value)
        try:
            return _result(condition.program.execute(context))
        except RUNTIME_ERRORS as exc:
            return _failure(condition, facts, exc)
        except ConditionError as exc:
            return exc


def item_facts(item: Any, now: datetime, *, description: bool = False) -> dict[str, Any]:
    """The values conditions and templates see for a work item (see ITEM_FIELDS).

    The item's team must be loaded (select_related) and `description` only when asked for: the
    engine defers it when scanning many items.
    """
    created = item.created_at or now
    last = item.last_activity_at or created
    quiet = max((now - last).total_seconds(), 0.0)
    due = item.due_at
    facts = {
        "id": str(item.pk),
        "source": item.source,
        "external_id": item.external_id,
        "title": item.title,
        "status": item.status,
        "priority": item.priority,
        "assignee": item.assignee,
        "labels": tuple(item.labels) if isinstance(item.labels, list) else (),
        "team": item.team.name if item.team_id else "",
        "url": item.url,
        "created_at": created,
        "last_activity_at": last,
        "days_since_update": int(quiet // 86400),
        "hours_since_update": int(quiet // 3600),
        "age_days": max((now - created).days, 0),
        "is_overdue": due is not None and due < now and item.status != WorkItemStatus.DONE,
        "due_at": due,
    }
    if description:
        facts["description"] = item.description
    return facts
