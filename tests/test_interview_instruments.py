"""The interview with instruments: how each is taken (item by item, a result, or not taken), item menus with their
anchors, the C-SSRS branching, the running total, back and review inside an instrument, drafts that resume, and the
multi-select checkbox. The machine is tested directly; the prompts through prompt_toolkit's pipe input."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from iop_cli.commands.intake import run_intake
from iop_cli.exit_codes import Exit
from iop_cli.interview.machine import HOW, ITEMS, NOT_TAKEN, TOTAL, Interview
from iop_cli.interview.machine import instruments as instruments_of
from iop_cli.pack.build import load_pack
from iop_cli.store.records import Store

from .test_instruments import FIXTURE
from .test_intake_ui import CTRL_B, DOWN, ENTER, drive

SPACE, UP = " ", "\x1b[A"


@pytest.fixture(scope="module")
def instruments():
    return load_pack(FIXTURE)


def walk(interview: Interview, *answers) -> None:
    for value in answers:
        interview.answer(value)


def test_each_instrument_asks_how_before_its_first_item(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", [])
    assert interview.cursor == HOW + "suicide_risk"
    assert [c.value for c in interview.current.choices] == [ITEMS, TOTAL, NOT_TAKEN]
    path = [q.id for q in interview.path()]
    assert "cssrs_wish_dead" not in path and "suicide_risk" not in path  # neither, until the counselor says which


def test_item_by_item_follows_the_cssrs_branching_and_derives_the_risk(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", [], ITEMS, True, True)  # wish to be dead, thoughts: items 3-5 follow
    assert interview.cursor == "cssrs_method"
    walk(interview, False, False, True)  # no method, no intent, a plan
    assert interview.cursor == "cssrs_behavior"
    walk(interview, True)
    assert interview.cursor == "cssrs_behavior_3_months"  # 6b only after a yes to 6
    walk(interview, False)
    assert interview.cursor == HOW + "phq9"  # no CIWA-Ar or COWS for cannabis alone
    assert interview.derived_totals()["suicide_risk"] == "high"
    assert "suicide_risk" not in interview.final_answers()  # derived, not answered
    assert interview.running_total(interview.scales["suicide_risk"]) == ("high", 7, 7)


def test_a_no_to_thoughts_skips_the_follow_ups(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", [], ITEMS, True, False)
    assert interview.cursor == "cssrs_behavior"
    walk(interview, False)
    assert interview.derived_totals()["suicide_risk"] == "low"


def test_a_result_entered_skips_the_items_and_other_substances_widen_the_scales(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", ["opioids"], TOTAL, "moderate")
    assert interview.cursor == HOW + "cows"  # opioids as another substance: COWS is asked
    walk(interview, ITEMS)
    pulse = interview.current
    assert pulse.id == "cows_pulse" and pulse.scores == (0, 1, 2, 4)
    walk(interview, 4, 1)
    total, answered, shown = interview.running_total(interview.scales["cows"])
    assert (total, answered, shown) == (5, 2, 11)
    assert interview.final_answers()["suicide_risk"] == "moderate"


def test_switching_from_items_to_a_result_keeps_only_the_result(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", [], NOT_TAKEN, ITEMS, 3, 3)  # two PHQ-9 items
    assert interview.cursor == "phq9_3"
    interview.back()
    interview.back()
    interview.back()
    assert interview.cursor == HOW + "phq9"
    walk(interview, TOTAL, 12)
    final = interview.final_answers()
    assert final["phq9"] == 12 and "phq9_1" not in final  # the items walked before no longer count
    assert interview.answers["phq9_1"] == 3  # but stay in the draft, should the counselor walk them again


def test_a_draft_resumes_with_how_each_instrument_was_taken(instruments):
    interview = Interview.start(instruments)
    walk(interview, "cannabis", [], ITEMS, False, False, False)
    resumed, dropped = Interview.resume(instruments, dict(interview.answers), interview.cursor)
    assert dropped == [] and resumed.cursor == interview.cursor == HOW + "phq9"
    assert resumed.derived_totals()["suicide_risk"] == "none"


def test_the_prompts_show_anchors_checkboxes_running_totals_and_the_total_in_review(instruments, tmp_path):
    db = str(tmp_path / "intakes.sqlite3")
    keys = (
        DOWN * 3
        + ENTER  # primary substance: cannabis
        + DOWN
        + SPACE
        + ENTER  # other substances: opioids
        + DOWN
        + ENTER
        + DOWN * 3
        + ENTER  # C-SSRS: a result, moderate (the result starts on no answer: a safety question)
        + ENTER  # COWS item by item
        + DOWN * 3
        + ENTER  # pulse over 120: 4 (the fourth anchor)
        + CTRL_B
        + UP
        + ENTER  # back to the pulse (its answer selected), 101-120 this time: 2
        + ENTER * 10  # the other ten COWS items at 0
        + DOWN * 2
        + ENTER  # PHQ-9 not taken
        + DOWN * 2
        + ENTER  # GAD-7 not taken
        + DOWN * 2
        + ENTER  # AUDIT-C not taken
        + DOWN * 2
        + ENTER  # DAST-10 not taken
        + ENTER  # review: submit
        + ENTER  # placement as recommended
    )
    report = io.StringIO()
    code = drive(keys, lambda: run_intake(False, None, str(FIXTURE), db, console=Console(file=report, width=100)))
    assert code == Exit.OK, report.getvalue()
    with Store.open(db) as store:
        [record] = store.list()
    assert record.answers["other_substances"] == ["opioids"]
    assert record.answers["cows_pulse"] == 2 and record.answers["suicide_risk"] == "moderate"
    assert "cows" not in record.answers and record.report["answers"]["cows"] == 2


def test_the_cssrs_answers_the_suicide_questions_of_the_default_pack(pack):
    """Version 2: the C-SSRS is how the suicide questions are asked. Once it decides them they are not asked, and
    the review shows them as derived; where it leaves them open (not taken, or a follow-up unanswered) they are."""
    assert "suicidal_ideation" not in instruments_of(pack) and "suicide_attempt_past_3_months" not in instruments_of(
        pack
    )
    all_no = {HOW + "suicide_risk": ITEMS, "cssrs_wish_dead": False, "cssrs_thoughts": False, "cssrs_behavior": False}
    interview = Interview(pack, dict(all_no))
    path = [q.id for q in interview.path()]
    assert "suicidal_ideation" not in path and "suicide_attempt_past_3_months" not in path
    assert interview.derived() == {"suicidal_ideation": "none", "suicide_attempt_past_3_months": False}
    plan = {**all_no, "cssrs_thoughts": True, "cssrs_method": True, "cssrs_intent": False, "cssrs_plan": True}
    assert Interview(pack, plan).derived()["suicidal_ideation"] == "active_with_plan"
    # A direct answer given before the C-SSRS decided does not count against it.
    assert "suicidal_ideation" not in Interview(pack, {**plan, "suicidal_ideation": "none"}).final_answers()
    # Not taken, the suicide questions are asked directly, as in version 1.
    skipped = Interview(pack, {HOW + "suicide_risk": NOT_TAKEN})
    assert {"suicidal_ideation", "suicide_attempt_past_3_months"} <= {q.id for q in skipped.path()}
    assert skipped.derived() == {}


def test_a_reassessment_asks_from_the_first_question_and_infers_how_each_instrument_was_taken():
    from iop_cli.interview.machine import ITEMS, NOT_TAKEN, TOTAL, Interview
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    earlier = {"client_id": "R-1", "age": 40, "primary_substance": "alcohol", "ciwa_ar": 4}
    earlier |= {"cssrs_wish_dead": False, "cssrs_thoughts": False, "cssrs_behavior": False}
    interview, dropped = Interview.reassess(pack, earlier)
    assert dropped == [] and interview.cursor == "client_id"
    assert interview.answers["how:ciwa_ar"] == TOTAL and interview.answers["how:suicide_risk"] == ITEMS
    assert interview.answers["how:phq9"] == NOT_TAKEN and "how:cows" not in interview.answers  # no opioids
    assert interview.default() == "R-1"  # each earlier answer is the default
