"""The `iop` command line. Thin: it parses options, calls the core, and prints. Heavy imports stay inside commands."""

from __future__ import annotations

import enum
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from iop_cli import __version__
from iop_cli.commands import check, intake, score
from iop_cli.commands._common import echo_problems
from iop_cli.commands.config import app as config_app
from iop_cli.commands.records import app as records_app
from iop_cli.commands.rules import app as rules_app
from iop_cli.env import Env, current
from iop_cli.exit_codes import Exit


class _Commands(TyperGroup):
    """The root command. A usage error (an unknown option, a missing argument, a value not among the choices) is one
    line on stderr, `error: WHERE: WHAT (see WHERE --help)`, and exit 2, like every other error here, rather than
    Typer's framed box."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        from typer._click.exceptions import ClickException
        from typer.exceptions import Abort

        from iop_cli.safe_text import visible

        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as exc:
            context = getattr(exc, "ctx", None)
            where = context.command_path if context is not None else "iop"
            message = " ".join(exc.format_message().split())  # Click lists choices on lines of their own
            current().echo(f"error: {where}: {visible(message)} (see {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except Abort:
            current().echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Commands,
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
        current().echo(f"iop-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Say on stderr what the command uses: pack, database, config file, formats."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no chatter on stderr; errors still."),
    debug: bool = typer.Option(
        False, "--debug", help="On an internal error, show the traceback (as IOP_DEBUG=1); it may quote answers."
    ),
) -> None:
    """Place people in the right level of care."""
    from iop_cli.env import adjust

    adjust(verbose=verbose, quiet=quiet, debug=debug or current().debug, config=_config)
    if _config_problems:
        from iop_cli.commands._common import fail

        fail(_config_problems)
    if _config is not None:
        held = ", ".join(sorted(_config.values)) or "none"
        found = f"settings in it: {held}" if _config.exists else "not there"
        current().note(f"config file {_config.path} ({found})")


app.command()(check.check)
app.command()(intake.intake)
app.command()(score.score)
app.add_typer(records_app)
app.add_typer(rules_app)
app.add_typer(config_app)


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


@app.command()
def completion(shell: Shell = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish or powershell.")) -> None:
    """Print the shell completion script for SHELL: commands, options and their choices complete with Tab.

    Example: iop completion bash >> ~/.bashrc   (zsh: >> ~/.zshrc; fish: > ~/.config/fish/completions/iop.fish)
    """
    from typer.completion import get_completion_script

    current().echo(get_completion_script(prog_name="iop", complete_var="_IOP_COMPLETE", shell=shell.value))


def _plain_usage() -> None:
    """Usage lines write a required argument as `ID`, as Click and most tools do, not Typer's `{ID}`."""
    from typer.core import TyperArgument

    typer_metavar = TyperArgument.make_metavar

    def make_metavar(self, ctx, *, usage: bool = False) -> str:
        text = typer_metavar(self, ctx, usage=usage)
        return text[1:-1] if usage and text.startswith("{") and text.endswith("}") else text

    TyperArgument.make_metavar = make_metavar  # type: ignore[method-assign]


_plain_usage()


def run() -> None:
    """Console-script entry point: Ctrl-C, SIGTERM and SIGHUP stop the command the same way (temporary files removed,
    exit 130); everything else is `entry`."""
    _stop_on_signals()
    code = entry()
    if "polars" in sys.modules:
        _exit_now(code)
    sys.exit(code)


def entry(args: list[str] | None = None, env: Env | None = None) -> int | str | None:
    """Run one `iop` command (`args`, else the process's own) in `env` (else the process's own streams, terminal
    flags and clock) and return its exit status: a user's mistake or an I/O failure that reaches here is one line
    and exit 1; a bug shows one line, never a traceback or an answer. Tests call this in-process
    (`tests/conftest.py`)."""
    from iop_cli.env import using

    with using(env or Env.from_process()):
        return _entry(args)


def _entry(args: list[str] | None) -> int | str | None:
    import os

    from iop_cli.env import adjust
    from iop_cli.files import forget_reads
    from iop_cli.problems import ProblemsError

    forget_reads()
    if os.environ.get("IOP_DEBUG"):
        adjust(debug=True)
    if "_IOP_COMPLETE" in os.environ:  # the shell asks for completions (`iop completion SHELL` set this up)
        from typer._completion_classes import completion_init

        completion_init()
    try:
        try:
            app(args=args, prog_name="iop", default_map=_config_defaults())
        except KeyboardInterrupt:
            _interrupted()
        except ProblemsError as exc:
            if _stopping:
                _interrupted()
            echo_problems(exc.problems)
            sys.exit(int(Exit.INPUT_ERROR))
        except OSError as exc:
            from iop_cli.files import reason

            if _stopping:
                _interrupted()
            where = f"{exc.filename}: " if exc.filename else ""
            echo_problems([f"{where}{reason(exc)}"])
            sys.exit(int(Exit.INPUT_ERROR))
        except Exception as exc:
            if _stopping:
                _interrupted()
            if current().debug:
                raise
            # Only the exception's type: its message could quote an answer, which is health information.
            current().echo(f"iop: internal error ({type(exc).__name__}); rerun with IOP_DEBUG=1 to see where", err=True)
            sys.exit(int(Exit.INTERNAL))
    except SystemExit as done:
        return done.code
    return 0


def _config_defaults() -> dict:
    """The config file's settings as Click's `default_map` (a flag, then its environment variable, win over it). A
    broken config file stops the command with one line naming it: a setting is never silently ignored."""
    import typer.main

    from iop_cli.commands.config import default_map, load_config
    from iop_cli.problems import ProblemsError

    global _config, _config_problems
    _config, _config_problems = None, []
    try:
        _config = load_config()
    except ProblemsError as exc:  # reported by the command (`main`); --version and --help still work
        _config_problems = exc.problems
        return {}
    if not _config.values:
        return {}
    return default_map(typer.main.get_command(app), _config.values)


_config = None  # the config file this command read (`--verbose` says which)
_config_problems: list = []  # what is wrong with it: every command stops on it


def _interrupted() -> None:
    current().echo("interrupted", err=True)
    sys.exit(int(Exit.INTERRUPTED))


# Set once a stop signal arrived: a signal that lands inside a Polars call surfaces as whatever error Polars made of
# the KeyboardInterrupt (a TypeError, a ComputeError), and must still end the command as an interruption.
_stopping = False


def _stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt, so the same clean-up runs (every temporary file holding
    answers is removed) and the command exits 130, as Typer does for Ctrl-C."""
    import signal

    def stop(signum, frame):
        global _stopping
        _stopping = True
        raise KeyboardInterrupt

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
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
