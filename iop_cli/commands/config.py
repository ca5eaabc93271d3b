"""The user's config file: defaults for the options a counselor or a data analyst gives every time (`--rules`, `--db`,
`--facility`, `--counselor`). A flag wins over its environment variable, which wins over the file, which wins over
the built-in default (Click reads the file's values as its `default_map`, after the command line and the
environment). The file is TOML, in the platform's config folder, or where `IOP_CONFIG` points.

    # ~/.config/iop-cli/config.toml
    rules = "~/packs/riverside"
    db = "~/clinic/intakes.sqlite3"
    facility = "Riverside Recovery"
    counselor = "J. Doe"
"""

from __future__ import annotations

import enum
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from iop_cli.problems import Problem, ProblemsError

# Each setting: its option's parameter name, its environment variable, and what it is for.
SETTINGS = {
    "rules": ("IOP_RULES", "the rule-pack folder (--rules)"),
    "db": ("IOP_DB", "the records database (--db)"),
    "facility": ("IOP_FACILITY", "the facility's name on the chart page (--facility)"),
    "counselor": ("IOP_COUNSELOR", "the counselor's name on the chart page (--counselor)"),
}
PATHS = ("rules", "db")  # settings that name files: `~` is expanded


def config_path() -> Path:
    """Where the config file is read from: `IOP_CONFIG`, else `config.toml` in the user config folder
    (~/.config/iop-cli/ on Linux, ~/Library/Application Support/iop-cli/ on macOS, %LOCALAPPDATA%\\iop-cli\\ on
    Windows)."""
    given = os.environ.get("IOP_CONFIG")
    if given:
        return Path(given).expanduser()
    # platformdirs' user_config_dir, written out: every command reads this, and importing platformdirs costs ~4 ms.
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "iop-cli" / "config.toml"


@dataclass(frozen=True)
class Config:
    path: Path
    exists: bool
    values: dict[str, str]


def load_config() -> Config:
    """The config file's settings. A file that is missing is no settings; one that cannot be read, is not TOML, or
    names an unknown setting is refused with one line (file:line where TOML says it)."""
    path = config_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if os.environ.get("IOP_CONFIG"):  # a file the user named must be there
            raise ProblemsError(
                [Problem(str(path), "no such config file (IOP_CONFIG names it)", "create it, or unset IOP_CONFIG")]
            ) from None
        return Config(path, False, {})
    except OSError as exc:
        from iop_cli.files import reason

        raise ProblemsError([Problem(str(path), f"cannot read the config file: {reason(exc)}", "check it")]) from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef,import-not-found]
    try:
        table: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        where = str(path)
        at = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        if at:
            where += f":{at[1]}:{at[2]}"
        message = str(exc).split(" (at ")[0]
        raise ProblemsError(
            [Problem(where, f"not a valid TOML config file: {message}", 'write lines like rules = "~/my-pack"')]
        ) from None
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in SETTINGS:
            import difflib

            near = difflib.get_close_matches(key, list(SETTINGS), n=1)
            hint = f"did you mean {near[0]}?" if near else "known settings: " + ", ".join(SETTINGS)
            raise ProblemsError([Problem(_line_of(path, data, key), f"unknown setting {key!r}", hint)])
        if not isinstance(value, str) or not value.strip():
            where = _line_of(path, data, key)
            raise ProblemsError([Problem(where, f"{key} must be a non-empty text in quotes", f'{key} = "..."')])
        values[key] = str(Path(value).expanduser()) if key in PATHS else value
    return Config(path, True, values)


def _line_of(path: Path, data: bytes, key: str) -> str:
    """`path:line` of the line that sets `key` (TOML's reader says where the syntax is wrong, not where a setting is)."""
    text = data.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return f"{path}:{number}"
    return str(path)


def default_map(command: Any, values: dict[str, str]) -> dict[str, Any]:
    """Click's `default_map` for the command tree under `command`: each config value for every (sub)command with an
    option of that name."""
    found: dict[str, Any] = {}
    for name, sub in getattr(command, "commands", {}).items():
        inner = default_map(sub, values)
        if inner:
            found[name] = inner
    for param in getattr(command, "params", []):
        if param.name in values:
            found[param.name] = values[param.name]
    return found


def where_each_comes_from(config: Config, environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """For `iop config show`: each setting's value and its source, in the order the command reads them (a flag on
    the command line wins over all of these)."""
    env = os.environ if environ is None else environ
    shown = []
    for key, (variable, about) in SETTINGS.items():
        if env.get(variable):
            value, source = env[variable], f"environment ({variable})"
        elif key in config.values:
            value, source = config.values[key], f"config file ({config.path})"
        else:
            value, source = None, "built-in default"
        if value is None and key == "db":
            from iop_cli.store.records import default_db_path

            value = str(default_db_path())
        shown.append({"setting": key, "value": value, "source": source, "about": about})
    return shown


# ----------------------------------------------------------------------------------------------------------------
# `iop config`

app = typer.Typer(
    name="config",
    help="The user config file: defaults for --rules, --db, --facility and --counselor.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ShowFormat(str, enum.Enum):
    text = "text"
    json = "json"


@app.command()
def show(format: ShowFormat = typer.Option(ShowFormat.text, "--format", "-f", help="Output format.")) -> None:
    """Show each setting, its value and where it comes from (environment, config file or built-in default).

    A flag on the command line wins over all of these. Example: iop config show
    """
    from iop_cli.commands._common import fail
    from iop_cli.env import current
    from iop_cli.safe_text import visible

    try:
        config = load_config()
    except ProblemsError as exc:
        fail(exc.problems)
    rows = where_each_comes_from(config)
    if format is ShowFormat.json:
        from iop_cli.output.contracts import config_report, dumps

        current().echo(dumps(config_report(str(config.path), config.exists, rows)))
        return
    state = "" if config.exists else " (not there: no settings from it)"
    current().echo(f"config file: {visible(str(config.path))}{state}")
    width = max(len(r["setting"]) for r in rows)
    for row in rows:
        value = row["value"] or ("(the bundled default pack)" if row["setting"] == "rules" else "(not set)")
        current().echo(f"{row['setting']:<{width}}  {visible(value)}  [{visible(row['source'])}]")
