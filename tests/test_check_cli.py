"""`iop check` end to end: in-process through the command's own entry point, and as a subprocess where a real
process is the point."""

from __future__ import annotations

import json

import pytest
import yaml

from iop_cli.pack.build import load_pack

from .conftest import ROOT, iop_in_process

PACK = load_pack()
EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"


@pytest.mark.parametrize("case", PACK.tests, ids=lambda c: c.name)
def test_routing_table_and_alerts_through_iop_check(case, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(case.given))
    result = iop_in_process("check", "--answers", str(answers), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expect = case.expect
    if "level" in expect:
        assert data["level"]["id"] == expect["level"]
    if "rule" in expect:
        assert data["rule"] == expect["rule"]
    if "alerts" in expect:
        assert sorted(a["id"] for a in data["alerts"]) == sorted(expect["alerts"])
    if "missing" in expect:
        assert sorted(m["field"] for m in data["missing"]) == sorted(expect["missing"])


def test_text_report_puts_safety_first_and_says_it_supports_judgment():
    answers = EXAMPLE.read_text().replace("suicidal_ideation: none", "suicidal_ideation: passive")
    result = iop_in_process("check", "--answers", "-", input=answers)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("SAFETY ALERTS") < out.index("RECOMMENDATION")
    assert "Complete a full suicide risk assessment" in out
    assert "Intensive outpatient program (IOP)" in out
    assert "level 2.1" in out and "9-19 hours a week" in out
    assert "iop_mild_moderate" in out
    assert "About 10-12 hours a week, usually 3-4 visits of about 3 hours each" in out
    assert "iop-default 2.0.0 (sha256 " in out
    assert "This recommendation supports clinical judgment; it does not replace it." in out
    assert result.stderr == ""


def test_text_report_lists_what_was_not_assessed():
    answers = EXAMPLE.read_text().replace("ciwa_ar: 4\n", "")
    result = iop_in_process("check", "-a", "-", input=answers)
    assert "Withdrawal risk was not assessed" in result.stdout
    shown = " ".join(result.stdout.split())  # in words: the question, and what could not be decided without it
    assert "Not assessed" in shown and "CIWA-Ar total (0-67): not answered, so whether Medically managed" in shown


def test_an_answer_to_a_question_that_does_not_apply_is_listed_with_why():
    """Version 2, routing change 3: a COWS score for someone who uses no opioids is never dropped silently."""
    answers = EXAMPLE.read_text() + "cows: 20\n"
    data = json.loads(iop_in_process("check", "-a", "-", "--format", "json", input=answers).stdout)
    assert data["ignored"] == ["cows"]
    [item] = data["ignored_answers"]
    assert item["field"] == "cows" and "applies only when opioids in use, and" in item["reason"]
    text = iop_in_process("check", "-a", "-", input=answers).stdout
    assert "Ignored answers" in text and "(cows): not used" in text
    markdown = iop_in_process("check", "-a", "-", "--format", "markdown", input=answers).stdout
    assert "### Ignored answers" in markdown and "applies only when opioids in use" in markdown


def test_markdown_report():
    result = iop_in_process("check", "-a", str(EXAMPLE), "--format", "markdown")
    assert result.returncode == 0
    assert result.stdout.startswith("# Placement recommendation")
    assert "## Recommended: Intensive outpatient program (IOP)" in result.stdout
    assert "*This recommendation supports clinical judgment; it does not replace it.*" in result.stdout


def test_json_contract():
    data = json.loads(iop_in_process("check", "-a", str(EXAMPLE), "-f", "json").stdout)
    assert set(data) == {
        "schema_version", "pack", "level", "status", "basis", "rule", "reason", "would_be", "alerts", "missing",
        "possible", "deciding", "not_assessed", "partly_answered", "changes", "grounds", "ignored", "ignored_answers", "contradictions", "answers", "profile", "trace", "disclaimer",
    }  # fmt: skip
    assert data["schema_version"] == 2 and data["status"] == "ok"
    assert data["pack"]["name"] == "iop-default" and len(data["pack"]["hash"]) == 64
    assert set(data["level"]) == {
        "id",
        "name",
        "code",
        "intensity",
        "rank",
        "urgent",
        "summary",
        "involves",
        "next_steps",
    }
    assert data["basis"] == "rule" and data["rule"] == "iop_mild_moderate"
    assert data["possible"] == ["iop"] and data["deciding"] == []
    assert data["answers"]["severity"] == "mild" and data["answers"]["sud"] is True
    first = data["trace"][0]
    assert set(first) == {"rule", "kind", "result", "outcome", "values", "clauses"}
    assert first["rule"] == "crisis_risk" and first["result"] is False and first["outcome"] == "skipped"


def test_bad_answers_give_one_line_each_and_exit_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosing: stable\nage: 300\npregnant: maybe\nprimary_substance: alcool\ndsm5_criteria_count: two\n")
    result = iop_in_process("check", "-a", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 5
    assert lines[0] == f"error: {bad}:1:1: hosing: unknown field (did you mean `housing`?)"
    assert lines[1] == f"error: {bad}:2:1: age: 300 is outside the allowed range (allowed: a whole number 12-110)"
    assert "pregnant: 'maybe' is not yes or no (allowed: yes or no)" in lines[2]
    assert "did you mean `alcohol`?" in lines[3] and "allowed: alcohol, opioids" in lines[3]
    assert "dsm5_criteria_count: 'two' is not a whole number (allowed: a whole number 0-11)" in lines[4]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("age: [1, 2\n", "YAML syntax error"),
        ("- age\n", "answers must be a mapping"),
        ("", "the answers file is empty"),
        ("age: {a: 1}\n", "one value or a list of values is expected, not a mapping"),
        ("age: [30, 31]\n", "age: a list was given, but the question takes one answer"),
        ("severity: mild\n", "severity: is computed by the pack"),
        ("age: 30\nage: 31\n", "duplicate key `age`"),
        ('{"age": true}', "age: True is not a whole number"),
    ],
)
def test_malformed_answers_files(tmp_path, content, fragment):
    path = tmp_path / "a.yaml"
    path.write_text(content)
    result = iop_in_process("check", "-a", str(path))
    assert result.returncode == 1
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_and_non_utf8(tmp_path):
    result = iop_in_process("check", "-a", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1 and "cannot read the file" in result.stderr
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("client_id: caf\xe9\n".encode("latin-1"))
    result = iop_in_process("check", "-a", str(latin))
    assert result.returncode == 1 and "not UTF-8 text" in result.stderr and "Traceback" not in result.stderr


def test_json_answers_and_bom(tmp_path):
    path = tmp_path / "a.json"
    raw = yaml.safe_load(EXAMPLE.read_text())
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(raw).encode())
    data = json.loads(iop_in_process("check", "-a", str(path), "-f", "json").stdout)
    assert data["level"]["id"] == "iop"


def test_broken_pack_reports_positions(pack_copy):
    rules = pack_copy / "rules.yaml"
    rules.write_text(rules.read_text().replace("when: medical_instability\n", "when: medical_instabilty\n"))
    result = iop_in_process("check", "-a", str(EXAMPLE), "--rules", str(pack_copy))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {rules}:") and "unknown field `medical_instabilty`" in line
    assert "did you mean `medical_instability`?" in line


def test_rules_option_uses_another_pack(pack_copy):
    levels = pack_copy / "levels.yaml"
    levels.write_text(levels.read_text().replace("name: Intensive outpatient program (IOP)", "name: Our IOP"))
    data = json.loads(iop_in_process("check", "-a", str(EXAMPLE), "--rules", str(pack_copy), "-f", "json").stdout)
    assert data["level"]["name"] == "Our IOP"
    assert data["pack"]["hash"] != PACK.hash


def test_usage_errors_exit_2():
    result = iop_in_process("check")
    assert result.returncode == 2 and "--answers" in result.stderr
    result = iop_in_process("check", "-a", str(EXAMPLE), "--format", "pdf")
    assert result.returncode == 2


def test_version_and_help():
    result = iop_in_process("--version")
    assert result.returncode == 0 and result.stdout.startswith("iop-cli ")
    result = iop_in_process("check", "--help")
    assert result.returncode == 0 and "Example: iop check --answers" in result.stdout


def test_an_internal_error_is_one_line_without_answers(monkeypatch):
    """A bug must not print a traceback that could quote health information; IOP_DEBUG shows it."""

    def broken(pack, answers):
        raise ValueError("secret answer: " + str(answers.get("age")))

    monkeypatch.setattr("iop_cli.decide.engine.decide", broken)
    result = iop_in_process("check", "-a", str(EXAMPLE))
    assert result.returncode == 70
    assert result.stderr.strip() == "iop: internal error (ValueError); rerun with IOP_DEBUG=1 to see where"
    assert "secret" not in result.stdout + result.stderr
    with pytest.raises(ValueError, match="secret answer"):  # IOP_DEBUG lets the traceback through
        iop_in_process("check", "-a", str(EXAMPLE), env={"IOP_DEBUG": "1"})


def test_a_cssrs_plan_after_no_thoughts_is_never_ignored(tmp_path):
    """CLINICAL.md: a follow-up answered yes while its gate was answered no counts as yes for the gate too, and the
    record lists the contradiction. In `iop check` and in `iop score` alike."""
    answers = yaml.safe_load(EXAMPLE.read_text())
    for direct in ("suicidal_ideation", "suicide_attempt_past_3_months"):
        answers.pop(direct)
    answers.update(
        cssrs_wish_dead=False, cssrs_thoughts=False, cssrs_method=False, cssrs_intent=False, cssrs_plan=True,
        cssrs_behavior=False,
    )  # fmt: skip
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(answers))
    data = json.loads(iop_in_process("check", "-a", str(path), "-f", "json").stdout)
    assert data["level"]["id"] == "crisis" and data["answers"]["suicide_risk"] == "high"
    assert [(c["field"], c["gate"]) for c in data["contradictions"]] == [("cssrs_plan", "cssrs_thoughts")]
    assert "cssrs_plan" not in data["ignored"]
    cells = {k: ("yes" if v is True else "no" if v is False else v) for k, v in answers.items()}
    source = tmp_path / "a.csv"
    source.write_text(",".join(cells) + "\n" + ",".join(str(v) for v in cells.values()) + "\n")
    out = tmp_path / "a.out.csv"
    assert iop_in_process("score", str(source), "-o", str(out), "--quiet").returncode == 0
    import csv

    [row] = list(csv.DictReader(out.open()))
    assert (row["level"], row["status"], row["ignored"]) == ("crisis", "ok", "")


CRISIS = EXAMPLE.read_text().replace("suicidal_ideation: none", "suicidal_ideation: active_with_plan")


def test_an_urgent_level_is_the_loudest_thing_on_every_surface(tmp_path):
    """Crisis is drawn first, in a heavy red panel (NO_COLOR: still the heavy border and the URGENT title, unlike
    a routine result's light one); Markdown and HTML lead with it too, and a stored record's text export starts
    with it, the trigger named with the person's answer."""
    text = iop_in_process("check", "-a", "-", input=CRISIS, env={"NO_COLOR": "1"}).stdout
    first = text.splitlines()[0]
    assert first.startswith("┏━ ⚠ URGENT: RECOMMENDATION") and "IMMEDIATE CRISIS EVALUATION" in text.splitlines()[1]
    assert text.index("URGENT") < text.index("SAFETY ALERTS")
    assert "Why: Active thoughts of suicide with a plan." in " ".join(text.split())
    routine = iop_in_process("check", "-a", str(EXAMPLE), env={"NO_COLOR": "1"}).stdout
    assert routine.splitlines()[0].startswith("╭─ RECOMMENDATION") and "URGENT" not in routine
    markdown = iop_in_process("check", "-a", "-", "--format", "markdown", input=CRISIS).stdout
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings[0] == "## ⚠ URGENT: Immediate crisis evaluation"
    assert "## Recommended:" not in markdown

    from iop_cli.decide.engine import decide
    from iop_cli.output.contracts import decision_dict
    from iop_cli.store.records import Store

    answers = yaml.safe_load(CRISIS)
    db = tmp_path / "intakes.sqlite3"
    with Store.open(db) as store:
        record = store.complete(
            None, PACK, None, answers, decision_dict(decide(PACK, answers), PACK), "crisis", None, None
        )
    shown = iop_in_process("records", "show", str(record), "--db", str(db), env={"NO_COLOR": "1"}).stdout
    assert shown.startswith("⚠ URGENT: Immediate crisis evaluation. Active thoughts of suicide with a plan.")
    page = tmp_path / "r.html"
    assert (
        iop_in_process("records", "export", str(record), "--db", str(db), "-f", "html", "-o", str(page)).returncode == 0
    )
    html = page.read_text()
    assert html.index('class="level urgent"') < html.index('class="safety"')
    assert "<h2>⚠ URGENT: Immediate crisis evaluation</h2>" in html
    exported = iop_in_process("records", "export", str(record), "--db", str(db), "-f", "markdown", "-o", "-").stdout
    assert exported.splitlines()[2].startswith("> **⚠ URGENT: Immediate crisis evaluation.")


def test_markdown_is_a_note_with_client_id_date_and_the_answers_by_question():
    from datetime import datetime, timezone

    from iop_cli.output.report import local_time

    result = iop_in_process("check", "-a", str(EXAMPLE), "-f", "markdown")
    lines = result.stdout.splitlines()
    assert lines[2] == "- **Client id:** A-1042" and lines[3].startswith("- **Date:** 20")
    answers = result.stdout[result.stdout.index("## Answers") :]
    assert "### Safety and mental health" in answers
    assert "- Thoughts of suicide right now: None" in answers  # the question's words, the choice's label
    assert answers.index("Housing: Stable") > answers.index("Thoughts of suicide right now")  # interview order
    # Local time with its zone.
    shown = local_time(datetime(2026, 3, 4, 15, 30, tzinfo=timezone.utc))
    assert shown.startswith("2026-03-0") and len(shown.split()) == 3
