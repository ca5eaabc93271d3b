"""What the commands share: the options several take (so `--db` or `--format` read the same everywhere), problems
as one line each on stderr, and loading the pack or the records database with a clean exit on a user's mistake. Every command module imports these from here, never from `cli`, so `cli` (which
imports the commands) and the commands do not import each other."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer

from iop_cli.env import current
from iop_cli.exit_codes import Exit

if TYPE_CHECKING:
    from rich.console import Console


class ReportFormat(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


RULES_HELP = "Rule-pack folder to use instead of the bundled default pack."
DB_HELP = (
    "Records database (SQLite). Default: intakes.sqlite3 in your user data folder: ~/.local/share/iop-cli/ on Linux, "
    "~/Library/Application Support/iop-cli/ on macOS, %LOCALAPPDATA%\\iop-cli\\ on Windows."
)


def db_option():
    return typer.Option(None, "--db", metavar="FILE", envvar="IOP_DB", help=DB_HELP)


def rules_option():
    return typer.Option(None, "--rules", metavar="DIR", envvar="IOP_RULES", help=RULES_HELP)


def echo_problems(problems) -> None:
    """One line per problem on stderr, control characters made visible (a cell or a path could hold some)."""
    from iop_cli.safe_text import visible

    for problem in problems:
        current().echo(f"error: {visible(str(problem))}", err=True)


def fail(problems, code: Exit = Exit.INPUT_ERROR) -> NoReturn:
    """Print one line per problem on stderr and exit; never a traceback for a user's mistake."""
    echo_problems(problems)
    raise typer.Exit(int(code))


def load_pack_or_fail(rules: Optional[str]):
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import PackError

    try:
        pack = load_pack(rules)
    except PackError as exc:
        import os

        from iop_cli.problems import Problem

        config = current().config  # when the pack came from the config file (no flag, no IOP_RULES), say so
        said = []
        if config is not None and rules and config.values.get("rules") == rules and not os.environ.get("IOP_RULES"):
            said = [Problem(str(config.path), "`rules` names this pack", "fix or remove the setting")]
        fail([*exc.problems, *said])
    current().note(f"rule pack {pack.name} {pack.version} ({pack.hash[:12]}) from {rules or 'the bundled default'}")
    return pack


def command_hint(command: str, db: Optional[str] = None, rules: Optional[str] = None) -> str:
    """A command to suggest, with the `--db` and `--rules` the user gave (as absolute paths, quoted for the shell),
    so that it works when pasted."""
    import shlex

    from iop_cli.safe_text import visible

    parts = [command]
    for option, path in (("--db", db), ("--rules", rules)):
        if path:
            parts += [option, shlex.quote(visible(str(Path(path).expanduser().absolute())))]
    return " ".join(parts)


def open_store_or_fail(db: Optional[str], create: bool = True):
    from iop_cli.problems import ProblemsError
    from iop_cli.store.records import Store

    try:
        store = Store.open(db, create=create)
    except ProblemsError as exc:
        fail(exc.problems)
    current().note(f"records database {store.path}")
    return store


def rich_console(stderr: bool = False) -> Console:
    """A Rich console on the command's stdout (or stderr) that follows its terminal flag and colour (`env.Env`)."""
    from rich.console import Console

    env = current()
    file, tty = (env.stderr, env.stderr_isatty) if stderr else (env.stdout, env.stdout_isatty)
    # Forced only where the environment says terminal of a stream that is not one (a test's); a real terminal is left
    # to Rich's own detection, which honours TTY_COMPATIBLE and FORCE_COLOR as `Console()` always did.
    force = True if tty and not _isatty(file) else None
    return Console(file=file, force_terminal=force, no_color=None if env.colour else True)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


DEFAULT_PAGER = "less -FRX"  # quits at once when the text fits, keeps colours, leaves the text on screen


def page(text: str) -> None:
    """Print `text` on stdout, through the pager when stdout is a terminal and the text is longer than the screen:
    `$PAGER` (empty, or `cat`, for none), else `less -FRX` where there is a less. A pager that cannot start means
    printing as usual."""
    import os
    import shutil
    import subprocess

    env = current()
    command = os.environ.get("PAGER", DEFAULT_PAGER if shutil.which("less") else "")
    height = shutil.get_terminal_size((80, 24)).lines
    if not env.stdout_isatty or not command.strip() or text.count("\n") < height - 1:
        env.echo(text, nl=False)
        return
    env.stdout.flush()
    try:
        done = subprocess.run(command, shell=True, input=text.encode("utf-8", "replace"), check=False)
    except OSError:
        done = None
    if done is None or done.returncode == 127:  # the shell found no such pager
        env.echo(text, nl=False)


@contextlib.contextmanager
def paged(console: Console) -> Iterator[None]:
    """What is printed on `console` inside goes through `page` (a terminal's pager), in one piece at the end; if
    the command stops early, what was printed so far is shown as usual."""
    if not current().stdout_isatty:
        yield
        return
    capture = console.capture()
    try:
        with capture:
            yield
    except BaseException:
        current().echo(capture.get(), nl=False)
        raise
    page(capture.get())
