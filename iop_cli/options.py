"""Options and choices shared by several commands, so `--db` or `--format` read the same everywhere."""

from __future__ import annotations

import enum

import typer


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
