"""`iop intake`: open the records, start or resume the interview, show the report, record the placement."""

from __future__ import annotations

from pathlib import Path

import typer

from .exit_codes import Exit
from .problems import ProblemsError


def _fail(problems) -> Exit:
    from .commands_common import echo_problems

    echo_problems(problems)
    return Exit.INPUT_ERROR


def run_intake(resume: bool, record_id: int | None, rules: str | None, db: str | None, console=None) -> Exit:
    """The whole intake; returns the exit code. `console` is the Rich console for the report (tests pass one).

    The draft is claimed while the interview runs (see `store`): a second intake of the same draft is refused, and
    a save that finds its draft deleted, completed or taken over elsewhere stops the intake with one line, so
    nothing is ever reported as saved that was not."""
    from .commands_common import open_store_or_fail

    store = open_store_or_fail(db)
    with store:
        try:
            return _run(store, resume, record_id, rules, console)
        except ProblemsError as exc:
            return _fail(exc.problems)


def _run(store, resume: bool, record_id: int | None, rules: str | None, console) -> Exit:
    from .commands_common import load_pack_or_fail
    from .interview import Interview
    from .interview_ui import IntakeSession, Paused, say
    from .safe_text import visible
    from .store import damaged_problem

    rules_dir = str(Path(rules).resolve()) if rules else None
    if resume:
        if record_id is None:
            latest = store.latest_draft()
            if latest is None:
                typer.echo(
                    f"error: {visible(str(store.path))}: no paused intake to resume; start one with: iop intake",
                    err=True,
                )
                return Exit.INPUT_ERROR
            record_id = latest.id
        draft = store.claim(record_id)
        if draft.damage:
            raise damaged_problem(draft)
        rules_dir = rules_dir or draft.rules_dir
        pack = load_pack_or_fail(rules_dir)
        interview, dropped = Interview.resume(pack, draft.answers, draft.cursor)
        session = IntakeSession(pack, store, rules_dir, draft.id)
        say(f"Resuming intake {draft.id}: {len(interview.answers)} answers kept.", "bold")
        if draft.pack_hash != pack.hash:
            say(
                f"The rule pack changed since this draft was saved ({visible(draft.pack_version)} -> "
                f"{visible(pack.version)}); answers were checked again.",
                "fg:ansiyellow",
            )
        if dropped:
            shown = ", ".join(visible(str(name)) for name in dropped)
            say("Answers that no longer fit the pack were removed: " + shown, "fg:ansiyellow")
    else:
        pack = load_pack_or_fail(rules_dir)
        interview = Interview.start(pack)
        session = IntakeSession(pack, store, rules_dir)

    try:
        answers = session.interview(interview)
        report = _show_report(pack, answers, console)
        saved = session.place(answers, report)
    except (Paused, KeyboardInterrupt) as stop:
        # Every answer is already saved (a save that failed raised a problem instead); Ctrl-C while the report is
        # drawn is a pause like any other.
        paused = stop.record_id if isinstance(stop, Paused) else session.record_id
        if paused is None:
            typer.echo("Stopped before the first answer; nothing was saved.", err=True)
        else:
            typer.echo(
                f"Paused. The answers so far are saved as draft {paused}. Continue with: iop intake --resume {paused}",
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
