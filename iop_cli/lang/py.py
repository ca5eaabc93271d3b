"""The Python back end: a checked tree as a closure over a mapping of answers, with three-valued logic.

A field with no answer is unknown (`None`), and unknown flows through `and`/`or`/`not` the way SQL's NULL does, so a
condition over a missing answer is never silently false. Decimal fields are floats however the answer was written,
and a whole number meets a decimal as a float, as in Polars (`lang.polars`); `tests/test_expr_backends.py` holds the
back ends to the same results on generated trees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

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


class Range(NamedTuple):
    """A whole number known only to lie in [lo, hi]: the total of an instrument partly answered (the items given
    fix that much). A test decides where every value of the range agrees (`ciwa_ar >= 20` when the items given
    already sum to 20); otherwise it is unknown. `is missing` is true of it: a partly answered instrument counts as
    not taken. Arithmetic over it is unknown. Each test is decided on its own (three-valued), so a condition that
    tests one total twice may stay unknown where every value would agree; `lang.polars` decides alike."""

    lo: int
    hi: int


def range_compare(op: str, a: Any, b: Any) -> bool | None:
    """`a op b` where one side is a Range and the other a number."""
    if isinstance(b, Range):  # a op b is b op' a
        a, b, op = b, a, {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}[op]
    if isinstance(b, Range):
        return None
    lo, hi = a
    if op in ("==", "!="):
        if lo == hi == b:
            return op == "=="
        if b < lo or b > hi:
            return op == "!="
        return None
    fn = COMPARE[op]
    at_lo, at_hi = fn(lo, b), fn(hi, b)  # an order test is monotone over the range: its ends decide
    return at_lo if at_lo == at_hi else None


def range_member(values: frozenset[Any], lo: int, hi: int) -> bool | None:
    """Whether a Range lies in `values` (True), outside them (False), or is undecided (None)."""
    whole = {int(x) for x in values if isinstance(x, (int, float)) and not isinstance(x, bool) and x == int(x)}
    inside = sum(1 for x in whole if lo <= x <= hi)
    if inside == 0:
        return False
    return True if inside == hi - lo + 1 else None


def _floated(e: Evaluator) -> Evaluator:
    def ev(v):
        value = e(v)
        if isinstance(value, Range):
            return Range(tree.as_float(value.lo), tree.as_float(value.hi))  # type: ignore[arg-type]
        return None if value is None else tree.as_float(value)

    return ev


def _plain(ref: Ref, floats: bool) -> bool:
    """Whether a field compiles to its answer as given (no conversion to float)."""
    return ref.field_type.kind != "number" and not (floats and _whole(ref))


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

            def logic(v):  # three-valued: the dominant value (False for and, True for or) wins outright; otherwise
                # any unknown makes the result unknown. A plain loop: the searches run it a few hundred thousand times.
                unknown = False
                for e in evs:
                    value = e(v)
                    if value is dominant:
                        return dominant
                    if value is None:
                        unknown = True
                return None if unknown else not dominant

            return logic
        case Sign(negative=negative, operand=operand):
            e = compile(operand)
            if not negative:
                return e

            def minus(v):
                value = e(v)
                return None if value is None or isinstance(value, Range) else -value

            return minus
        case Arith(op=op, left=left, right=right):
            le, re_ = compile(left), compile(right)
            add = op == "+"

            def arith(v):
                a = le(v)
                if a is None or isinstance(a, Range):  # unknown whatever the other side is: a long sum of items
                    return None  # stops at its first blank
                b = re_(v)
                if b is None or isinstance(b, Range):
                    return None
                return a + b if add else a - b

            return arith
        case Compare(op=op, left=left, right=right, as_float=floats):
            le, re_ = compile(left), compile(right)
            if floats:  # only the whole side needs it; a float is unchanged
                le, re_ = (_floated(le) if _whole(left) else le), (_floated(re_) if _whole(right) else re_)
            fn = COMPARE[op]
            if isinstance(right, Lit):  # `x >= 10`, the common case: the literal once, the field read directly
                b = re_({})
                field = left.name if isinstance(left, Ref) and _plain(left, floats) else None

                def compare_literal(v):
                    a = v.get(field) if field is not None else le(v)
                    if a is None or b is None:
                        return None
                    if isinstance(a, Range):
                        return range_compare(op, a, b)
                    return fn(a, b)

                return compare_literal

            def compare(v):
                a, b = le(v), re_(v)
                if a is None or b is None:
                    return None
                if isinstance(a, Range) or isinstance(b, Range):
                    return range_compare(op, a, b)
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
                if isinstance(a, Range):
                    inside = range_member(values, a.lo, a.hi)
                    return None if inside is None else inside != negate
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
            return lambda v: (v.get(name) is None or isinstance(v.get(name), Range)) != negate
        case _:
            assert_never(node)
