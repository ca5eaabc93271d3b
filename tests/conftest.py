"""Shared helpers: the default pack, a way to run the installed `iop` command, and small packs to break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iop_cli.pack.build import default_pack_dir, load_pack

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


# The columns `iop score` writes after the input's with the default pack: the outcome, then the profile.
SCORED_COLUMNS = [
    "level", "rule", "reason", "alerts", "status", "error", "ignored", "missing", "level_min", "level_max", "decided_by", "d1", "d2", "d3", "d4", "d5", "d6",
]  # fmt: skip


@pytest.fixture(scope="session")
def pack():
    return load_pack()


def iop_command() -> list[str]:
    """The installed console script when it is on PATH beside this Python, else the module."""
    script = Path(sys.executable).with_name("iop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "iop_cli"]


def iop_in_process(
    *args: str,
    input: str | None = None,
    cwd: Path | None = None,
    env: dict | None = None,
    terminal: bool = False,
    now=None,
):
    """`iop ARGS` run in this process through the same entry point as the installed command (`cli.entry`: every
    exit code and error line as a user sees them), with stdin, stdout and stderr redirected. It returns a
    CompletedProcess (returncode, stdout, stderr). Run the installed command (`iop_command`) in a real process only
    where that is the point: signals, a terminal, process substitution, interpreter warnings, start-up.

    The command's environment (`iop_cli.env.Env`) has the redirected streams; `terminal` makes it say that all three
    are a terminal, and `now` (a function giving an aware datetime) sets its clock."""
    from typer.testing import CliRunner

    from iop_cli.cli import entry
    from iop_cli.env import Env

    # No pager and no user config file unless a test gives them: neither may reach outside the test.
    full_env = {
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "IOP_RULES": None,
        "PAGER": "",
        "IOP_CONFIG": os.devnull,
        **(env or {}),
    }
    previous = os.getcwd()
    with CliRunner().isolation(input=input, env=full_env) as (out, err, _):
        if cwd is not None:
            os.chdir(cwd)
        try:
            own = Env.from_process()
            if terminal:
                own = own._replace(stdin_isatty=True, stdout_isatty=True, stderr_isatty=True)
            if now is not None:
                own = own._replace(now=now)
            code = entry(list(args), own)
        finally:
            os.chdir(previous)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    if isinstance(code, str):  # sys.exit("message"), as Python prints it
        stderr, code = stderr + code + "\n", 1
    return subprocess.CompletedProcess(list(args), int(code or 0), stdout, stderr)


@pytest.fixture
def pack_copy(tmp_path):
    """A writable copy of the default pack, for tests that break it on purpose."""
    target = tmp_path / "pack"
    shutil.copytree(default_pack_dir(), target)
    return target


@pytest.fixture
def db(tmp_path, pack):
    """A records database with one completed intake (placed elsewhere than recommended) and one draft."""
    from iop_cli.decide.engine import decide
    from iop_cli.output.contracts import decision_dict
    from iop_cli.store.records import Store

    from .test_interview import CANDIDATE

    path = tmp_path / "intakes.sqlite3"
    with Store.open(path) as store:
        report = decision_dict(decide(pack, CANDIDATE), pack)
        store.complete(None, pack, None, CANDIDATE, report, "outpatient", "payer", "<b>auth</b> pending")
        store.save_draft(None, pack, None, {"client_id": "B-7", "age": 50}, "primary_substance")
    return path


def accepted_cases(pack) -> list[dict]:
    """The answers of a pack's own test cases that the pack accepts as they are (a case may give a refused answer
    on purpose)."""
    from iop_cli.decide.engine import checked

    found = []
    for case in pack.tests:
        try:
            found.append(checked(pack, case.given))
        except Exception:
            continue
    return found
