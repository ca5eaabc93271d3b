"""What the commands share: problems as one line each on stderr, and loading the pack or the records database with
a clean exit on a user's mistake. Every command module imports these from here, never from `cli`, so `cli` (which
imports the commands) and the commands do not import each other."""

from __future__ import annotations

from typing import NoReturn, Optional

import typer

from .exit_codes import Exit


def echo_problems(problems) -> None:
    """One line per problem on stderr, control characters made visible (a cell or a path could hold some)."""
    from .safe_text import visible

    for problem in problems:
        typer.echo(f"error: {visible(str(problem))}", err=True)


def fail(problems, code: Exit = Exit.INPUT_ERROR) -> NoReturn:
    """Print one line per problem on stderr and exit; never a traceback for a user's mistake."""
    echo_problems(problems)
    raise typer.Exit(int(code))


def load_pack_or_fail(rules: Optional[str]):
    from .pack import load_pack
    from .problems import PackError

    try:
        return load_pack(rules)
    except PackError as exc:
        fail(exc.problems)


def open_store_or_fail(db: Optional[str], create: bool = True):
    from .problems import ProblemsError
    from .store import Store

    try:
        return Store.open(db, create=create)
    except ProblemsError as exc:
        fail(exc.problems)
