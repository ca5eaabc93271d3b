"""Commands read their streams, terminal flags, colour and clock from one environment object (`iop_cli.env.Env`),
so each of those can be set in-process: these tests set them and see the commands follow."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from iop_cli.decide.engine import decide
from iop_cli.env import Env, current, using
from iop_cli.output.contracts import decision_dict
from iop_cli.store.records import Store

from .conftest import ROOT, iop_in_process
from .test_interview import CANDIDATE

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"
SAVED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_clock_decides_what_a_purge_finds(tmp_path, pack):
    db = tmp_path / "intakes.sqlite3"
    with using(Env.from_process()._replace(now=lambda: SAVED)), Store.open(db) as store:
        store.complete(None, pack, None, CANDIDATE, decision_dict(decide(pack, CANDIDATE), pack), "iop", None, None)
    env = {"IOP_DB": str(db)}
    soon = iop_in_process("records", "purge", "--older-than", "30", "--yes", env=env, now=lambda: SAVED + timedelta(10))
    assert soon.returncode == 0 and "No records older than 30 days" in soon.stderr
    later = iop_in_process(
        "records", "purge", "--older-than", "30", "--yes", env=env, now=lambda: SAVED + timedelta(40)
    )
    assert later.returncode == 0 and "Deleted 1 record(s)" in later.stderr
    assert "No intakes stored" in iop_in_process("records", "list", env=env).stdout


def test_colour_follows_the_terminal_flag_and_no_color():
    plain = iop_in_process("check", "-a", str(EXAMPLE))
    assert "\x1b[" not in plain.stdout
    coloured = iop_in_process("check", "-a", str(EXAMPLE), terminal=True, env={"NO_COLOR": None})
    assert "\x1b[" in coloured.stdout
    asked_not_to = iop_in_process("check", "-a", str(EXAMPLE), terminal=True, env={"NO_COLOR": "1"})
    assert "\x1b[3" not in asked_not_to.stdout  # no colour codes (bold may stay)


def test_the_interview_needs_a_terminal_and_says_what_to_use_instead():
    result = iop_in_process("intake")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "iop check --answers FILE" in result.stderr


def test_outside_a_command_the_environment_is_the_process():
    env = current()
    assert env.now().tzinfo is not None and env.stdout is not None


def _streams(encoding: str):
    import io

    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, encoding=encoding, write_through=True)


def test_echo_writes_utf8_where_the_stream_claims_ascii_and_strips_escapes_off_a_terminal():
    """The C locale (cron, containers) gives an ASCII stdout: a report with `·` or a client id `Zoë` must still
    print, as click.echo printed it; and escape sequences reach only a terminal."""
    raw, ascii_out = _streams("ascii")
    env = Env.from_process()._replace(stdout=ascii_out, stdout_isatty=False)
    env.echo("Zoë · level \x1b[31m2.1\x1b[0m")
    assert raw.getvalue().decode("utf-8") == "Zoë · level 2.1\n"
    raw, utf8_out = _streams("utf-8")
    env._replace(stdout=utf8_out, stdout_isatty=True).echo("\x1b[1mbold\x1b[0m", nl=False)
    assert raw.getvalue() == b"\x1b[1mbold\x1b[0m"


def test_check_prints_in_the_c_locale_of_a_real_process(tmp_path):
    """The same, end to end: a real process whose locale makes stdout ASCII (only a new process starts so)."""
    import os
    import subprocess
    import sys

    answers = tmp_path / "a.yaml"
    answers.write_text(EXAMPLE.read_text(encoding="utf-8").replace("client_id: ", "client_id: Zoë-"), encoding="utf-8")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "NO_COLOR": "1"}
    env.pop("PYTHONIOENCODING", None)
    for fmt, shown in (("markdown", "·"), ("json", "Zoë")):
        done = subprocess.run(
            [sys.executable, "-m", "iop_cli", "check", "-a", str(answers), "-f", fmt], capture_output=True, env=env
        )
        assert done.returncode == 0, done.stderr
        assert shown.encode("utf-8") in done.stdout or b"Zo\\u00eb" in done.stdout
