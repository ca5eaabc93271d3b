"""The `iop` command line. Thin: it parses options, calls the core, and prints. Heavy imports stay inside commands."""

from __future__ import annotations

import enum
import sys
from typing import Optional

import typer

from . import __version__
from .commands_common import echo_problems, fail, load_pack_or_fail
from .exit_codes import Exit
from .options import ReportFormat, db_option, rules_option
from .records import app as records_app
from .rules_cmd import app as rules_app

app = typer.Typer(
    name="iop",
    help="Place people in the right level of addiction and behavioral-health care, from a YAML rule pack.\n\n"
    "The recommendation supports clinical judgment; it does not replace it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iop-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Place people in the right level of care."""


@app.command()
def check(
    answers: str = typer.Option(
        ..., "--answers", "-a", metavar="FILE", help="Answers file (YAML or JSON); - reads stdin."
    ),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Report format."),
    rules: Optional[str] = rules_option(),
) -> None:
    """Recommend a level of care from an answers file, without the interview.

    Example: iop check --answers intake.yaml --format json
    """
    from .answers import clean_answers
    from .engine import decide
    from .files import read_answers
    from .problems import Problem, ProblemsError
    from .report import decision_dict

    pack = load_pack_or_fail(rules)
    positions: dict[str, str] = {}
    try:
        raw, positions, name = read_answers(answers)
        clean = clean_answers(pack, raw)
    except ProblemsError as exc:
        # Point each problem at its line in the answers file when we know it.
        fail(
            [
                Problem(f"{positions[p.where]}: {p.where}", p.message, p.hint) if p.where in positions else p
                for p in exc.problems
            ]
        )
    data = decision_dict(decide(pack, clean), pack)
    if format is ReportFormat.json:
        import json

        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif format is ReportFormat.markdown:
        from .report import markdown

        typer.echo(markdown(data), nl=False)
    else:
        from rich.console import Console

        from .report import render

        render(data, Console())


@app.command()
def intake(
    resume: bool = typer.Option(False, "--resume", help="Continue a paused intake: the latest draft, or draft ID."),
    record: Optional[int] = typer.Argument(None, metavar="ID", help="The draft to resume (with --resume)."),
    rules: Optional[str] = rules_option(),
    db: Optional[str] = db_option(),
) -> None:
    """Interview a client, show the recommendation, and record the placement.

    Keys: arrows and Enter answer, Ctrl-B goes back, ? shows help, Ctrl-C pauses (the draft is kept).
    No names or birth dates are asked.

    Example: iop intake   then, after a pause: iop intake --resume
    """
    if record is not None and not resume:
        typer.echo(f"error: to continue draft {record}, use: iop intake --resume {record}", err=True)
        raise typer.Exit(int(Exit.USAGE))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(
            "error: iop intake is an interactive interview and needs a terminal; "
            "to place someone from a file, use: iop check --answers FILE",
            err=True,
        )
        raise typer.Exit(int(Exit.USAGE))
    from .intake import run_intake

    raise typer.Exit(int(run_intake(resume, record, rules, db)))


class ScoreFormat(str, enum.Enum):
    csv = "csv"
    jsonl = "jsonl"


@app.command()
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
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row, writing nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary on stderr."),
    summary_json: Optional[str] = typer.Option(
        None, "--summary-json", metavar="FILE", help="Also write the summary as JSON."
    ),
) -> None:
    """Score a CSV of intakes: every input column, then level, rule, reason, alerts, status and error.

    Example: iop score intakes.csv -o scored.csv --map my-export.map.yaml
    """
    from .score import run_score

    raise typer.Exit(int(run_score(input, output, rules, map, format.value, strict, quiet, summary_json)))


app.add_typer(records_app)
app.add_typer(rules_app)


def run() -> None:
    """Console-script entry point: Ctrl-C, SIGTERM and SIGHUP stop the command the same way (temporary files removed,
    exit 130); everything else is `entry`."""
    _stop_on_signals()
    code = entry()
    if "polars" in sys.modules:
        _exit_now(code)
    sys.exit(code)


def entry(args: list[str] | None = None) -> int | str | None:
    """Run one `iop` command (`args`, else the process's own) and return its exit status: a user's mistake or an
    I/O failure that reaches here is one line and exit 1; a bug shows one line, never a traceback or an answer.
    Tests call this in-process with the standard streams redirected (`tests/conftest.py`)."""
    import os

    from .files import forget_reads
    from .problems import ProblemsError

    forget_reads()
    try:
        try:
            app(args=args, prog_name="iop")
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(int(Exit.INTERRUPTED))
        except ProblemsError as exc:
            echo_problems(exc.problems)
            sys.exit(int(Exit.INPUT_ERROR))
        except OSError as exc:
            from .files import reason

            where = f"{exc.filename}: " if exc.filename else ""
            echo_problems([f"{where}{reason(exc)}"])
            sys.exit(int(Exit.INPUT_ERROR))
        except Exception as exc:
            if os.environ.get("IOP_DEBUG"):
                raise
            # Only the exception's type: its message could quote an answer, which is health information.
            typer.echo(f"iop: internal error ({type(exc).__name__}); rerun with IOP_DEBUG=1 to see where", err=True)
            sys.exit(int(Exit.INTERNAL))
    except SystemExit as done:
        return done.code
    return 0


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt where Ctrl-C would, so the same clean-up runs (every temporary
    file holding answers is removed) and the command exits 130, as Typer does for Ctrl-C."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def _exit_now(code: object) -> None:
    """Exit without tearing the interpreter down. After a command that used Polars (score, rules diff), that teardown
    alone takes about 50 ms, and there is nothing left to clean up: every file is closed and every result written."""
    import os

    if isinstance(code, str):
        print(code, file=sys.stderr)
    status = code if isinstance(code, int) else 0 if code is None else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: there is no one left to tell
            pass
    os._exit(status)
