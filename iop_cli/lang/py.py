"""The Python back end: a checked tree as a closure over a mapping of answers, with three-valued logic.

A field with no answer is unknown (`None`), and unknown flows through `and`/`or`/`not` the way SQL's NULL does, so a
condition over a missing answer is never silently false. Decimal fields are floats however the answer was written,
and a whole number meets a decimal as a float, as in Polars (`lang.polars`); `tests/test_expr_backends.py` holds the
back ends to the same results on generated trees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from iop_cli.lang import tree
from iop_cli.lang.tree import (
    COMPARE,
    Arith,
    Compare,
    Has,
    Lit,
    Logic,
    Member,
    Missing,
    Node,
    Not,
    Ref,
    Sign,
    assert_never,
)

Evaluator = Callable[[Mapping[str, Any]], Any]


def _kleene(values, dominant: bool):
    """Three-valued `and` (dominant False) or `or` (dominant True): the dominant value wins outright; otherwise any
    unknown makes the result unknown."""
    unknown = False
    for value in values:
        if value is dominant:
            return dominant
        if value is None:
            unknown = True
    return None if unknown else not dominant


def _floated(e: Evaluator) -> Evaluator:
    def ev(v):
        value = e(v)
        return None if value is None else tree.as_float(value)

    return ev


def _whole(node: Node) -> bool:
    bounds = tree.bounds_of(node)
    return bounds is not None and bounds.whole


def compile(node: Node) -> Evaluator:
    """`node` as a function of the answers (field id -> value, None or absent for unanswered)."""
    match node:
        case Lit(value=value):
            return lambda v: value
        case Ref(name=name, field_type=ftype):
            if ftype.kind == "number":  # decimals are floats in both back ends, however the answer was written
                return _floated(lambda v: v.get(name))
            return lambda v: v.get(name)
        case Not(operand=operand):
            e = compile(operand)

            def negation(v):
                value = e(v)
                return None if value is None else not value

            return negation
        case Logic(op=op, parts=parts):
            evs = [compile(p) for p in parts]
            dominant = op == "or"
            return lambda v: _kleene((e(v) for e in evs), dominant)
        case Sign(negative=negative, operand=operand):
            e = compile(operand)
            if not negative:
                return e

            def minus(v):
                value = e(v)
                return None if value is None else -value

            return minus
        case Arith(op=op, left=left, right=right):
            le, re_ = compile(left), compile(right)
            add = op == "+"

            def arith(v):
                a = le(v)
                if a is None:  # unknown whatever the other side is: a long sum of items stops at its first blank
                    return None
                b = re_(v)
                if b is None:
                    return None
                return a + b if add else a - b

            return arith
        case Compare(op=op, left=left, right=right, as_float=floats):
            le, re_ = compile(left), compile(right)
            if floats:  # only the whole side needs it; a float is unchanged
                le, re_ = (_floated(le) if _whole(left) else le), (_floated(re_) if _whole(right) else re_)
            fn = COMPARE[op]

            def compare(v):
                a, b = le(v), re_(v)
                if a is None or b is None:
                    return None
                return fn(a, b)

            return compare
        case Member(negate=negate, operand=operand, values=listed, as_float=floats):
            e = compile(operand)
            values: frozenset[Any] = frozenset(listed)
            if floats:
                e, values = _floated(e), frozenset(tree.as_float(x) for x in listed)  # type: ignore[arg-type]

            def member(v):
                a = e(v)
                if a is None:
                    return None
                return (a in values) != negate

            return member
        case Has(negate=negate, field=ref, value=value):
            name = ref.name

            def has(v):
                selected = v.get(name)
                return None if selected is None else (value in selected) != negate

            return has
        case Missing(negate=negate, field=ref):
            name = ref.name
            return lambda v: (v.get(name) is None) != negate
        case _:
            assert_never(node)
