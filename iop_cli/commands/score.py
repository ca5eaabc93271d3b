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


class ScoreColumns(str, enum.Enum):
    all = "all"
    no_reason = "no-reason"


def score(
    input: str = typer.Argument(..., metavar="INPUT", help="CSV of intakes with a header row; - reads stdin."),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
    rules: Optional[str] = rules_option(),
    map: Optional[str] = typer.Option(
        None, "--map", metavar="MAP.yaml", help="Column and code mapping for this export."
    ),
    format: ScoreFormat = typer.Option(ScoreFormat.csv, "--format", "-f", help="Output format."),
    columns: ScoreColumns = typer.Option(
        ScoreColumns.all,
        "--columns",
        help="Output columns: all, or no-reason (without the reason text: about half a CSV's bytes).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row, writing nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary on stderr."),
    summary_json: Optional[str] = typer.Option(
        None, "--summary-json", metavar="FILE", help="Also write the summary as JSON."
    ),
) -> None:
    """Score a CSV of intakes: every input column, then level, rule, reason, alerts, status and error.

    Example: iop score intakes.csv -o scored.csv --map my-export.map.yaml
    """
    with_reason = columns is ScoreColumns.all
    raise typer.Exit(int(run_score(input, output, rules, map, format.value, strict, quiet, summary_json, with_reason)))


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
) -> Exit:
    from iop_cli.commands._common import load_pack_or_fail
    from iop_cli.problems import Problem, ProblemsError

    pack = load_pack_or_fail(rules)  # every file read from here on is noted, and no output may land on one
    from iop_cli.batch import score as batch
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.files import InputFile, Output, check_target, reason, write_private

    try:
        mapping = load_mapping(map_path, pack) if map_path else None
        if summary_json and summary_json != "-" and output != "-" and _same_place(summary_json, output):
            raise ProblemsError([Problem(summary_json, "--summary-json is the output", "give it its own file")])
        for target in (output, summary_json):
            if target and target != "-":
                check_target(target)
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
            with _progress(quiet) as advance:
                summary = batch.score_file(source, out.file, pack, mapping, fmt, strict, advance, with_reason)
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
    for title, items in (("Top errors", data["top_errors"]), ("Why rows went to review", data["top_review_reasons"])):
        if items:
            console.print(title, style="bold")
            for item in items[:8]:
                console.print(f"  {item['rows']:>8,}  {visible(item['reason'])}", highlight=False, markup=False)
    if data["review_ranges"]:
        console.print("Rows in review by the levels still possible (least .. most intensive)", style="bold")
        for item in data["review_ranges"][:8]:
            span = f"{item['level_min']} .. {item['level_max']}"
            console.print(f"  {item['rows']:>8,}  {span}", highlight=False, markup=False)
    if data["unanswered_fields"]:
        console.print("Not in the file, scored as unanswered: " + ", ".join(data["unanswered_fields"]), style="dim")
