"""What would change a placement (issue 13, item 3): the nearest sets of changed answers that lead to each other
level, exact against a brute-force search over the representative answers, in the reports, the JSON and
`iop check --why-not`."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml

from iop_cli.decide.changes import changes, nearest, placement
from iop_cli.decide.engine import decide
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
