"""Planning a condition: the simple comparisons it is made of run column-wise in Python.

Most conditions are a few comparisons of a work item's fields with literals joined by `&&`
(`item.status == "stalled" && item.days_since_update > 3`). Evaluating those through CEL costs
a microsecond or more per item, almost all of it converting values; comparing a column of
Python values costs a few hundredths of one. So the engine plans each condition once:

* An *atom* is one comparison whose meaning is the same in Python and CEL for the field's type:
  a string or int field against a literal of the same type (`==  !=  <  <=  >  >=`), `in` a
  list of such literals, `"x" in item.labels`, `size(item.labels)` against an int,
  `.contains / .startsWith / .endsWith` with a string literal on a string field, a bool field
  or its negation, and `has(item.f)`. These fields always have a value, so an atom never fails.
* A condition that is atoms joined by `&&` (or all by `||`) is decided by its atoms alone
  (`exact`). A condition joined by `&&` with other parts is false wherever an atom is false
  (CEL's `&&` is false as soon as one side is, whatever the other gives), and CEL decides the
  rest. Anything else goes to CEL entirely.

Only field names from the allow-list and literals parsed here reach the plan; nothing is
`eval`ed. tests/policies/test_planner.py checks the plans against CEL on random items.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial, reduce
from operator import itemgetter, methodcaller
from typing import Any

STRING_FIELDS = frozenset(
    {"id", "source", "external_id", "title", "status", "priority", "assignee", "team", "url"}
)
INT_FIELDS = frozenset({"days_since_update", "hours_since_update", "age_days"})
BOOL_FIELDS = frozenset({"is_overdue"})
LIST_FIELDS = frozenset({"labels"})
OPTIONAL_FIELDS = frozenset({"due_at"})

# `x OP literal` as `partial(function, literal)(x)`: the literal comes first.
_AGAINST_LITERAL: dict[str, Callable[..., bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.gt,  # x < v  ⇔  v > x
    "<=": operator.ge,
    ">": operator.lt,
    ">=": operator.le,
}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_METHODS = {"contains": "__contains__", "startsWith": "startswith", "endsWith": "endswith"}


@dataclass(frozen=True)
class Atom:
    field: str
    test: Callable[[Any], bool]
    before: Callable[[Any], Any] | None = None  # e.g. len, for size(item.labels)

    def column(self, facts: list[dict[str, Any]]) -> Iterator[bool]:
        values: Iterator[Any] = map(itemgetter(self.field), facts)
        if self.before is not None:
            values = map(self.before, values)
        return map(self.test, values)


@dataclass(frozen=True)
class Plan:
    joiner: str  # "&&" or "||"
    atoms: tuple[Atom, ...]
    exact: bool  # the atoms decide the condition alone

    def mask(self, facts: list[dict[str, Any]]) -> list[bool]:
        combine = operator.and_ if self.joiner == "&&" else operator.or_
        return list(reduce(partial(map, combine), (atom.column(facts) for atom in self.atoms)))


def _string(token: Any) -> str | None:
    """A plain string literal's value ("..." or '...', no prefix, no escapes)."""
    value = token.value
    if token.kind != "string" or len(value) < 2 or value[0] not in "'\"" or "\\" in value:
        return None
    if value[:3] in ('"""', "'''") or value[-1] != value[0]:
        return None
    return value[1:-1]


def _int(token: Any) -> int | None:
    return int(token.value) if token.kind == "number" and token.value.isdigit() else None


def _literal(token: Any, field: str) -> Any:
    if field in STRING_FIELDS:
        return _string(token)
    if field in INT_FIELDS:
        return _int(token)
    return None


def _field(tokens: list[Any], i: int) -> str | None:
    """The field name if tokens[i:i+3] is `item . field`."""
    if (
        i + 2 < len(tokens)
        and tokens[i].value == "item"
        and tokens[i + 1].value == "."
        and tokens[i + 2].kind == "ident"
    ):
        return tokens[i + 2].value
    return None


def _strip_parens(tokens: list[Any]) -> list[Any]:
    while len(tokens) >= 2 and tokens[0].value == "(" and tokens[-1].value == ")":
        depth = 0
        for index, token in enumerate(tokens):
            depth += token.value in ("(", "[", "{")
            depth -= token.value in (")", "]", "}")
            if depth == 0 and index < len(tokens) - 1:
                return tokens  # the first paren closes early: (a) && (b)
        tokens = tokens[1:-1]
    return tokens


def atom(tokens: list[Any]) -> Atom | None:
    """The atom these tokens are, or None."""
    tokens = _strip_parens(tokens)
    values = [t.value for t in tokens]
    n = len(tokens)
    # item.f / !item.f (bool fields)
    if n == 3 and (name := _field(tokens, 0)) in BOOL_FIELDS:
        return Atom(name, bool)
    if n == 4 and values[0] == "!" and (name := _field(tokens, 1)) in BOOL_FIELDS:
        return Atom(name, operator.not_)
    # has(item.f)
    if n == 6 and values[:2] == ["has", "("] and values[5] == ")":
        name = _field(tokens, 2)
        if name in STRING_FIELDS | INT_FIELDS | BOOL_FIELDS | LIST_FIELDS | OPTIONAL_FIELDS:
            return Atom(name, partial(operator.is_not, None))
        return None
    # item.f OP literal, literal OP item.f
    if n == 5 and values[3] in _AGAINST_LITERAL and (name := _field(tokens, 0)):
        literal = _literal(tokens[4], name)
        if literal is not None:
            return Atom(name, partial(_AGAINST_LITERAL[values[3]], literal))
    if n == 5 and values[1] in _AGAINST_LITERAL and (name := _field(tokens, 2)):
        literal = _literal(tokens[0], name)
        if literal is not None:
            return Atom(name, partial(_AGAINST_LITERAL[_MIRROR[values[1]]], literal))
    # size(item.labels) OP int
    if (
        n == 8
        and values[:2] == ["size", "("]
        and values[5] == ")"
        and _field(tokens, 2) in LIST_FIELDS
        and values[6] in _AGAINST_LITERAL
        and (number := _int(tokens[7])) is not None
    ):
        return Atom(values[4], partial(_AGAINST_LITERAL[values[6]], number), before=len)
    # item.f in [literals]
    if n >= 6 and values[3:5] == ["in", "["] and values[-1] == "]" and (name := _field(tokens, 0)):
        items = tokens[5:-1]
        literals = [_literal(t, name) for t in items[::2]]
        separators = [t.value for t in items[1::2]]
        if (
            literals
            and None not in literals
            and all(sep == "," for sep in separators)
            and len(separators) in (len(literals) - 1, len(literals))
        ):
            return Atom(name, partial(operator.contains, frozenset(literals)))
    # "x" in item.labels
    if n == 5 and values[1] == "in" and _field(tokens, 2) in LIST_FIELDS:
        literal = _string(tokens[0])
        if literal is not None:
            return Atom(values[4], methodcaller("__contains__", literal))
    # item.f.contains("x") / startsWith / endsWith
    if (
        n == 8
        and (name := _field(tokens, 0)) in STRING_FIELDS
        and values[3] == "."
        and values[4] in _METHODS
        and values[5] == "("
        and values[7] == ")"
        and (literal := _string(tokens[6])) is not None
    ):
        return Atom(name, methodcaller(_METHODS[values[4]], literal))
    return None


def _split(tokens: list[Any], joiner: str) -> list[list[Any]] | None:
    """Parts of the expression joined by `joiner` at the top level; None if the top level
    also has the other joiner or a ternary."""
    other = "||" if joiner == "&&" else "&&"
    parts: list[list[Any]] = [[]]
    depth = 0
    for token in tokens:
        if token.value in ("(", "[", "{"):
            depth += 1
        elif token.value in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and token.value in (other, "?", ":"):
            return None
        elif depth == 0 and token.value == joiner:
            parts.append([])
            continue
        parts[-1].append(token)
    return parts


def plan(tokens: list[Any]) -> Plan | None:
    """How to run a condition, given its tokens (see the module docstring)."""
    tokens = _strip_parens(tokens)
    for joiner in ("&&", "||"):
        parts = _split(tokens, joiner)
        if parts is None or (joiner == "||" and len(parts) == 1):
            continue
        atoms = [atom(part) for part in parts]
        found = tuple(a for a in atoms if a is not None)
        exact = len(found) == len(atoms)
        if joiner == "&&" and found:
            return Plan("&&", found, exact)
        if joiner == "||" and exact:
            return Plan("||", found, True)
    return None
