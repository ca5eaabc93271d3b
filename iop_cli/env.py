"""The environment a command runs in: its standard streams, whether each is a terminal, colour, and the clock.

Commands and the file helpers read these from `current()`, never from `sys` or `datetime` directly, so a test can
run any command in-process with its own streams, terminal flags and time (`tests/conftest.py`). `cli.entry` installs
the process's own environment, or the one a test passes, for the length of one command; Typer calls the commands,
so the environment reaches them through this context variable rather than through their arguments.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TextIO

if TYPE_CHECKING:
    from datetime import datetime


def _utc_now() -> datetime:
    from datetime import datetime, timezone  # only commands that keep records read the clock

    return datetime.now(timezone.utc)


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


class Env(NamedTuple):
    """Text streams with a binary `buffer` beneath (as `sys.stdout` has), the terminal flags, and the clock."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    # Colour allowed: NO_COLOR unset, or FORCE_COLOR set. A stream shows it only if it is a terminal, and Rich, which
    # draws the reports, still reads NO_COLOR, FORCE_COLOR and TTY_COMPATIBLE itself.
    colour: bool
    now: Callable[[], datetime] = _utc_now  # aware UTC time
    verbose: bool = False  # `iop --verbose`: say on stderr what the command uses (pack, database, config, formats)
    quiet: bool = False  # `iop --quiet`: no progress and no chatter on stderr (errors are always shown)
    debug: bool = False  # `iop --debug` (or IOP_DEBUG=1): an internal error shows its traceback
    config: Any = None  # the user config file the command read (`commands.config.Config`), for its messages

    @classmethod
    def from_process(cls, environ: dict[str, str] | None = None) -> Env:
        env = os.environ if environ is None else environ
        colour = bool(env.get("FORCE_COLOR")) or not env.get("NO_COLOR")
        return cls(
            sys.stdin, sys.stdout, sys.stderr, _isatty(sys.stdin), _isatty(sys.stdout), _isatty(sys.stderr), colour
        )

    def echo(self, text: str = "", err: bool = False, nl: bool = True) -> None:
        """A line on stdout (or stderr), as `click.echo` wrote it before: escape sequences only to a terminal, and
        UTF-8 where the stream claims ASCII (the C locale of cron jobs and containers) instead of a crash."""
        stream, tty = (self.stderr, self.stderr_isatty) if err else (self.stdout, self.stdout_isatty)
        out = text + ("\n" if nl else "")
        if not tty:
            out = _ANSI.sub("", out)
        buffer = getattr(stream, "buffer", None)
        if buffer is not None and _is_ascii(getattr(stream, "encoding", None)):
            stream.flush()
            buffer.write(out.encode("utf-8", "replace"))
            buffer.flush()
            return
        stream.write(out)
        stream.flush()

    def note(self, text: str) -> None:
        """With --verbose, one line on stderr about what the command uses: never an answer, only paths, names and
        formats."""
        if self.verbose and not self.quiet:
            self.echo(f"iop: {text}", err=True)

    def chatter(self, text: str) -> None:
        """A line on stderr that is neither a result nor an error (what was written where): --quiet leaves it out."""
        if not self.quiet:
            self.echo(text, err=True)


_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def _is_ascii(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name == "ascii"
    except LookupError:
        return False


_current: ContextVar[Env | None] = ContextVar("iop_env", default=None)


def current() -> Env:
    """The running command's environment; outside a command (a library caller), the process's own."""
    return _current.get() or Env.from_process()


def adjust(**changes: Any) -> None:
    """Change the running command's environment (the global options do), for the rest of the command. Outside
    `using` (a caller that runs the Typer app itself) there is no command's environment to change, and none is made:
    one made here would outlive the command."""
    env = _current.get()
    if env is not None:
        _current.set(env._replace(**changes))


@contextlib.contextmanager
def using(env: Env) -> Iterator[Env]:
    token = _current.set(env)
    try:
        yield env
    finally:
        _current.reset(token)
