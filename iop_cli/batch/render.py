"""Batch scoring: rendering. Cells as CSV text, quoted by one rule, and formula cells neutralized so a spreadsheet
cannot run them. The fast path writes each output row from ready CSV text; `tests/test_batch_stages.py` holds it to
a plain writer.
"""

from __future__ import annotations

import re

import polars as pl

SPREADSHEET_FORMULA = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as a formula
FORMULA = re.compile(SPREADSHEET_FORMULA)
_NEEDS_QUOTES = re.compile('[",\r\n]')


def csv_quote(column: pl.Expr) -> pl.Expr:
    """A cell as CSV text: quoted (inner quotes doubled) when it holds a comma, a quote or a line break."""
    quoted = pl.concat_str([pl.lit('"'), column.str.replace_all('"', '""', literal=True), pl.lit('"')])
    return pl.when(column.str.contains('[",\r\n]')).then(quoted).otherwise(column)


def csv_text(cells: list[str | None]) -> str:
    """Cells as one line of CSV text, without the line end (empty for None)."""
    return csv_line(["" if cell is None else cell for cell in cells]).rstrip("\n")


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
