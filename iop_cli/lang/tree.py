"""The checked condition tree: one immutable class per node kind, and nothing else.

`lang.expr` is the only producer (one parser and checker, for packs and maps alike). Every back end (`lang.py`,
`lang.polars`, `lang.words`, and the walkers in `lang.walk`) handles every kind in a `match` that ends in
`assert_never`, so a kind one of them forgets is a type-checker error (mypy) and fails `tests/test_expr_backends.py`.

Nodes are named tuples: immutable, and about ten times quicker to define than frozen dataclasses, which counts at
start-up (the interview's first question loads the pack). A node's `kind` is the kind of value it gives: bool,
number, string (a quoted word), choice, multi (a multi-select field), text or level. A numeric node also carries `bounds`, the values it can take
given the fields' declared ranges; the checker uses them to refuse arithmetic that could overflow, and the back ends
to compare whole numbers with decimals the same way.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, NoReturn, Union


class FieldType(NamedTuple):
    """What the checker needs to know about a name: its kind, choices and range."""

    kind: str  # yesno, choice, multi (several choices), integer, number, text, level
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None


class Bounds(NamedTuple):
    """The values a numeric node can take, given the fields' declared ranges; `whole` for integer arithmetic."""

    lo: int | float
    hi: int | float
    whole: bool


def as_float(value: int | float) -> float:
    """A whole number as a float, as Polars casts Int64 to Float64 (beyond the float range: infinity)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


class Lit(NamedTuple):
    """A literal: true/false, a number, or a quoted word."""

    kind: str  # bool, number, string
    text: str
    col: int
    value: bool | int | float | str
    bounds: Bounds | None = None  # numbers: the value itself


class Ref(NamedTuple):
    """A field (a question, a computed field, `level` in an alert, or an input column in a map)."""

    kind: str  # bool (yes/no), number, choice, text, level
    text: str
    col: int
    name: str
    field_type: FieldType
    bounds: Bounds | None = None  # numeric fields: their range


class Not(NamedTuple):
    text: str
    col: int
    operand: Node  # a yes/no condition
    kind: str = "bool"  # never passed: the kind of value this node gives


class Logic(NamedTuple):
    """`a and b and ...` or `a or b or ...` (a chained comparison `1 < x < 5` is an `and` of two)."""

    text: str
    col: int
    op: Literal["and", "or"]
    parts: tuple[Node, ...]  # two or more yes/no conditions
    kind: str = "bool"  # never passed: the kind of value this node gives


class Sign(NamedTuple):
    """`-x` or `+x` over a number that is not a literal (`-3` is a literal)."""

    text: str
    col: int
    negative: bool  # -x, else +x
    operand: Node
    bounds: Bounds
    kind: str = "number"  # never passed: the kind of value this node gives


class Arith(NamedTuple):
    text: str
    col: int
    op: Literal["+", "-"]  # the language's only arithmetic
    left: Node
    right: Node
    bounds: Bounds
    kind: str = "number"  # never passed: the kind of value this node gives


CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]


class Compare(NamedTuple):
    """A comparison of two operands; when one is whole and the other a decimal, both compare as floats
    (`as_float`), as Polars compares Int64 with Float64."""

    text: str
    col: int
    op: CompareOp
    left: Node
    right: Node
    as_float: bool = False
    kind: str = "bool"  # never passed: the kind of value this node gives


class Member(NamedTuple):
    """`x in [...]` or `x not in [...]` over literal values; `as_float` when a side is not whole (the values are then
    floats, and so is `x`, in every back end)."""

    text: str
    col: int
    negate: bool
    operand: Node
    values: tuple[bool | int | float | str, ...]
    as_float: bool = False
    kind: str = "bool"  # never passed: the kind of value this node gives


class Has(NamedTuple):
    """`'a' in x` or `'a' not in x` over a multi-select field `x`: whether its selection holds the choice `a`."""

    text: str
    col: int
    negate: bool
    field: Ref
    value: str
    kind: str = "bool"  # never passed: the kind of value this node gives


class Missing(NamedTuple):
    """`x is missing` or `x is not missing`: the one test that is never unknown."""

    text: str
    col: int
    negate: bool
    field: Ref
    kind: str = "bool"  # never passed: the kind of value this node gives


Node = Union[Lit, Ref, Not, Logic, Sign, Arith, Compare, Member, Has, Missing]
NODE_KINDS: tuple[type, ...] = (Lit, Ref, Not, Logic, Sign, Arith, Compare, Member, Has, Missing)


# What each comparison means, for the back ends that evaluate it with Python's operators (Python, Polars).
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def assert_never(value: NoReturn) -> NoReturn:
    """The end of an exhaustive `match` over the node kinds (typing.assert_never, which Python 3.10 lacks)."""
    raise AssertionError(f"no case for {type(value).__name__}")


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly under `node`, left to right."""
    match node:
        case Lit() | Ref():
            return ()
        case Not(operand=inner) | Sign(operand=inner) | Member(operand=inner):
            return (inner,)
        case Missing(field=ref) | Has(field=ref):
            return (ref,)
        case Logic(parts=parts):
            return parts
        case Arith(left=left, right=right) | Compare(left=left, right=right):
            return (left, right)
        case _:
            assert_never(node)


def field_names(node: Node) -> set[str]:
    """Every field `node` reads."""
    if isinstance(node, Ref):
        return {node.name}
    names: set[str] = set()
    for child in children(node):
        names |= field_names(child)
    return names


def bounds_of(node: Node) -> Bounds | None:
    """The values a numeric node can take; None for the others."""
    return node.bounds if isinstance(node, (Lit, Ref, Sign, Arith)) else None
