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
