"""`iop records ...` and the non-interactive edges of `iop intake`, through the installed command."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from iop_cli.problems import ProblemsError
from iop_cli.store.records import Store

from .conftest import iop_in_process


def iop(db, *args, **kw):
    return iop_in_process(*args, env={"IOP_DB": str(db)}, **kw)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_is_private(db):
    assert mode(db) == 0o600


def test_list_shows_completed_and_draft(db):
    result = iop(db, "records", "list")
    assert result.returncode == 0, result.stderr
    assert "A-1" in result.stdout and "B-7" in result.stdout
    assert "outpatient" in result.stdout and "draft" in result.stdout
    assert "iop intake --resume 2" in result.stdout


def test_list_json_and_status_filter(db):
    rows = json.loads(iop(db, "records", "list", "--json", "--status", "complete").stdout)
    assert [(r["id"], r["recommended"], r["actual"]) for r in rows] == [(1, "iop", "outpatient")]


def test_show_gives_the_report_and_placement(db):
    result = iop(db, "records", "show", "1")
    assert result.returncode == 0, result.stderr
    assert "Intensive outpatient program" in result.stdout
    assert "Actual: Standard outpatient treatment (1 step down)" in result.stdout
    assert "Reason: Payer or insurance" in result.stdout
    assert "supports clinical judgment" in result.stdout


def test_show_a_draft_says_how_to_continue(db):
    result = iop(db, "records", "show", "2")
    assert result.returncode == 0
    assert "iop intake --resume 2" in result.stdout


def test_export_json_contract(db):
    data = json.loads(iop(db, "records", "export", "1").stdout)
    assert set(data) == {"schema_version", "record", "placement", "history", "answers", "report"}
    assert data["placement"] == {
        "recommended": "iop",
        "recommended_name": "Intensive outpatient program (IOP)",
        "actual": "outpatient",
        "actual_name": "Standard outpatient treatment",
        "overridden": True,
        "steps": -1,  # one level less intensive
        "reason": "payer",
        "reason_text": "Payer or insurance",
        "note": "<b>auth</b> pending",
    }
    assert data["report"]["rule"] == "iop_mild_moderate"
    assert data["record"]["pack"]["name"] == "iop-default"


def test_export_html_is_one_private_printable_page(db, tmp_path):
    out = tmp_path / "record.html"
    result = iop(db, "records", "export", "1", "--format", "html", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert mode(out) == 0o600
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<style>" in page and "@media print" in page
    assert "<script" not in page and "http" not in page and "<link" not in page  # self-contained
    assert "&lt;b&gt;auth&lt;/b&gt; pending" in page  # the note is escaped
    assert "Standard outpatient treatment" in page and "supports clinical judgment" in page
    # Answers by question, in interview order under the pack's section headings (the record's pack is unchanged).
    assert "<li>Thoughts of suicide right now: None</li>" in page
    assert "<li>Do family or friends at home support recovery?: Yes</li>" in page
    assert "<h3>Safety and mental health</h3>" in page
    assert page.index("Age in years") < page.index("Housing: Stable")


def test_export_html_is_ready_for_a_chart(db, tmp_path):
    """Facility and counselor from options (never from the answers), the client id and local date in the title,
    the client id and page numbers on every printed page, a signature and date line, and what was not assessed in
    words."""
    out = tmp_path / "record.html"
    facility = 'Riverside "Recovery" </style>'
    result = iop(
        db, "records", "export", "1", "-f", "html", "-o", str(out), "--facility", facility, "--counselor", "J. Doe"
    )
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<title>Intake A-1 · 20" in page and "<h1>Placement record: A-1</h1>" in page
    assert "<dd>Riverside &quot;Recovery&quot; &lt;/style&gt;</dd>" in page and "<dd>J. Doe</dd>" in page
    style = page[page.index("<style>") : page.index("</style>")]
    assert '@top-left { content: "Client id A-1"' in style and 'counter(page) " of " counter(pages)' in style
    assert page.count("</style>") == 1  # nothing typed ends the style element
    assert "Signature" in page and "Counselor: J. Doe" in page
    plain = iop(db, "records", "export", "1", "-f", "html").stdout
    assert "<dt>Facility</dt><dd>(not given)</dd>" in plain


def test_export_markdown_replaces_an_old_export_privately(db, tmp_path):
    out = tmp_path / "record.md"
    out.write_text("old")
    out.chmod(0o644)
    assert iop(db, "records", "export", "1", "-f", "markdown", "-o", str(out)).returncode == 0
    assert out.read_text().startswith("# Intake record 1") and mode(out) == 0o600
    text = out.read_text()  # answers by question (the record's pack is unchanged)
    assert (
        "## Answers" in text
        and "- How many DSM-5 substance use disorder criteria were met in the past 12 months?: 3" in text
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_export_refuses_to_overwrite_the_database(db):
    result = iop(db, "records", "export", "1", "-o", str(db))
    assert result.returncode == 1
    assert "is an input of this command" in result.stderr
    with Store.open(db) as store:
        assert len(store.list()) == 2


def test_export_of_a_draft_as_a_report_is_refused(db):
    result = iop(db, "records", "export", "2", "-f", "html")
    assert result.returncode == 1 and "is a draft" in result.stderr


def test_unknown_record_is_one_line(db):
    result = iop(db, "records", "show", "99")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: record 99: no such record (`iop records list` shows the ids)"


def test_delete_asks_first_and_refuses_without_a_terminal(db):
    result = iop(db, "records", "delete", "1", input="")
    assert result.returncode == 2 and "--yes" in result.stderr
    assert iop(db, "records", "delete", "1", "--yes").returncode == 0
    assert iop(db, "records", "show", "1").returncode == 1
    assert iop(db, "records", "show", "2").returncode == 0


def test_purge_removes_only_old_records(db):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE intakes SET updated_at = '2020-01-01T00:00:00+00:00' WHERE id = 1")
    result = iop(db, "records", "purge", "--older-than", "30", "--yes")
    assert result.returncode == 0 and "Deleted 1 record" in result.stderr
    rows = json.loads(iop(db, "records", "list", "--json").stdout)
    assert [r["id"] for r in rows] == [2]


def test_deleted_answers_are_not_left_in_the_file(db):
    assert b"B-7" in db.read_bytes()
    iop(db, "records", "delete", "2", "--yes")
    assert b"B-7" not in db.read_bytes()  # secure_delete overwrites the freed page


def test_records_without_a_database_do_not_create_one(tmp_path):
    missing = tmp_path / "none.sqlite3"
    result = iop(missing, "records", "list")
    assert result.returncode == 1 and "no records database here yet" in result.stderr
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not sqlite\n" * 100)
    result = iop(bogus, "records", "list")
    assert result.returncode == 1
    assert "not a usable records database" in result.stderr and "Traceback" not in result.stderr
    assert bogus.read_text().startswith("this is not sqlite")  # left as it was


def test_intake_refuses_without_a_terminal(tmp_path):
    result = iop(tmp_path / "x.sqlite3", "intake", input="")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "iop check --answers" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "x.sqlite3").exists()


def test_intake_id_needs_resume(tmp_path):
    result = iop(tmp_path / "x.sqlite3", "intake", "3", input="")
    assert result.returncode == 2
    # The hint carries the --db it was given, so it works when pasted.
    db = tmp_path / "x.sqlite3"
    assert result.stderr.strip() == f"error: to continue draft 3, use: iop intake --resume 3 --db {db}"


def test_new_database_folder_is_private(tmp_path, pack):
    path = tmp_path / "new" / "deeper" / "intakes.sqlite3"
    with Store.open(path):
        pass
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_a_database_path_under_a_file_is_one_clear_line(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    with pytest.raises(ProblemsError) as caught:
        Store.open(blocker / "intakes.sqlite3")
    assert "notes.txt is a file, not a folder" in str(caught.value.problems[0])
    assert blocker.read_text() == "keep me"


def test_every_export_has_the_answers_and_markdown_shows_typed_text_as_typed(db):
    """Text, Markdown and HTML carry the same sections; a note with markup stays its characters in Markdown."""
    text = iop(db, "records", "show", "1").stdout
    assert "Answers" in text and "Age in years: 34" in text and "Note: <b>auth</b> pending" in text
    markdown = iop(db, "records", "show", "1", "--format", "markdown").stdout
    assert "Note: \\<b\\>auth\\</b\\> pending" in markdown and "<b>auth</b>" not in markdown
    assert "## Answers" in markdown and "### About this intake" in markdown and "- Age in years: 34" in markdown


def test_a_draft_already_urgent_is_flagged_in_the_list_and_in_show(tmp_path):
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    db = tmp_path / "i.sqlite3"
    answers = {"client_id": "U-1", "how:suicide_risk": "items", "cssrs_wish_dead": True, "cssrs_thoughts": True}
    answers |= {"cssrs_method": True, "cssrs_intent": True}  # intent: high risk, crisis whatever the rest is
    with Store.open(db) as store:
        store.save_draft(None, pack, None, answers, "cssrs_plan")
        store.save_draft(None, pack, None, {"client_id": "U-2", "age": 40}, "primary_substance")
    listed = iop_in_process("records", "list", "--db", str(db), env={"COLUMNS": "120"}).stdout
    assert "draft, URGENT" in listed and listed.count("URGENT") == 1
    shown = iop_in_process("records", "show", "1", "--db", str(db)).stdout
    assert "⚠ URGENT: Immediate crisis evaluation, whatever the open questions are." in shown
