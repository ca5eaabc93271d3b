"""Batch scoring for `iop score`: read a CSV in batches that end at record boundaries, map and check its columns,
decide every row with the pack compiled to Polars expressions, and write the result to a private temporary file
that replaces the output only when everything went well. Reading and writing run in threads beside the scoring;
memory is bounded by the batch size, not by the file.

One output row per input row, in input order: a bad value makes its row `status=error`, never a lost row.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from iop_cli.batch.mapping import Derived, Mapping, code_key
from iop_cli.decide import frame as pr
from iop_cli.decide import policy
from iop_cli.files import InputFile
from iop_cli.lang.expr import CODE_LIMIT, DECIMAL
from iop_cli.output.contracts import SCORE_COLUMNS
from iop_cli.pack.answers import MAX_TEXT, BadValue, allowed_text, coerce
from iop_cli.pack.model import Pack, Question
from iop_cli.problems import Problem, ProblemsError

OUTPUT_COLUMNS = SCORE_COLUMNS  # `output.contracts`: the outcome columns after the input's, in order
_SPREADSHEET_FORMULA = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as a formula
_FORMULA = re.compile(_SPREADSHEET_FORMULA)


@dataclass
class Source:
    """Where a field's answers come from: an input column (by position), a derivation, or nowhere."""

    kind: str  # column, derive, absent
    index: int | None = None
    header: str = ""
    derived: Derived | None = None


@dataclass
class Summary:
    rows: int = 0
    status: Counter = field(default_factory=Counter)
    levels: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    review_reasons: Counter = field(default_factory=Counter)
    not_in_file: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ----------------------------------------------------------------------------------------------------------------
# The header and the plan of where each field comes from


MAX_HEADER_BYTES = 16 << 20


def read_header(source: InputFile) -> tuple[list[str], int]:
    """The header row and the offset where the data rows start. Line ends follow the one rule the batches follow
    too: a record ends at a line feed outside quotes (CRLF included); a lone carriage return does not end one."""
    name = source.name
    with source.open() as handle:
        end = _first_record_end(handle, MAX_HEADER_BYTES)
    if end < 0:
        raise ProblemsError(
            [Problem(f"{name}:1", "the header row is longer than 16 MiB", "check that this is a CSV file")]
        )
    data = source.read_at(0, end)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemsError([_encoding_problem(source)]) from None
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if _bare_carriage_return(text):
        raise ProblemsError(
            [
                Problem(
                    f"{name}:1",
                    "the lines end with a carriage return alone (old Mac style), which iop score does not read",
                    "save the file with LF or CRLF line ends, e.g. tr '\\r' '\\n' < in.csv > fixed.csv",
                )
            ]
        )
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), strict=True), None)
    except csv.Error:
        raise ProblemsError(
            [Problem(f"{name}:1", "the header row is not valid CSV", "quote names that hold commas or quotes")]
        ) from None
    if not header or not any(cell.strip() for cell in header):
        raise ProblemsError(
            [Problem(name, "the file is empty or its first row is blank", "the first row must name the columns")]
        )
    return header, end


def _bare_carriage_return(text: str) -> bool:
    """Whether a carriage return stands outside quotes (a quoted one is part of a cell)."""
    if "\r" not in text:
        return False
    outside = re.sub(r'"[^"]*"', "", text)
    return "\r" in outside


def _fold(text: str) -> str:
    return text.strip().casefold()


def plan_sources(pack: Pack, header: list[str], mapping: Mapping | None, name: str) -> dict[str, Source]:
    """Decide where each asked field comes from; raise one problem listing every required field with no column."""
    mapping = mapping or Mapping()
    positions: dict[str, list[int]] = {}
    for index, title in enumerate(header):
        positions.setdefault(_fold(title), []).append(index)
    problems: list[Problem] = []

    def find(wanted: list[str], field_id: str) -> Source | None:
        for title in wanted:
            found = positions.get(_fold(title), [])
            if len(found) > 1:
                cols = " and ".join(str(i + 1) for i in found)
                problems.append(
                    Problem(
                        name, f"column `{title}` (for {field_id}) appears more than once (columns {cols})", "rename one"
                    )
                )
                return Source("absent")
            if found:
                return Source("column", found[0], header[found[0]])
        return None

    sources: dict[str, Source] = {}
    missing: list[str] = []
    for question in pack.asked:
        fid = question.id
        if fid in mapping.derive:
            derived = mapping.derive[fid]
            absent = [c for c in derived.columns if _fold(c) not in positions]
            if absent:
                problems.append(
                    Problem(
                        mapping.path,
                        f"derive: {fid} reads columns not in {name}: {', '.join(absent)}",
                        _nearest(absent, header),
                    )
                )
            sources[fid] = Source("derive", derived=derived, header=f"{fid} (derived)")
            continue
        if fid in mapping.columns:
            source = find([mapping.columns[fid]], fid)
            if source is None:
                wanted = mapping.columns[fid]
                problems.append(
                    Problem(mapping.path, f"columns: {fid}: no column `{wanted}` in {name}", _nearest([wanted], header))
                )
                source = Source("absent")
            sources[fid] = source
            continue
        source = find([fid, *question.aliases], fid)
        if source is not None:
            sources[fid] = source
        elif fid in mapping.unanswered or not question.required:
            sources[fid] = Source("absent")
        else:
            missing.append(fid)
            sources[fid] = Source("absent")
    if missing:
        near = "; ".join(f"{m} ~ {c}" for m in missing if (c := _close(m, pack.questions[m].aliases, header)))
        problems.append(
            Problem(
                name,
                f"missing standard columns: {', '.join(missing)}",
                (f"nearest headers: {near}; " if near else "")
                + "rename them, map them with --map, or list them under `unanswered:` in the map",
            )
        )
    if problems:
        raise ProblemsError(problems)
    return sources


def _close(field_id: str, aliases: tuple[str, ...], header: list[str]) -> str:
    folded = {_fold(h): h for h in header if h.strip()}
    for word in (field_id, *aliases):
        close = difflib.get_close_matches(_fold(word), list(folded), n=1, cutoff=0.5)
        if close:
            return folded[close[0]]
    return ""


def _nearest(wanted: list[str], header: list[str]) -> str:
    folded = {_fold(h): h for h in header if h.strip()}
    close = [folded[c] for w in wanted for c in difflib.get_close_matches(_fold(w), list(folded), n=1, cutoff=0.5)]
    return f"nearest headers: {', '.join(close)}" if close else "check the header row"


# ----------------------------------------------------------------------------------------------------------------
# Raw cells -> typed values and per-cell errors


def _cell(index: int) -> pl.Expr:
    text = pl.col(f"c{index}").str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_CODE = f"^(?:{DECIMAL.pattern})$"


def _derive(derived: Derived, header: list[str]) -> pl.Expr:
    """A derived field's answer as text, from its cases over input columns read as numbers."""
    by_name = {_fold(h): i for i, h in reversed(list(enumerate(header)))}

    def column(name: str) -> pl.Expr:
        # A code is a plain decimal within +/-CODE_LIMIT; anything else (text, NaN, inf, `３５`) is unknown here.
        cell = _cell(by_name[_fold(name)])
        number = pl.when(cell.str.contains(_CODE)).then(cell.cast(pl.Float64, strict=False))
        return pl.when(number.abs() <= CODE_LIMIT).then(number)

    chain: Any = None  # pl.when(...).then(...) chains change type as they grow
    for condition, value in derived.cases:
        test = pr.compile_expr(condition, column)
        chain = (pl.when(test.is_null()) if chain is None else chain.when(test.is_null())).then(None)
        chain = chain.when(test).then(pl.lit(_as_text(value), dtype=pl.String))
    return chain.otherwise(pl.lit(_as_text(derived.otherwise), dtype=pl.String))


def _label(fid: str, source: Source) -> str:
    if source.kind == "column" and _fold(source.header) != fid:
        return f"{source.header.strip() or f'column {(source.index or 0) + 1}'} ({fid})"
    return fid if source.kind == "column" else source.header


_DTYPES = {"integer": pl.Int64, "number": pl.Float64, "yesno": pl.Boolean, "choice": pl.String, "text": pl.String}


class Converter:
    """Raw cells to typed answers. A first pass collects each column's distinct cells; each goes once through the
    mapping and then through `answers.coerce`, the very function `iop check` uses, so batch and engine accept and
    refuse the same values. The scoring pass then spreads the results over the rows with `replace_strict`."""

    def __init__(self, pack: Pack, sources: dict[str, Source], mapping: Mapping | None):
        self.pack = pack
        self.sources = sources
        self.mapping = mapping or Mapping()
        self.seen: dict[str, dict[str, tuple[Any, str | None]]] = {q.id: {} for q in pack.asked}

    def recodes(self, field_id: str) -> bool:
        """Whether the map changes this field's cells (missing codes or a code list)."""
        return bool(self.mapping.missing) or field_id in self.mapping.values

    def answer(self, question: Question, cell: str) -> tuple[Any, str | None]:
        """(typed value, problem) for one distinct cell, after stripping, missing codes and recoding; remembered,
        so each distinct cell is checked once per run."""
        known = self.seen[question.id]
        if cell not in known:
            known[cell] = self._answer(question, cell)
        return known[cell]

    def _answer(self, question: Question, cell: str) -> tuple[Any, str | None]:
        text = cell.strip()
        if not text:
            return None, None
        if self.sources[question.id].kind == "column" and self.recodes(question.id):
            key = code_key(text)
            if key in self.mapping.missing:
                return None, None
            codes = self.mapping.values.get(question.id, {})
            if key in codes:
                recoded = _as_text(codes[key])
                if recoded is None:
                    return None, None
                text = recoded
        try:
            return coerce(question, text), None
        except BadValue as exc:
            return None, f"{exc.message} (allowed: {exc.allowed})"

    def column(self, question: Question, cells: pl.Expr, distinct: list[str], label: str):
        """(typed value, errors with the cell, errors without it) as expressions; errors are None when no cell of
        the column is bad."""
        answers = [self.answer(question, c) for c in distinct]
        # Fast paths for clean exports, where every cell is its own value or an empty cell.
        pairs = [(c, a[0]) for c, a in zip(distinct, answers, strict=True) if not (c == "" and a == (None, None))]
        blank = len(pairs) < len(distinct)  # "" cells (quoted empty in the file) are unanswered
        cells_, found_ = [c for c, _ in pairs], [v for _, v in pairs]
        if question.type == "choice" and found_ == cells_:
            value = pl.when(cells == "").then(None).otherwise(cells) if blank else cells
        elif question.type == "integer" and all(v is not None and str(v) == c for c, v in pairs):
            value = cells.cast(pl.Int64, strict=False) if blank else cells.cast(pl.Int64)
        elif question.type == "yesno" and set(cells_) <= {"yes", "no"} and found_ == [c == "yes" for c in cells_]:
            value = pl.when(cells == "yes").then(True).when(cells == "no").then(False) if blank else cells == "yes"
        else:
            found = [a[0] for a in answers]
            value = cells.replace_strict(distinct, found, default=None, return_dtype=_DTYPES[question.type])
        bad = {c: a[1] for c, a in zip(distinct, answers, strict=True) if a[1]}
        if not bad:
            return value, None, None
        with_cell = [f"{label}: '{c.strip()[:40]}' {problem}" for c, problem in bad.items()]
        without = [f"{label}: {problem}" for problem in bad.values()]
        return (
            value,
            cells.replace_strict(list(bad), with_cell, default=None, return_dtype=pl.String),
            cells.replace_strict(list(bad), without, default=None, return_dtype=pl.String),
        )


def _text_answer(question: Question, cells: pl.Expr, label: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A free-text field, checked in Polars (it has too many distinct values for the cache): value, errors."""
    stripped = cells.str.strip_chars()
    too_long = stripped.str.len_chars() > MAX_TEXT
    problem = f"is longer than {MAX_TEXT} characters (allowed: {allowed_text(question)})"
    value = pl.when(too_long | (stripped == "")).then(None).otherwise(stripped)
    with_value = pl.when(too_long).then(
        pl.concat_str([pl.lit(f"{label}: '"), stripped.str.slice(0, 40), pl.lit(f"' {problem}")])
    )
    return value, with_value, pl.when(too_long).then(pl.lit(f"{label}: {problem}"))


def _csv_quote(column: pl.Expr) -> pl.Expr:
    """A cell as CSV text: quoted (inner quotes doubled) when it holds a comma, a quote or a line break."""
    quoted = pl.concat_str([pl.lit('"'), column.str.replace_all('"', '""', literal=True), pl.lit('"')])
    return pl.when(column.str.contains('[",\r\n]')).then(quoted).otherwise(column)


def _csv_text(cells: list[str | None]) -> str:
    """Cells as one line of CSV text, without the line end (empty for None)."""
    return _csv_line(["" if cell is None else cell for cell in cells]).rstrip("\n")


def _neutral_text(text: str) -> str:
    return "'" + text if _FORMULA.match(text) else text


def _neutral(column: pl.Expr) -> pl.Expr:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    return pl.when(column.str.contains(_SPREADSHEET_FORMULA)).then(pl.lit("'") + column).otherwise(column)


class BatchScorer:
    """Scores one batch of raw rows at a time: distinct cells checked in Python (once per run), the pack's rules as
    Polars expressions, and texts looked up once per distinct outcome. Also keeps the run's summary."""

    def __init__(
        self, pack: Pack, sources: dict[str, Source], mapping: Mapping | None, header: list[str], fmt: str = "csv"
    ):
        self.pack = pack
        self.csv = fmt == "csv"
        self.converter = Converter(pack, sources, mapping)
        self.outcome = pr.Outcome(pack)
        self.summary = Summary(not_in_file=[f for f, s in sources.items() if s.kind == "absent"])
        self.codes: Counter = Counter()
        self.csv_outcomes: dict[int, tuple[str, str]] = {}
        self.csv_alerts: dict[int, str] = {}
        self.lock = threading.Lock()
        self.inputs = [f"c{i}" for i in range(len(header))]
        self.full_row = b",".join([b'""'] * len(header)) + b"\n"
        self.absent: list[pl.Expr] = []
        self.texts: list[tuple[Question, str, str]] = []  # free-text fields, checked in Polars
        self.coded: dict[str, list[str]] = {}  # column -> the fields it answers
        self.derived: list[pl.Expr] = []
        self.labels = {f: _label(f, s) for f, s in sources.items() if s.kind != "absent"}
        for question in pack.asked:
            source = sources[question.id]
            if source.kind == "absent":
                self.absent.append(pl.lit(None, dtype=_DTYPES[question.type]).alias(pr.VALUE.format(question.id)))
            elif source.kind == "column" and question.type == "text" and not self.converter.recodes(question.id):
                self.texts.append((question, f"c{source.index}", self.labels[question.id]))
            elif source.kind == "column":
                self.coded.setdefault(f"c{source.index}", []).append(question.id)
            else:
                assert source.derived is not None  # a derive source always carries its cases
                column = f"__f_{question.id}"
                self.derived.append(_derive(source.derived, header).alias(column))
                self.coded[column] = [question.id]
        self.stages = [*pr.value_stages(pack), pr.missing_columns(pack), *pr.decision_stages(pack)]
        self.missing = [pl.col(pr.MISSING.format(q.id)) for q in pack.asked if q.required]
        self.review_codes = pr.review_codes(pack)
        self.unanswered = pl.all_horizontal([pl.col(pr.VALUE.format(q.id)).is_null() for q in pack.asked])
        self.blank = pl.all_horizontal([pl.col(c).is_null() for c in self.inputs])
        # A row's input cells written anew: neutralized, quoted where needed (see _input_text).
        self.rewrite = pl.concat_str(
            [_csv_quote(_neutral(pl.col(c))).fill_null("") for c in self.inputs], separator=","
        )

    def score_bytes(self, chunk: bytes) -> pl.DataFrame:
        """Parse one batch of CSV records (no header) and score it. For CSV output the batch is also read as plain
        lines, so each row's input cells can be copied to the output as they were, without writing them anew."""
        # Polars takes the number of fields from the first row it sees, so a full-width row of empty cells goes
        # first and is dropped: a short, blank or whitespace-only row then reads the same at the start as anywhere.
        raw = pl.read_csv(
            io.BytesIO(self.full_row + chunk), has_header=False, new_columns=self.inputs, infer_schema=False
        ).slice(1)
        lines = None
        if self.csv and b"\x00" not in chunk:
            lines = pl.read_csv(
                io.BytesIO(chunk),
                has_header=False,
                new_columns=["__line"],
                infer_schema=False,
                separator="\x00",  # a byte the batch does not hold: one field per line
                quote_char=None,
            ).to_series()
            if lines.len() != raw.height:  # a quoted line break: lines are not rows
                lines = None
        return self.score(raw, lines)

    def score(self, raw: pl.DataFrame, lines: pl.Series | None = None) -> pl.DataFrame:
        """The batch scored, in the same row order. CSV: `__line` (the input cells as CSV text) and `__suffix` (the
        six output cells as CSV text); JSON lines: the input columns (neutralized) and `__out_*` columns."""
        if self.derived:
            raw = raw.with_columns(self.derived)
        columns = list(self.coded)
        distinct = raw.select(pl.col(c).unique().drop_nulls().implode() for c in columns).row(0) if columns else []
        typed, errors, kinds = list(self.absent), [], []
        shown: list[pl.Expr] = []  # JSON lines: the input columns, formula cells neutralized
        formula: list[pl.Expr] = []  # CSV: whether a row has a cell to neutralize
        for column, found in zip(columns, distinct, strict=True):
            if not column.startswith("__f_"):
                risky = [text for text in found if _FORMULA.match(text)]
                if self.csv and risky:
                    formula.append(pl.col(column).is_in(risky))
                elif not self.csv:
                    shown.append((_neutral(pl.col(column)) if risky else pl.col(column)).alias(column))
            for fid in self.coded[column]:
                value, error, kind = self.converter.column(
                    self.pack.questions[fid], pl.col(column), found, self.labels[fid]
                )
                typed.append(value.alias(pr.VALUE.format(fid)))
                if error is not None:
                    errors.append(error)
                    kinds.append(kind)
        for question, column, label in self.texts:
            value, error, kind = _text_answer(question, pl.col(column), label)
            typed.append(value.alias(pr.VALUE.format(question.id)))
            longest: Any = raw[column].str.len_bytes().max()
            if (longest or 0) > MAX_TEXT:  # bytes >= characters: a quick, safe test
                errors.append(error)
                kinds.append(kind)
        coded_inputs = {c for c in columns if not c.startswith("__f_")}
        for column in (c for c in self.inputs if c not in coded_inputs):
            if self.csv:
                formula.append(pl.col(column).str.contains(_SPREADSHEET_FORMULA).fill_null(False))
            else:
                shown.append(_neutral(pl.col(column)).alias(column))
        if self.csv:  # the input cells stay in `raw`; only rows that need writing anew read them (_input_text)
            shown = [
                pl.col(self.inputs[-1]).is_null().alias("__open_end"),
                (pl.any_horizontal(formula) if formula else pl.lit(False)).alias("__formula"),
            ]
        if self._every_row_answers(raw, columns, distinct):
            row_problem = pl.lit(None, dtype=pl.String)  # no blank row, no row without answers: skip both tests
        else:
            row_problem = (
                pl.when(self.blank)
                .then(pl.lit("blank row"))
                .when(self.unanswered)
                .then(pl.lit("no intake answers in this row"))
            )
        frame = raw.lazy().with_columns(typed)
        for stage in self.stages:
            frame = frame.with_columns(stage)
        # Problems stay separate, mostly-null columns here; their text is joined only if a row in the batch has one.
        pieces = [row_problem, *errors]
        failed = pl.any_horizontal([piece.is_not_null() for piece in pieces])
        width = len(self.pack.alerts)
        # An (outcome, alerts) pair as one integer key, when both fit in 63 bits (as in every pack so far).
        keyed = len(self.outcome.required) + width < 60
        done = frame.select(
            *shown,
            pl.when(failed).then(None).otherwise(pl.col(pr.OUTCOME)).alias(pr.OUTCOME),
            pl.when(failed).then(None).otherwise(pl.col(pr.ALERTS)).alias(pr.ALERTS),
            *self.missing,
            *[piece.alias(f"__e{i}") for i, piece in enumerate(pieces)],
            *[piece.alias(f"__k{i}") for i, piece in enumerate([row_problem, *kinds])],
        ).collect(engine="in-memory")
        if (done[pr.OUTCOME] == pr.REVIEW_PENDING).any():
            done = done.with_columns(self.review_codes)
        if keyed:
            done = done.with_columns((pl.col(pr.OUTCOME) * (1 << width) + pl.col(pr.ALERTS)).alias("__key"))
        kinds_found: list[tuple[str, int]] = []
        if any(done[f"__e{i}"].null_count() < done.height for i in range(len(pieces))):
            joined = [
                pl.concat_str([pl.col(f"__{x}{i}") for i in range(len(pieces))], separator="; ", ignore_nulls=True)
                for x in "ek"
            ]
            done = done.with_columns(
                pl.when(j != "").then(j).alias(n) for j, n in zip(joined, ("__error", "__kinds"), strict=True)
            )
            found_kinds = done.select(pl.col("__kinds").drop_nulls().str.split("; ").explode().value_counts())
            kinds_found = [(item["__kinds"], item["count"]) for item in found_kinds.to_series().to_list()]
        else:
            done = done.with_columns(pl.lit(None, dtype=pl.String).alias("__error"))
        # Each distinct (outcome, alerts) pair with its count, in one pass; texts are made once per pair.
        if keyed:
            low = (1 << width) - 1
            pairs = [
                (None, None, n) if k is None else (k >> width, k & low, n)
                for k, n in done["__key"].value_counts().rows()
            ]
        else:
            pairs = done.group_by(pr.OUTCOME, pr.ALERTS).len().rows()
        self._count(pairs, kinds_found)
        outcomes = sorted({code for code, _, _ in pairs if code is not None})
        masks = sorted({mask for _, mask, _ in pairs if mask is not None})
        code = pl.col(pr.OUTCOME)

        def spread(values: list, default: str | None = None) -> pl.Expr:
            return code.replace_strict(outcomes, values, default=default, return_dtype=pl.String)

        if not self.csv:
            found = [self.outcome.texts(c) for c in outcomes]
            return (
                done.lazy()
                .select(
                    *self.inputs,
                    spread([f[0] for f in found]).alias("__out_level"),
                    spread([f[1] for f in found]).alias("__out_rule"),
                    spread([f[2] for f in found]).alias("__out_reason"),
                    pl.col(pr.ALERTS)
                    .replace_strict(
                        masks, [self.outcome.alert_text(m) for m in masks], default=None, return_dtype=pl.String
                    )
                    .alias("__out_alerts"),
                    spread([self._status(c) for c in outcomes], "error").alias("__out_status"),
                    _neutral(pl.col("__error")).alias("__out_error"),
                    "__error",
                )
                .collect()
            )
        # CSV: the six output cells of a row depend only on its outcome code and alert mask, so they are rendered
        # once per distinct value as ready CSV text, and the file is written without Polars quoting each cell.
        if keyed:
            # One lookup per row.
            present = [(o, m) for o, m, _ in pairs if o is not None and m is not None]
            rendered = pl.col("__key").replace_strict(
                [(o << width) + m for o, m in present],
                [f"{self._csv_outcome(o)[0]},{self._csv_alerts(m)},{self._status(o)}," for o, m in present],
                default=None,
                return_dtype=pl.String,
            )
        else:
            rendered = pl.concat_str(
                [
                    spread([self._csv_outcome(c)[0] for c in outcomes]),
                    pl.col(pr.ALERTS).replace_strict(
                        masks, [self._csv_alerts(m) for m in masks], default=None, return_dtype=pl.String
                    ),
                    spread([f"{self._status(c)}," for c in outcomes]),
                ],
                separator=",",
            )
        failed_row = pl.concat_str([pl.lit(",,,,error,"), _csv_quote(_neutral(pl.col("__error")))])
        scored = done.select(pl.coalesce(failed_row, rendered).alias("__suffix"), "__error")
        return scored.insert_column(0, self._input_text(raw, done, lines).alias("__line"))

    def _every_row_answers(self, raw: pl.DataFrame, columns: list[str], distinct: Sequence[Any]) -> bool:
        """Whether one column alone shows that every row of the batch has an answer: it has no empty cell, every
        distinct cell in it is a valid answer, and its question is always asked. Then no row is blank or without
        answers, and those two row tests are skipped."""
        for column, found in zip(columns, distinct, strict=True):
            if column.startswith("__f_") or raw[column].null_count():
                continue
            for fid in self.coded[column]:
                question = self.pack.questions[fid]
                if question.ask_if is None and all(self.converter.answer(question, c)[0] is not None for c in found):
                    return True
        return False

    def _status(self, outcome: int) -> str:
        return self._csv_outcome(outcome)[1]

    def _csv_outcome(self, outcome: int) -> tuple[str, str]:
        """The level, rule and reason cells of an outcome code as CSV text, and its status (remembered: batches
        repeat them)."""
        if outcome not in self.csv_outcomes:
            level, rule, reason = self.outcome.texts(outcome)
            status = policy.status(self.pack, level)
            self.csv_outcomes[outcome] = (_csv_text([level, rule, reason]), status)
        return self.csv_outcomes[outcome]

    def _csv_alerts(self, mask: int) -> str:
        if mask not in self.csv_alerts:
            self.csv_alerts[mask] = _csv_text([self.outcome.alert_text(mask)])
        return self.csv_alerts[mask]

    def _input_text(self, raw: pl.DataFrame, done: pl.DataFrame, lines: pl.Series | None) -> pl.Series:
        """Each row's input cells as CSV text: its input line as it was, except that a row with a cell to neutralize,
        a row with fewer cells than the header, or every row of a batch whose lines are not its rows, is written
        anew from its cells (neutralized, and quoted where needed)."""
        cells = self.rewrite
        if lines is None:
            return raw.select(cells).to_series()
        rows = done["__formula"].arg_true()
        # A full row reaches the last column; a row whose last cell is empty may be short: count its commas outside
        # quotes.
        open_end = done["__open_end"].arg_true()
        if open_end.len():
            outside = lines.gather(open_end).str.replace_all('"[^"]*"', "")
            commas = outside.str.count_matches(",", literal=True)
            short = open_end.filter((commas != len(self.inputs) - 1).fill_null(True))
            rows = pl.concat([rows, short]).unique().sort()
        if rows.len():
            lines = lines.scatter(rows, raw[rows].select(cells).to_series())
        return lines

    def _count(self, pairs: list[tuple[int | None, int | None, int]], kinds: list[tuple[str, int]]) -> None:
        with self.lock:  # batches may be scored in two threads at once
            summary = self.summary
            for code, _, n in pairs:
                summary.rows += n
                if code is None:
                    summary.status["error"] += n
                else:
                    self.codes[code] += n
            for kind, n in kinds:
                summary.errors[kind] += n

    def finish(self) -> Summary:
        summary = self.summary
        for code, n in self.codes.items():
            level, _, reason = self.outcome.texts(code)
            summary.levels[level] += n
            status = policy.status(self.pack, level)
            summary.status[status] += n
            review = status == "review"
            if review and code < 0:
                # Missing answers: count each missing field, which says what to collect; the full reason is long.
                for name in self.outcome.missing(code):
                    summary.review_reasons[f"missing answer: {name}"] += n
            elif review:
                summary.review_reasons[reason] += n
        if not summary.status["error"]:
            del summary.status["error"]
        return summary


_UTF8_HINT = "save it as UTF-8; in a spreadsheet, choose CSV UTF-8"


def _encoding_problem(source: InputFile) -> Problem:
    """Where the first byte that is not UTF-8 is, found by reading the file again in Python (error path only)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset, name = 1, 0, source.name
    with source.open() as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = chunk[exc.start]
                line += chunk[: exc.start].count(b"\n")
                return Problem(
                    f"{name}:{line}",
                    f"not UTF-8 text (byte 0x{bad:02x} at offset {offset + exc.start})",
                    _UTF8_HINT,
                )
            line += chunk.count(b"\n")
            offset += len(chunk)
    return Problem(name, "not UTF-8 text", "save the file as UTF-8")


def _unreadable(chunk: bytes, first_line: int, name: str, width: int) -> Problem:
    """Why Polars could not read a batch, found by reading it again in Python (error path only): the first line with
    a quote out of place, a quote never closed, or more fields than the header. Names the line, never its cells."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + chunk[: exc.start].count(b"\n")
        return Problem(f"{name}:{line}", f"not UTF-8 text (byte 0x{chunk[exc.start]:02x})", _UTF8_HINT)
    line, record_line, fields, at_start, quoted, opened = first_line, first_line, 1, True, False, first_line
    n, i = len(text), 0
    quote_hint = 'quote the whole cell and double the quotes inside it, e.g. "5\'10""" for 5\'10"'
    while i < n:
        char = text[i]
        if quoted:
            if char == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
                    following = text[i + 1] if i + 1 < n else "\n"
                    if following not in ",\r\n":
                        return Problem(f"{name}:{line}", "text follows a closing quote in a cell", quote_hint)
            elif char == "\n":
                line += 1
        elif char == '"':
            if not at_start:
                return Problem(f"{name}:{line}", "a double quote inside a cell that is not quoted", quote_hint)
            quoted, opened = True, line
        elif char == ",":
            fields += 1
            at_start = True
            i += 1
            continue
        elif char == "\n":
            if fields > width:
                return _too_many(name, record_line, fields, width)
            line += 1
            record_line, fields = line, 1
            at_start = True
            i += 1
            continue
        at_start = False
        i += 1
    if quoted:
        return Problem(f"{name}:{opened}", "a quoted cell starts here and is never closed", quote_hint)
    if fields > width:
        return _too_many(name, record_line, fields, width)
    last = first_line + max(chunk.count(b"\n") - 1, 0)
    return Problem(
        f"{name}:{first_line}-{last}", "these lines cannot be read as CSV", "check the quoting and the delimiter"
    )


def _too_many(name: str, line: int, fields: int, width: int) -> Problem:
    return Problem(
        f"{name}:{line}",
        f"this row has {fields} fields but the header names {width}",
        "quote cells that contain commas, or add the missing header names",
    )


def output_names(header: list[str], fmt: str) -> list[str]:
    """Column names as written. CSV keeps the input header as it is, except that a name a spreadsheet would run as
    a formula gets a leading apostrophe (as cells do); JSON keys must be unique, so a repeated or empty input name
    gets a suffix, and an input column named like an output column is kept as `input_NAME`."""
    header = [_neutral_text(title) for title in header]
    if fmt == "csv":
        return [*header, *OUTPUT_COLUMNS]
    names: list[str] = []
    seen: set[str] = set(OUTPUT_COLUMNS)
    for index, title in enumerate(header):
        name = title or f"column_{index + 1}"
        if name in OUTPUT_COLUMNS:
            name = f"input_{name}"
        base, n = name, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return [*names, *OUTPUT_COLUMNS]


class StrictStop(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


CHUNK_BYTES = 6 << 20  # one batch of input: memory stays bounded whatever the file's size
SCORING_THREADS = 2


MAX_RECORD_BYTES = 128 << 20  # one record (a row with its quoted line breaks) may be this long, no longer


def _record_end(buffer: bytes, start: int = 0, quotes_before: int = 0) -> int:
    """The last line feed in `buffer[start:]` that ends a record: an even number of quotes before it, so it is not
    inside a quoted cell (doubled quotes keep the count even). `quotes_before` is the count in `buffer[:start]`.
    One pass: each part of the buffer is counted once. -1 when there is none."""
    position = buffer.rfind(b"\n", start)
    if position < 0:
        return -1
    quotes = quotes_before + buffer.count(b'"', start, position)
    while quotes % 2:
        earlier = buffer.rfind(b"\n", start, position)
        if earlier < 0:
            return -1
        quotes -= buffer.count(b'"', earlier, position)
        position = earlier
    return position


def _first_record_end(handle, limit: int) -> int:
    """The offset just after the header record (which may itself hold quoted newlines); -1 past `limit` bytes."""
    seen = b""
    quotes = 0
    while len(seen) <= limit:
        block = handle.read(1 << 16)
        if not block:
            return len(seen)
        start = len(seen)
        seen += block
        position = seen.find(b"\n", start)
        while position >= 0:
            quotes += seen.count(b'"', start, position)
            if quotes % 2 == 0:
                return position + 1
            start = position
            position = seen.find(b"\n", position + 1)
        quotes += seen.count(b'"', start)
    return -1


def read_chunks(source: InputFile | str, chunk_bytes: int = CHUNK_BYTES, start: int | None = None):
    """The data rows as (first line number, bytes) chunks that each end at a record boundary. A chunk grows past
    `chunk_bytes` only to finish a long record, and never past MAX_RECORD_BYTES more: a quote that is never closed
    is reported at the line where its record starts, in one linear pass."""
    if isinstance(source, str):
        with InputFile(source) as opened:
            yield from read_chunks(opened, chunk_bytes, start)
        return
    if start is None:
        with source.open() as handle:
            start = _first_record_end(handle, MAX_HEADER_BYTES)
    line = 1 + source.read_at(0, start).count(b"\n") if start > 0 else 1
    offset = start
    block = b""
    scanned = quotes = 0  # how much of `block` has been searched for a record end, and its quotes
    while more := source.read_at(offset, chunk_bytes):
        offset += len(more)
        block = block + more if block else more
        if len(more) < chunk_bytes:
            break  # the end of the file: the rest is the last chunk
        cut = _record_end(block, scanned, quotes)
        if cut < 0:
            quotes += block.count(b'"', scanned)
            scanned = len(block)
            if len(block) > chunk_bytes + MAX_RECORD_BYTES:
                raise ProblemsError([_runaway(source.name, line)])
            continue
        offset -= len(block) - cut - 1  # the part after the record end is read again with the next chunk
        chunk = block[: cut + 1]
        yield line, chunk
        line += chunk.count(b"\n")
        block = b""
        scanned = quotes = 0
    if block:
        if block.count(b'"') % 2:
            cut = _record_end(block)
            raise ProblemsError([_runaway(source.name, line + block.count(b"\n", 0, cut + 1), at_end=True)])
        yield line, block


def _runaway(name: str, line: int, at_end: bool = False) -> Problem:
    where = "runs to the end of the file" if at_end else f"runs past {MAX_RECORD_BYTES >> 20} MiB"
    return Problem(
        f"{name}:{line}",
        f"the row that starts here {where}: a double quote in it is never closed",
        'quote the whole cell and double the quotes inside it, e.g. "5\'10""" for 5\'10"',
    )


class _Pipeline:
    """Reading and writing run in their own threads beside the scoring (Polars releases the GIL while it works),
    with at most one batch waiting at each hand-over, so memory does not grow with the file."""

    def __init__(self, source: InputFile, start: int, out, fmt: str, names: list[str], internal: list[str]):
        import queue
        import threading

        self.pending_chunks: queue.Queue = queue.Queue(maxsize=1)  # raw batches (bytes), read ahead
        self.scored: queue.Queue = queue.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(source, start), daemon=True)
        self.writer = threading.Thread(target=self._write, args=(out, fmt, names, internal), daemon=True)
        self.reader.start()
        self.writer.start()

    def _read(self, source: InputFile, start: int) -> None:
        # Only bytes wait here; each scoring thread parses its own batch, so few parsed batches exist at once.
        try:
            for chunk in read_chunks(source, start=start):
                if self.stop.is_set():
                    break
                self.pending_chunks.put(chunk)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.failure = self.failure or exc
        self.pending_chunks.put(None)

    def _write(self, out, fmt: str, names: list[str], internal: list[str]) -> None:
        import stat

        try:
            on_disk = stat.S_ISREG(os.fstat(out.fileno()).st_mode)  # not a pipe or a device: those cannot sync
        except (AttributeError, OSError, io.UnsupportedOperation):  # an in-memory output (tests, rules diff)
            on_disk = False
        try:
            while (frame := self.scored.get()) is not None:
                rows = frame.select(internal)
                if fmt == "csv":
                    # Every cell is already CSV text (see BatchScorer.score), so nothing is quoted twice.
                    rows.write_csv(out, include_header=False, quote_style="never")
                else:
                    rows.rename(dict(zip(internal, names, strict=True))).write_ndjson(out)
                if on_disk:
                    # Each batch goes to disk while the next ones are scored: the final fsync has little left to do.
                    out.flush()
                    os.fdatasync(out.fileno())
        except BaseException as exc:
            self.failure = self.failure or exc
            self.stop.set()
            while self.scored.get() is not None:  # let the main thread finish handing over
                pass

    def batches(self):
        while (chunk := self.pending_chunks.get()) is not None:
            if self.failure is not None:
                break
            yield chunk
        self.check()

    def put(self, frame: pl.DataFrame) -> None:
        self.scored.put(frame)

    def close(self) -> None:
        """Stop both threads and wait for the writer to finish what it was given."""
        self.stop.set()
        while self.reader.is_alive():
            try:
                self.pending_chunks.get_nowait()
            except Exception:
                self.reader.join(0.01)
        self.scored.put(None)
        self.writer.join()
        self.check()

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def abort(self) -> None:
        """After a failure or a --strict stop: release both threads without waiting for the rest of the file."""
        import queue

        self.stop.set()
        for hand_over, done in ((self.pending_chunks, self.reader), (self.scored, self.writer)):
            while done.is_alive():
                try:
                    hand_over.get_nowait() if hand_over is self.pending_chunks else hand_over.put(None, timeout=0.01)
                except (queue.Empty, queue.Full):
                    pass
                done.join(0.01)


def score_file(
    source: InputFile | str,
    out,
    pack: Pack,
    mapping: Mapping | None,
    fmt: str = "csv",
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Score the CSV `source` (an open input, or a path) into the open binary file `out`, batch by batch; return
    the summary. Raises ProblemsError for input that cannot be scored and StrictStop for the first bad row under
    --strict."""
    if isinstance(source, str):
        with InputFile(source) as opened:
            return score_file(opened, out, pack, mapping, fmt, strict, progress)
    name = source.name
    started = time.perf_counter()
    header, start = read_header(source)
    sources = plan_sources(pack, header, mapping, name)
    scorer = BatchScorer(pack, sources, mapping, header, fmt)
    summary = scorer.summary
    names = output_names(header, fmt)
    inputs = [f"c{i}" for i in range(len(header))]
    internal = ["__line", "__suffix"] if fmt == "csv" else inputs + [f"__out_{c}" for c in OUTPUT_COLUMNS]
    if fmt == "csv":
        out.write(_csv_line(names).encode("utf-8"))
        out.flush()
    pipeline = _Pipeline(source, start, out, fmt, names, internal)
    done_rows = 0

    def hand_over(scored: pl.DataFrame) -> None:
        nonlocal done_rows
        if strict and scored["__error"].is_not_null().any():
            bad = scored.with_row_index("__n").filter(pl.col("__error").is_not_null()).row(0, named=True)
            where = f"{name}: data row {done_rows + bad['__n'] + 1}"
            raise StrictStop(Problem(where, bad["__error"], "fix it, or drop --strict"))
        pipeline.put(scored)
        done_rows += scored.height
        if progress:
            progress(scored.height)

    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def read_batch(line: int, chunk: bytes) -> pl.DataFrame:
        try:
            return scorer.score_bytes(chunk)
        except pl.exceptions.PolarsError:  # its message quotes the cells: say where instead, in our own words
            raise ProblemsError([_unreadable(chunk, line, name, len(header))]) from None

    pending: deque = deque()
    try:
        # Two batches are scored at a time (Polars releases the GIL), and handed over in input order.
        with ThreadPoolExecutor(max_workers=SCORING_THREADS) as pool:
            for line, chunk in pipeline.batches():
                pending.append(pool.submit(read_batch, line, chunk))
                if len(pending) >= SCORING_THREADS:
                    hand_over(pending.popleft().result())
            while pending:
                hand_over(pending.popleft().result())
        pipeline.close()
    finally:
        for future in pending:
            future.cancel()
        pipeline.abort()
    scorer.finish()
    summary.seconds = time.perf_counter() - started
    return summary


_NEEDS_QUOTES = re.compile('[",\r\n]')


def _csv_line(cells: list[str]) -> str:
    """Cells as one CSV line, quoted by the rule `_csv_quote` follows (Python's csv leaves a lone CR unquoted)."""
    quoted = ['"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells]
    return ",".join(quoted) + "\n"
