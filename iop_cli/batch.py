"""Batch scoring for `iop score`: read a CSV lazily with Polars, map and check its columns, decide every row with the
pack compiled to Polars expressions, and stream the result to a private temporary file that replaces the output
only when everything went well.

One output row per input row, in input order: a bad value makes its row `status=error`, never a lost row.
"""

from __future__ import annotations

import csv
import difflib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from . import polars_rules as pr
from .answers import MAX_TEXT, NO, YES, allowed_text
from .mapping import Derived, Mapping
from .pack import Pack, Question
from .problems import Problem, ProblemsError

OUTPUT_COLUMNS = ("level", "rule", "reason", "alerts", "status", "error")
ERROR = "__e_{}"
KIND = "__k_{}"
_SPREADSHEET_FORMULA = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as a formula


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

    def as_dict(self, pack: Pack, input_name: str, output_name: str) -> dict[str, Any]:
        return {
            "input": input_name,
            "output": output_name,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "pack": {"name": pack.name, "version": pack.version, "hash": pack.hash},
            "status": dict(self.status.most_common()),
            "levels": dict(self.levels.most_common()),
            "top_errors": [{"reason": r, "rows": n} for r, n in self.errors.most_common(10)],
            "top_review_reasons": [{"reason": r, "rows": n} for r, n in self.review_reasons.most_common(10)],
            "unanswered_fields": self.not_in_file,
        }


# ----------------------------------------------------------------------------------------------------------------
# The header and the plan of where each field comes from


def read_header(path: str, name: str) -> list[str]:
    """The header row, read with Python's csv module (quotes, BOM and CRLF handled), or one clear problem."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise ProblemsError([_encoding_problem(path, name)]) from None
    except OSError as exc:
        raise ProblemsError([Problem(name, f"cannot read the file: {exc.strerror}", "check the path")]) from None
    except csv.Error as exc:
        raise ProblemsError([Problem(f"{name}:1", f"the header row is not valid CSV ({exc})")]) from None
    if not header or not any(cell.strip() for cell in header):
        raise ProblemsError(
            [Problem(name, "the file is empty or its first row is blank", "the first row must name the columns")]
        )
    return header


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


def _code(text: pl.Expr) -> pl.Expr:
    """The cell as a code, numbers written one way (as mapping.code_key): "5.0" and "5" are both "5"."""
    number = text.cast(pl.Float64, strict=False)
    whole = number.cast(pl.Int64, strict=False)
    return pl.when(whole.is_not_null() & (number == whole)).then(whole.cast(pl.String)).otherwise(text)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def raw_answer(fid: str, source: Source, mapping: Mapping, header: list[str]) -> pl.Expr:
    """A field's answer as stripped text (null when empty or unanswered), after codes and derivations."""
    if source.kind == "absent":
        return pl.lit(None, dtype=pl.String)
    if source.kind == "derive":
        return _derive(source.derived, header)
    text = _cell(source.index)
    codes = mapping.values.get(fid)
    if mapping.missing or codes:
        key = _code(text)
        if mapping.missing:
            text = pl.when(key.is_in(list(mapping.missing))).then(None).otherwise(text)
        if codes:
            recoded = key.replace_strict(
                list(codes), [_as_text(v) for v in codes.values()], default=text, return_dtype=pl.String
            )
            text = pl.when(text.is_null()).then(None).otherwise(recoded)
    return text


def _derive(derived: Derived, header: list[str]) -> pl.Expr:
    by_name = {_fold(h): i for i, h in reversed(list(enumerate(header)))}

    def column(name: str) -> pl.Expr:
        return _cell(by_name[_fold(name)]).cast(pl.Float64, strict=False)

    chain = None
    for condition, value in derived.cases:
        test = pr.compile_expr(condition, column)
        chain = (pl.when(test.is_null()) if chain is None else chain.when(test.is_null())).then(None)
        chain = chain.when(test).then(pl.lit(_as_text(value), dtype=pl.String))
    return chain.otherwise(pl.lit(_as_text(derived.otherwise), dtype=pl.String))


def typed_answer(question: Question, text: pl.Expr, label: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(typed value, error with the value, error without it) for one field; the errors are null when all is well.
    The checks match answers.coerce, so batch and `iop check` accept and refuse the same answers."""
    allowed = allowed_text(question)
    kind = question.type
    if kind in ("integer", "number"):
        number = text.cast(pl.Float64, strict=False)
        bad = number.is_null() | ~number.is_finite()
        if kind == "integer":
            bad = bad | (number != number.floor())
        out = pl.lit(False)
        if question.min is not None:
            out = out | (number < question.min)
        if question.max is not None:
            out = out | (number > question.max)
        problem = (
            pl.when(text.is_null())
            .then(None)
            .when(bad)
            .then(pl.lit("is not a whole number" if kind == "integer" else "is not a number"))
            .when(out)
            .then(pl.lit("is outside the allowed range"))
        )
        value = number.cast(pl.Int64, strict=False) if kind == "integer" else number
    elif kind == "yesno":
        word = text.str.to_lowercase()
        value = pl.when(word.is_in(sorted(YES))).then(True).when(word.is_in(sorted(NO))).then(False)
        problem = pl.when(text.is_not_null() & value.is_null()).then(pl.lit("is not yes or no"))
    elif kind == "choice":
        folded = {c.lower(): c for c in question.choice_values}
        value = text.str.to_lowercase().replace_strict(
            list(folded), list(folded.values()), default=None, return_dtype=pl.String
        )
        problem = pl.when(text.is_not_null() & value.is_null()).then(pl.lit("is not one of the choices"))
    else:
        value = text
        problem = pl.when(text.str.len_chars() > MAX_TEXT).then(pl.lit(f"is longer than {MAX_TEXT} characters"))
    value = pl.when(problem.is_null()).then(value).otherwise(None)
    shown = text.str.slice(0, 40)
    with_value = pl.concat_str([pl.lit(f"{label}: '"), shown, pl.lit("' "), problem, pl.lit(f" (allowed: {allowed})")])
    without_value = pl.concat_str([pl.lit(f"{label}: "), problem])
    return value, with_value, without_value


def _label(fid: str, source: Source) -> str:
    if source.kind == "column" and _fold(source.header) != fid:
        return f"{source.header.strip() or f'column {source.index + 1}'} ({fid})"
    return fid if source.kind == "column" else source.header


def _neutral(column: pl.Expr) -> pl.Expr:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    return pl.when(column.str.contains(_SPREADSHEET_FORMULA)).then(pl.lit("'") + column).otherwise(column)


def scored_frame(
    frame: pl.LazyFrame, pack: Pack, sources: dict[str, Source], mapping: Mapping | None, header: list[str]
) -> pl.LazyFrame:
    """Every input column, then level, rule, reason, alerts, status and error (internal `__out_*` names), plus
    `__kinds` (the errors without values, for the summary)."""
    mapping = mapping or Mapping()
    inputs = [f"c{i}" for i in range(len(header))]
    raw = {fid: raw_answer(fid, src, mapping, header) for fid, src in sources.items()}
    typed, errors, kinds = [], [], []
    for question in pack.asked:
        value, error, kind = typed_answer(question, raw[question.id], _label(question.id, sources[question.id]))
        typed.append(value.alias(pr.VALUE.format(question.id)))
        errors.append(error.alias(ERROR.format(question.id)))
        kinds.append(kind.alias(KIND.format(question.id)))

    used = [f"c{s.index}" for s in sources.values() if s.kind == "column"]
    used += [f"c{i}" for s in sources.values() if s.kind == "derive" for i in _derived_indexes(s.derived, header)]
    blank = pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in inputs])
    unanswered = pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in used or inputs])
    row_problem = (
        pl.when(blank).then(pl.lit("blank row")).when(unanswered).then(pl.lit("no intake answers in this row"))
    )

    frame = frame.with_columns(*typed, *errors, *kinds, row_problem.alias("__row_problem"))
    for stage in pr.value_stages(pack):
        frame = frame.with_columns(stage)
    frame = frame.with_columns(pr.missing_columns(pack))
    first, second = pr.decision_columns(pack)
    frame = frame.with_columns(first)
    if second:
        frame = frame.with_columns(second)
    else:
        frame = frame.with_columns(pl.lit("").alias(pr.ALERTS))

    error_ids = [ERROR.format(q.id) for q in pack.asked]
    kind_ids = [KIND.format(q.id) for q in pack.asked]
    error_text = pl.concat_str([pl.col("__row_problem"), *map(pl.col, error_ids)], separator="; ", ignore_nulls=True)
    kind_text = pl.concat_str([pl.col("__row_problem"), *map(pl.col, kind_ids)], separator="; ", ignore_nulls=True)
    failed = error_text != ""
    review = pl.col(pr.LEVEL) == pack.otherwise.level
    outputs = {
        "level": pl.col(pr.LEVEL),
        "rule": pl.col(pr.RULE),
        "reason": pl.col(pr.REASON),
        "alerts": pl.when(pl.col(pr.ALERTS) != "").then(pl.col(pr.ALERTS)),
    }
    return frame.select(
        *[_neutral(pl.col(c)).alias(c) for c in inputs],
        *[pl.when(failed).then(None).otherwise(e).alias(f"__out_{n}") for n, e in outputs.items()],
        pl.when(failed)
        .then(pl.lit("error"))
        .when(review)
        .then(pl.lit("review"))
        .otherwise(pl.lit("ok"))
        .alias("__out_status"),
        _neutral(pl.when(failed).then(error_text)).alias("__out_error"),
        pl.when(failed).then(kind_text).alias("__kinds"),
    )


def _derived_indexes(derived: Derived, header: list[str]) -> list[int]:
    by_name = {_fold(h): i for i, h in reversed(list(enumerate(header)))}
    return [by_name[_fold(c)] for c in derived.columns if _fold(c) in by_name]


# ----------------------------------------------------------------------------------------------------------------
# Running it


def _encoding_problem(path: str, name: str) -> Problem:
    """Where the first byte that is not UTF-8 is, found by reading the file again in Python (error path only)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = chunk[exc.start]
                line += chunk[: exc.start].count(b"\n")
                return Problem(
                    f"{name}:{line}",
                    f"not UTF-8 text (byte 0x{bad:02x} at offset {offset + exc.start})",
                    "save the file as UTF-8 (in a spreadsheet: CSV UTF-8)",
                )
            line += chunk.count(b"\n")
            offset += len(chunk)
    return Problem(name, "not UTF-8 text", "save the file as UTF-8")


def _ragged_problem(path: str, name: str, width: int) -> Problem:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for number, row in enumerate(reader, start=1):
            if len(row) > width:
                return Problem(
                    f"{name}:{reader.line_num}",
                    f"data row {number} has {len(row)} fields but the header names {width}",
                    "quote cells that contain commas, or add the missing header names",
                )
    return Problem(name, "a row has more fields than the header", "check the file's quoting")


def _polars_problem(exc: Exception, path: str, name: str, width: int) -> Problem:
    text = str(exc)
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return _encoding_problem(path, name)
    if "more fields" in text:
        return _ragged_problem(path, name, width)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return Problem(name, f"cannot read the CSV: {first}", "check that it is a comma-separated file with a header row")


def output_names(header: list[str], fmt: str) -> list[str]:
    """Column names as written. CSV keeps the input header exactly; JSON keys must be unique, so a repeated or empty
    input name gets a suffix, and an input column named like an output column is kept as `input_NAME`."""
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


def score_file(
    path: str,
    name: str,
    out,
    pack: Pack,
    mapping: Mapping | None,
    fmt: str = "csv",
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 50_000,
) -> Summary:
    """Score the CSV at `path` into the open binary file `out`; return the summary. Raises ProblemsError for input
    that cannot be scored and StrictStop for the first bad row under --strict."""
    started = time.perf_counter()
    header = read_header(path, name)
    sources = plan_sources(pack, header, mapping, name)
    summary = Summary(not_in_file=[f for f, s in sources.items() if s.kind == "absent"])
    frame = pl.scan_csv(
        path,
        has_header=True,
        infer_schema=False,
        encoding="utf8",
        new_columns=[f"c{i}" for i in range(len(header))],
        raise_if_empty=False,
    )
    scored = scored_frame(frame, pack, sources, mapping, header)
    names = output_names(header, fmt)
    internal = [f"c{i}" for i in range(len(header))] + [f"__out_{c}" for c in OUTPUT_COLUMNS]
    if fmt == "csv":
        line = _csv_line(names)
        out.write(line.encode("utf-8"))
    try:
        for batch in scored.collect_batches(chunk_size=chunk_size):
            _count(summary, batch)
            if strict and summary.status["error"]:
                bad = batch.with_row_index("__n").filter(pl.col("__out_status") == "error").row(0, named=True)
                number = summary.rows - batch.height + bad["__n"] + 1
                raise StrictStop(Problem(f"{name}: data row {number}", bad["__out_error"], "fix it, or drop --strict"))
            rows = batch.select(internal)
            if fmt == "csv":
                rows.write_csv(out, include_header=False)
            else:
                rows.rename(dict(zip(internal, names, strict=True))).write_ndjson(out)
            if progress:
                progress(batch.height)
    except pl.exceptions.PolarsError as exc:
        raise ProblemsError([_polars_problem(exc, path, name, len(header))]) from None
    summary.seconds = time.perf_counter() - started
    return summary


def _csv_line(cells: list[str]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _count(summary: Summary, batch: pl.DataFrame) -> None:
    summary.rows += batch.height
    for status, n in batch["__out_status"].value_counts().iter_rows():
        summary.status[status] += n
    placed = batch.filter(pl.col("__out_status") != "error")
    for level, n in placed["__out_level"].value_counts().iter_rows():
        summary.levels[level] += n
    errors = batch["__kinds"].drop_nulls()
    if len(errors):
        for kind, n in errors.str.split("; ").explode().value_counts().iter_rows():
            summary.errors[kind] += n
    review = batch.filter(pl.col("__out_status") == "review")["__out_reason"]
    for reason, n in review.value_counts().iter_rows():
        summary.review_reasons[reason] += n


# ----------------------------------------------------------------------------------------------------------------
# Files: stdin, the private temporary output, the atomic rename


def spool_stdin() -> str:
    """Copy stdin to a private temporary file (Polars needs a file to scan); the caller removes it."""
    handle, temp = tempfile.mkstemp(prefix="iop-score-", suffix=".csv")
    with os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return temp


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def private_output(target: str) -> tuple[Any, str]:
    """An open 0600 temporary file beside `target` (or in the temp folder for stdout) and its path."""
    folder = tempfile.gettempdir() if target == "-" else (str(Path(target).parent) or ".")
    try:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".iop-score-", suffix=".part")
    except OSError as exc:
        raise ProblemsError([Problem(target, f"cannot write here: {exc.strerror}", "choose another output")]) from None
    return os.fdopen(handle, "wb"), temp


def publish(temp: str, target: str) -> None:
    """Move the finished temporary file into place (stdout: copy it out), so a failed run leaves no half file."""
    if target == "-":
        with open(temp, "rb") as source:
            shutil.copyfileobj(source, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
        os.unlink(temp)
    else:
        os.replace(temp, target)
