"""Hostile reproductions against the records database and the intake that writes it (hardening items 8-11, 19).

Each test is a reviewer's reproduction: a draft deleted while its intake is open, two resumes of one draft, damaged
databases, read-only commands that wrote the file, and terminal control sequences in stored values. Commands run
in-process through Typer's CliRunner; "another shell" is a second SQLite connection or a second Store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console
from typer.testing import CliRunner

from iop_cli.cli import app
from iop_cli.decide.engine import decide
from iop_cli.exit_codes import Exit
from iop_cli.interview.machine import Interview
from iop_cli.interview.prompts import IntakeSession
from iop_cli.output.contracts import decision_dict
from iop_cli.pack.build import load_pack
from iop_cli.problems import ProblemsError
from iop_cli.store.records import Store

from .test_intake_ui import ACCEPT, CTRL_C, ENTER, drive, keys_for
from .test_interview import CANDIDATE, V1

FIRST_THREE = ["client_id", "age", "primary_substance"]


def iop(db, *args, input=None):
    """One `iop` command in-process. Any exception other than a clean exit is a crash (what exits 70 for real)."""
    result = CliRunner().invoke(
        app, list(args), env={"IOP_DB": str(db), "NO_COLOR": "1", "COLUMNS": "120"}, input=input
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_error_line(result) -> str:
    assert result.exit_code == Exit.INPUT_ERROR, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pack():
    """The version-1 pack: these intakes are driven by the keys of the version-1 interview (test_interview)."""
    return load_pack(V1)


@pytest.fixture
def db(tmp_path, pack):
    """One completed intake (1) and one draft (2)."""
    path = tmp_path / "intakes.sqlite3"
    with Store.open(path) as store:
        report = decision_dict(decide(pack, CANDIDATE), pack)
        store.complete(None, pack, None, CANDIDATE, report, "iop", None, None)
        store.save_draft(None, pack, None, {"client_id": "B-7", "age": 50}, "primary_substance")
    return path


def run_intake_keys(db, keys, resume=False, record=None, on_save=None):
    """`iop intake` driven by keys; `on_save(n)` runs after the n-th successful draft save (another shell acting)."""
    from iop_cli.commands.intake import run_intake

    original = IntakeSession.save
    count = {"n": 0}

    def save(self, interview):
        original(self, interview)
        count["n"] += 1
        if on_save:
            on_save(count["n"])

    IntakeSession.save = save
    try:
        out = io.StringIO()
        return drive(keys, lambda: run_intake(resume, record, str(V1), str(db), console=Console(file=out, width=100)))
    finally:
        IntakeSession.save = original


def rows(db) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT id, status FROM intakes ORDER BY id").fetchall()


# -- 8: never claim a save that did not happen -------------------------------------------------------------------


def test_draft_deleted_elsewhere_mid_intake_is_not_reported_as_saved(pack, tmp_path, capsys):
    db = tmp_path / "i.sqlite3"

    def delete_after_three(n):
        if n == 3:
            assert iop(db, "records", "delete", "1", "--yes").exit_code == 0

    code = run_intake_keys(db, keys_for(pack, CANDIDATE) + ENTER + ACCEPT, on_save=delete_after_three)
    out, err = capsys.readouterr()
    assert code == Exit.INPUT_ERROR
    assert "Saved as record" not in out
    assert "draft 1: was deleted" in err and err.strip().count("\n") == 0
    assert rows(db) == []  # not re-created behind the deleter's back


def test_draft_purged_elsewhere_mid_intake_is_not_reported_as_saved(pack, tmp_path, capsys):
    db = tmp_path / "i.sqlite3"

    def purge_after_three(n):
        if n == 3:
            with sqlite3.connect(db) as con:
                con.execute("UPDATE intakes SET updated_at = '2000-01-01T00:00:00+00:00'")
            assert iop(db, "records", "purge", "--older-than", "1", "--yes").exit_code == 0

    code = run_intake_keys(db, keys_for(pack, CANDIDATE) + ENTER + ACCEPT, on_save=purge_after_three)
    out, err = capsys.readouterr()
    assert code == Exit.INPUT_ERROR and "Saved as record" not in out and "was deleted" in err
    assert rows(db) == []


def test_ctrl_c_after_the_draft_was_deleted_does_not_claim_a_draft(pack, tmp_path, capsys):
    db = tmp_path / "i.sqlite3"
    deleted = {}

    def delete_after_three(n):
        if n == 3 and not deleted:
            deleted["yes"] = iop(db, "records", "delete", "1", "--yes").exit_code == 0

    code = run_intake_keys(db, keys_for(pack, CANDIDATE, FIRST_THREE) + CTRL_C, on_save=delete_after_three)
    err = capsys.readouterr().err
    assert deleted == {"yes": True}
    assert code == Exit.INPUT_ERROR
    assert "saved as draft" not in err and "draft 1: was deleted" in err
    assert rows(db) == []


def test_store_writes_check_the_row_they_meant_to_change(pack, db):
    with Store.open(db) as store:
        store.claim(2)
        with sqlite3.connect(db) as other:  # `iop records delete 2` in another shell
            other.execute("DELETE FROM intakes WHERE id = 2")
        with pytest.raises(ProblemsError, match="draft 2: was deleted"):
            store.save_draft(2, pack, None, {"age": 51}, "age")
        report = decision_dict(decide(pack, CANDIDATE), pack)
        with pytest.raises(ProblemsError, match="draft 2: was deleted"):
            store.complete(2, pack, None, CANDIDATE, report, "iop", None, None)
        with pytest.raises(ProblemsError, match="record 1: is already complete"):
            store.save_draft(1, pack, None, {"age": 51}, "age")
    assert rows(db) == [(1, "complete")]


# -- 9: one intake per draft -------------------------------------------------------------------------------------


def _open_elsewhere(pack, db, record_id):
    """Another `iop intake --resume` that has the draft open (same host, a live process: this one)."""
    store = Store.open(db)
    draft = store.get(record_id)
    interview, _ = Interview.resume(pack, draft.answers, draft.cursor)
    session = IntakeSession(pack, store, None, record_id)
    session.save(interview)
    return store, session, interview


def test_second_resume_of_an_open_draft_is_refused(pack, db, capsys):
    first, session, interview = _open_elsewhere(pack, db, 2)
    try:
        rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
        code = run_intake_keys(db, keys_for(pack, rest) + ENTER + ACCEPT, resume=True, record=2)
        err = capsys.readouterr().err
        assert code == Exit.INPUT_ERROR
        assert err.strip().count("\n") == 0
        assert "draft 2: open in another iop intake" in err
        assert f"pid {os.getpid()} on {socket.gethostname()}" in err
        # The first intake finishes with its own answers and its own report: no mixed record.
        answers = {**CANDIDATE, "client_id": "B-7", "age": 50}
        report = decision_dict(decide(pack, answers), pack)
        session.store.complete(2, pack, None, answers, report, report["level"]["id"], None, None)
    finally:
        first.db.close()
    with Store.open(db) as store:
        record = store.get(2)
    assert record.answers == answers and record.report == report


def test_resume_without_an_id_skips_a_draft_open_elsewhere(pack, db, capsys):
    first, _, _ = _open_elsewhere(pack, db, 2)
    try:
        code = run_intake_keys(db, "", resume=True)
        err = capsys.readouterr().err
        assert code == Exit.INPUT_ERROR
        assert "no paused intake" in err and "draft 2 is open in another iop intake" in err
    finally:
        first.db.close()


def test_a_taken_over_draft_stops_the_old_intake_without_mixing(pack, db):
    with Store.open(db) as store:
        session = IntakeSession(pack, store, None, 2)
        interview, _ = Interview.resume(pack, {"client_id": "B-7", "age": 50}, "primary_substance")
        session.save(interview)
        with sqlite3.connect(db) as con:  # another host took it over after the claim went stale
            con.execute(
                "UPDATE intakes SET claim_token = 'other', claim_host = 'elsewhere', claim_pid = 1 WHERE id = 2"
            )
        with pytest.raises(ProblemsError, match="draft 2: was taken over by another iop intake"):
            session.save(interview)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="process checks are POSIX only")
def test_a_claim_left_by_a_killed_intake_does_not_lock_the_draft(pack, db):
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE intakes SET claim_token = 'dead', claim_pid = ?, claim_host = ?, claimed_at = ? WHERE id = 2",
            (_dead_pid(), socket.gethostname(), now),
        )
    rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
    code = run_intake_keys(db, keys_for(pack, rest) + ENTER + ACCEPT, resume=True, record=2)
    assert code == Exit.OK
    assert rows(db) == [(1, "complete"), (2, "complete")]


def test_a_claim_from_another_host_expires(pack, db):
    old = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat(timespec="seconds")
    fresh = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE intakes SET claim_token = 'far', claim_pid = 1, claim_host = 'far-away', claimed_at = ? WHERE id = 2",
            (fresh,),
        )
    with Store.open(db) as store, pytest.raises(ProblemsError, match="pid 1 on far-away"):
        store.claim(2)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET claimed_at = ? WHERE id = 2", (old,))
    with Store.open(db) as store:
        assert store.claim(2).id == 2


def test_pausing_releases_the_claim(pack, db):
    rest = ["primary_substance"]
    code = run_intake_keys(db, keys_for(pack, CANDIDATE, rest) + CTRL_C, resume=True, record=2)
    assert code == Exit.INTERRUPTED
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT claim_token FROM intakes WHERE id = 2").fetchone() == (None,)


# -- 10: damaged databases ---------------------------------------------------------------------------------------


def _big_db(tmp_path, pack, count=60):
    path = tmp_path / "big.sqlite3"
    with Store.open(path) as store:
        for i in range(count):
            store.save_draft(None, pack, None, {"client_id": f"C-{i}", "age": 30, "note": "x" * 900}, "age")
    return path


def _corrupt(path, how):
    data = bytearray(path.read_bytes())
    page = 4096
    if how == "root-page":
        data[page : 2 * page] = b"\xff" * page
    elif how == "leaf-pages":
        for start in range(3 * page, len(data), 2 * page):
            data[start + 8 : start + 200] = os.urandom(192)
    else:  # truncated
        data = data[: len(data) // 2 + 100]
    path.write_bytes(bytes(data))


COMMANDS = [
    ["records", "list"],
    ["records", "list", "--json"],
    ["records", "show", "20"],
    ["records", "export", "20"],
    ["records", "delete", "20", "--yes"],
    ["records", "purge", "--older-than", "0", "--yes"],
]


@pytest.mark.parametrize("how", ["root-page", "leaf-pages", "truncated"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_corrupt_pages_are_one_line_not_a_crash(tmp_path, pack, how, command):
    path = _big_db(tmp_path, pack)
    if command[1] == "purge":
        with sqlite3.connect(path) as con:
            con.execute("UPDATE intakes SET updated_at = '2000-01-01T00:00:00+00:00'")
    _corrupt(path, how)
    result = iop(path, *command)
    if result.exit_code != 0:  # what a damaged page hides may still be readable; a failure must be one line
        line = one_error_line(result)
        if "no such record" not in line:  # a damaged index may just not find the row
            assert str(path) in line and ("damaged" in line or "not a usable records database" in line)


def _break_answers(db, record_id, text):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET answers = ? WHERE id = ?", (text, record_id))


@pytest.mark.parametrize("broken", ["{not json", "[1, 2]", "null"])
def test_a_row_with_broken_answers_is_listed_refused_and_deletable(db, broken):
    _break_answers(db, 2, broken)
    listed = iop(db, "records", "list")
    assert listed.exit_code == 0 and "damaged" in listed.stdout
    assert [r["damaged"] for r in json.loads(iop(db, "records", "list", "--json").stdout)] == [True, False]
    for command in (["records", "show", "2"], ["records", "export", "2"]):
        line = one_error_line(iop(db, *command))
        assert "record 2" in line and "damaged" in line and "iop records delete 2" in line
    assert iop(db, "records", "delete", "2", "--yes").exit_code == 0
    assert rows(db) == [(1, "complete")]


def test_a_complete_row_with_a_broken_report_is_refused_and_deletable(db):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET report = '{\"level\": 3}' WHERE id = 1")
    line = one_error_line(iop(db, "records", "show", "1"))
    assert "record 1" in line and "damaged" in line
    assert iop(db, "records", "delete", "1", "--yes").exit_code == 0


def test_resuming_a_damaged_draft_is_one_line(db, capsys):
    _break_answers(db, 2, "{not json")
    assert run_intake_keys(db, "", resume=True, record=2) == Exit.INPUT_ERROR
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "damaged" in err


@pytest.mark.parametrize(
    "command",
    [
        ["records", "list"],
        ["records", "show", "1"],
        ["records", "export", "1"],
        ["records", "delete", "1", "--yes"],
        ["records", "purge", "--older-than", "0", "--yes"],
    ],
    ids=lambda c: c[1],
)
def test_a_foreign_intakes_table_is_one_line_and_left_alone(tmp_path, command):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE intakes (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO intakes (name) VALUES ('someone')")
    before = digest(path)
    line = one_error_line(iop(path, *command))
    assert "not an iop-cli records database" in line
    assert digest(path) == before


@pytest.mark.parametrize("days", ["1e10", "inf", "nan"])
def test_purge_with_an_impossible_age_is_one_line(db, days):
    line = one_error_line(iop(db, "records", "purge", "--older-than", days, "--yes"))
    assert "--older-than" in line
    assert len(rows(db)) == 2


# -- 11: read-only commands do not write ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["records", "list"], ["records", "list", "--json"], ["records", "show", "1"], ["records", "export", "1"]],
    ids=lambda c: " ".join(c[1:]),
)
def test_read_only_commands_leave_the_file_untouched(db, command):
    before, mtime = digest(db), os.stat(db).st_mtime_ns
    time.sleep(0.01)
    assert iop(db, *command).exit_code == 0
    assert digest(db) == before and os.stat(db).st_mtime_ns == mtime


def test_list_does_not_wait_for_another_reader(db):
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM intakes").fetchall()  # holds a shared lock, as another `iop records list`
        started = time.monotonic()
        result = iop(db, "records", "list")
        assert result.exit_code == 0, result.stderr
        assert time.monotonic() - started < 2
    finally:
        reader.close()


def test_a_busy_database_says_so(db, pack):
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        with Store.open(db) as store:
            writer.execute("BEGIN EXCLUSIVE")
            store.db.execute("PRAGMA busy_timeout = 100")
            with pytest.raises(ProblemsError, match="busy") as caught:
                store.save_draft(None, pack, None, {"age": 30}, "age")
            writer.execute("ROLLBACK")
        assert "try again" in str(caught.value)
    finally:
        writer.close()


def test_read_only_database_file_can_still_be_listed(db):
    db.chmod(0o400)
    try:
        result = iop(db, "records", "list", "--json")
        assert result.exit_code == 0, result.stderr
        assert len(json.loads(result.stdout)) == 2
    finally:
        db.chmod(0o600)


def test_a_foreign_database_is_refused_without_writing_it(tmp_path):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY)")
    before = digest(path)
    line = one_error_line(iop(path, "records", "list"))
    assert "not an iop-cli records database" in line
    with pytest.raises(ProblemsError, match="not an iop-cli records database"):
        Store.open(path)  # what `iop intake --db` does
    assert digest(path) == before
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (0,)
        assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("patients",)]


def test_missing_parents_are_private_even_under_umask_000(tmp_path):
    path = tmp_path / "home" / ".local" / "share" / "iop-cli" / "intakes.sqlite3"
    old = os.umask(0)
    try:
        with Store.open(path):
            pass
    finally:
        os.umask(old)
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent, tmp_path / "home"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


V1_SCHEMA = """
CREATE TABLE intakes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'complete')),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, client_id TEXT, pack_name TEXT NOT NULL,
    pack_version TEXT NOT NULL, pack_hash TEXT NOT NULL, rules_dir TEXT, answers TEXT NOT NULL, cursor TEXT,
    report TEXT, recommended_level TEXT, actual_level TEXT, actual_level_name TEXT, placement_reason TEXT,
    placement_note TEXT
);
INSERT INTO intakes (status, created_at, updated_at, client_id, pack_name, pack_version, pack_hash, answers, cursor)
VALUES ('draft', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00', 'OLD-1', 'iop-default', '1.0.0', 'h',
        '{"client_id": "OLD-1", "age": 40}', 'primary_substance');
PRAGMA user_version = 1;
"""


def test_a_database_made_by_the_previous_version_keeps_working(tmp_path, pack):
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as con:
        con.executescript(V1_SCHEMA)
    listed = iop(path, "records", "list", "--json")  # read-only: readable as it is, not migrated
    assert [r["client_id"] for r in json.loads(listed.stdout)] == ["OLD-1"]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (1,)
    rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
    assert run_intake_keys(path, keys_for(pack, rest) + ENTER + ACCEPT, resume=True, record=1) == Exit.OK
    with Store.open(path) as store:
        record = store.get(1)
    assert record.status == "complete" and record.answers == {**CANDIDATE, "client_id": "OLD-1", "age": 40}
    assert record.placement_steps == 0  # the column added on the way: as recommended
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 3


# -- 19: terminal control sequences ------------------------------------------------------------------------------

HOSTILE = "\x1b]0;owned\x07A-\x1b[31m1\x9b2J[bold]x[/]"


@pytest.fixture
def hostile_db(tmp_path, pack):
    path = tmp_path / "h.sqlite3"
    with Store.open(path) as store:
        answers = {**CANDIDATE, "client_id": HOSTILE}
        report = decision_dict(decide(pack, answers), pack)
        store.complete(None, pack, None, answers, report, "outpatient", "other", "note \x1b[2J here")
        store.save_draft(None, pack, None, {"client_id": HOSTILE}, "age")
    return path


CONTROL = [chr(c) for c in [*range(0, 9), *range(11, 32), 127, *range(128, 160)]]


def _no_controls(text: str) -> None:
    found = sorted({hex(ord(c)) for c in text if c in CONTROL})
    assert not found, found


@pytest.mark.parametrize(
    "command",
    [
        ["records", "list"],
        ["records", "list", "--json"],
        ["records", "show", "1"],
        ["records", "show", "2"],
        ["records", "show", "1", "--format", "markdown"],
        ["records", "show", "1", "--format", "json"],
    ],
    ids=lambda c: " ".join(c[1:]),
)
def test_control_characters_are_shown_not_sent(hostile_db, command):
    result = iop(hostile_db, *command)
    assert result.exit_code == 0, result.stderr
    _no_controls(result.stdout)
    if "--json" not in command and "json" not in command:
        shown = result.stdout
        if "markdown" in command:  # as Markdown renders it: its backslash escapes undone
            shown = re.sub(r"\\(.)", r"\1", shown)
        assert "\\x1b" in shown and "[bold]x[/]" in shown.replace("\n", "")


def test_json_output_still_holds_the_exact_value(hostile_db):
    data = json.loads(iop(hostile_db, "records", "show", "1", "--format", "json").stdout)
    assert data["record"]["client_id"] == HOSTILE
    listed = json.loads(iop(hostile_db, "records", "list", "--json").stdout)
    assert listed[0]["client_id"] == HOSTILE


def test_visible_makes_every_control_character_visible():
    from iop_cli.safe_text import visible

    assert visible("plain text, café ✓") == "plain text, café ✓"
    assert visible("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert visible("a\nb\rd") == "a\\x0ab\\x0dd"
    assert visible("\x9b\x7f") == "\\x9b\\x7f"
    _no_controls(visible("".join(CONTROL)))


def test_safe_text_is_light():
    code = (
        "import sys, iop_cli.safe_text; print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'typer')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
