"""`iop intake`: open the records, start or resume the interview, show the report, record the placement."""

from __future__ import annotations

from pathlib import Path

import typer

from .exit_codes import Exit
from .problems import ProblemsError


def _fail(problems) -> Exit:
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    return Exit.INPUT_ERROR


def run_intake(resume: bool, record_id: int | None, rules: str | None, db: str | None, console=None) -> Exit:
    """The whole intake; returns the exit code. `console` is the Rich console for the report (tests pass one)."""
    from .cli import load_pack_or_fail, open_store_or_fail
    from .interview import Interview
    from .interview_ui import IntakeSession, Paused, say

    store = open_store_or_fail(db)
    with store:
        rules_dir = str(Path(rules).resolve()) if rules else None
        if resume:
            try:
                draft = store.get(record_id) if record_id is not None else store.latest_draft()
            except ProblemsError as exc:
                return _fail(exc.problems)
            if draft is None:
                typer.echo(f"error: {store.path}: no paused intake to resume; start one with: iop intake", err=True)
                return Exit.INPUT_ERROR
            if draft.status != "draft":
                typer.echo(
                    f"error: record {draft.id} is already complete; see it with: iop records show {draft.id}", err=True
                )
                return Exit.INPUT_ERROR
            rules_dir = rules_dir or draft.rules_dir
            pack = load_pack_or_fail(rules_dir)
            interview, dropped = Interview.resume(pack, draft.answers, draft.cursor)
            session = IntakeSession(pack, store, rules_dir, draft.id)
            say(f"Resuming intake {draft.id}: {len(interview.answers)} answers kept.", "bold")
            if draft.pack_hash != pack.hash:
                say(
                    f"The rule pack changed since this draft was saved ({draft.pack_version} -> {pack.version}); "
                    "answers were checked again.",
                    "fg:ansiyellow",
                )
            if dropped:
                say("Answers that no longer fit the pack were removed: " + ", ".join(dropped), "fg:ansiyellow")
        else:
            pack = load_pack_or_fail(rules_dir)
            interview = Interview.start(pack)
            session = IntakeSession(pack, store, rules_dir)

        try:
            answers = session.interview(interview)
            report = _show_report(pack, answers, console)
            saved = session.place(answers, report)
        except (Paused, KeyboardInterrupt) as stop:
            # Every answer is already saved; Ctrl-C while the report is drawn is a pause like any other.
            record_id = stop.record_id if isinstance(stop, Paused) else session.record_id
            if record_id is None:
                typer.echo("Stopped before the first answer; nothing was saved.", err=True)
            else:
                typer.echo(
                    f"Paused. The answers so far are saved as draft {record_id}. "
                    f"Continue with: iop intake --resume {record_id}",
                    err=True,
                )
            return Exit.INTERRUPTED
    typer.echo(f"Saved as record {saved}. See it again with: iop records show {saved}")
    return Exit.OK


def _show_report(pack, answers, console) -> dict:
    from rich.console import Console

    from .engine import decide
    from .report import decision_dict, render

    data = decision_dict(decide(pack, answers), pack)
    console = console or Console()
    console.print()
    render(data, console)
    console.print()
    return data
