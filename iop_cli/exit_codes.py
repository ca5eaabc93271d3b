"""Exit codes, in one place. Documented in the README."""

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    INPUT_ERROR = 1  # bad answers, bad CSV, bad rule pack, failed pack tests
    USAGE = 2  # wrong options or arguments (Typer's own usage errors use it too)
    INTERNAL = 70  # a bug in iop-cli itself (EX_SOFTWARE); please report it
    INTERRUPTED = 130  # Ctrl-C, SIGTERM or SIGHUP
    PIPE_CLOSED = 141  # the reader of stdout went away early (what a shell reports for a process ended by SIGPIPE)
