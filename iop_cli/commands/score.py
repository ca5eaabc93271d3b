"""`iop score`: the command around `batch`. Progress and the summary go to stderr; results to the output file."""

from __future__ import annotations

import contextlib
import enum
import os
from typing import Any, Optional

import typer

from iop_cli.commands._common import rich_console, rules_option
from iop_cli.env import current
from iop_cli.exit_codes import Exit


class ScoreFormat(str, enum.Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"
    xlsx = "xlsx"


class InputFormat(str, enum.Enum):
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"
    fhir = "fhir"


class Engine(str, enum.Enum):
    polars = "polars"
    duckdb = "duckdb"


class ScoreColumns(str, enum.Enum):
    all = "all"
    no_reason = "no-reason"


def score(
    input: str = typer.Argument(
        ...,
        metavar="INPUT",
        help="Intakes: CSV; Excel (.xlsx .xlsm .xlsb .xls .ods); Parquet (.parquet .pq); FHIR QuestionnaireResponses "
        "(.ndjson .json). Read by extension, else as CSV (see --input-format); - is stdin.",
    ),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
    rules: Optional[str] = rules_option(),
    map: Optional[str] = typer.Option(
        None, "--map", metavar="MAP.yaml", help="Column and code mapping for this export."
    ),
    format: ScoreFormat = typer.Option(ScoreFormat.csv, "--format", "-f", help="Output format."),
    input_format: Optional[InputFormat] = typer.Option(
        None, "--input-format", help="The input's format (default: by its extension; CSV for any other)."
    ),
    sheet: Optional[str] = typer.Option(
        None, "--sheet", metavar="NAME|N", help="Excel input: the sheet, by name or number from 1 (default: the first)."
    ),
    columns: ScoreColumns = typer.Option(
        ScoreColumns.all,
        "--columns",
        help="Output columns: all, or no-reason (without the reason text: about half a CSV's bytes).",
    ),
    engine: Engine = typer.Option(
        Engine.polars,
        "--engine",
        help="What scores: polars (built in), or duckdb (the pack as one SQL query run by DuckDB: CSV or Parquet "
        "files, larger than memory; needs DuckDB and numpy, the project's duckdb extra).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row, writing nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary on stderr."),
    summary_json: Optional[str] = typer.Option(
        None, "--summary-json", metavar="FILE", help="Also write the summary as JSON."
    ),
) -> None:
    """Score a file of intakes: every input column, then level, rule, reason, alerts, status and error.

    Example: iop score intakes.csv -o scored.csv --map my-export.map.yaml
    """
    with_reason = columns is ScoreColumns.all
    quiet = quiet or current().quiet
    given = input_format.value if input_format else None
    exit_code = run_score(
        input, output, rules, map, format.value, strict, quiet, summary_json, with_reason, given, sheet, engine.value
    )
    raise typer.Exit(int(exit_code))


def _fail(problems) -> Exit:
    from iop_cli.commands._common import echo_problems

    echo_problems(problems)
    return Exit.INPUT_ERROR


def run_score(
    input_path: str,
    output: str,
    rules: str | None,
    map_path: str | None,
    fmt: str,
    strict: bool,
    quiet: bool,
    summary_json: str | None,
    with_reason: bool = True,
    input_format: str | None = None,
    sheet: str | None = None,
    engine: str = "polars",
) -> Exit:
    from iop_cli.commands._common import load_pack_or_fail
    from iop_cli.problems import Problem, ProblemsError

    pack = load_pack_or_fail(rules)  # every file read from here on is noted, and no output may land on one
    from iop_cli.batch import score as batch
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.batch.sinks import TABLE_FORMATS
    from iop_cli.batch.tables import input_format as format_of
    from iop_cli.files import InputFile, Output, check_target, reason, write_private

    read_as = format_of(input_path, input_format)
    shown_sheet = f", sheet {sheet}" if sheet else ""
    current().note(f"reading {input_path} as {read_as}{shown_sheet}; writing {fmt} to {output}")
    try:
        if sheet is not None and read_as != "xlsx":
            raise ProblemsError(
                [
                    Problem(
                        "--sheet",
                        f"the input is read as {read_as}, which has no sheets",
                        "leave out --sheet, or give --input-format xlsx",
                    )
                ]
            )
        if fmt in TABLE_FORMATS and output == "-" and current().stdout_isatty:
            raise ProblemsError(
                [Problem("-o", f"{fmt} output is binary, not for a terminal", "give a file: -o scored." + fmt)]
            )
        mapping = load_mapping(map_path, pack) if map_path else None
        if summary_json and summary_json != "-" and output != "-" and _same_place(summary_json, output):
            raise ProblemsError([Problem(summary_json, "--summary-json is the output", "give it its own file")])
        if output == "-" and summary_json and (summary_json == "-" or _is_stdout(summary_json)):
            raise ProblemsError(
                [
                    Problem(
                        f"--summary-json {summary_json}",
                        "the scored rows already go to standard output",
                        "give one of them a file: -o scored.csv or --summary-json summary.json",
                    )
                ]
            )
        for target in (output, summary_json):
            if target and target != "-":
                check_target(target)
        if engine == "duckdb":
            _check_duckdb_run(input_path, read_as, fmt)
        source = InputFile(input_path)
    except ProblemsError as exc:
        return _fail(exc.problems)
    shown_output = output if output != "-" else "<stdout>"
    with source:
        try:
            if summary_json and summary_json != "-":
                check_target(summary_json)  # a file named by the input's path (a FIFO read above, say)
            out = Output(output)
        except ProblemsError as exc:
            return _fail(exc.problems)
        try:
            if engine == "duckdb":
                summary = _score_with_duckdb(source, out, pack, mapping, fmt, read_as, with_reason)
                if strict and summary.status.get("error"):
                    count = summary.status["error"]
                    raise ProblemsError(
                        [
                            Problem(
                                source.name,
                                f"{count:,} row{'s' if count != 1 else ''} with an error (--strict); no output was written",
                                "fix them, or drop --strict",
                            )
                        ]
                    )
            else:
                with _progress(quiet) as advance:
                    summary = batch.score_file(
                        source, out.file, pack, mapping, fmt, strict, advance, with_reason, read_as, sheet
                    )
            out.commit()
        except ProblemsError as exc:
            return _fail(exc.problems)
        except OSError as exc:
            if output == "-" and isinstance(exc, BrokenPipeError):
                return Exit.PIPE_CLOSED  # e.g. `iop score big.csv -o - | head`: the reader has all it wanted
            return _fail([Problem(shown_output, f"cannot write: {reason(exc)}", "check the disk and the folder")])
        except batch.StrictStop as stop:
            from iop_cli.commands._common import echo_problems

            echo_problems([stop.problem])
            current().echo("stopped at the first bad row (--strict); no output was written", err=True)
            return Exit.INPUT_ERROR
        finally:
            out.discard()

    from iop_cli.output.contracts import dumps, score_summary

    data = score_summary(summary, pack, source.name, shown_output)
    if summary_json:
        try:
            write_private(summary_json, dumps(data) + "\n")
        except ProblemsError as exc:
            written = (
                f"the scored rows were written to {shown_output}" if output != "-" else "the scored rows went to stdout"
            )
            return _fail([*exc.problems, Problem(summary_json, f"not written; {written}")])
    if not quiet:
        _print_summary(data)
    return Exit.OK


def _check_duckdb_run(input_path: str, read_as: str, fmt: str) -> None:
    """What `--engine duckdb` takes: a CSV or Parquet file (not stdin), written as CSV, JSON lines or Parquet."""
    from iop_cli.problems import Problem, ProblemsError
    from iop_cli.warehouse.duckdb_engine import INSTALL_HINT, available

    problems = []
    if not available():
        problems.append(Problem("--engine duckdb", "DuckDB is not installed", INSTALL_HINT))
    if read_as not in ("csv", "parquet"):
        problems.append(
            Problem("--engine duckdb", f"reads CSV and Parquet files, not {read_as}", "leave out --engine duckdb")
        )
    if fmt == "xlsx":
        problems.append(Problem("--engine duckdb", "writes CSV, JSON lines or Parquet", "leave out --engine duckdb"))
    if input_path == "-" or (
        os.path.exists(input_path) and not os.path.isfile(input_path) and not os.path.isdir(input_path)
    ):
        problems.append(
            Problem("--engine duckdb", "reads a file, not stdin or a pipe", "save the input to a file first")
        )
    if problems:
        raise ProblemsError(problems)


def _score_with_duckdb(source, out, pack, mapping, fmt: str, read_as: str, with_reason: bool):
    """`--engine duckdb`: DuckDB writes the output's temporary file by its path; a spool, pipe or device through an
    unnamed private file (reached as /proc/self/fd/N), which is then copied over."""
    import shutil

    from iop_cli.files import anonymous_temp
    from iop_cli.warehouse.duckdb_engine import score_with_duckdb

    if out.on_disk:
        return score_with_duckdb(source, out.temp, pack, mapping, fmt, read_as, with_reason)
    if out.spooled:
        return score_with_duckdb(source, f"/proc/self/fd/{out.file.fileno()}", pack, mapping, fmt, read_as, with_reason)
    with anonymous_temp() as spool:
        summary = score_with_duckdb(source, f"/proc/self/fd/{spool.fileno()}", pack, mapping, fmt, read_as, with_reason)
        spool.seek(0)
        shutil.copyfileobj(spool, out.file, 1 << 20)
    return summary


def _is_stdout(path: str) -> bool:
    """Whether a path names the standard output (/dev/stdout, /proc/self/fd/1)."""
    import os

    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:
        return False


def _same_place(a: str, b: str) -> bool:
    """Whether two output paths name one file, whether or not it exists yet."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


@contextlib.contextmanager
def _progress(quiet: bool):
    """A Rich progress line on stderr (rows, rows per second) when stderr is a terminal; otherwise nothing."""
    if quiet or not current().stderr_isatty:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("scoring"),
        TextColumn("{task.completed:,} rows"),
        TextColumn("· {task.fields[speed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=rich_console(stderr=True), transient=True) as progress:
        task = progress.add_task("score", total=None, speed="")

        def advance(rows: int) -> None:
            progress.advance(task, rows)
            elapsed = progress.tasks[0].elapsed or 0
            done = progress.tasks[0].completed
            progress.update(task, speed=f"{done / elapsed:,.0f} rows/s" if elapsed else "")

        yield advance


def _print_summary(data: dict[str, Any]) -> None:
    from rich.table import Table

    from iop_cli.safe_text import visible

    console = rich_console(stderr=True)
    rows = max(data["rows"], 1)
    table = Table(title=f"Scored {data['rows']:,} rows in {data['seconds']:.1f} s", title_justify="left")
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_column("%", justify="right")
    for status, n in data["status"].items():
        table.add_row(f"status {status}", f"{n:,}", f"{100 * n / rows:.1f}")
    for level, n in data["levels"].items():
        table.add_row(f"level {level}", f"{n:,}", f"{100 * n / rows:.1f}")
    console.print(table)

    def plain(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    errors = data["error_rows"]
    if errors["rows"]:
        shown = ", ".join(str(n) for n in errors["first"])
        more = f" and {errors['rows'] - len(errors['first']):,} more" if errors["rows"] > len(errors["first"]) else ""
        if shown:
            plain(f"Rows with an error ({errors['rows']:,}), by {errors['counted_as']}: {shown}{more}")
        else:  # --engine duckdb does not say where
            plain(f"Rows with an error: {errors['rows']:,}")
    sections = (
        ("Errors", [(i["rows"], i["reason"]) for i in data["top_errors"]]),
        ("Why rows went to review", [(i["rows"], i["reason"]) for i in data["top_review_reasons"]]),
        ("Missing required answers (rows missing each)", [(i["rows"], i["field"]) for i in data["missing_answers"]]),
        ("Alerts (rows with each)", [(i["rows"], i["alert"]) for i in data["alerts"]]),
        (
            "Rows in review by the levels still possible (least .. most intensive)",
            [(i["rows"], f"{i['level_min']} .. {i['level_max']}") for i in data["review_ranges"]],
        ),
    )
    for title, items in sections:
        if items:
            console.print(title, style="bold")
            for rows, text in items:
                plain(f"  {rows:>8,}  {visible(text)}")
    if data["unanswered_fields"]:
        console.print("Not in the file, scored as unanswered: " + ", ".join(data["unanswered_fields"]), style="dim")
    plain(f"Written to {visible(data['output'])}")
