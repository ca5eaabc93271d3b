"""The Polars back end: a checked tree as one Polars expression, evaluated column-wise.

Polars' `&`, `|` and `~` follow the same three-valued logic as `lang.py` (null is "unknown"), and comparisons with a
null give null, so each node kind maps onto one Polars operation. Compiling a whole pack's decision is `decide.frame`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce

import polars as pl

from iop_cli.lang.expr import Expr
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

Special = Callable[[Node], "pl.Expr | None"]


def compile_node(node: Node, column: Callable[[str], pl.Expr], special: Special | None = None) -> pl.Expr:
    """`node` as a Polars expression; `column(name)` gives a field's typed column, and `special`, when given, may
    compile a node its own way (returning None to leave it to the general rules)."""
    if special is not None and (done := special(node)) is not None:
        return done

    def sub(child: Node) -> pl.Expr:
        return compile_node(child, column, special)

    match node:
        case Lit(value=value):
            return literal(value)
        case Ref(name=name):
            return column(name)
        case Logic(op=op, parts=parts):
            return reduce(operator.and_ if op == "and" else operator.or_, [sub(p) for p in parts])
        case Not(operand=operand):
            return ~sub(operand)
        case Sign(negative=negative, operand=operand):
            return -sub(operand) if negative else sub(operand)
        case Arith(op=op, left=left, right=right):
            return sub(left) + sub(right) if op == "+" else sub(left) - sub(right)
        case Compare(op=op, left=left, right=right):
            return COMPARE[op](sub(left), sub(right))  # Polars compares Int64 with Float64 as floats itself
        case Member(negate=negate, operand=operand, values=listed, as_float=floats):
            inner, values = sub(operand), list(listed)
            if floats:  # as `lang.py`: whole numbers meet decimals as floats (Polars will not mix them in is_in)
                inner, values = inner.cast(pl.Float64), [float(x) for x in values]
            inside = pl.when(inner.is_null()).then(None).otherwise(inner.is_in(values))
            return ~inside if negate else inside
        case Has(negate=negate, field=ref, value=value):
            holds = sub(ref).list.contains(pl.lit(value, dtype=pl.String))  # a null selection gives null
            return ~holds if negate else holds
        case Missing(negate=negate, field=ref):
            return sub(ref).is_not_null() if negate else sub(ref).is_null()
        case _:
            assert_never(node)


def literal(value: object) -> pl.Expr:
    """Numbers as Int64 or Float64, the types the checker's bounds assume, whatever Polars would infer for a literal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return pl.lit(value)
    return pl.lit(value, dtype=pl.Int64 if isinstance(value, int) else pl.Float64)


def compile_expr(expression: Expr, column: Callable[[str], pl.Expr], special: Special | None = None) -> pl.Expr:
    return compile_node(expression.root, column, special)
