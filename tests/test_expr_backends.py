"""Every operator of the condition tree (`expr.Op`) reaches every back end: Python evaluation, Polars expressions
and plain words. mypy checks the `match` statements are exhaustive; this test checks it at run time too, and that
the set of example conditions below covers every operator the checker can produce."""

from __future__ import annotations

import polars as pl
import pytest

from iop_cli.authoring.doc import plain
from iop_cli.decide.frame import compile_expr
from iop_cli.lang.expr import OPS, FieldType, Node, parse

FIELDS = {
    "age": FieldType("integer", min=12, max=110),
    "dose": FieldType("number", min=0, max=100),
    "sud": FieldType("yesno"),
    "kind": FieldType("choice", choices=("a", "b")),
}
ROWS = [
    {"age": 34, "dose": 2.5, "sud": True, "kind": "a"},
    {"age": None, "dose": None, "sud": None, "kind": None},
    {"age": 12, "dose": 0.0, "sud": False, "kind": "b"},
]
EXAMPLES = [
    "sud and age > 30",
    "sud or kind == 'a'",
    "not sud",
    "-age < -20",
    "+age >= 12",
    "age + 1 > 30",
    "age - 1 <= 30",
    "age != 30",
    "dose = 2.5",
    "age <> 30",
    "12 < age < 50",
    "kind in ['a', 'b']",
    "kind not in ['b']",
    "age in [12, 34.5]",
    "age is missing",
    "dose is not missing",
]


def ops(node: Node) -> set[str]:
    found = {node.op}
    for child in node.children:
        found |= ops(child)
    return found


def test_the_examples_cover_every_operator():
    covered: set[str] = set()
    for text in EXAMPLES:
        covered |= ops(parse(text, FIELDS).root)
    assert covered == set(OPS), set(OPS) - covered


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_back_end_handles_every_operator(text):
    expression = parse(text, FIELDS)
    frame = pl.DataFrame(ROWS, schema={"age": pl.Int64, "dose": pl.Float64, "sud": pl.Boolean, "kind": pl.String})
    got = frame.select(compile_expr(expression, pl.col).alias("r"))["r"].to_list()
    assert got == [expression.evaluate(row) for row in ROWS]
    assert plain(expression.root).strip()
