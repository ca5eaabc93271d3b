"""Batch scoring: rendering. Cells as CSV text, quoted by one rule, or as JSON members, and formula cells
neutralized so a spreadsheet cannot run them. The fast path writes each output row from ready text made once per
distinct outcome; `tests/test_batch_stages.py` holds it to a plain writer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import polars as pl

SPREADSHEET_FORMULA = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as a formula
FORMULA = re.compile(SPREADSHEET_FORMULA)
_NEEDS_QUOTES = re.compile('[",\r\n]')


def csv_quote(column: pl.Expr) -> pl.Expr:
    """A cell as CSV text: quoted (inner quotes doubled) when it holds a comma, a quote or a line break."""
    quoted = pl.concat_str([pl.lit('"'), column.str.replace_all('"', '""', literal=True), pl.lit('"')])
    return pl.when(column.str.contains('[",\r\n]')).then(quoted).otherwise(column)


def neutral_text(text: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (as `neutral`, for one text)."""
    return "'" + text if FORMULA.match(text) else text


def neutral(column: pl.Expr) -> pl.Expr:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    return pl.when(column.str.contains(SPREADSHEET_FORMULA)).then(pl.lit("'") + column).otherwise(column)


def csv_line(cells: list[str]) -> str:
    """Cells as one CSV line, quoted by the rule `csv_quote` follows (Python's csv leaves a lone CR unquoted)."""
    quoted = ['"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells]
    return ",".join(quoted) + "\n"


class OutputFormat:
    """How output cells are written as text: `cells` for values known in Python (made once per distinct value),
    `column` for a column's values, in the same form (null where the value is null). A row's cells are joined by
    commas in both formats."""

    null = ""

    def key(self, name: str) -> str:
        return ""

    def encode(self, value: str | int) -> str:
        raise NotImplementedError

    def column(self, name: str, values: pl.Expr) -> pl.Expr:
        raise NotImplementedError

    def cells(self, names: Sequence[str], values: Sequence[str | int | None]) -> str:
        return ",".join(
            self.key(n) + (self.null if v is None else self.encode(v)) for n, v in zip(names, values, strict=True)
        )


class CsvFormat(OutputFormat):
    """CSV cells: quoted by `csv_quote`'s rule, empty for none."""

    def encode(self, value: str | int) -> str:
        return csv_line([str(value)]).rstrip("\n")

    def column(self, name: str, values: pl.Expr) -> pl.Expr:
        return csv_quote(values)


class JsonFormat(OutputFormat):
    """JSON object members: `"name":value`, null for none; strings escaped as Polars' JSON writer escapes them."""

    null = "null"

    def key(self, name: str) -> str:
        return json.dumps(name, ensure_ascii=False) + ":"

    def encode(self, value: str | int) -> str:
        return json.dumps(value, ensure_ascii=False)

    def column(self, name: str, values: pl.Expr) -> pl.Expr:
        # Polars escapes the text: a one-member object's value is the text after `{"v":`, before the last `}`.
        encoded = pl.struct(values.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
        return pl.when(values.is_not_null()).then(pl.concat_str([pl.lit(self.key(name)), encoded]))
