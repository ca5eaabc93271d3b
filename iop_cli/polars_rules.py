"""The pack compiled to Polars expressions: the same checked condition trees as the engine, evaluated column-wise.

Polars' `&`, `|` and `~` follow the same three-valued logic as `expr` (null is "unknown"), and comparisons with a null
give null, so each node maps onto one Polars operation. `decision_columns` then does what `engine.decide` does, for
every row at once: values that apply, missing required answers, the first rule that holds, the missing-answer guard,
and the alerts. `tests/test_score_parity.py` holds the two to identical results.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce

import polars as pl

from .expr import Expr, Node
from .pack import Pack, Question

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# Internal column names, prefixed so they cannot meet a pack's field ids.
VALUE = "__v_{}"
APPLIES = "__applies_{}"
MISSING = "__missing_{}"
LEVEL, RULE, REASON, ALERTS = "__level", "__rule", "__reason", "__alerts"


def compile_node(node: Node, column: Callable[[str], pl.Expr]) -> pl.Expr:
    """One checked expression node as a Polars expression; `column(name)` gives a field's typed column."""
    if node.is_literal:
        return pl.lit(node.literal)
    if node.name is not None and not node.op:
        return column(node.name)
    kids = [compile_node(child, column) for child in node.children]
    op = node.op
    if op == "and":
        return reduce(operator.and_, kids)
    if op == "or":
        return reduce(operator.or_, kids)
    if op == "not":
        return ~kids[0]
    if op == "neg":
        return -kids[0]
    if op == "pos":
        return kids[0]
    if op == "+":
        return kids[0] + kids[1]
    if op == "-":
        return kids[0] - kids[1]
    if op in _COMPARE:
        return _COMPARE[op](kids[0], kids[1])
    if op in ("in", "not in"):
        inside = kids[0].is_in(list(node.literal))
        inside = pl.when(kids[0].is_null()).then(None).otherwise(inside)
        return ~inside if op == "not in" else inside
    if op == "is missing":
        return kids[0].is_null()
    if op == "is not missing":
        return kids[0].is_not_null()
    raise ValueError(f"no Polars form for operator {op!r}")  # the checker allows no other node


def compile_expr(expression: Expr, column: Callable[[str], pl.Expr]) -> pl.Expr:
    return compile_node(expression.root, column)


def value_col(name: str) -> pl.Expr:
    return pl.col(VALUE.format(name))


def _compute(question: Question) -> pl.Expr:
    compute = question.compute
    if compute.expression is not None:
        return compile_expr(compute.expression, value_col)
    chain = None
    for condition, value in compute.cases:
        test = compile_expr(condition, value_col)
        # An undecidable case makes the value unknown, never a later case's value (as Compute.evaluate).
        chain = (pl.when(test.is_null()) if chain is None else chain.when(test.is_null())).then(None)
        chain = chain.when(test).then(pl.lit(value))
    return chain.otherwise(pl.lit(compute.otherwise))


def value_stages(pack: Pack) -> list[list[pl.Expr]]:
    """Column groups, in pack order, that turn typed answers (`__v_ID`) into the values that apply, computed fields
    included, with `__applies_ID` per asked question. Each stage reads only columns made by earlier ones."""
    stages: list[list[pl.Expr]] = []
    for question in pack.questions.values():
        if question.computed:
            stages.append([_compute(question).alias(VALUE.format(question.id))])
            continue
        if question.ask_if is None:
            stages.append([pl.lit(True).alias(APPLIES.format(question.id))])
            continue
        shown = compile_expr(question.ask_if, value_col)
        stages.append(
            [
                # Unknown counts as applying (as engine.applicable): only a definite "no" removes the answer.
                shown.fill_null(True).alias(APPLIES.format(question.id)),
                pl.when(shown.eq(False)).then(None).otherwise(value_col(question.id)).alias(VALUE.format(question.id)),
            ]
        )
    return stages


def missing_columns(pack: Pack) -> list[pl.Expr]:
    return [
        (pl.col(APPLIES.format(q.id)) & value_col(q.id).is_null()).alias(MISSING.format(q.id))
        for q in pack.asked
        if q.required
    ]


def decision_columns(pack: Pack) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """(level, rule, reason) and then alerts, as two stages: alerts may read the chosen level."""
    required = [q.id for q in pack.asked if q.required]
    rules = pack.rules
    results = [compile_expr(rule.when, value_col) for rule in rules]
    blocked = []
    for rule, result in zip(rules, results, strict=True):
        sources = {s for name in rule.when.names if name in pack.questions for s in pack.sources(name)}
        guards = [pl.col(MISSING.format(s)) for s in required if s in sources]
        blocked.append(result.is_null() & reduce(operator.or_, guards) if guards else pl.lit(False))

    fired = pl.when(results[0]).then(pl.lit(0))
    for index, result in enumerate(results[1:], start=1):
        fired = fired.when(result).then(pl.lit(index))
    fired = fired.otherwise(None)

    # Whether a rule before the one that fired was blocked by a missing answer (all rules when none fired).
    blocked_before = pl.when(fired.is_null()).then(reduce(operator.or_, blocked))
    for index in range(len(rules)):
        before = reduce(operator.or_, blocked[:index]) if index else pl.lit(False)
        blocked_before = blocked_before.when(fired == index).then(before)
    urgent = [i for i, rule in enumerate(rules) if pack.levels[rule.level].urgent]
    fired_urgent = fired.is_in(urgent) if urgent else pl.lit(False)

    missing_any = reduce(operator.or_, [pl.col(MISSING.format(s)) for s in required]) if required else pl.lit(False)
    to_review = missing_any & (fired.is_null() | blocked_before | ~fired_urgent.fill_null(False))
    missing_list = pl.concat_str(
        [pl.when(pl.col(MISSING.format(s))).then(pl.lit(s)) for s in required], separator=", ", ignore_nulls=True
    )
    missing_reason = pl.concat_str(
        [
            pl.lit("Required answers are missing: "),
            missing_list,
            pl.lit(". A clinician decides until they are given."),
        ]
    )
    index = list(range(len(rules)))
    by_rule = {
        LEVEL: [rule.level for rule in rules],
        RULE: [rule.id for rule in rules],
        REASON: [rule.because for rule in rules],
    }
    fallback = {LEVEL: pack.otherwise.level, RULE: None, REASON: pack.otherwise.because}
    on_review = {LEVEL: pl.lit(pack.otherwise.level), RULE: pl.lit(None, dtype=pl.String), REASON: missing_reason}
    first = []
    for name, values in by_rule.items():
        chosen = fired.replace_strict(index, values, default=pl.lit(fallback[name], dtype=pl.String))
        first.append(pl.when(to_review).then(on_review[name]).otherwise(chosen).alias(name))

    order = {"safety": 0, "caution": 1, "info": 2}
    alerts = sorted(pack.alerts, key=lambda a: order.get(a.severity, 3))  # stable: pack order within a severity

    def alert_column(name: str) -> pl.Expr:
        return pl.col(LEVEL) if name == "level" else value_col(name)

    shown = [pl.when(compile_expr(a.when, alert_column)).then(pl.lit(a.id)) for a in alerts]
    second = [pl.concat_str(shown, separator=";", ignore_nulls=True).alias(ALERTS)] if shown else []
    return first, second
