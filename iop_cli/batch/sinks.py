"""Batch scoring: where scored batches are written. CSV and JSON lines arrive as ready text; Parquet and Excel
arrive as columns (the input as read, then the output columns) and are written as a stream, a batch at a time, so
memory does not grow with the file and nothing but the output file is written to disk.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterable
from typing import Any

import polars as pl

from iop_cli.batch.render import neutral
from iop_cli.problems import Problem, ProblemsError

OUTPUT_FORMATS = ("csv", "jsonl", "parquet", "xlsx")
TABLE_FORMATS = ("parquet", "xlsx")  # written from columns, not text
EXCEL_ROWS = 1_048_576  # a sheet's rows, the header's included
EXCEL_CELL = 32_767  # the characters a cell holds


def columns_of(frame: pl.DataFrame) -> pl.DataFrame:
    """A scored batch as the table written: the input columns, then the output columns (`BatchScorer._render_table`)."""
    return frame.select(pl.col("__inputs").struct.unnest(), pl.col("__outputs").struct.unnest())


def _on_disk(out: Any) -> bool:
    try:
        return stat.S_ISREG(os.fstat(out.fileno()).st_mode)  # not a pipe or a device: those cannot sync
    except (AttributeError, OSError, io.UnsupportedOperation):  # an in-memory output (tests, rules diff)
        return False


class TextSink:
    """CSV or JSON lines: each row is two ready pieces of text (see BatchScorer.score), written without quoting
    anything twice; each batch goes to disk while the next ones are scored, so the final fsync has little left."""

    def __init__(self, out: Any, columns: list[str]):
        self.out = out
        self.columns = columns

    def write(self, frames: Iterable[pl.DataFrame]) -> None:
        on_disk = _on_disk(self.out)
        for frame in frames:
            frame.select(self.columns).write_csv(self.out, include_header=False, quote_style="never")
            if on_disk:
                self.out.flush()
                os.fdatasync(self.out.fileno())


class ParquetSink:
    """A Parquet file streamed by Polars from the scored batches (`register_io_source`): one row group after another,
    the input columns with the types they were read with, then the output columns."""

    def __init__(self, out: Any, schema: pl.Schema | None = None):
        self.out = out
        self.schema = schema

    def write(self, frames: Iterable[pl.DataFrame]) -> None:
        from polars.io.plugins import register_io_source

        stream = (columns_of(frame) for frame in frames)
        first = next(stream, None)
        if first is None:
            if self.schema is not None:
                pl.DataFrame(schema=self.schema).write_parquet(self.out)
            return

        def batches(with_columns: Any, predicate: Any, n_rows: Any, batch_size: Any):
            yield first
            yield from stream

        register_io_source(batches, schema=first.schema).sink_parquet(self.out)
        self.out.flush()


class XlsxSink:
    """An .xlsx workbook of one sheet, streamed into a zip: each row's cells are written as XML by Polars, a batch at
    a time, with text inline (no shared-string table to hold in memory). Text cells are neutralized as in CSV, so
    Excel shows a formula-like cell rather than running it; numbers stay numbers."""

    def __init__(self, out: Any, names: list[str], where: str):
        self.out = out
        self.names = names
        self.where = where

    def write(self, frames: Iterable[pl.DataFrame]) -> None:
        with zipfile.ZipFile(self.out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
            for name, text in _PARTS.items():
                book.writestr(name, text)
            with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                sheet.write(_SHEET_HEAD.encode())
                header = pl.DataFrame({f"h{i}": [name] for i, name in enumerate(self.names)})
                self._rows(sheet, header.select(_row([_cell(c, pl.String) for c in header.columns])))
                rows = 1
                for scored in frames:
                    frame = columns_of(scored)
                    rows += frame.height
                    if rows > EXCEL_ROWS:
                        raise ProblemsError(
                            [
                                Problem(
                                    self.where,
                                    f"an Excel sheet holds at most {EXCEL_ROWS - 1:,} rows below its header",
                                    "write csv or parquet instead (--format)",
                                )
                            ]
                        )
                    self._check_lengths(frame)
                    cells = [_cell(c, t) for c, t in frame.schema.items()]
                    self._rows(sheet, frame.select(_row(cells)))
                sheet.write(b"</sheetData></worksheet>")

    def _check_lengths(self, frame: pl.DataFrame) -> None:
        """Refuse a cell longer than Excel holds, as it will be written (neutralized)."""
        texts = [c for c, t in frame.schema.items() if t == pl.String]
        if not texts:
            return
        longest = frame.select(neutral(pl.col(c)).str.len_chars().max().alias(c) for c in texts).row(0, named=True)
        column, length = max(longest.items(), key=lambda item: item[1] or 0)
        if (length or 0) > EXCEL_CELL:
            raise ProblemsError(
                [
                    Problem(
                        self.where,
                        f"column {column} has a cell of {length:,} characters, more than an Excel cell holds ({EXCEL_CELL:,})",
                        "write csv or parquet instead (--format)",
                    )
                ]
            )

    @staticmethod
    def _rows(sheet: Any, rows: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        rows.write_csv(buffer, include_header=False, quote_style="never")
        sheet.write(buffer.getbuffer())


def _row(cells: list[pl.Expr]) -> pl.Expr:
    return pl.concat_str([pl.lit("<row>"), *cells, pl.lit("</row>")])


_CONTROL = [chr(c) for c in range(32) if chr(c) not in "\t\n\r"]


def _cell(name: str, kind: Any) -> pl.Expr:
    """One column's cells as sheet XML: a number as a number, yes/no as a boolean, everything else as inline text
    (neutralized, escaped); an empty cell as `<c/>`, which keeps the cells after it in their columns."""
    column = pl.col(name)
    if kind.is_integer() or kind.is_float():
        # Excel keeps a number as a double: a whole number past 2**53 (a long id) would be rounded, so it is text.
        finite = column.is_finite() if kind.is_float() else column.abs() <= 2**53
        number = pl.format("<c><v>{}</v></c>", column.cast(pl.String))
        return pl.when(column.is_null()).then(pl.lit("<c/>")).when(finite).then(number).otherwise(_text_cell(column))
    if kind == pl.Boolean:
        return (
            pl.when(column.is_null())
            .then(pl.lit("<c/>"))
            .otherwise(pl.format('<c t="b"><v>{}</v></c>', column.cast(pl.Int8).cast(pl.String)))
        )
    return pl.when(column.is_null()).then(pl.lit("<c/>")).otherwise(_text_cell(column))


def _text_cell(column: pl.Expr) -> pl.Expr:
    text = neutral(column.cast(pl.String))
    text = text.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
    text = text.str.replace_all(">", "&gt;", literal=True)
    # Excel's own escape `_xHHHH_` for characters XML cannot hold; a text that looks like one is escaped itself.
    text = text.str.replace_all(r"_(x[0-9A-Fa-f]{4}_)", "_x005F_$1")
    for char in _CONTROL:
        text = text.str.replace_all(char, f"_x{ord(char):04X}_", literal=True)
    # A carriage return as a character reference: written as it is, every XML reader would read a line feed.
    text = text.str.replace_all("\r", "&#13;", literal=True)
    return pl.format('<c t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>', text)


_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>\n'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Types xmlns="{_PACKAGE}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
        '<sheets><sheet name="scored" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}
