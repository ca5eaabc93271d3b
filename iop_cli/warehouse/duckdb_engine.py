"""`iop score --engine duckdb`: the pack's SQL query (`warehouse.query`) run by embedded DuckDB over a CSV or
Parquet file, streamed to CSV, JSON lines or Parquet, for files larger than memory and for users who have DuckDB.

DuckDB is an optional extra (`pip install 'iop-cli[duckdb]'`), imported only here. The rows whose missing answers
must be searched (the one step SQL does not take) are settled inside the same query by a Python function the query
calls for those rows only: the engine behind `iop check`, remembered per distinct set of answers. So this engine
gives the level, rule, alerts and status `iop score` gives, row for row (`tests/test_sql.py`).

What DuckDB's CSV reader does differently is refused, never guessed: it skips blank lines (iop scores them as
rows with an error), so a file with one is refused before any work; a row it cannot read is named by its line, and
DuckDB's own message, which quotes the row's cells, is never shown.
"""

from __future__ import annotations

import inspect
import os
import re
import time
from typing import Any

from iop_cli.batch.columns import plan_sources
from iop_cli.batch.mapping import Mapping
from iop_cli.batch.read import encoding_problem, read_header
from iop_cli.batch.render import SPREADSHEET_FORMULA
from iop_cli.batch.summary import Summary
from iop_cli.files import InputFile
from iop_cli.lang.sql import DIALECTS
from iop_cli.pack.model import Pack
from iop_cli.problems import Problem, ProblemsError
from iop_cli.warehouse import query as Q

DUCKDB = DIALECTS["duckdb"]
MEMO_LIMIT = 100_000  # settled rows remembered (as `decide.frame`'s memos: cleared when full)
SETTLE = "iop_settle"  # the Python function that settles a row whose missing answers must be searched
FIELD_SEPARATOR = "\x1f"  # between the outcome's cells in what `iop_settle` returns
INPUT = "iop_input"
PARALLEL = "$parallel"  # in the input view: true, or false when quoted cells hold line breaks and rows are short
INSTALL_HINT = "pip install 'iop-cli[duckdb]' (or pip install duckdb), or leave out --engine duckdb"


def available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def score_with_duckdb(
    source: InputFile,
    target: str,
    pack: Pack,
    mapping: Mapping | None,
    fmt: str,
    input_format: str,
    reason: bool = True,
) -> Summary:
    """Score `source` into the file `target` (a path DuckDB may write: the output's temporary file, or a
    /proc/self/fd path); return the summary. Raises ProblemsError for input that cannot be scored."""
    try:
        import duckdb
        from duckdb.func import FunctionNullHandling
    except ImportError:
        raise ProblemsError([Problem("--engine duckdb", "DuckDB is not installed", INSTALL_HINT)]) from None
    started = time.perf_counter()
    name = source.name
    # No spill files: what DuckDB would write to its temporary folder is intake data, and a killed run would leave
    # it behind.
    config: dict[str, Any] = {"temp_directory": ""}
    connection = duckdb.connect(":memory:", config=config)
    try:
        # The output keeps the input's row order. DuckDB rewrites a long `IN (...)` list (the pack's choices) into
        # a join, which put rows out of order past about 8 MB of input: off. Keeping the order with two threads, it
        # held written batches back until the slower thread caught up, and its memory grew with the file (1.5 GB at
        # 3M rows): one thread keeps it flat (about 350 MB), at about 1.6 times the time (measured).
        connection.execute("SET disabled_optimizers = 'in_clause'")
        connection.execute("SET threads = 1")
        header, read_as = _open_input(connection, source, input_format)
        query = Q.build(pack, header, INPUT, DUCKDB, mapping, name, read_as=read_as)
        sources = plan_sources(pack, header, mapping, name)
        connection.create_function(
            SETTLE,
            _settler(pack, query, sources),
            ["varchar"] * len(query.keys),
            "varchar",
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
        text = query.text(settle=SETTLE, neutral=neutral_sql if fmt == "csv" else None, reason=reason)
        options = {"csv": "FORMAT csv, HEADER true", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}[fmt]
        statement = f"COPY ({text}) TO {DUCKDB.text(target)} ({options}, USE_TMP_FILE false)"
        old = os.umask(0o077)  # the file DuckDB creates is private (0600)
        try:
            _run(connection, statement, name, source)
        finally:
            os.umask(old)
        try:
            summary = _summary(connection, target, fmt, pack, query, reason)
        except duckdb.Error as exc:
            problem = Problem(name, f"DuckDB could not count the output ({type(exc).__name__})", "score it again")
            raise ProblemsError([problem]) from None
    finally:
        connection.close()
    summary.not_in_file = [f for f, s in plan_sources(pack, header, mapping, name).items() if s.kind == "absent"]
    summary.counted_as = "row"
    summary.seconds = time.perf_counter() - started
    return summary


def _open_input(connection, source: InputFile, input_format: str) -> tuple[list[str], list[str]]:
    """The view `iop_input` over the file; (its header as the file names it, the view's own column names)."""
    path = DUCKDB.text(source.name)
    if input_format == "parquet":
        import duckdb

        try:
            connection.execute(f"CREATE VIEW {INPUT} AS SELECT * FROM read_parquet({path})")
            header = [row[0] for row in connection.execute(f"DESCRIBE {INPUT}").fetchall()]
        except duckdb.Error:
            raise ProblemsError(
                [Problem(source.name, "DuckDB cannot read this as a Parquet file", "check the file")]
            ) from None
        return header, header
    header, _ = read_header(source)
    blank = _blank_line(source)
    if blank is not None:
        raise ProblemsError(
            [
                Problem(
                    f"{source.name}:{blank}",
                    "a blank line: DuckDB's reader skips blank lines, so --engine duckdb would lose this row",
                    "remove the blank lines, or score the file without --engine duckdb (a blank line is then a row "
                    "with an error)",
                )
            ]
        )
    # Each column by position under a name of our own (a header may repeat a name), all read as text; a short row
    # is padded with empty cells, as `iop score` pads it; a row longer than the header is an error.
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"{DUCKDB.text(n)}: 'VARCHAR'" for n in names) + "}"
    view = (
        f"CREATE OR REPLACE VIEW {INPUT} AS SELECT * FROM read_csv({path}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = ',', quote = '\"', escape = '\"', null_padding = true, parallel = {PARALLEL})"
    )
    connection.execute(view.replace(PARALLEL, "true"))
    connection.execute(f"SET VARIABLE iop_view = {DUCKDB.text(view.replace(PARALLEL, 'false'))}")
    return header, names


def _blank_line(source: InputFile, block_bytes: int = 1 << 20) -> int | None:
    """The line number of the first blank line after the header (a line feed right after a line feed, or after a
    CR LF), or None. A blank line inside a quoted cell is refused too: the message says what to do either way. Read
    a block at a time: a memory map of the whole file counted every page of it as the process's memory (1 GB
    for 9M rows)."""
    lines = 0  # line feeds before `data`
    carried = b""  # the last two bytes of the block before: a blank line may straddle two blocks
    with open(source.name, "rb") as handle:
        while block := handle.read(block_bytes):
            data = carried + block
            found = [at for at in (data.find(b"\n\n"), data.find(b"\n\r\n")) if at >= 0]
            if found:
                return lines + data[: min(found) + 1].count(b"\n") + 1
            carried = data[-2:]
            lines += data.count(b"\n") - carried.count(b"\n")
    return None


_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _run(connection, statement: str, name: str, source: InputFile) -> None:
    """Run the COPY; a reading error becomes one line naming where (DuckDB's message quotes cells: never shown)."""
    import duckdb

    try:
        try:
            connection.execute(statement)
        except duckdb.Error as exc:
            # DuckDB's parallel reader cannot pad a short row once a quoted cell holds a line break; one thread can.
            if "parallel=false" not in str(exc):
                raise
            connection.execute(connection.execute("SELECT getvariable('iop_view')").fetchone()[0])
            connection.execute(statement)
    except duckdb.Error as exc:
        message = str(exc)
        if "unicode" in message.lower() or "utf-8" in message.lower() or "utf8" in message.lower():
            raise ProblemsError([encoding_problem(source)]) from None
        line = _LINE.search(message)
        if line and "Maximum line size" in message:
            raise ProblemsError(
                [
                    Problem(
                        f"{name}:{line.group(1)}",
                        "this row is longer than DuckDB's reader takes (2 MB)",
                        "score the file without --engine duckdb, which reads rows of up to 128 MiB",
                    )
                ]
            ) from None
        if line:
            raise ProblemsError(
                [
                    Problem(
                        f"{name}:{line.group(1)}",
                        "DuckDB's reader cannot read this row (more cells than the header, or a quote out of place)",
                        "check the row, or score the file without --engine duckdb, which names the problem",
                    )
                ]
            ) from None
        kind = type(exc).__name__
        raise ProblemsError(
            [Problem(name, f"DuckDB could not score this file ({kind})", "score it without --engine duckdb")]
        ) from None


def _settler(pack: Pack, query: Q.Query, sources) -> Any:
    """`iop_settle(cells...)`: the outcome of a row whose missing answers must be searched, as the engine behind
    `iop check` gives it (level, rule, reason, alerts, status joined by FIELD_SEPARATOR), once per distinct cells."""
    from iop_cli.batch.columns import field_label
    from iop_cli.decide.engine import checked, decide
    from iop_cli.problems import AnswersError

    labels = {f: field_label(f, s) for f, s in sources.items() if s.kind != "absent"}
    fields: list[list[str]] = [[] for _ in query.keys]
    column_of = {key: index for index, key in enumerate(query.keys)}
    for field_id, source in sources.items():
        if source.kind == "column" and f"t{source.index}" in column_of:
            fields[column_of[f"t{source.index}"]].append(field_id)
    known: dict[tuple, str] = {}

    def settle(*cells: str | None) -> str:
        if cells not in known:
            if len(known) >= MEMO_LIMIT:  # bounded: in a realistic file nearly every such row is new
                known.clear()
            answers = {f: cell for cell, names in zip(cells, fields, strict=True) if cell is not None for f in names}
            try:
                decision = decide(pack, checked(pack, answers))
            except AnswersError as exc:  # a cell the engine reads otherwise than DuckDB (case folding beyond ASCII)
                where = {f: label for f, label in labels.items()}
                text = "; ".join(f"{where.get(p.where, p.where)}: {p.message}" for p in exc.problems)
                known[cells] = FIELD_SEPARATOR.join(["", "", "", "", "error", text])
                return known[cells]
            known[cells] = FIELD_SEPARATOR.join(
                [
                    decision.level.id,
                    decision.rule or "",
                    decision.reason,
                    ";".join(a.id for a in decision.alerts),
                    decision.status,
                    "",
                ]
            )
        return known[cells]

    # DuckDB counts the function's parameters: one per key column, by name.
    parameters = [inspect.Parameter(f"c{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(fields))]
    settle.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return settle


def _summary(connection, target: str, fmt: str, pack: Pack, query: Q.Query, reason_written: bool) -> Summary:
    """The run's counts, read back from the written output (status, level, alerts, review reasons)."""
    reader = {
        # As written: DuckDB's guess of the format could take another delimiter.
        "csv": "read_csv({}, delim = ',', quote = '\"', escape = '\"', header = true, all_varchar = true)",
        "jsonl": "read_json({}, format = 'newline_delimited')",
        "parquet": "read_parquet({})",
    }
    scanned = reader[fmt].format(DUCKDB.text(target))
    names = dict(zip(Q.OUTPUTS, query.names[len(query.inputs) :], strict=False))
    q = DUCKDB.ident
    level, status, alerts = (q(names[n]) for n in ("level", "status", "alerts"))
    reason = q(names["reason"]) if reason_written else "NULL"  # --columns no-reason
    summary = Summary()
    counts = connection.execute(
        f"SELECT {status}, {level}, CASE WHEN {status} = 'review' THEN {reason} END, count(*) "
        f"FROM {scanned} GROUP BY ALL"
    ).fetchall()
    for state, placed, why, n in counts:
        summary.rows += n
        summary.status[state] += n
        if placed:
            summary.levels[placed] += n
        for counted in _review_reasons(why) if why else ():
            summary.review_reasons[counted] += n
    for alert, n in connection.execute(
        f"SELECT a, count(*) FROM (SELECT unnest(string_split({alerts}, ';')) AS a FROM {scanned}) "
        f"WHERE a <> '' GROUP BY a"
    ).fetchall():
        summary.alerts[alert] += n
    return summary


def _review_reasons(reason: str) -> list[str]:
    """A review reason as the summary counts it: missing answers one by one, as `iop score` counts them (the full
    reason is long)."""
    prefix = "Required answers are missing: "
    if reason.startswith(prefix):
        return [f"missing answer: {name}" for name in reason[len(prefix) :].split(".")[0].split(", ")]
    return [reason]


def neutral_sql(column: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (`render.neutral`), in SQL."""
    pattern = DUCKDB.text(SPREADSHEET_FORMULA)
    text = f"CAST({column} AS VARCHAR)"  # a Parquet column may be typed; a CSV cell is text either way
    return f"CASE WHEN regexp_matches({text}, {pattern}) THEN '''' || {text} ELSE {text} END"
