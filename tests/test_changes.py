"""What would change a placement (issue 13, item 3): the nearest sets of changed answers that lead to each other
level, exact against a brute-force search over the representative answers, in the reports, the JSON and
`iop check --why-not`."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml

from iop_cli.decide.changes import changes, nearest, placement
from iop_cli.decide.engine import checked, decide
from iop_cli.decide.missing import level_space
from iop_cli.pack.build import load_pack

from .conftest import iop_in_process
from .test_explain import OPIOIDS

RESIDENTIAL = {**OPIOIDS, "cows": 5, "home_supportive": True, "household_substance_use": True}


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def test_a_housemate_who_drinks_names_the_household_answer_for_iop(pack):
    assert decide(pack, RESIDENTIAL).level.id == "residential"
    found = changes(pack, RESIDENTIAL, ["iop"])
    assert [c.answers for c in found] == [{"household_substance_use": False}]
    assert found[0].facts == ()  # a plan can change who the person lives with


def test_facts_of_the_person_are_marked_apart(pack):
    found = changes(pack, RESIDENTIAL, ["inpatient"])
    assert found and all(c.facts == tuple(c.answers) for c in found)  # a medical condition, symptoms, scores


def brute_force(pack, answers, level, largest):
    """Every set of up to `largest` given answers, changed to every other representative answer, that leads to
    `level`; only the smallest sets."""
    space = level_space(pack)
    fields = [q.id for q in space.reads(pack.rules) if answers.get(q.id) is not None]
    for size in range(1, largest + 1):
        found = []
        for names in itertools.combinations(fields, size):
            options = [[v for v in space.domains[n] if v is not None and v != answers.get(n)] for n in names]
            if any(
                placement(pack, {**answers, **dict(zip(names, combo, strict=True))})[0] == level
                for combo in itertools.product(*options)
            ):
                found.append(frozenset(names))
        if found:
            return found
    return []


@pytest.mark.parametrize("case", ["residential", "php", "iop"])
def test_the_nearest_changes_are_exactly_the_smallest_sets(pack, case):
    answers = {
        "residential": RESIDENTIAL,
        "php": OPIOIDS,
        "iop": {**OPIOIDS, "cows": 5, "home_supportive": True},
    }[case]
    placed = decide(pack, answers).level.id
    assert placed == case
    for level in pack.levels:
        if level == placed:
            continue
        want = brute_force(pack, answers, level, 2)
        got = changes(pack, answers, [level], largest=2, per_level=100)
        assert {frozenset(c.answers) for c in got} == set(want), level
        for change in got:  # each set's answers do lead there
            assert placement(pack, {**answers, **change.answers})[0] == level


def test_a_record_with_missing_answers_has_no_changes(pack):
    answers = {k: v for k, v in RESIDENTIAL.items() if k != "housing"}
    decision = decide(pack, answers)
    assert decision.missing and nearest(pack, answers, decision.missing) == []


def test_check_shows_what_would_change_it_and_why_not(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in RESIDENTIAL.items()}))
    report = iop_in_process("check", "-a", str(path), "-f", "markdown").stdout
    assert "### What would change the placement" in report
    assert "- Intensive outpatient program (IOP) if: no one at home uses drugs or drinks" in report
    data = json.loads(iop_in_process("check", "-a", str(path), "-f", "json").stdout)
    iop = [c for c in data["changes"] if c["level"] == "iop"]
    assert iop[0]["answers"] == {"household_substance_use": False} and iop[0]["facts"] == []
    why = iop_in_process("check", "-a", str(path), "--why-not", "iop")
    assert why.returncode == 0
    assert why.stdout.splitlines()[-1] == "  - no one at home uses drugs or drinks"
    bad = iop_in_process("check", "-a", str(path), "--why-not", "detox")
    assert bad.returncode == 1 and "unknown level `detox`" in bad.stderr and "Traceback" not in bad.stderr


def test_a_pack_that_marks_no_answer_changeable_marks_no_facts():
    v1 = load_pack("tests/packs/v1")
    assert not any(q.can_change for q in v1.asked)
    answers = {k: v for k, v in RESIDENTIAL.items() if k in v1.questions and k not in ("cows", "other_substances")}
    found = changes(v1, answers)
    assert found and all(c.facts == () for c in found)


def test_a_partly_answered_scale_keeps_its_range_under_every_change(pack):
    """COWS items already at 15 of a partly answered scale: the range (15 or more) places PHP, and every change
    found, applied and decided by the engine, leads where it says (the range is kept where a change does not reach
    the scale, and computed again where it does)."""
    answers = {k: v for k, v in OPIOIDS.items() if k != "cows"}
    answers.update(cows_pupils=5, cows_gooseflesh=5, cows_anxiety=4, cows_pulse=1)
    decision = decide(pack, answers)
    assert decision.level.id == "php" and [p[0] for p in decision.partial] == ["cows"]
    seen = 0
    for level in pack.levels:
        if level == decision.level.id:
            continue
        for change in changes(pack, answers, [level], largest=2, per_level=100):
            assert decide(pack, {**answers, **change.answers}).level.id == level, change
            seen += 1
    assert seen > 10


HOMELESS = {
    **{k: v for k, v in RESIDENTIAL.items() if k not in ("household_substance_use", "home_supportive")},
    "cows": 5,
    "housing": "homeless",  # the home's questions do not apply
}
# The suicide questions asked as the C-SSRS items (as the interview does), not as the answers they derive.
SCREENED = {
    **{k: v for k, v in OPIOIDS.items() if k not in ("suicidal_ideation", "suicide_attempt_past_3_months")},
    "cows": 5,
    "home_supportive": True,
    "cssrs_wish_dead": True,
    "cssrs_thoughts": True,
    "cssrs_method": True,
    "cssrs_intent": True,
    "cssrs_plan": False,
    "cssrs_behavior": False,
}


def test_a_change_that_opens_questions_names_their_answers_too(pack):
    # Stable housing makes the home's two questions apply; left unanswered, the record would go to review, so
    # "IOP if stable housing" alone would be false: the change names the answers to them that lead there.
    assert decide(pack, HOMELESS).level.id == "residential"
    found = changes(pack, HOMELESS, ["iop"])
    assert [c.answers for c in found] == [
        {"housing": "stable", "household_substance_use": False, "home_supportive": True}
    ]
    assert decide(pack, {**HOMELESS, "housing": "stable"}).level.id == "clinician_review"


def test_a_screen_answered_by_its_items_is_changed_through_them(pack):
    # The C-SSRS given item by item: intention without a plan is high risk (crisis); what would change that is an
    # item, never the derived answer, which the items would then contradict.
    assert decide(pack, SCREENED).level.id == "crisis"
    found = changes(pack, SCREENED, ["iop"], largest=1)
    assert [c.answers for c in found] == [{"cssrs_intent": False}]
    assert found[0].facts == ("cssrs_intent",)


@pytest.mark.parametrize(
    "answers", [HOMELESS, SCREENED, RESIDENTIAL, OPIOIDS], ids=["homeless", "screened", "res", "php"]
)
def test_every_change_shown_leads_where_it_says_in_iop_check(pack, answers):
    """Each change of up to two answers to each level, applied and checked as `iop check` checks an answers file
    (a derived answer that disagrees with its items is an error), is decided at that level."""
    seen = 0
    for change in changes(pack, answers, largest=2, per_level=100):
        decision = decide(pack, checked(pack, {**answers, **change.answers}))
        assert (decision.level.id, decision.rule) == (change.level, change.rule), change
        seen += 1
    assert seen > 5


def test_a_follow_up_that_implies_its_gate_is_changed_with_it(pack):
    # Item 5 yes counts as a yes to item 2 (answered no): crisis. "5: no" alone leaves the ideation unknown (item 1
    # unanswered), which `iop check` sends to review; the change found answers item 1 too, and holds.
    answers = {
        **{k: v for k, v in SCREENED.items() if not k.startswith("cssrs_")},
        "cssrs_thoughts": False,
        "cssrs_intent": False,
        "cssrs_plan": True,
        "cssrs_behavior": True,
        "cssrs_behavior_3_months": False,
    }
    assert decide(pack, answers).level.id == "crisis"
    found = changes(pack, answers, ["iop"])
    assert found and all(c.answers.get("cssrs_plan") is False for c in found)
    for change in found:
        assert decide(pack, checked(pack, {**answers, **change.answers})).level.id == "iop"


def test_a_risk_given_beside_the_direct_answers_can_change(pack):
    answers = {**OPIOIDS, "cows": 5, "home_supportive": True, "suicidal_ideation": "none", "suicide_risk": "high"}
    assert decide(pack, answers).rule == "crisis_high_suicide_risk"
    assert [c.answers for c in changes(pack, answers, ["iop"])] == [{"suicide_risk": "none"}]


def test_why_not_says_what_it_did_not_try(tmp_path):
    # The C-SSRS items beside the `suicide_risk` they derive: a change of both together is not searched, so the
    # answer does not claim that no change exists.
    path = tmp_path / "a.yaml"
    both = {**SCREENED, "suicide_risk": "high", "cssrs_method": False}
    assert decide(load_pack(), both).level.id == "crisis"
    path.write_text(yaml.safe_dump(both))
    out = iop_in_process("check", "-a", str(path), "--why-not", "iop").stdout
    assert out.startswith("No change of up to 3 answers found that leads to Intensive outpatient program (IOP); not")
    assert "cssrs_intent" in out
