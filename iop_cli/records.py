"""`iop records ...`: list, show, export, delete and purge stored intakes. Thin: the store and the report do the work."""

from __future__ import annotations

import enum
import sys
from typing import Optional

import typer

from .exit_codes import Exit
from .options import ReportFormat, db_option

app = typer.Typer(
    name="records",
    help="Stored intakes: list, show, export for the chart, delete, purge old ones.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ExportFormat(str, enum.Enum):
    json = "json"
    markdown = "markdown"
    html = "html"


class Status(str, enum.Enum):
    draft = "draft"
    complete = "complete"


def _store(db: Optional[str]):
    from .cli import open_store_or_fail

    return open_store_or_fail(db, create=False)


def _get(store, record_id: int):
    from .cli import fail
    from .problems import ProblemsError

    try:
        return store.get(record_id)
    except ProblemsError as exc:
        fail(exc.problems)


def _data(record) -> dict:
    from .report import record_dict
    from .store import PLACEMENT_REASONS

    return record_dict(record, PLACEMENT_REASONS)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        typer.echo("error: not a terminal, so nothing was deleted; add --yes to confirm", err=True)
        raise typer.Exit(int(Exit.USAGE))
    if not typer.confirm(question, default=False):
        typer.echo("Nothing deleted.", err=True)
        raise typer.Exit(int(Exit.OK))


@app.command("list")
def list_records(
    status: Optional[Status] = typer.Option(None, "--status", help="Only drafts or only completed intakes."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many, newest first."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    db: Optional[str] = db_option(),
) -> None:
    """List stored intakes, newest first.

    Example: iop records list --status draft
    """
    with _store(db) as store:
        records = store.list(status.value if status else None, limit)
        path = store.path
    if json_out:
        import json

        rows = [
            {
                "id": r.id,
                "status": r.status,
                "updated_at": r.updated_at,
                "client_id": r.client_id,
                "recommended": r.recommended_level,
                "actual": r.actual_level,
                "pack_version": r.pack_version,
            }
            for r in records
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Intakes in {path}", title_justify="left", show_lines=False)
    for column in ("ID", "Status", "Saved (UTC)", "Client id", "Recommended", "Actual", "Pack"):
        table.add_column(column, no_wrap=column != "Client id")
    for r in records:
        actual = "" if r.actual_level is None else (r.actual_level if r.overridden else "same")
        table.add_row(
            str(r.id),
            r.status,
            r.updated_at.replace("T", " ")[:16],
            r.client_id or "",
            r.recommended_level or "",
            actual,
            r.pack_version,
        )
    console = Console()
    if not records:
        console.print(f"No intakes stored in {path}.")
        return
    console.print(table)
    drafts = [r.id for r in records if r.status == "draft"]
    if drafts:
        console.print(f"Continue a draft with: iop intake --resume {drafts[0]}", style="dim")


@app.command()
def show(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Output format."),
    db: Optional[str] = db_option(),
) -> None:
    """Show one intake: the report as it was given and the placement recorded.

    Example: iop records show 12
    """
    with _store(db) as store:
        record = _get(store, record_id)
    data = _data(record)
    if format is ReportFormat.json:
        import json

        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if format is ReportFormat.markdown:
        from .report import record_markdown

        typer.echo(record_markdown(data), nl=False)
        return
    from rich.console import Console
    from rich.text import Text

    from .report import placement_lines, render

    console = Console()
    head = Text(f"Intake record {record.id}", style="bold")
    head.append(f"  {record.status} · client id {record.client_id or '(none)'} · last saved {record.updated_at}")
    console.print(head)
    if record.report is None:
        console.print(f"{len(record.answers)} answers so far. Continue with: iop intake --resume {record.id}")
        return
    render(record.report, console)
    console.print(Text("Placement", style="bold"))
    for line in placement_lines(data):
        console.print(f"  {line}")


@app.command()
def export(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    format: ExportFormat = typer.Option(ExportFormat.json, "--format", "-f", help="Export format."),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
    db: Optional[str] = db_option(),
) -> None:
    """Export one intake for the chart: JSON, Markdown, or one self-contained printable HTML page.

    Example: iop records export 12 --format html -o intake-12.html
    """
    from .cli import fail
    from .files import write_private
    from .problems import Problem, ProblemsError

    with _store(db) as store:
        record = _get(store, record_id)
        db_path = store.path
    data = _data(record)
    if format is ExportFormat.json:
        import json

        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif record.report is None:
        fail([Problem(f"record {record.id}", "is a draft with no report yet", "finish it with iop intake --resume")])
    elif format is ExportFormat.markdown:
        from .report import record_markdown

        text = record_markdown(data)
    else:
        from .report import record_html

        text = record_html(data)
    try:
        write_private(output, text, protect=(db_path,))
    except ProblemsError as exc:
        fail(exc.problems)
    if output != "-":
        typer.echo(f"Wrote record {record.id} to {output}", err=True)


@app.command()
def delete(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: Optional[str] = db_option(),
) -> None:
    """Delete one intake for good (its data is overwritten on disk).

    Example: iop records delete 12
    """
    with _store(db) as store:
        record = _get(store, record_id)
        _confirm(f"Delete {record.status} record {record.id} for good?", yes)
        store.delete(record.id)
    typer.echo(f"Deleted record {record_id}.", err=True)


@app.command()
def purge(
    older_than: float = typer.Option(
        ..., "--older-than", metavar="DAYS", min=0, help="Delete records last saved more than DAYS days ago."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: Optional[str] = db_option(),
) -> None:
    """Delete every intake (drafts too) last saved more than DAYS days ago: for a retention policy.

    Example: iop records purge --older-than 365
    """
    with _store(db) as store:
        ids = store.older_than(older_than)
        if not ids:
            typer.echo(f"No records older than {older_than:g} days.", err=True)
            return
        _confirm(f"Delete {len(ids)} record(s) older than {older_than:g} days for good?", yes)
        count = store.purge(ids)
    typer.echo(f"Deleted {count} record(s) older than {older_than:g} days.", err=True)
