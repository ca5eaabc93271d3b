"""The real questionary prompts of `iop intake`, driven through prompt_toolkit's pipe input.

Keystrokes are sent up front; prompt_toolkit keeps what one prompt does not read for the next. The pipe is closed
after the keys, so a test that runs out of keys ends (with EOF, treated like Ctrl-D) instead of hanging.
"""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from iop_cli.commands.intake import run_intake
from iop_cli.exit_codes import Exit
from iop_cli.store.records import PLACEMENT_REASONS, Store

from .test_interview import CANDIDATE, V1


@pytest.fixture(scope="module")
def pack():
    """The version-1 default pack: these tests pin the prompts on the standard intake record."""
    from iop_cli.pack.build import load_pack

    return load_pack(V1)


DOWN, ENTER, CTRL_B, CTRL_C, BACKSPACE = "\x1b[B", "\r", "\x02", "\x03", "\x7f"


def keys_for(pack, answers: dict, order: list[str] | None = None) -> str:
    """Keystrokes that answer the given questions on fresh prompts (the cursor starts on the first option)."""
    out = []
    for name in order or [q.id for q in pack.asked if q.id in answers]:
        out.append(key(pack.questions[name], answers[name]))
    return "".join(out)


def key(question, value) -> str:
    if question.type == "yesno":  # a yes/no question starts on no answer: y and n answer it
        return {True: "y", False: "n"}.get(value, DOWN * 3 + ENTER)  # None: the skip choice
    if question.type == "choice":
        options = list(question.choice_values) + ([None] if not question.required else [])
        return DOWN * options.index(value) + ENTER
    return ("" if value is None else str(value)) + ENTER


def drive(keys: str, func):
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        with create_app_session(input=pipe, output=DummyOutput()):
            return func()


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "records" / "intakes.sqlite3")


def intake(db, keys, resume=False, record=None, rules=str(V1)):
    report = io.StringIO()
    code = drive(keys, lambda: run_intake(resume, record, rules, db, console=Console(file=report, width=100)))
    return code, report.getvalue()


def stored(db):
    with Store.open(db) as store:
        return store.list()


ACCEPT = ENTER  # placement: as recommended is the first option


def test_a_whole_intake_is_recorded_with_its_report(pack, db, capsys):
    code, report = intake(db, keys_for(pack, CANDIDATE) + ENTER + ACCEPT)
    assert code == Exit.OK
    assert "Intensive outpatient program" in report
    assert "supports clinical judgment" in report
    [record] = stored(db)
    assert record.status == "complete"
    assert record.answers == CANDIDATE
    assert record.recommended_level == record.actual_level == "iop"
    assert record.report["rule"] == "iop_mild_moderate"
    assert record.pack_hash == pack.hash
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert (
        f"Saved as record {record.id}. See it again with: iop records show {record.id} --db {db}"
        in capsys.readouterr().out
    )


def test_branching_asks_cows_for_opioids_and_skips_home_questions_when_homeless(pack, db):
    answers = {**CANDIDATE, "primary_substance": "opioids", "cows": 30, "housing": "homeless"}
    del answers["ciwa_ar"], answers["household_substance_use"], answers["home_supportive"]
    # COWS 30 makes inpatient certain once crisis is ruled out (the homicide question): the counselor goes on with
    # the interview (Down, Enter).
    order = [q.id for q in pack.asked if q.id in answers]
    upto = order.index("homicidal_ideation") + 1
    keys = keys_for(pack, answers, order[:upto]) + DOWN + ENTER + keys_for(pack, answers, order[upto:])
    code, report = intake(db, keys + ENTER + ACCEPT)
    assert code == Exit.OK
    [record] = stored(db)
    assert record.answers == answers
    assert record.recommended_level == "inpatient"  # cows >= 25


def test_a_bad_number_is_refused_and_asked_again(pack, db):
    keys = "A-1" + ENTER + "200" + ENTER + BACKSPACE * 3 + "abc" + ENTER + BACKSPACE * 3 + "34" + ENTER
    rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
    code, _ = intake(db, keys + keys_for(pack, rest) + ENTER + ACCEPT)
    assert code == Exit.OK
    assert stored(db)[0].answers["age"] == 34


def test_back_changes_an_earlier_answer(pack, db):
    # Answer client id and age, go back from the substance question, change the age, then go on.
    keys = "A-1" + ENTER + "40" + ENTER + CTRL_B + BACKSPACE * 2 + "52" + ENTER
    rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
    code, _ = intake(db, keys + keys_for(pack, rest) + ENTER + ACCEPT)
    assert code == Exit.OK
    assert stored(db)[0].answers["age"] == 52


def test_back_is_also_a_choice_in_lists(pack, db):
    question = pack.questions["primary_substance"]
    back_choice = DOWN * len(question.choices) + ENTER  # the separator is skipped by the cursor
    keys = "A-1" + ENTER + "40" + ENTER + back_choice + BACKSPACE * 2 + "41" + ENTER
    rest = {k: v for k, v in CANDIDATE.items() if k not in ("client_id", "age")}
    code, _ = intake(db, keys + keys_for(pack, rest) + ENTER + ACCEPT)
    assert code == Exit.OK
    assert stored(db)[0].answers["age"] == 41


def test_review_change_re_evaluates_branching_before_submit(pack, db):
    # In review, move to housing and make it homeless: the two home questions go away; the level becomes
    # residential (a disorder and homeless).
    reviewed = [q.id for q in pack.asked if q.id in CANDIDATE]
    to_housing = DOWN * (reviewed.index("housing") + 1) + ENTER  # the first row is Submit
    homeless = DOWN * 2 + ENTER
    code, report = intake(db, keys_for(pack, CANDIDATE) + to_housing + homeless + ENTER + ACCEPT)
    assert code == Exit.OK
    [record] = stored(db)
    assert record.answers["housing"] == "homeless"
    assert "household_substance_use" not in record.answers and "home_supportive" not in record.answers
    assert record.recommended_level == "residential"
    assert "Residential" in report


def test_ctrl_c_keeps_a_draft_that_resumes_where_it_stopped(pack, db, capsys):
    first = ["client_id", "age", "primary_substance", "use_frequency"]
    code, _ = intake(db, keys_for(pack, CANDIDATE, first) + CTRL_C)
    assert code == Exit.INTERRUPTED
    [draft] = stored(db)
    assert draft.status == "draft" and draft.cursor == "dsm5_criteria_count"
    assert draft.answers == {k: CANDIDATE[k] for k in first}
    assert f"Continue with: iop intake --resume {draft.id} --db {db} --rules {V1}" in capsys.readouterr().err

    rest = {k: v for k, v in CANDIDATE.items() if k not in first}
    code, _ = intake(db, keys_for(pack, rest) + ENTER + ACCEPT, resume=True)
    assert code == Exit.OK
    [record] = stored(db)
    assert record.id == draft.id and record.status == "complete"
    assert record.answers == CANDIDATE


def test_ctrl_d_pauses_like_ctrl_c(pack, db):
    code, _ = intake(db, "A-1" + ENTER + "\x04")
    assert code == Exit.INTERRUPTED
    assert stored(db)[0].cursor == "age"


def test_ctrl_c_before_any_answer_saves_nothing(db, capsys):
    code, _ = intake(db, CTRL_C)
    assert code == Exit.INTERRUPTED
    assert stored(db) == []
    assert "nothing was saved" in capsys.readouterr().err


def test_ctrl_c_at_placement_keeps_every_answer_for_review(pack, db):
    code, report = intake(db, keys_for(pack, CANDIDATE) + ENTER + CTRL_C)
    assert code == Exit.INTERRUPTED
    [draft] = stored(db)
    assert draft.status == "draft" and draft.cursor == "@placement" and draft.answers == CANDIDATE
    # Resuming goes back to the placement: the report again, then the placement (no review to submit first).
    code, report = intake(db, ACCEPT, resume=True, record=draft.id)
    assert code == Exit.OK and "RECOMMENDATION" in report
    assert stored(db)[0].status == "complete"


def test_placement_override_records_level_reason_and_note(pack, db):
    levels = [lvl for lvl in pack.levels if lvl != "iop"]
    to_outpatient = DOWN * (levels.index("outpatient") + 1) + ENTER
    reason = DOWN * list(PLACEMENT_REASONS).index("transportation") + ENTER
    note = "evening groups only" + ENTER
    code, _ = intake(db, keys_for(pack, CANDIDATE) + ENTER + to_outpatient + reason + note)
    assert code == Exit.OK
    [record] = stored(db)
    assert (record.recommended_level, record.actual_level) == ("iop", "outpatient")
    assert record.placement_reason == "transportation"
    assert record.placement_note == "evening groups only"
    assert record.overridden


def test_help_key_does_not_answer(pack, db):
    code, _ = intake(db, "?" + "A-1" + ENTER + "?" + "34" + ENTER + CTRL_C)
    assert code == Exit.INTERRUPTED
    assert stored(db)[0].answers == {"client_id": "A-1", "age": 34}


def test_resume_without_a_draft_says_so(pack, db, capsys):
    # No database there: said so, and none is made (a lookup never creates one).
    code, _ = intake(db, "", resume=True)
    assert code == Exit.INPUT_ERROR
    assert "no records database here yet" in capsys.readouterr().err
    assert not os.path.exists(db)
    # A database with no draft in it: the hint to start one carries the --db and --rules given.
    Store.open(db).close()
    code, _ = intake(db, "", resume=True)
    assert code == Exit.INPUT_ERROR
    err = capsys.readouterr().err
    assert "no paused intake" in err and f"start one with: iop intake --db {db} --rules {V1}" in err


def test_resume_of_a_completed_record_is_refused(pack, db, capsys):
    intake(db, keys_for(pack, CANDIDATE) + ENTER + ACCEPT)
    record = stored(db)[0]
    code, _ = intake(db, "", resume=True, record=record.id)
    assert code == Exit.INPUT_ERROR
    assert "already complete" in capsys.readouterr().err


def test_resume_uses_the_drafts_own_rule_pack_as_it_is_now(pack, tmp_path, db):
    """A draft started with --rules resumes with that pack; an edited pack is used as it is now."""
    import shutil

    pack_copy = tmp_path / "v1-copy"
    shutil.copytree(V1, pack_copy)
    first = ["client_id", "age"]
    code = drive(
        keys_for(pack, CANDIDATE, first) + CTRL_C,
        lambda: run_intake(False, None, str(pack_copy), db, console=Console(file=io.StringIO())),
    )
    assert code == Exit.INTERRUPTED
    meta = pack_copy / "pack.yaml"
    meta.write_text(meta.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    rest = {k: v for k, v in CANDIDATE.items() if k not in first}
    code, _ = intake(db, keys_for(pack, rest) + ENTER + ACCEPT, resume=True, rules=None)  # no --rules: the draft's pack
    assert code == Exit.OK
    [record] = stored(db)
    assert record.pack_version == "1.0.1" and record.rules_dir == str(pack_copy.resolve())
    assert record.answers == CANDIDATE


def test_placement_can_go_back_from_the_reason_and_help_is_not_a_note(pack, db):
    levels = [lvl for lvl in pack.levels if lvl != "iop"]
    to_php = DOWN * (levels.index("php") + 1) + ENTER
    # Ctrl-B from the reason keeps PHP chosen in the menu: the pointer goes on from there to outpatient.
    php_to_outpatient = DOWN * (levels.index("outpatient") - levels.index("php")) + ENTER
    keys = keys_for(pack, CANDIDATE) + ENTER + to_php + CTRL_B + php_to_outpatient + ENTER + "?" + ENTER
    code, _ = intake(db, keys)
    assert code == Exit.OK
    [record] = stored(db)
    assert record.actual_level == "outpatient"
    assert record.placement_reason == "program_full"  # the first reason
    assert record.placement_note is None


def ask_one(question, default, keys: str):
    from iop_cli.interview.prompts import _prompt

    return drive(keys, lambda: _prompt(question, default, back=True).unsafe_ask())


def test_yes_no_keys_answer_at_once_and_a_stray_enter_answers_no_safety_question():
    from iop_cli.pack.build import load_pack

    pack = load_pack()  # version 2: the safety questions say confirm_enter: false
    safety, plain = pack.questions["medical_instability"], pack.questions["obligations"]
    assert not safety.confirm_enter and plain.confirm_enter
    for question in (safety, plain):
        assert ask_one(question, None, "n") is False
        assert ask_one(question, None, "Y") is True
        assert ask_one(question, True, "n") is False  # a key overrides an earlier answer too
    # A fresh safety question: Enter alone does nothing (the pointer rests on no answer); then n answers.
    assert ask_one(safety, None, ENTER + ENTER + "n") is False
    assert ask_one(safety, None, ENTER + DOWN + ENTER) is True  # the arrows pick Yes, then Enter takes it
    assert ask_one(safety, None, ENTER + DOWN + DOWN + ENTER) is False
    # With an earlier answer, Enter keeps it. Every yes/no question starts on no answer (a stray "yes" to a
    # housemate who drinks would change the level); a choice question not marked takes its first choice.
    assert ask_one(safety, False, ENTER) is False
    assert ask_one(plain, None, ENTER + "y") is True
    assert ask_one(pack.questions["housing"], None, ENTER) == "stable"
    # A choice question marked so (the suicide answers) waits for the arrows the same way.
    ideation = pack.questions["suicidal_ideation"]
    assert ask_one(ideation, None, ENTER + DOWN + ENTER) == "none"


def test_an_urgent_level_already_certain_is_offered_at_once_and_the_rest_stays_open(pack, db, capsys):
    """A plan heard mid-interview: crisis whatever the rest is, so a red banner offers its report now; the
    counselor sees it and stops, and the draft keeps every answer, resuming at the next question."""
    asked = [q.id for q in pack.asked if q.id in CANDIDATE]
    before = asked[: asked.index("suicidal_ideation")]
    answers = {**CANDIDATE, "suicidal_ideation": "active_with_plan"}
    keys = keys_for(pack, answers, [*before, "suicidal_ideation"])
    code, report = intake(db, keys + ENTER + ENTER)  # see the report now, then stop here: a choice, exit 0
    assert code == Exit.OK
    assert "URGENT: RECOMMENDATION" in report and "IMMEDIATE CRISIS EVALUATION" in report
    [draft] = stored(db)
    assert draft.status == "draft" and draft.answers["suicidal_ideation"] == "active_with_plan"
    assert draft.cursor == "suicide_attempt_past_3_months"  # the remaining questions stay open
    assert f"Stopped after the urgent report. The answers are saved as draft {draft.id}." in capsys.readouterr().out
    # Resumed, the draft says at once that it is urgent (its report again, then stop).
    code, report = intake(db, ENTER + ENTER, resume=True, record=draft.id)
    assert code == Exit.OK and "URGENT: RECOMMENDATION" in report
    # Going on instead: the interview continues to the end, and offers it only once.
    rest = asked[asked.index("suicidal_ideation") + 1 :]
    keys = keys_for(pack, answers, [*before, "suicidal_ideation"]) + DOWN + ENTER + keys_for(pack, answers, rest)
    code, report = intake(db, keys + ENTER + ACCEPT)
    assert code == Exit.OK and report.count("URGENT: RECOMMENDATION") == 1
    assert stored(db)[0].actual_level == "crisis"


def test_a_large_override_is_confirmed_and_needs_a_note_and_other_needs_one_too(pack, db):
    """IOP recommended, residential placed (two levels more intensive): said in words, confirmed, and an empty
    note is refused; the stored record and its exports show the size and the direction."""
    levels = [lvl for lvl in pack.levels if lvl != "iop"]
    to_residential = DOWN * (levels.index("residential") + 1) + ENTER
    court = DOWN * list(PLACEMENT_REASONS).index("court_order") + ENTER
    # Confirm (Enter), then an empty note (refused), then a note.
    keys = keys_for(pack, CANDIDATE) + ENTER + to_residential + court + ENTER + ENTER + "court ordered" + ENTER
    code, _ = intake(db, keys)
    assert code == Exit.OK
    [record] = stored(db)
    assert (record.actual_level, record.placement_steps, record.placement_note) == ("residential", 2, "court ordered")
    # "Choose the level again" goes back to the menu, the level kept: Enter there takes it, and so on.
    again = to_residential + court + DOWN + ENTER + ENTER + court + ENTER + "x" + ENTER
    code, _ = intake(db, keys_for(pack, CANDIDATE) + ENTER + again)
    assert code == Exit.OK and stored(db)[0].placement_note == "x"
    # One level down with the reason "other": no confirmation, but a note is required.
    to_outpatient = DOWN * (levels.index("outpatient") + 1) + ENTER
    other = DOWN * list(PLACEMENT_REASONS).index("other") + ENTER
    code, _ = intake(db, keys_for(pack, CANDIDATE) + ENTER + to_outpatient + other + ENTER + "their choice" + ENTER)
    assert code == Exit.OK
    latest = stored(db)[0]
    assert (latest.actual_level, latest.placement_steps, latest.placement_note) == ("outpatient", -1, "their choice")


UP = "\x1b[A"


def test_a_reassessment_starts_from_an_earlier_record_and_keeps_the_link_and_the_history(pack, db, capsys):
    """`iop intake --from 1`: every earlier answer pre-selected and asked again in order (Enter keeps it); one is
    changed (someone at home now drinks); the new record points back to the first, and the client's intakes list
    and show the level history."""
    from .conftest import iop_in_process

    assert intake(db, keys_for(pack, CANDIDATE) + ENTER + ACCEPT)[0] == Exit.OK
    asked = [q.id for q in pack.asked if q.id in CANDIDATE]
    keys = "".join(UP + ENTER if name == "household_substance_use" else ENTER for name in asked)
    code = drive(
        keys + ENTER + ACCEPT,
        lambda: run_intake(False, None, str(V1), db, console=Console(file=io.StringIO()), from_record=1),
    )
    assert code == Exit.OK
    first, second = sorted(stored(db), key=lambda r: r.id)
    assert second.previous_id == 1 and first.previous_id is None
    assert second.answers == {**CANDIDATE, "household_substance_use": True}
    assert (first.recommended_level, second.recommended_level) == ("iop", "residential")
    listed = json.loads(iop_in_process("records", "list", "--client", "A-1", "--json", "--db", db).stdout)
    assert [r["id"] for r in listed] == [2, 1]
    shown = iop_in_process("records", "show", "2", "--db", db).stdout
    assert "reassessment of record 1" in " ".join(shown.split())
    assert "Level history of this client id" in shown
    assert "record 1, " in shown and "recommended iop, as recommended" in shown
    assert "recommended residential, as recommended (this record)" in shown
    data = json.loads(iop_in_process("records", "show", "2", "--db", db, "-f", "json").stdout)
    assert data["record"]["previous_id"] == 1 and [h["id"] for h in data["history"]] == [1, 2]
    # Refused: --from with a draft, or a record that is not there (and no database is made for a lookup).
    Store.open(db).save_draft(None, pack, None, {"client_id": "D-1"}, "age")
    code = drive("", lambda: run_intake(False, None, str(V1), db, console=Console(file=io.StringIO()), from_record=3))
    assert code == Exit.INPUT_ERROR and "is a draft, not a finished intake" in capsys.readouterr().err
    missing = db + ".other"
    code = drive("", lambda: run_intake(False, None, str(V1), missing, from_record=1))
    assert code == Exit.INPUT_ERROR and not os.path.exists(missing)


def test_prompts_break_at_word_boundaries_at_80_columns():
    from iop_cli.interview.prompts import _fit

    label = "C-SSRS 1: in the past month, wished to be dead, or to go to sleep and not wake up?"
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):  # 80 columns
        message, instruction = _fit(label, "(y/n, or ↑↓ Enter)")
    lines = message.split("\n")
    assert len(lines) == 2 and all(len(line) <= 77 for line in lines)
    assert " ".join(line.strip() for line in lines) == label  # every word whole
    assert instruction == "(y/n, or ↑↓ Enter)"  # it fits after the last line


def test_a_client_id_that_looks_like_a_name_or_a_birth_date_is_refused():
    from iop_cli.interview.prompts import looks_like_identity

    assert looks_like_identity("John Smith DOB 03/04/1980") and looks_like_identity("born 1980-03-04")
    assert not any(looks_like_identity(t) for t in ("A-1042", "RRC-2026-0012", "MRN 55321"))
    from iop_cli.pack.build import load_pack

    question = load_pack().questions["client_id"]
    # Refused (the prompt stays), then a plain id is taken.
    assert ask_one(question, None, "John Smith" + ENTER + "\x15" + "A-7" + ENTER) == "A-7"
    # An id that only looks like a name is written with a dash; one that merely contains dashed digits passes.
    assert ask_one(question, None, "Site North" + ENTER + "\x15" + "Site-North" + ENTER) == "Site-North"
    assert ask_one(question, None, "IOP-2024-01-0042" + ENTER) == "IOP-2024-01-0042"


def test_a_reassessment_asks_each_safety_question_anew_but_keeps_other_answers_on_enter():
    """The earlier answer to a safety question is shown ("Last time: No"), not pre-selected: Enter alone does not
    carry a past "no" to medical instability into today's record. Other answers are kept with Enter."""
    from iop_cli.interview.machine import Interview
    from iop_cli.interview.prompts import ask_current
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    interview, _ = Interview.reassess(pack, {"age": 40, "medical_instability": False, "housing": "unstable"})
    interview.cursor = "medical_instability"
    drive(ENTER + "y", lambda: ask_current(interview))
    assert interview.answers["medical_instability"] is True and "medical_instability" not in interview.unconfirmed
    interview.cursor = "housing"
    drive(ENTER, lambda: ask_current(interview))
    assert interview.answers["housing"] == "unstable"


def test_a_paused_reassessment_still_asks_its_safety_questions_anew(pack, db):
    """The answers a reassessment has not asked again yet are kept with its draft: resumed, it still shows the
    earlier answer to a safety question without pre-selecting it."""
    from iop_cli.interview.machine import Interview
    from iop_cli.pack.build import load_pack

    v2 = load_pack()
    interview, _ = Interview.reassess(v2, {"age": 40, "medical_instability": False, "housing": "unstable"})
    with Store.open(db) as store:
        draft = store.save_draft(None, v2, None, interview.draft_answers(), interview.cursor, previous_id=1)
        kept = store.get(draft)
    resumed, dropped = Interview.resume(v2, kept.answers, kept.cursor)
    assert dropped == [] and "medical_instability" in resumed.unconfirmed
    assert "medical_instability" not in resumed.confirmed_answers()
