"""Batch scoring: Excel and Parquet input. Each is read in batches of text columns `c0`, `c1`, ... the same as a
parsed CSV batch, so every answer is checked by the one converter CSV uses; the batch as read (with its own types)
is kept for a Parquet or Excel output.

Parquet is streamed (a batch at a time, from a file or, read whole into memory, from stdin). An Excel sheet is read
whole by calamine (python-calamine): its size is bounded by Excel's own limit of 1,048,576 rows.
"""

from __future__ import annotations

import datetime
import io
import itertools
import math
import os
from collections.abc import Iterator
from typing import Any

import polars as pl

from iop_cli.files import InputFile
from iop_cli.problems import Problem, ProblemsError

INPUT_FORMATS = ("csv", "xlsx", "parquet", "fhir")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")
FHIR_SUFFIXES = (".ndjson", ".json")  # FHIR bulk data (one resource a line), or one response or Bundle
BATCH_ROWS = 50_000  # rows per batch of a Parquet file or an Excel sheet: about a CSV batch's memory


def input_format(path: str, given: str | None) -> str:
    """The input's format: `--input-format` when given, else by the file's extension (CSV for anything else)."""
    if given:
        return given
    lower = path.lower()
    if lower.endswith(EXCEL_SUFFIXES):
        return "xlsx"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(FHIR_SUFFIXES):
        return "fhir"
    return "csv"


class TableInput:
    """An Excel sheet or a Parquet file: its header, and its rows in batches of (the position of the batch's first
    row, the batch as read, the batch as text columns). `row_word` says what a position counts: the rows of the
    sheet as Excel numbers them, or a Parquet file's data rows."""

    header: list[str]
    row_word: str

    def batches(self) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        raise NotImplementedError


def open_table(source: InputFile, fmt: str, sheet: str | None, pack: Any = None) -> TableInput:
    if fmt == "fhir":
        return FhirInput(source, pack)
    if fmt == "parquet":
        if sheet is not None:
            raise ProblemsError([Problem("--sheet", "a Parquet file has no sheets", "leave out --sheet")])
        return ParquetInput(source)
    return ExcelInput(source, sheet)


def _whole(source: InputFile) -> Any:
    """Where a reader finds the input: the path of a regular file, or, for stdin or a pipe, its bytes in memory
    (nothing of it goes to disk)."""
    if source.name != "<stdin>" and not source.streamed:
        return source.name
    data, offset = bytearray(), 0
    while more := source.read_at(offset, 1 << 22):
        data += more
        offset += len(more)
        source.release(offset)
    return io.BytesIO(bytes(data))


class ParquetInput(TableInput):
    row_word = "data row"

    def __init__(self, source: InputFile):
        self.name = source.name
        try:
            self.frame = pl.scan_parquet(_whole(source))
            schema = self.frame.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ProblemsError(
                [Problem(self.name, f"cannot be read as Parquet ({_first_line(exc)})", "check the file and its format")]
            ) from None
        self.header = list(schema.names())
        nested = [n for n, t in schema.items() if t.is_nested() or isinstance(t, (pl.Binary, pl.Object, pl.Duration))]
        if nested:
            raise ProblemsError(
                [
                    Problem(
                        f"{self.name}: column {nested[0]}",
                        f"holds {schema[nested[0]]} values, not text, numbers, yes/no or dates",
                        "give each answer as a column of plain values",
                    )
                ]
            )
        self.inputs = [f"c{i}" for i in range(len(self.header))]

    def batches(self) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        first = 1
        try:
            # The positions, not the names: a Parquet file may repeat a name that a CSV header could repeat too.
            renamed = self.frame.select(pl.nth(i).alias(c) for i, c in enumerate(self.inputs))
            rows = self.frame.select(pl.len()).collect().item()  # from the file's metadata
            # A slice at a time, read when the scoring asks for it: Polars' stream of batches reads on ahead of a
            # slower reader and held most of the file (1.3 GB for 3M rows). Row groups before a slice are skipped;
            # within one row group each slice decodes part of it again, so a file of one huge row group reads
            # slower (measured: 1M rows in one row group, no slower end to end; 9M in one, 38 s against 27).
            for offset in range(0, rows, BATCH_ROWS):
                batch = renamed.slice(offset, BATCH_ROWS).collect(engine="in-memory")
                yield first, batch, batch.select(_as_text(batch.schema))
                first += batch.height
        except pl.exceptions.PolarsError as exc:
            raise ProblemsError(
                [
                    Problem(
                        f"{self.name}: near data row {first}", f"cannot be read ({_first_line(exc)})", "check the file"
                    )
                ]
            ) from None


def _as_text(schema: pl.Schema) -> list[pl.Expr]:
    """Each column as the text Polars writes it in a CSV file (a decimal 2.0 as `2.0`, which a whole-number question
    reads as 2; a boolean as true or false), and a blank text cell as no answer, as in CSV."""
    return [
        (pl.when(pl.col(n).str.len_bytes() > 0).then(pl.col(n)) if kind == pl.String else pl.col(n).cast(pl.String))
        for n, kind in schema.items()
    ]


class ExcelInput(TableInput):
    row_word = "sheet row"

    def __init__(self, source: InputFile, sheet: str | None):
        import python_calamine

        self.name = source.name
        try:
            book = python_calamine.CalamineWorkbook.from_object(_whole(source))
        except Exception as exc:  # calamine raises its own kinds for each broken part of a workbook
            raise ProblemsError(
                [
                    Problem(
                        self.name,
                        f"cannot be read as an Excel workbook ({_first_line(exc)})",
                        "save it as .xlsx, or as CSV UTF-8 and score that",
                    )
                ]
            ) from None
        names = list(book.sheet_names)
        chosen = _sheet(names, sheet, self.name)
        found = book.get_sheet_by_name(chosen)
        self.sheet = chosen
        # The used area only: blank rows and columns before the first filled cell are left out, and the sheet's row
        # numbers are kept for the messages. Its first row is the header, as in a CSV file.
        rows = found.to_python(skip_empty_area=True)
        if not rows or not any(_text(cell) for cell in rows[0]):
            raise ProblemsError(
                [Problem(f"{self.name} [{chosen}]", "the sheet is empty", "the first row must name the columns")]
            )
        self.first_row = found.start[0] + 1 if found.start else 1  # the header's row as Excel numbers it
        self.header = [_text(cell) or "" for cell in rows[0]]
        while not self.header[-1]:  # the used area may be wider than the header (a stray cell, reported below)
            self.header.pop()
        self.rows = rows[1:]
        self.inputs = [f"c{i}" for i in range(len(self.header))]
        self.kinds = [_kind([row[i] for row in self.rows if i < len(row)]) for i in range(len(self.header))]

    def batches(self) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        width = len(self.header)
        for start in range(0, len(self.rows), BATCH_ROWS):
            part = self.rows[start : start + BATCH_ROWS]
            first = self.first_row + 1 + start
            for offset, row in enumerate(part):
                extra = [i for i in range(width, len(row)) if _text(row[i]) is not None]
                if extra:
                    where = f"{self.name} [{self.sheet}]: sheet row {first + offset}"
                    hint = f"name every column in the header, sheet row {self.first_row}"
                    raise ProblemsError([Problem(where, "has a value in a column with no header name", hint)])
            cells = [[row[i] if i < len(row) and row[i] != "" else None for row in part] for i in range(width)]
            text = pl.DataFrame(
                {
                    c: [None if v is None else _text(v) for v in column]
                    for c, column in zip(self.inputs, cells, strict=True)
                },
                schema=dict.fromkeys(self.inputs, pl.String),
            )
            # The sheet's own values for an Excel or Parquet output: a column of numbers (or of yes/no) stays one.
            typed = {
                c: (column, kind)
                for c, column, kind in zip(self.inputs, cells, self.kinds, strict=True)
                if kind != pl.String
            }
            if typed:
                values = pl.DataFrame(
                    {c: column for c, (column, _) in typed.items()},
                    schema={c: kind for c, (_, kind) in typed.items()},
                    strict=False,
                )
                yield first, text.with_columns(values), text
            else:
                yield first, text, text


PROBLEM = "__problem"  # a row's own problem, found before its cells (a FHIR response that does not fit the pack)


class FhirInput(TableInput):
    """FHIR QuestionnaireResponses, one a line (NDJSON, as FHIR bulk data; a line may be a Bundle of them), or one
    JSON document: a response or a Bundle of them (its other entries, a Patient say, left aside). Each response is a
    row: its `id`, then a column per asked question of the pack, its answer as a CSV cell would hold it (a coding as
    its code, yes/no as yes and no, a multi-select joined by `;`), so every answer is checked as a CSV cell is. A
    response that does not fit the pack (an answer to no question of it, a value of another type, entered in error)
    is its row's error, naming the linkId; a line that is not JSON stops the run, naming the line."""

    def __init__(self, source: InputFile, pack: Any):
        self.source, self.pack, self.name = source, pack, source.name
        self.fields = [q.id for q in pack.asked]
        self.header = ["resource_id" if "id" in pack.questions else "id", *self.fields]
        self.inputs = [f"c{i}" for i in range(len(self.header))]
        # The first line tells NDJSON from one document; it is kept, since a pipe lets each byte be read only once.
        self.lines = self._lines()
        self.first = next(self.lines, None)
        if self.first is None:
            raise ProblemsError([Problem(self.name, "holds no QuestionnaireResponse", "give one resource a line")])
        self.ndjson = _json(self.first[1]) is not None
        self.row_word = "line" if self.ndjson else "entry"

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of each non-blank line, read a block at a time."""
        offset, number, rest = 0, 1, b""
        while more := self.source.read_at(offset, 1 << 22):
            offset += len(more)
            self.source.release(offset)
            *lines, rest = (rest + more).split(b"\n")
            for line in lines:
                if line.strip():
                    yield number, _utf8(line, self.name, number)
                number += 1
        if rest.strip():
            yield number, _utf8(rest, self.name, number)

    def _resources(self) -> Iterator[tuple[int, Any]]:
        """(position, resource): each line's resource, a Bundle line's responses each at that line; or, for one
        document, its responses by entry number."""
        import json

        if not self.ndjson:
            yield from self._document()
            return
        assert self.first is not None
        for number, line in itertools.chain([self.first], self.lines):
            resource = _json(line)
            if resource is None:
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    why = f"not JSON ({exc.msg})"
                else:
                    why = "not a JSON object"
                raise ProblemsError([Problem(f"{self.name}:{number}", why, "give one resource a line")])
            if resource.get("resourceType") == "Bundle":
                from iop_cli.exchange.fhir import responses_in

                for inner in responses_in(resource):
                    yield number, inner
            else:
                yield number, resource

    def _document(self) -> Iterator[tuple[int, Any]]:
        """One JSON document: a QuestionnaireResponse, or a Bundle whose responses are the rows (by entry number)."""
        import json

        assert self.first is not None
        text = "\n".join(line for _, line in itertools.chain([self.first], self.lines))  # blank lines do not matter
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            why = f"neither NDJSON nor one JSON document ({exc.msg}, line {exc.lineno})"
            raise ProblemsError([Problem(self.name, why, "give one QuestionnaireResponse a line")]) from None
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            for index, entry in enumerate(document.get("entry") or [], start=1):
                inner = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(inner, dict) and inner.get("resourceType") == "QuestionnaireResponse":
                    yield index, inner
        else:
            yield 1, document

    def batches(self) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        from iop_cli.exchange.fhir import read_response

        rows: list[list[str | None]] = []
        first = 1
        for number, resource in self._resources():
            if not rows:
                first = number
            rid = resource.get("id") if isinstance(resource, dict) and isinstance(resource.get("id"), str) else None
            problem = None
            answers: dict[str, Any] = {}
            if not isinstance(resource, dict) or resource.get("resourceType") != "QuestionnaireResponse":
                kind = resource.get("resourceType") if isinstance(resource, dict) else "JSON value"
                problem = f"a {kind}, not a QuestionnaireResponse"
            else:
                try:
                    answers = read_response(self.pack, resource, "")
                except ProblemsError as exc:
                    problem = "; ".join(str(p).removeprefix(": ") for p in exc.problems)
            rows.append([rid, *(_cell(answers.get(f)) for f in self.fields), problem])
            if len(rows) >= BATCH_ROWS:
                yield first, *(_frame([*self.inputs, PROBLEM], rows),) * 2
                rows = []
        if rows:
            yield first, *(_frame([*self.inputs, PROBLEM], rows),) * 2


def _json(line: str) -> dict | None:
    import json

    try:
        found = json.loads(line)
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _frame(names: list[str], rows: list[list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")


def _cell(value: Any) -> str | None:
    """An answer as the CSV cell that holds it."""
    if value is None:
        return None
    if isinstance(value, list):
        return ";".join(str(v) for v in value) or None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _utf8(data: bytes, name: str, line: int) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemsError([Problem(f"{name}:{line}", "not UTF-8 text", "save it as UTF-8")]) from None


def _kind(cells: list[Any]) -> Any:
    """A sheet column's type: whole numbers, decimals or yes/no when every filled cell is one (Excel keeps every
    number as a decimal), text otherwise."""
    filled = [c for c in cells if c is not None and c != ""]
    if not filled:
        return pl.String
    if all(isinstance(c, bool) for c in filled):
        return pl.Boolean
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in filled):
        whole = all(c == int(c) and abs(c) < 2**53 for c in filled)
        return pl.Int64 if whole else pl.Float64
    return pl.String


def _sheet(names: list[str], wanted: str | None, path: str) -> str:
    """The sheet `--sheet` names: a sheet's name, or its position counted from 1; the first sheet by default."""
    if not names:
        raise ProblemsError([Problem(path, "the workbook has no sheets", "check the file")])
    if wanted is None:
        return names[0]
    if wanted in names:
        return wanted
    folded = [n for n in names if n.casefold() == wanted.casefold()]  # Excel's own sheet names ignore case
    if len(folded) == 1:
        return folded[0]
    if wanted.strip().isdigit() and 1 <= int(wanted) <= len(names):
        return names[int(wanted) - 1]
    listed = ", ".join(repr(n) for n in names[:10])
    raise ProblemsError(
        [Problem(f"--sheet {wanted}", f"no such sheet in {path}", f"the sheets are {listed} (or 1-{len(names)})")]
    )


def _text(cell: Any) -> str | None:
    """An Excel cell as the text a CSV export holds: whole numbers without a decimal point (Excel keeps every
    number as a decimal), dates as ISO dates, yes/no cells as yes and no, an empty cell as no answer."""
    if cell is None or cell == "":
        return None
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, float):
        if math.isfinite(cell) and cell == int(cell) and abs(cell) < 1e15:
            return str(int(cell))
        return repr(cell)
    if isinstance(cell, datetime.datetime) and cell.time() == datetime.time():
        return cell.date().isoformat()
    if isinstance(cell, (datetime.date, datetime.time, datetime.timedelta)):
        return cell.isoformat() if not isinstance(cell, datetime.timedelta) else str(cell)
    return str(cell)


def _first_line(exc: BaseException) -> str:
    """The first line of a reader's message, without a path or cells (it never quotes a row here)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120].replace(os.sep, "/")
