"""The engine: the pack's own cases, missing answers, the trace, and properties over many answer sets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iop_cli.authoring.tests import run_case
from iop_cli.decide.engine import decide
from iop_cli.pack.answers import clean_answers
from iop_cli.pack.build import load_pack

PACK = load_pack()
BASE = next(c for c in PACK.tests if c.name.startswith("mild alcohol")).given


@pytest.mark.parametrize("case", PACK.tests, ids=lambda c: c.name)
def test_pack_case(case):
    result = run_case(PACK, case)
    assert result.passed, result.failures


def test_every_routing_rule_and_alert_is_exercised_by_a_pack_case():
    fired = {run_case(PACK, c).decision.rule for c in PACK.tests}
    shown = {a.id for c in PACK.tests for a in run_case(PACK, c).decision.alerts}
    assert {r.id for r in PACK.rules} <= fired
    assert {a.id for a in PACK.alerts} <= shown


def decide_with(**changes):
    answers = {**BASE, **changes}
    return decide(PACK, clean_answers(PACK, {k: v for k, v in answers.items() if v is not None}))


def test_trace_records_values_and_outcomes():
    decision = decide_with()
    outcomes = {t.rule: t.outcome for t in decision.trace}
    assert outcomes["crisis_risk"] == "skipped"
    assert outcomes["iop_mild_moderate"] == "fired"
    assert "outpatient_no_recent_use" not in outcomes  # first match wins: later rules are not tried
    crisis = next(t for t in decision.trace if t.rule == "crisis_risk")
    assert crisis.values == {
        "suicidal_ideation": "none",
        "suicide_attempt_past_3_months": False,
        "homicidal_ideation": False,
    }
    assert crisis.clauses[0] == ("suicidal_ideation == 'active_with_plan'", False)
    assert decision.pack_hash == PACK.hash and decision.pack_version == "2.0.0"


def test_unknown_optional_answer_does_not_fire_and_is_reported_as_not_assessed():
    decision = decide_with(ciwa_ar=None, psychiatric_symptoms="none")
    assert decision.level.id == "iop"
    not_assessed = {n.rule: n.fields for n in decision.not_assessed}
    assert not_assessed["inpatient_severe_withdrawal"] == ("ciwa_ar",)
    assert not_assessed["php_moderate_symptoms"] == ("ciwa_ar",)
    assert "cows" not in str(decision.not_assessed)  # not asked for alcohol, so not a gap


def test_missing_required_answer_is_named_and_blocks_placement():
    decision = decide_with(housing=None, household_substance_use=None)
    assert decision.level.id == "clinician_review"
    assert decision.basis == "missing_answers"
    assert set(decision.missing) == {"housing", "household_substance_use"}
    assert "housing" in decision.reason


def test_answers_to_questions_that_do_not_apply_are_ignored():
    decision = decide_with(housing="homeless")  # household and home answers are present in BASE
    assert set(decision.ignored) == {"household_substance_use", "home_supportive"}
    assert decision.level.id == "residential"


def test_decide_is_pure(monkeypatch):
    import builtins

    def no_io(*args, **kwargs):
        raise AssertionError("decide must not do I/O")

    answers = clean_answers(PACK, BASE)
    monkeypatch.setattr(builtins, "open", no_io)
    monkeypatch.setattr(builtins, "print", no_io)
    assert decide(PACK, answers) == decide(PACK, answers)


# --- properties over generated answer sets ---------------------------------------------------------------------


def answer_values(question):
    if question.type == "yesno":
        return st.sampled_from([True, False])
    if question.type == "choice":
        return st.sampled_from(question.choice_values)
    if question.type == "integer":
        return st.integers(int(question.min), int(question.max))
    return st.just("X-1")


ANSWERS = st.fixed_dictionaries(
    {},
    optional={q.id: st.one_of(st.none(), answer_values(q)) for q in PACK.asked},
)
RANK = {lvl.id: lvl.rank for lvl in PACK.levels.values()}


def domain(question):
    """Every value worth trying for a question: all choices, and integers at the pack's thresholds."""
    if question.type == "yesno":
        return [True, False]
    if question.type == "choice":
        return list(question.choice_values)
    if question.type == "integer":
        points = {0, 1, 2, 3, 4, 5, 6, 9, 10, 12, 13, 19, 20, 24, 25, int(question.min), int(question.max)}
        return sorted(p for p in points if question.min <= p <= question.max)
    return ["X-1"]


@settings(max_examples=400, deadline=None)
@given(ANSWERS)
def test_a_missing_required_answer_never_lets_a_less_intensive_level_through(raw):
    """With a required answer missing, the level is clinician review, or an urgent level that every way of
    filling the gap leaves in place."""
    answers = {k: v for k, v in raw.items() if v is not None}
    decision = decide(PACK, answers)
    if decision.missing and decision.level.id != "clinician_review":
        assert decision.level.urgent
        for name in decision.missing:
            for value in domain(PACK.questions[name]):
                filled = decide(PACK, {**answers, name: value})
                assert filled.level.id in (decision.level.id, "clinician_review")


@settings(max_examples=400, deadline=None)
@given(ANSWERS)
def test_crisis_answers_always_reach_crisis(raw):
    answers = {k: v for k, v in raw.items() if v is not None}
    answers["homicidal_ideation"] = True
    assert decide(PACK, answers).level.id == "crisis"


@settings(max_examples=300, deadline=None)
@given(ANSWERS)
def test_every_decision_is_explained(raw):
    decision = decide(PACK, {k: v for k, v in raw.items() if v is not None})
    assert decision.reason
    assert decision.level.id in PACK.levels
    if decision.basis == "rule":
        assert decision.trace[[t.outcome for t in decision.trace].index("fired")].rule == decision.rule
