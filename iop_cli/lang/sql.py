"""The SQL back end: a checked tree as one SQL expression, for the dialects `iop rules sql` writes.

SQL's NULL is the pack's unknown, and `AND`, `OR`, `NOT` and comparisons follow the same three-valued tables as
`lang.py`, so each node kind maps onto one SQL operation, as in `lang.polars`. What differs between engines is
small and sits in one table (`Dialect`, `DIALECTS`): how a name and a word are quoted, the names of the types, how
text is searched, trimmed and matched against a pattern, and a safe cast. No general SQL transpiler is in the path:
one would have to be trusted with three-valued logic and with casts that fail silently (SQLite's
`CAST('abc' AS INTEGER)` is 0), which is exactly what this table is tested for (`tests/test_sql.py`).

A multi-select answer is held as text: each choice picked as `;choice;`, in the pack's order (`selection_text`);
the empty selection is ''.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iop_cli.lang.tree import (
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
    as_float,
    assert_never,
)

_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# What Python's str.strip() removes (str.isspace): trimmed from both ends of every cell, as `iop check` does.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
# A plain decimal number (`lang.expr.DECIMAL`), anchored; written without backslashes, which some dialects'
# string literals would read as escapes.
DECIMAL_PATTERN = "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"


class UnwritableText(ValueError):
    """A word SQL cannot hold: a NUL character (no engine keeps one in text) or an unpaired surrogate (not UTF-8)."""


def writable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


@dataclass(frozen=True)
class Dialect:
    """One engine's spelling of the few things SQL engines write differently."""

    name: str
    quote: str  # the identifier quote: " or `
    backslash_escapes: bool  # string literals read \ as an escape (Spark, BigQuery, Snowflake)
    bigint: str
    double: str
    string: str
    contains: str  # {hay} holds {needle}
    trim: str  # {text} without the characters {chars} at either end
    matches: str | None  # {text} matches the anchored pattern {pattern}; None: the dialect has no patterns
    replace_pattern: str | None  # every match of {pattern} in {text} replaced by {by}
    try_cast: str | None  # a cast that gives NULL where it fails ({value}, {type}); None: a CASE guards it
    char_length: str = "LENGTH({text})"
    # After each stage's select: what keeps the engine from merging the stages into one deep expression (SQLite
    # flattens a subquery by writing its expressions into the outer query, which repeats them at every stage:
    # a subquery with an OFFSET is run as it is, streaming).
    stage_end: str = ""
    # The code of the first and of the last character of {text}: most cells start and end with a printable ASCII
    # character and need no trimming, which with a set of characters is slow (DuckDB: 9x a plain copy).
    first_code: str = "ascii({text})"
    last_code: str = "ascii(right({text}, 1))"

    def trimmed(self, text: str) -> str:
        """`text` without the whitespace Python's str.strip() removes, at either end."""
        full = self.trim.format(text=text, chars=self.text(WHITESPACE))
        first, last = self.first_code.format(text=text), self.last_code.format(text=text)
        return f"CASE WHEN {first} BETWEEN 33 AND 126 AND {last} BETWEEN 33 AND 126 THEN {text} ELSE {full} END"

    def ident(self, name: str) -> str:
        """A quoted identifier: any name, hostile or not, stays one identifier."""
        if not writable(name):
            raise UnwritableText(name)
        if self.name == "bigquery":  # BigQuery: backslash escapes inside backticks
            return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote

    def table(self, name: str) -> str:
        """A table or view name, `schema.table` or `project.dataset.table`: each dotted part quoted."""
        return ".".join(self.ident(part) for part in name.split("."))

    def text(self, value: str) -> str:
        """A quoted string literal."""
        if not writable(value):
            raise UnwritableText(value)
        if self.backslash_escapes:  # `''` would be two literals run together in Spark; BigQuery refuses it
            return "'" + "".join(_ESCAPED.get(ch) or _escape(ch) for ch in value) + "'"
        return "'" + value.replace("'", "''") + "'"

    def number(self, value: int | float) -> str:
        if isinstance(value, float):
            return f"CAST({float_literal(value)} AS {self.double})"
        return str(int(value))

    def cast(self, value: str, type_: str, safe: bool = False) -> str:
        if safe and self.try_cast is not None:
            return self.try_cast.format(value=value, type=type_)
        return f"CAST({value} AS {type_})"


_ESCAPED = {"\\": "\\\\", "'": "\\'"}


def _escape(ch: str) -> str:
    """A character inside a backslash-escaped literal: control characters and the other whitespace as \\uXXXX (a
    line break cannot stand in a BigQuery literal)."""
    return f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or (ch.isspace() and ch != " ") or ord(ch) == 0x7F else ch


def float_literal(value: float) -> str:
    text = repr(float(value))
    return text if any(ch in text for ch in ".e") else text + ".0"


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            name="duckdb",
            quote='"',
            backslash_escapes=False,
            bigint="BIGINT",
            double="DOUBLE",
            string="VARCHAR",
            contains="(strpos({hay}, {needle}) > 0)",
            trim="trim({text}, {chars})",
            matches="regexp_full_match({text}, {pattern})",
            replace_pattern="regexp_replace({text}, {pattern}, {by}, 'g')",
            try_cast="TRY_CAST({value} AS {type})",
        ),
        Dialect(
            name="sqlite",
            quote='"',
            backslash_escapes=False,
            bigint="INTEGER",
            double="REAL",
            string="TEXT",
            contains="(instr({hay}, {needle}) > 0)",
            trim="trim({text}, {chars})",
            stage_end=" LIMIT -1 OFFSET 0",
            first_code="unicode({text})",
            last_code="unicode(substr({text}, -1))",
            matches=None,  # no REGEXP without an extension: numbers are checked with GLOB (`_sqlite_decimal`)
            replace_pattern=None,
            try_cast=None,
        ),
        Dialect(
            name="postgres",
            quote='"',
            backslash_escapes=False,
            bigint="BIGINT",
            double="DOUBLE PRECISION",
            string="TEXT",
            contains="(strpos({hay}, {needle}) > 0)",
            trim="btrim({text}, {chars})",
            matches="({text} ~ {pattern})",
            replace_pattern="regexp_replace({text}, {pattern}, {by}, 'g')",
            try_cast=None,
            stage_end=" OFFSET 0",  # the classic fence: a subquery with OFFSET is not pulled up into the next
            char_length="char_length({text})",
        ),
        Dialect(
            name="spark",
            quote="`",
            backslash_escapes=True,
            bigint="BIGINT",
            double="DOUBLE",
            string="STRING",
            contains="(instr({hay}, {needle}) > 0)",
            trim="trim(BOTH {chars} FROM {text})",
            matches="({text} RLIKE {pattern})",
            replace_pattern="regexp_replace({text}, {pattern}, {by})",
            try_cast="try_cast({value} AS {type})",
            char_length="char_length({text})",
        ),
        Dialect(
            name="bigquery",
            quote="`",
            backslash_escapes=True,
            bigint="INT64",
            double="FLOAT64",
            string="STRING",
            contains="(STRPOS({hay}, {needle}) > 0)",
            trim="TRIM({text}, {chars})",
            matches="REGEXP_CONTAINS({text}, {pattern})",
            replace_pattern="REGEXP_REPLACE({text}, {pattern}, {by})",
            try_cast="SAFE_CAST({value} AS {type})",
            last_code="ASCII(SUBSTR({text}, -1))",
        ),
        Dialect(
            name="snowflake",
            quote='"',
            backslash_escapes=True,
            bigint="BIGINT",
            double="DOUBLE",
            string="VARCHAR",
            contains="(POSITION({needle} IN {hay}) > 0)",
            trim="TRIM({text}, {chars})",
            matches="REGEXP_LIKE({text}, {pattern})",
            replace_pattern="REGEXP_REPLACE({text}, {pattern}, {by})",
            try_cast="TRY_CAST({value} AS {type})",
        ),
    )
}


Special = Callable[[Node], "str | None"]


def sql(node: Node, column: Callable[[str], str], dialect: Dialect, special: Special | None = None) -> str:
    """`node` as a SQL expression; `column(name)` gives a field's (quoted) column, and `special`, when given, may
    write a node its own way (returning None to leave it to the general rules)."""
    if special is not None and (done := special(node)) is not None:
        return done

    def sub(child: Node) -> str:
        return sql(child, column, dialect, special)

    def whole(child: Node) -> str:
        """An operand of arithmetic: a whole literal as a 64-bit integer (DuckDB and Postgres type a small one as
        32 bits, and `1 + 2147483647` would overflow; Spark would wrap round)."""
        if isinstance(child, Lit) and isinstance(child.value, int) and not isinstance(child.value, bool):
            return dialect.cast(str(child.value), dialect.bigint)
        return sub(child)

    match node:
        case Lit(value=value):
            return literal(value, dialect)
        case Ref(name=name):
            return column(name)
        case Logic(op=op, parts=parts):
            return "(" + f" {op.upper()} ".join(sub(p) for p in parts) + ")"
        case Not(operand=operand):
            return f"(NOT {sub(operand)})"
        case Sign(negative=negative, operand=inner):
            return f"(-{whole(inner)})" if negative else sub(inner)
        case Arith(op=op, left=left, right=right):
            return f"({whole(left)} {op} {whole(right)})"
        case Compare(op=op, left=left, right=right, as_float=floats):
            a, b = sub(left), sub(right)
            if floats:  # as Polars compares Int64 with Float64 (SQLite would compare them exactly)
                a, b = dialect.cast(a, dialect.double), dialect.cast(b, dialect.double)
            return f"({a} {_OPS[op]} {b})"
        case Member(negate=negate, operand=operand, values=listed, as_float=floats):
            tested = sub(operand)
            if floats:
                tested = dialect.cast(tested, dialect.double)
                values = [dialect.number(as_float(v)) for v in listed if not isinstance(v, (bool, str))]
            else:
                values = [literal(v, dialect) for v in listed]
            return f"({tested} {'NOT IN' if negate else 'IN'} ({', '.join(values)}))"
        case Has(negate=negate, field=ref, value=value):
            holds = dialect.contains.format(hay=column(ref.name), needle=dialect.text(f";{value};"))
            return f"(NOT {holds})" if negate else holds
        case Missing(negate=negate, field=ref):
            return f"({column(ref.name)} IS {'NOT ' if negate else ''}NULL)"
        case _:
            assert_never(node)


def literal(value: bool | int | float | str, dialect: Dialect) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return dialect.number(value)
    return dialect.text(value)


def selection_text(choices: Sequence[str]) -> str:
    """A selection as the SQL back end holds it: `;a;;b;` (each choice picked, in the pack's order)."""
    return "".join(f";{c};" for c in choices)


def decimal_test(text: str, dialect: Dialect) -> str:
    """Whether `text` (already trimmed) is a plain decimal number, as `lang.expr.DECIMAL` reads one."""
    if dialect.matches is not None:
        return dialect.matches.format(text=text, pattern=dialect.text(DECIMAL_PATTERN))
    return _sqlite_decimal(text)


def _sqlite_decimal(text: str) -> str:
    """`decimal_test` with GLOB alone (SQLite has no patterns without an extension): an optional sign, then a
    mantissa of digits with at most one point and at least one digit, then an optional exponent of e, an optional
    sign and at least one digit."""
    unsigned = f"(CASE WHEN substr({text}, 1, 1) IN ('+', '-') THEN substr({text}, 2) ELSE {text} END)"
    e_at = f"(instr(lower({unsigned}), 'e'))"
    mantissa = f"(CASE WHEN {e_at} > 0 THEN substr({unsigned}, 1, {e_at} - 1) ELSE {unsigned} END)"
    exponent = f"(CASE WHEN {e_at} > 0 THEN substr({unsigned}, {e_at} + 1) ELSE NULL END)"
    bare = f"(CASE WHEN substr({exponent}, 1, 1) IN ('+', '-') THEN substr({exponent}, 2) ELSE {exponent} END)"
    return (
        f"({mantissa} GLOB '*[0-9]*' AND NOT {mantissa} GLOB '*[^0-9.]*' AND NOT {mantissa} GLOB '*.*.*'"
        f" AND ({exponent} IS NULL OR ({bare} <> '' AND NOT {bare} GLOB '*[^0-9]*')))"
    )
