"""The interview state machine, without a terminal: order, branching, back, review changes, resume."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iop_cli.interview.machine import Interview
from iop_cli.pack.answers import BadValue, clean_answers
from iop_cli.pack.build import load_pack
from tests.conftest import ROOT

# The version-1 default pack (tests/packs/v1): these tests pin the interview's order, branching and moves on the
# standard intake record; the instruments of version 2 have their own tests (test_interview_instruments.py).
V1 = ROOT / "tests" / "packs" / "v1"


@pytest.fixture(scope="module")
def pack():
    return load_pack(V1)


CANDIDATE = {
    "client_id": "A-1",
    "age": 34,
    "primary_substance": "alcohol",
    "use_frequency": "some_days",
    "dsm5_criteria_count": 3,
    "prior_treatment_episodes": 0,
    "ciwa_ar": 4,
    "withdrawal_complications_history": False,
    "medical_instability": False,
    "pregnant": False,
    "suicidal_ideation": "none",
    "suicide_attempt_past_3_months": False,
    "homicidal_ideation": False,
    "psychiatric_symptoms": "mild",
    "readiness": "ready",
    "housing": "stable",
    "household_substance_use": False,
    "home_supportive": True,
    "completed_residential_past_30_days": False,
    "obligations": True,
    "can_attend_iop_schedule": True,
}


def walk(interview: Interview, answers: dict) -> list[str]:
    """Answer whatever is asked from `answers` until the review screen; returns the ids asked, in order."""
    asked = []
    while not interview.in_review:
        asked.append(interview.cursor)
        interview.answer(answers.get(interview.cursor))
    return asked


def test_asks_every_applicable_question_in_pack_order(pack):
    interview = Interview.start(pack)
    asked = walk(interview, CANDIDATE)
    assert asked == [q.id for q in pack.asked if q.id != "cows"]
    assert interview.final_answers() == CANDIDATE


def test_branching_follows_the_answers(pack):
    opioids = {**CANDIDATE, "primary_substance": "opioids", "cows": 8, "housing": "homeless"}
    del opioids["ciwa_ar"]
    asked = walk(Interview.start(pack), opioids)
    assert "cows" in asked and "ciwa_ar" not in asked
    assert "household_substance_use" not in asked and "home_supportive" not in asked


def test_progress_counts_the_questions_that_apply_now(pack):
    interview = Interview.start(pack)
    # Before the substance is known, both withdrawal scales might apply: "about" 22.
    assert interview.progress() == (1, len(pack.asked))
    walk_to = ["client_id", "age", "primary_substance"]
    for name in walk_to:
        interview.answer(CANDIDATE[name])
    number, total = interview.progress()
    assert number == 4
    assert total == len(pack.asked) - 1  # alcohol: cows no longer applies


def test_a_bad_value_is_refused_and_the_question_stays(pack):
    interview = Interview.start(pack)
    interview.answer("A-1")
    with pytest.raises(BadValue):
        interview.answer("200")
    assert interview.cursor == "age"
    with pytest.raises(BadValue):
        interview.answer("")  # required
    interview.answer("34")
    assert interview.answers["age"] == 34


def test_optional_questions_can_be_skipped_and_are_remembered_as_skipped(pack):
    interview = Interview.start(pack)
    interview.answer(None)
    assert interview.answers == {"client_id": None}
    assert interview.cursor == "age"
    assert interview.final_answers() == {}


def test_back_returns_to_the_previous_question_with_its_answer(pack):
    interview = Interview.start(pack)
    assert not interview.can_go_back()
    assert interview.back() is False
    interview.answer("A-1")
    interview.answer(40)
    assert interview.back() and interview.cursor == "age" and interview.default() == 40
    interview.answer(41)
    assert interview.cursor == "primary_substance"
    assert interview.answers["age"] == 41


def test_back_from_review_goes_to_the_last_question(pack):
    interview = Interview.start(pack)
    walk(interview, CANDIDATE)
    assert interview.back()
    assert interview.cursor == pack.asked[-1].id
    interview.answer(True)
    assert interview.in_review


def test_a_change_in_review_drops_answers_that_no_longer_apply(pack):
    interview = Interview.start(pack)
    walk(interview, CANDIDATE)
    interview.change("housing")
    dropped = interview.answer("homeless")
    assert sorted(dropped) == ["home_supportive", "household_substance_use"]
    assert interview.in_review  # nothing new to ask: straight back to review
    assert "household_substance_use" not in interview.final_answers()


def test_a_change_in_review_asks_the_new_questions_before_returning(pack):
    interview = Interview.start(pack)
    walk(interview, {**CANDIDATE, "housing": "homeless"})
    interview.change("housing")
    interview.answer("stable")
    assert interview.cursor == "household_substance_use"
    interview.answer(False)
    assert interview.cursor == "home_supportive"
    interview.answer(True)
    assert interview.in_review


def test_changing_the_substance_swaps_the_withdrawal_scale(pack):
    interview = Interview.start(pack)
    walk(interview, CANDIDATE)
    interview.change("primary_substance")
    dropped = interview.answer("opioids")
    assert dropped == ["ciwa_ar"]
    assert interview.cursor == "cows"  # newly applicable, asked before the review
    interview.answer(None)  # optional: skipped on purpose
    assert interview.in_review


def test_change_refuses_a_question_that_does_not_apply(pack):
    interview = Interview.start(pack)
    walk(interview, CANDIDATE)
    with pytest.raises(KeyError):
        interview.change("cows")


def test_resume_continues_at_the_saved_cursor_with_every_answer(pack):
    interview = Interview.start(pack)
    for name in ["client_id", "age", "primary_substance", "use_frequency"]:
        interview.answer(CANDIDATE[name])
    interview.back()
    saved_answers, saved_cursor = dict(interview.answers), interview.cursor
    resumed, dropped = Interview.resume(pack, saved_answers, saved_cursor)
    assert dropped == []
    assert resumed.cursor == "use_frequency"
    assert resumed.answers == saved_answers


def test_resume_drops_answers_a_changed_pack_no_longer_accepts(pack):
    stale = {"age": 34, "retired_field": "x", "primary_substance": "kava", "client_id": None}
    resumed, dropped = Interview.resume(pack, stale, "nonexistent")
    assert sorted(dropped) == ["primary_substance", "retired_field"]
    assert resumed.answers == {"age": 34, "client_id": None}
    assert resumed.cursor == "primary_substance"  # the first unanswered question


def test_resume_of_a_finished_draft_opens_the_review(pack):
    interview = Interview.start(pack)
    walk(interview, CANDIDATE)
    resumed, _ = Interview.resume(pack, interview.answers, None)
    assert resumed.in_review


def _values(question):
    if question.type == "yesno":
        options = [True, False]
    elif question.type == "choice":
        options = list(question.choice_values)
    elif question.type == "integer":
        options = sorted({int(question.min), int(question.max), int((question.min + question.max) // 2)})
    else:
        options = ["X-1"]
    return options + ([None] if not question.required else [])


@settings(max_examples=200, deadline=None)
@given(moves=st.lists(st.tuples(st.sampled_from(["answer", "back", "change"]), st.integers(0, 1000)), max_size=80))
def test_any_sequence_of_moves_keeps_the_interview_consistent(pack, moves):
    """Whatever the counselor does, no answer survives for a question that does not apply, the review opens only
    when every question on the path is answered, and the final answers are valid for the engine."""
    interview = Interview.start(pack)
    for move, pick in moves:
        if move == "answer" and not interview.in_review:
            options = _values(interview.current)
            interview.answer(options[pick % len(options)])
        elif move == "back":
            interview.back()
        elif move == "change" and interview.in_review:
            answered = interview.answered()
            interview.change(answered[pick % len(answered)][0].id)
        path = {q.id for q in interview.path()}
        assert set(interview.answers) <= path
        if interview.in_review:
            assert path <= set(interview.answers)
        else:
            assert interview.cursor in path
    assert clean_answers(pack, interview.final_answers()) == interview.final_answers()
