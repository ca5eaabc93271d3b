"""`iop intake`: open the records, start or resume the interview, show the report, record the placement."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from iop_cli.commands._common import command_hint, db_option, rich_console, rules_option
from iop_cli.env import current
from iop_cli.exit_codes import Exit


def intake(
    resume: bool = typer.Option(False, "--resume", help="Continue a paused intake: the latest draft, or draft ID."),
    record: Optional[int] = typer.Argument(None, metavar="ID", help="The draft to resume (with --resume)."),
    from_record: Optional[int] = typer.Option(
        None,
        "--from",
        metavar="ID",
        help="Reassess: a new intake pre-filled from record ID; each answer is confirmed or changed.",
    ),
    rules: Optional[str] = rules_option(),
    db: Optional[str] = db_option(),
) -> None:
    """Interview a client, show the recommendation, and record the placement.

    Keys: arrows and Enter answer, Ctrl-B goes back, ? shows help, Ctrl-C pauses (the draft is kept).
    No names or birth dates are asked.

    Example: iop intake   then, after a pause: iop intake --resume
    Example: iop intake --from 12   (a continued-stay review of record 12)
    """
    if from_record is not None and (resume or record is not None):
        current().echo("error: --from starts a new intake; it cannot be combined with --resume or an ID", err=True)
        raise typer.Exit(int(Exit.USAGE))
    if record is not None and not resume:
        again = command_hint(f"iop intake --resume {record}", db, rules)
        current().echo(f"error: to continue draft {record}, use: {again}", err=True)
        raise typer.Exit(int(Exit.USAGE))
    if not (current().stdin_isatty and current().stdout_isatty):
        current().echo(
            "error: iop intake is an interactive interview and needs a terminal; "
            "to place someone from a file, use: iop check --answers FILE",
            err=True,
        )
        raise typer.Exit(int(Exit.USAGE))
    raise typer.Exit(int(run_intake(resume, record, rules, db, from_record=from_record)))


def _fail(problems) -> Exit:
    from iop_cli.commands._common import echo_problems

    echo_problems(problems)
    return Exit.INPUT_ERROR


def run_intake(
    resume: bool,
    record_id: int | None,
    rules: str | None,
    db: str | None,
    console=None,
    from_record: int | None = None,
) -> Exit:
    """The whole intake; returns the exit code. `console` is the Rich console for the report (tests pass one).

    The draft is claimed while the interview runs (see `store`): a second intake of the same draft is refused, and
    a save that finds its draft deleted, completed or taken over elsewhere stops the intake with one line, so
    nothing is ever reported as saved that was not."""
    from iop_cli.problems import ProblemsError
    from iop_cli.store.records import Store

    try:
        # Nothing to resume or reassess in a database that is not there: a lookup never creates one.
        store = Store.open(db, create=not resume and from_record is None)
    except ProblemsError as exc:
        return _fail(exc.problems)
    with store:
        try:
            return _run(store, resume, record_id, rules, db, console, from_record)
        except ProblemsError as exc:
            return _fail(exc.problems)


def _run(
    store, resume: bool, record_id: int | None, rules: str | None, db: str | None, console, from_record: int | None
) -> Exit:
    from iop_cli.commands._common import load_pack_or_fail
    from iop_cli.interview.machine import Interview
    from iop_cli.interview.prompts import AT_PLACEMENT, IntakeSession, Paused, say
    from iop_cli.problems import Problem, ProblemsError
    from iop_cli.safe_text import visible
    from iop_cli.store.records import damaged_problem

    rules_dir = str(Path(rules).resolve()) if rules else None
    at_placement = False
    if resume:
        if record_id is None:
            latest = store.latest_draft()
            if latest is None:
                current().echo(
                    f"error: {visible(str(store.path))}: no paused intake to resume; start one with: "
                    + command_hint("iop intake", db, rules),
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
        session = IntakeSession(pack, store, rules_dir, draft.id, previous_id=draft.previous_id)
        # Paused at the placement with every answer in: resume there (a changed pack may ask more first).
        at_placement = draft.cursor == AT_PLACEMENT and interview.cursor is None
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
    elif from_record is not None:
        earlier = store.get(from_record)
        if earlier.status != "complete":
            again = command_hint(f"iop intake --resume {earlier.id}", db, rules)
            raise ProblemsError(
                [Problem(f"record {earlier.id}", "is a draft, not a finished intake", f"continue it: {again}")]
            )
        rules_dir = rules_dir or earlier.rules_dir
        pack = load_pack_or_fail(rules_dir)
        interview, dropped = Interview.reassess(pack, earlier.answers)
        session = IntakeSession(pack, store, rules_dir, previous_id=earlier.id)
        client = f"client id {visible(earlier.client_id)}" if earlier.client_id else "no client id"
        say(f"Reassessment of record {earlier.id} ({client}, {visible(earlier.updated_at[:10])}).", "bold")
        say(
            "Each earlier answer is pre-selected: Enter keeps it, or choose another. Safety questions show the earlier"
            " answer and are asked anew.",
            "italic",
        )
        if dropped:
            shown = ", ".join(visible(str(name)) for name in dropped)
            say("Answers that no longer fit the pack were left out: " + shown, "fg:ansiyellow")
    else:
        pack = load_pack_or_fail(rules_dir)
        interview = Interview.start(pack)
        session = IntakeSession(pack, store, rules_dir)

    def early_report(decision) -> bool:
        """An urgent level already certain: its report now, from the answers so far; then stop or go on."""
        return session.go_on_after_urgent_report(_show_report(pack, interview.confirmed_answers(), console))

    try:
        while True:
            if at_placement:  # paused at the placement: the report again, then the placement, no questions
                at_placement = False
                answers = interview.final_answers()
            else:
                answers = session.interview(interview, early_report)
            report = _show_report(pack, answers, console)
            # A provisional decision is recorded only once the counselor confirms it; else back to the answers.
            if report["status"] != "provisional" or session.confirm_provisional(report):
                break
            interview.cursor = None
        saved = session.place(answers, report)
    except (Paused, KeyboardInterrupt) as stop:
        # Every answer is already saved (a save that failed raised a problem instead); Ctrl-C while the report is
        # drawn is a pause like any other.
        paused = stop.record_id if isinstance(stop, Paused) else session.record_id
        if isinstance(stop, Paused) and stop.chosen and paused is not None:
            again = command_hint(f"iop intake --resume {paused}", db, rules)
            current().echo(
                f"Stopped after the urgent report. The answers are saved as draft {paused}. Continue with: {again}"
            )
            return Exit.OK
        if paused is None:
            current().echo("Stopped before the first answer; nothing was saved.", err=True)
        else:
            current().echo(
                f"Paused. The answers so far are saved as draft {paused}. Continue with: "
                + command_hint(f"iop intake --resume {paused}", db, rules),
                err=True,
            )
        return Exit.INTERRUPTED
    current().echo(f"Saved as record {saved}. See it again with: {command_hint(f'iop records show {saved}', db)}")
    return Exit.OK


def _show_report(pack, answers, console) -> dict:

    from iop_cli.decide.changes import nearest
    from iop_cli.decide.engine import decide
    from iop_cli.output.contracts import decision_dict
    from iop_cli.output.report import render

    decision = decide(pack, answers)
    data = decision_dict(decision, pack, nearest(pack, answers, decision.missing))
    console = console or rich_console()
    console.print()
    render(data, console, pack)
    console.print()
    return data
