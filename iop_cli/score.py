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
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
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
    from .cli import load_pack_or_fail

    pack = load_pack_or_fail(rules)
    from . import batch
    from .mapping import load_mapping

    sources = [(input_path, "the input file"), (map_path, "the map")]
    targets = [(output, "the output", sources), (summary_json, "--summary-json", [*sources, (output, "the output")])]
    for target, what, protected in targets:
        if not target or target == "-":
            continue
        if os.path.isdir(target):
            return _fail([Problem(target, f"{what} is a folder", "give a file name")])
        for source, role in protected:
            if source and source != "-" and batch.same_file(source, target):
                return _fail(
                    [Problem(target, f"{what} is {role}", "write to another file; inputs are never overwritten")]
                )
    if input_path != "-" and not os.path.isfile(input_path):
        why = "is a folder, not a CSV file" if os.path.isdir(input_path) else "no such file"
        return _fail([Problem(input_path, why, "check the path; - reads stdin")])
    try:
        mapping = load_mapping(map_path, pack) if map_path else None
    except ProblemsError as exc:
        return _fail(exc.problems)

    spooled = batch.spool_stdin() if input_path == "-" else None
    path = spooled or input_path
    name = "<stdin>" if spooled else input_path
    out, temp = batch.private_output(output)
    finished = False
    try:
        with out, _progress(quiet) as advance:
            summary = batch.score_file(path, name, out, pack, mapping, fmt, strict, advance)
            out.flush()
            os.fsync(out.fileno())
        batch.publish(temp, output)
        finished = True
    except ProblemsError as exc:
        return _fail(exc.problems)
    except OSError as exc:
        if output == "-" and isinstance(exc, BrokenPipeError):
            return Exit.PIPE_CLOSED  # e.g. `iop score big.csv -o - | head`: the reader has all it wanted
        return _fail(
            [
                Problem(
                    output if output != "-" else "<stdout>",
                    f"cannot write: {exc.strerror}",
                    "check the disk and folder",
                )
            ]
        )
    except batch.StrictStop as stop:
        typer.echo(f"error: {stop.problem}", err=True)
        typer.echo("stopped at the first bad row (--strict); no output was written", err=True)
        return Exit.INPUT_ERROR
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        if spooled:
            os.unlink(spooled)

    data = summary.as_dict(pack, name, output if output != "-" else "<stdout>")
    if summary_json:
        from .files import write_private

        write_private(summary_json, json.dumps(data, indent=2, ensure_ascii=False) + "\n", protect=(path,))
    if not quiet:
        _print_summary(data)
    return Exit.OK


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
                console.print(f"  {item['rows']:>8,}  {item['reason']}", highlight=False)
    if data["unanswered_fields"]:
        console.print("Not in the file, scored as unanswered: " + ", ".join(data["unanswered_fields"]), style="dim")
