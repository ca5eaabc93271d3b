"""This person's reason (issue 13, item 1): the answers that decided, stated with the person's values, and no text
shown for a decision that states what its rule did not establish."""

from __future__ import annotations

import re

import pytest

from iop_cli.decide.engine import decide
from iop_cli.decide.explain import deciding_fields, grounds, say
from iop_cli.decide.space import Search, Space
from iop_cli.lang import expr
from iop_cli.pack.build import load_pack
from iop_cli.pack.model import Placement
from iop_cli.problems import Mark

from .test_interview import CANDIDATE

# A moderate opioid use disorder in moderate withdrawal, at home with no one who uses, but no support for recovery.
OPIOIDS = {
    **{k: v for k, v in CANDIDATE.items() if k != "client_id"},
    "age": 30,
    "primary_substance": "opioids",
    "use_frequency": "daily",
    "dsm5_criteria_count": 5,
    "ciwa_ar": None,
    "cows": 15,
    "home_supportive": False,
}
OPIOIDS = {k: v for k, v in OPIOIDS.items() if v is not None}

# Phrases a rule's `because` or its level's summary might use, and what each states about the person. Every text
# shown with a placement is checked: where it uses a phrase, every person the rule places must meet the condition.
CLAIMS = {
    r"safe, supportive home|safe and supportive|supportive home|(?<!without a home that )supports recovery": (
        "home_supportive"
    ),
    r"home where no one uses|no one at home uses|safe home|safe, supportive home|safe and supportive": (
        "not household_substance_use and housing != 'homeless'"
    ),
    r"(?<!without )recent use": "use_frequency != 'none_past_month'",
    r"without recent use|no use in the past month": "use_frequency == 'none_past_month'",
    r"mild or moderate disorder": "severity in ['mild', 'moderate']",
    r"(?<!without a )severe disorder": "severity == 'severe'",
    r"without a substance use disorder": "severity == 'none'",
    r"residential treatment ended": "completed_residential_past_30_days",
    r"without support at home": "not home_supportive",
    r"moderate psychiatric symptoms(?! or)": "psychiatric_symptoms == 'moderate'",
}


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def test_the_php_reason_names_the_withdrawal_score_and_not_a_supportive_home(pack):
    decision = decide(pack, OPIOIDS)
    assert decision.level.id == "php" and decision.rule == "php_moderate_symptoms"
    assert decision.reason.startswith(
        "A substance use disorder; opioids in use; COWS 15 (moderate withdrawal, 13-24). "
    )
    assert [g.field for g in decision.grounds] == ["sud", "uses_opioids", "cows"]
    shown = " ".join([decision.reason, decision.level.summary])
    assert "supportive" not in shown and "psychiatric symptoms" not in decision.reason.split(".")[0]


def test_the_crisis_reason_says_which_trigger_applied(pack):
    decision = decide(pack, {**OPIOIDS, "homicidal_ideation": True})
    assert decision.level.id == "crisis"
    assert decision.reason.startswith("Thoughts of harming someone else. ")
    assert "suicide" not in decision.reason.split(".")[0]


def test_an_or_names_the_first_part_that_held_and_an_and_every_part(pack):
    rule = next(r for r in pack.rules if r.id == "residential_unsafe_home")
    values = {"sud": True, "housing": "stable", "household_substance_use": True}
    assert deciding_fields(rule.when.root, values) == ["sud", "household_substance_use"]
    values = {"sud": True, "housing": "homeless", "household_substance_use": True}
    assert deciding_fields(rule.when.root, values) == ["sud", "housing"]


def test_a_number_is_stated_with_its_band(pack):
    cows, ciwa = pack.questions["cows"], pack.questions["ciwa_ar"]
    assert say(cows, 15) == "COWS 15 (moderate withdrawal, 13-24)"
    assert say(cows, 40) == "COWS 40 (severe withdrawal, 37 or more)"
    assert say(ciwa, 9) == "CIWA-Ar 9 (minimal withdrawal, 0-9)"


def test_grounds_state_only_the_persons_own_answers(pack):
    decision = decide(pack, OPIOIDS)
    for ground in grounds(pack, pack.rule(decision.rule), decision.values):  # type: ignore[arg-type]
        assert ground.value == decision.values[ground.field]


def claim_rule(pack, pattern: str, condition: str) -> Placement:
    fields = {q.id: q.field_type for q in pack.questions.values()}
    return Placement(f"claim_{abs(hash(pattern))}", expr.parse(condition, fields), "", Mark("test", 0, 0))


def counterexample(pack, space: Space, rule, claim) -> dict | None:
    """Answers under which `rule` places the person (every rule before it fails, it holds) while `claim` fails,
    found by the exact search over the fields those rules and the claim read."""
    index = pack.rules.index(rule)
    before = pack.rules[:index]

    def verdict(values, applies):
        earlier = [space.holds(r, values, applies) for r in before]
        holds, held = space.holds(rule, values, applies), space.holds(claim, values, applies)
        if True in earlier or holds is False or held is True:
            return False
        if all(e is False for e in earlier) and holds is True and held is False:
            return True
        return None

    rules = [*before, rule, claim]
    # The claim's fields first, then the rule's, then the rest: a branch ends as soon as the claim fails while
    # an earlier rule is bound to hold, rather than after every withdrawal and crisis answer is tried.
    fields = list({q.id: q for q in [*space.reads([claim]), *space.reads([rule]), *space.reads(rules)]}.values())
    return Search(space, fields).first(verdict, rules)


def test_every_text_shown_with_a_placement_is_established_by_its_rule(pack):
    """Each placement rule's `because` and its level's summary, against the conditions of the phrases they use."""
    space = Space(pack, alerts=False)
    checked = 0
    for rule in pack.rules:
        text = " ".join([rule.because, pack.levels[rule.level].summary]).lower()
        for pattern, condition in CLAIMS.items():
            if not re.search(pattern, text):
                continue
            checked += 1
            found = counterexample(pack, space, rule, claim_rule(pack, pattern, condition))
            assert found is None, f"{rule.id}: '{pattern}' is not established; e.g. {found}"
    assert checked >= 6  # the phrases are in use: the test would see a false one


def test_the_check_finds_a_text_its_rule_does_not_establish(pack):
    """The old PHP reason ("with a safe home to return to at night") against a claim of support at home."""
    space = Space(pack, alerts=False)
    rule = next(r for r in pack.rules if r.id == "php_moderate_symptoms")
    found = counterexample(pack, space, rule, claim_rule(pack, "supportive", "home_supportive"))
    assert found is not None and found.get("home_supportive") is False
