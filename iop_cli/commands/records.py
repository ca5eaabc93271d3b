"""`iop records ...`: list, show, export, delete and purge stored intakes. Thin: the store and the report do the work."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Optional

import typer

from iop_cli.commands._common import ReportFormat, command_hint, db_option, paged, rich_console
from iop_cli.env import current
from iop_cli.exit_codes import Exit

if TYPE_CHECKING:
    from rich.text import Text

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
    fhir = "fhir"


class ListFormat(str, enum.Enum):
    text = "text"
    json = "json"


class Status(str, enum.Enum):
    draft = "draft"
    complete = "complete"


MAX_DAYS = 100_000  # about 274 years: a longer retention period is a typo


def _store(db: Optional[str], readonly: bool):
    """The records database; `list`, `show` and `export` open it read-only, so they never write or lock it."""
    from iop_cli.store.records import Store

    with _failing():
        store = Store.open(db, create=False, readonly=readonly)
    current().note(f"records database {store.path}")
    return store


@contextlib.contextmanager
def _failing() -> Iterator[None]:
    """A problem from the store (no such record, busy, damaged) as one line on stderr and exit 1."""
    from iop_cli.problems import ProblemsError

    try:
        yield
    except ProblemsError as exc:
        from iop_cli.commands._common import fail

        fail(exc.problems)


def _get(store, record_id: int):
    with _failing():
        return store.get(record_id)


def _one_line(value) -> str:
    """A stored value for one terminal line: control characters (line breaks too) shown, never obeyed."""
    from iop_cli.safe_text import visible

    return visible("" if value is None else str(value))


def _lines(text: str) -> str:
    """Text that may span lines: line breaks kept, every other control character shown."""
    from iop_cli.safe_text import visible

    return "\n".join(visible(part) for part in text.split("\n"))


def _shown_tree(value):
    """Every string in a JSON-like value made safe for a terminal (see `_lines`), for reports and Markdown."""
    if isinstance(value, str):
        return _lines(value)
    if isinstance(value, dict):
        return {_lines(key) if isinstance(key, str) else key: _shown_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown_tree(item) for item in value]
    return value


def _json(data) -> str:
    from iop_cli.output.contracts import dumps

    return dumps(data)


def _data(record, history: list | None = None) -> dict:
    from iop_cli.output.contracts import record_dict
    from iop_cli.store.records import PLACEMENT_REASONS

    return record_dict(record, PLACEMENT_REASONS, history or [])


def _fhir_bundle(record, db: Optional[str]) -> str:
    """The record as a FHIR Bundle, its answers coded by the questions of the pack it was made with."""
    from iop_cli.commands._common import fail
    from iop_cli.exchange.fhir import bundle
    from iop_cli.output.contracts import dumps
    from iop_cli.problems import Problem

    pack = _record_pack(record)
    if pack is None or record.damage:
        why = (
            "is damaged"
            if record.damage
            else f"was made with pack {record.pack_name} {record.pack_version}, which is not here unchanged"
        )
        fail([Problem(f"record {record.id}", why, "export it as json, which needs no pack")])
    answers = {k: v for k, v in record.answers.items() if not k.startswith("@")}  # not a draft's own marks
    authored = record.updated_at
    found = bundle(pack, answers, record.report, record_id=record.id, authored=authored, client_id=record.client_id)
    return dumps(found)


def _record_pack(record):
    """The pack the record was made with, if it is still there unchanged (its questions give the answers their
    labels and order); else None, and the export names answers by field id."""
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import ProblemsError

    for folder in (record.rules_dir, None):
        try:
            pack = load_pack(folder)
        except (ProblemsError, OSError):
            continue
        if pack.hash == record.pack_hash:
            return pack
    return None


def _urgent_draft(record, packs: dict) -> str | None:
    """The urgent level a draft's answers already make certain (whatever its open questions), by name; None when
    there is none, or the draft's pack is not at hand unchanged. `packs`: the packs found so far, by record's pack."""
    if record.status != "draft" or record.damage:
        return None
    key = (record.rules_dir, record.pack_hash)
    if key not in packs:
        packs[key] = _record_pack(record)
    pack = packs[key]
    if pack is None:
        return None
    from iop_cli.decide.engine import decide
    from iop_cli.decide.policy import urgent_certain
    from iop_cli.interview.machine import Interview
    from iop_cli.problems import ProblemsError

    try:  # the answers as the interview counts them (a reassessment's earlier answers once asked again)
        interview = Interview.resume(pack, record.answers, record.cursor)[0]
        decision = decide(pack, interview.confirmed_answers())
    except (ProblemsError, ValueError, KeyError):
        return None
    return pack.levels[decision.level.id].name if urgent_certain(pack, decision) else None


def _status(record, packs: dict | None = None) -> str:
    """A record's status for the list: damaged; "provisional" for a complete record placed before its
    assessment was complete; "draft, URGENT" for a draft whose answers already make an urgent level certain."""
    if record.damage:
        return f"{record.status} (damaged)"
    if packs is not None and _urgent_draft(record, packs):
        return "draft, URGENT"
    if record.report is not None and record.report.get("status") == "provisional":
        return "provisional"
    return record.status


def _saved(at: str) -> str:
    """A stored UTC time in the reader's local time ("2026-12-07 09:35"; the zone is in the column's title); as
    stored if unreadable (a damaged row)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(at).astimezone().strftime("%Y-%m-%d %H:%M")
    except (ValueError, TypeError):
        return at


def _history(store, record) -> list:
    """The client's intakes over time (same client id), oldest first: the level history of a reassessed client."""
    if not record.client_id:
        return []
    with _failing():
        return list(reversed(store.list(client=record.client_id)))


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not current().stdin_isatty:
        current().echo("error: not a terminal, so nothing was deleted; add --yes to confirm", err=True)
        raise typer.Exit(int(Exit.USAGE))
    if not typer.confirm(question, default=False):
        current().echo("Nothing deleted.", err=True)
        raise typer.Exit(int(Exit.OK))


def _cell(value) -> Text:
    """A table cell: plain text (never Rich markup), control characters shown."""
    from rich.text import Text

    return Text(_one_line(value))


@app.command("list")
def list_records(
    status: Optional[Status] = typer.Option(None, "--status", help="Only drafts or only completed intakes."),
    client: Optional[str] = typer.Option(None, "--client", metavar="CID", help="Only this client id's intakes."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many, newest first."),
    format: ListFormat = typer.Option(ListFormat.text, "--format", "-f", help="Output format."),
    json_out: bool = typer.Option(False, "--json", help="The same as --format json."),
    db: Optional[str] = db_option(),
) -> None:
    """List stored intakes, newest first.

    Example: iop records list --status draft
    """
    json_out = json_out or format is ListFormat.json
    with _store(db, readonly=True) as store, _failing():
        records = store.list(status.value if status else None, limit, client)
        path = store.path
    if json_out:
        from iop_cli.output.contracts import record_row

        rows = [record_row(r) for r in records]
        current().echo(_json(rows))
        return
    from rich.table import Table
    from rich.text import Text

    console = rich_console()
    if not records:
        console.print(Text(f"No intakes stored in {_one_line(path)}."))
        return
    table = Table(title=Text(f"Intakes in {_one_line(path)}"), title_justify="left", show_lines=False)
    from datetime import datetime

    zone = datetime.now().astimezone().tzname() or "local"
    for column in ("ID", "Status", f"Saved ({zone})", "Client id", "Level: recommended → actual", "Pack"):
        # At 80 columns the client id stays whole; the levels wrap between words and the pack version gives way.
        table.add_column(
            column,
            no_wrap=not column.startswith("Level"),
            overflow="ellipsis" if column == "Pack" else "fold",
            max_width=8 if column == "Pack" else None,
        )
    packs: dict = {}
    for r in records:
        level = r.recommended_level or ""
        if r.overridden:  # the override with its size and direction: ↑ more intensive, ↓ less
            steps = f" {'↑' if r.placement_steps > 0 else '↓'}{abs(r.placement_steps)}" if r.placement_steps else ""
            level += f" → {r.actual_level}{steps}"
        table.add_row(
            _cell(r.id),
            _cell(_status(r, packs)),
            _cell(_saved(r.updated_at)),
            _cell(r.client_id or ""),
            _cell(level),
            _cell(r.pack_version),
        )
    console.print(table)
    damaged = [r.id for r in records if r.damage]
    if damaged:
        remove = command_hint(f"iop records delete {damaged[0]}", db)
        console.print(Text(f"Damaged records cannot be shown; remove one with: {remove}"))
    drafts = [r.id for r in records if r.status == "draft" and not r.damage]
    if drafts:
        console.print(
            Text(f"Continue a draft with: {command_hint(f'iop intake --resume {drafts[0]}', db)}", style="dim")
        )


def _damaged_report(record_id: int, db: Optional[str]):
    from iop_cli.commands._common import fail
    from iop_cli.problems import Problem

    fail(
        [
            Problem(
                f"record {record_id}",
                "damaged: its stored report cannot be read",
                f"delete it with `{command_hint(f'iop records delete {record_id}', db)}`",
            )
        ]
    )


@app.command()
def show(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Output format."),
    db: Optional[str] = db_option(),
) -> None:
    """Show one intake: the report as it was given and the placement recorded.

    Example: iop records show 12
    """
    with _store(db, readonly=True) as store:
        record = _get(store, record_id)
        history = _history(store, record)
    data = _data(record, history)
    if format is ReportFormat.json:
        current().echo(_json(data))
        return
    shown = _shown_tree(data)
    if format is ReportFormat.markdown:
        from iop_cli.output.report import record_markdown

        try:
            text = record_markdown(shown, _record_pack(record))
        except (KeyError, TypeError, AttributeError, ValueError):
            _damaged_report(record.id, db)
        current().echo(text, nl=False)
        return
    console = rich_console()
    with paged(console):  # a long report goes through the terminal's pager ($PAGER)
        _print_record(console, record, shown, db)


def _print_record(console, record, shown, db: Optional[str]) -> None:
    from rich.errors import MarkupError
    from rich.text import Text

    from iop_cli.output.report import (
        HISTORY_TITLE,
        answer_blocks,
        history_lines,
        placement_lines,
        render,
        safety_headline,
    )
    from iop_cli.store.records import claim_is_live, where_open

    try:
        headline = safety_headline(shown["report"]) if record.report is not None else None
    except (KeyError, TypeError, AttributeError):
        headline = None  # a damaged report: said below
    if headline:  # a safety result leads the text export: its first line
        console.print(Text(headline, style="bold red"))
    head = Text(f"Intake record {record.id}", style="bold")
    head.append(
        f"  {_one_line(record.status)} · client id {_one_line(record.client_id or '(none)')} · "
        f"last saved {_one_line(record.updated_at)}"
    )
    if record.previous_id:
        head.append(f" · reassessment of record {record.previous_id}")
    console.print(head)
    if record.report is None:
        urgent_now = _urgent_draft(record, {})
        if urgent_now:
            console.print(Text(f"⚠ URGENT: {urgent_now}, whatever the open questions are.", style="bold red"))
        again = command_hint(f"iop intake --resume {record.id}", db)
        given = [name for name in record.answers if not name.startswith("@")]  # not the draft's own marks
        console.print(Text(f"{len(given)} answers so far. Continue with: {again}"))
        if claim_is_live(record):
            console.print(Text(f"Open in an iop intake now ({_one_line(where_open(record))}).", style="yellow"))
        return
    try:
        render(shown["report"], console)
    except (KeyError, TypeError, AttributeError, ValueError, MarkupError):
        _damaged_report(record.id, db)
    console.print(Text("Placement", style="bold"))
    for line in placement_lines(shown):
        console.print(Text(f"  {line}"))
    if history_lines(shown):
        console.print(Text(HISTORY_TITLE, style="bold"))
        for line in history_lines(shown):
            console.print(Text(f"  {line}"))
    from rich.padding import Padding

    console.print(Text("Answers", style="bold"))  # as every export has them
    for title, lines in answer_blocks(shown, _record_pack(record)):
        if title:
            console.print(Padding(Text(title, style="bold"), (0, 0, 0, 2)))
        for line in lines:  # a long answer wraps under itself
            console.print(Padding(Text(line), (0, 0, 0, 4 if title else 2)))


@app.command()
def export(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    format: ExportFormat = typer.Option(ExportFormat.json, "--format", "-f", help="Export format."),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
    facility: Optional[str] = typer.Option(
        None, "--facility", envvar="IOP_FACILITY", help="The facility's name, for the chart page (HTML)."
    ),
    counselor: Optional[str] = typer.Option(
        None, "--counselor", envvar="IOP_COUNSELOR", help="The counselor's name, for the chart page (HTML)."
    ),
    db: Optional[str] = db_option(),
) -> None:
    """Export one intake for the chart: JSON, Markdown, one self-contained printable HTML page, or FHIR (a Bundle of
    the QuestionnaireResponse and the recommendation as a GuidanceResponse).

    Example: iop records export 12 --format html -o intake-12.html --facility "Riverside Recovery"
    """
    from iop_cli.commands._common import fail
    from iop_cli.files import write_private
    from iop_cli.problems import Problem

    with _store(db, readonly=True) as store:
        record = _get(store, record_id)
        db_path = store.path
        history = _history(store, record)
    data = _data(record, history)
    if format is ExportFormat.json:
        text = _json(data) + "\n"
    elif format is ExportFormat.fhir:
        text = _fhir_bundle(record, db) + "\n"
    elif record.report is None:
        finish = command_hint(f"iop intake --resume {record.id}", db)
        fail([Problem(f"record {record.id}", "is a draft with no report yet", f"finish it with {finish}")])
    else:
        # A page for people: stored text with its control characters shown (the JSON export keeps them exactly).
        from iop_cli.output.report import record_html, record_markdown

        try:
            if format is ExportFormat.markdown:
                text = record_markdown(_shown_tree(data), _record_pack(record))
            else:
                chart = {
                    "facility": _one_line(facility) if facility else None,
                    "counselor": _one_line(counselor) if counselor else None,
                    "pack": _record_pack(record),
                    "printed_at": current().now(),
                }
                text = record_html(_shown_tree(data), chart)
        except (KeyError, TypeError, AttributeError, ValueError):
            _damaged_report(record.id, db)
    with _failing():
        write_private(output, text, protect=(db_path,))
    if output != "-":
        current().chatter(f"Wrote record {record.id} to {_one_line(output)}")


@app.command()
def delete(
    record_id: int = typer.Argument(..., metavar="ID", help="The record's id (see iop records list)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: Optional[str] = db_option(),
) -> None:
    """Delete one intake for good (its data is overwritten on disk). A damaged record can be deleted too.

    Example: iop records delete 12
    """
    with _store(db, readonly=False) as store, _failing():
        status = store.status_of(record_id)
        client = store.get(record_id, damaged=True).client_id  # so the right person's record is deleted
        who = f" (client id {_one_line(client)})" if client else " (no client id)"
        _confirm(f"Delete {_one_line(status)} record {record_id}{who} for good?", yes)
        store.delete(record_id)
    current().chatter(f"Deleted record {record_id}.")


def _days(value: float) -> float:
    import math

    from iop_cli.commands._common import fail
    from iop_cli.problems import Problem

    if not math.isfinite(value) or value > MAX_DAYS:
        shown = "not a number" if math.isnan(value) else f"{value:g} days"
        fail(
            [
                Problem(
                    "--older-than",
                    f"{shown} is not a retention period",
                    f"give a number of days up to {MAX_DAYS}, e.g. 365",
                )
            ]
        )
    return value


@app.command()
def purge(
    older_than: float = typer.Option(
        ..., "--older-than", metavar="DAYS", min=0, help="Delete records last saved more than DAYS days ago."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would be deleted; delete nothing."),
    db: Optional[str] = db_option(),
) -> None:
    """Delete every intake (drafts too) last saved more than DAYS days ago: for a retention policy.

    Example: iop records purge --older-than 365 --dry-run
    """
    days = _days(older_than)
    with _store(db, readonly=dry_run) as store, _failing():
        ids = store.older_than(days)
        if not ids:
            current().chatter(f"No records older than {days:g} days.")
            return
        if dry_run:
            shown = ", ".join(str(i) for i in ids)
            current().echo(f"Would delete {len(ids)} record(s) older than {days:g} days: {shown}")
            current().chatter("Nothing was deleted (--dry-run).")
            return
        _confirm(f"Delete {len(ids)} record(s) older than {days:g} days for good?", yes)
        count = store.purge(ids)
    current().chatter(f"Deleted {count} record(s) older than {days:g} days.")
