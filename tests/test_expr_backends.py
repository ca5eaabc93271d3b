"""Every kind of node in the condition tree (`lang.tree`), in every variant (each operator, negated or not), reaches
every back end: Python evaluation (`lang.py`), Polars expressions (`lang.polars`), SQL (`lang.sql`), plain words
(`lang.words`) and the lint's walkers (`lang.walk`). mypy checks that each `match` is exhaustive; this test checks it at run time too, and
that the example conditions below cover every variant the checker can produce."""

from __future__ import annotations

import polars as pl
import pytest

from iop_cli.lang import tree, walk
from iop_cli.lang.expr import FieldType, parse
from iop_cli.lang.polars import compile_expr
from iop_cli.lang.words import plain

FIELDS = {
    "age": FieldType("integer", min=12, max=110),
    "dose": FieldType("number", min=0, max=100),
    "sud": FieldType("yesno"),
    "kind": FieldType("choice", choices=("a", "b")),
    "drugs": FieldType("multi", choices=("a", "b")),
}
ROWS = [
    {"age": 34, "dose": 2.5, "sud": True, "kind": "a", "drugs": ("a", "b")},
    {"age": None, "dose": None, "sud": None, "kind": None, "drugs": None},
    {"age": 12, "dose": 0.0, "sud": False, "kind": "b", "drugs": ()},
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
    "sud == true",
    "'a' in drugs",
    "'b' not in drugs and sud",
]


# Each kind, and the field that tells its variants apart.
VARIANTS = {
    tree.Lit: ("kind", {"bool", "number", "string"}),
    tree.Ref: ("kind", {"bool", "number", "choice", "multi"}),
    tree.Not: (None, {None}),
    tree.Logic: ("op", {"and", "or"}),
    tree.Sign: ("negative", {True, False}),
    tree.Arith: ("op", {"+", "-"}),
    tree.Compare: ("op", {"==", "!=", "<", "<=", ">", ">="}),
    tree.Member: ("negate", {True, False}),
    tree.Has: ("negate", {True, False}),
    tree.Missing: ("negate", {True, False}),
}


def variants(node: tree.Node) -> set[tuple[str, object]]:
    attribute = VARIANTS[type(node)][0]
    found = {(type(node).__name__, getattr(node, attribute) if attribute else None)}
    for child in tree.children(node):
        found |= variants(child)
    return found


def test_the_examples_cover_every_kind_of_node():
    assert set(VARIANTS) == set(tree.NODE_KINDS) == set(tree.Node.__args__)  # type: ignore[attr-defined]
    covered: set[tuple[str, object]] = set()
    for text in EXAMPLES:
        covered |= variants(parse(text, FIELDS).root)
    wanted = {(kind.__name__, value) for kind, (_, values) in VARIANTS.items() for value in values}
    assert covered == wanted, wanted - covered


def test_the_tree_is_frozen():
    node = parse("age > 30", FIELDS).root
    with pytest.raises(AttributeError):
        node.op = "<"  # type: ignore[misc]


def test_the_walkers_see_every_numeric_test_as_a_sum_of_fields():
    def tests(text):
        found = []
        for a, b, numbers in walk.number_tests(parse(text, FIELDS).root):
            terms, constant = walk.linear(a)
            if b is not None:
                other, more = walk.linear(b)
                terms = {k: terms.get(k, 0) - other.get(k, 0) for k in {*terms, *other}}
                constant -= more
            found.append((terms, constant, numbers))
        return found

    assert tests("age > 30 or not (age <= 50)") == [({"age": 1}, 0, (30,)), ({"age": 1}, 0, (50,))]
    assert tests("age in [12, 40] and age + 2 < 90") == [({"age": 1}, 0, (12, 40)), ({"age": 1}, 2, (90,))]
    assert tests("-age < -20 and age is not missing") == [({"age": -1}, 0, (-20,))]
    assert tests("age - dose >= 1") == [({"age": 1, "dose": -1}, 0, (1,))]
    assert tests("age < dose") == [({"age": 1, "dose": -1}, 0, (0,))]
    assert walk.missing_tested(parse("sud or dose is missing and age is not missing", FIELDS).root) == {"dose", "age"}
    assert tree.field_names(parse("sud or kind == 'a' and dose is missing", FIELDS).root) == {"sud", "kind", "dose"}


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_back_end_handles_every_operator(text):
    expression = parse(text, FIELDS)
    schema = {"age": pl.Int64, "dose": pl.Float64, "sud": pl.Boolean, "kind": pl.String, "drugs": pl.List(pl.String)}
    frame = pl.DataFrame(
        [{**row, "drugs": None if row["drugs"] is None else list(row["drugs"])} for row in ROWS], schema=schema
    )
    got = frame.select(compile_expr(expression, pl.col).alias("r"))["r"].to_list()
    assert got == [expression.evaluate(row) for row in ROWS]
    assert plain(expression.root).strip()
    assert tree.field_names(expression.root) == set(expression.names)
    # SQL (`lang.sql`), run in SQLite, the engine that ships with Python: a selection is held as `;a;;b;` text.
    import sqlite3

    from iop_cli.lang.sql import DIALECTS, selection_text, sql

    dialect = DIALECTS["sqlite"]
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (i INTEGER, age INTEGER, dose REAL, sud INTEGER, kind TEXT, drugs TEXT)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i, r["age"], r["dose"], r["sud"], r["kind"], None if r["drugs"] is None else selection_text(r["drugs"]))
            for i, r in enumerate(ROWS)
        ],
    )
    rows = con.execute(f"SELECT {sql(expression.root, dialect.ident, dialect)} FROM t ORDER BY i").fetchall()
    assert [None if v is None else bool(v) for (v,) in rows] == [expression.evaluate(row) for row in ROWS]
