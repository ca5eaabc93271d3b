"""`iop score`: the command around `batch`. Progress and the summary go to stderr; results to the output file."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

import typer

from .exit_codes import Exit
from .problems import Problem, ProblemsError


def _fail(problems) -> Exit:
    from .commands_common import echo_problems

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
) -> Exit:
    from .commands_common import load_pack_or_fail

    pack = load_pack_or_fail(rules)  # every file read from here on is noted, and no output may land on one
    from . import batch
    from .files import InputFile, Output, check_target, reason, write_private
    from .mapping import load_mapping

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
                summary = batch.score_file(source, out.file, pack, mapping, fmt, strict, advance)
            out.commit()
        except ProblemsError as exc:
            return _fail(exc.problems)
        except OSError as exc:
            if output == "-" and isinstance(exc, BrokenPipeError):
                return Exit.PIPE_CLOSED  # e.g. `iop score big.csv -o - | head`: the reader has all it wanted
            return _fail([Problem(shown_output, f"cannot write: {reason(exc)}", "check the disk and the folder")])
        except batch.StrictStop as stop:
            from .commands_common import echo_problems

            echo_problems([stop.problem])
            typer.echo("stopped at the first bad row (--strict); no output was written", err=True)
            return Exit.INPUT_ERROR
        finally:
            out.discard()

    data = summary.as_dict(pack, source.name, shown_output)
    if summary_json:
        try:
            write_private(summary_json, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
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
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("scoring"),
        TextColumn("{task.completed:,} rows"),
        TextColumn("· {task.fields[speed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("score", total=None, speed="")

        def advance(rows: int) -> None:
            progress.advance(task, rows)
            elapsed = progress.tasks[0].elapsed or 0
            done = progress.tasks[0].completed
            progress.update(task, speed=f"{done / elapsed:,.0f} rows/s" if elapsed else "")

        yield advance


def _print_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from .safe_text import visible

    console = Console(stderr=True)
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
    if data["unanswered_fields"]:
        console.print("Not in the file, scored as unanswered: " + ", ".join(data["unanswered_fields"]), style="dim")
