"""Lint's claims checked against the engine: what it says fires, fires; what it calls a gap reaches `otherwise`."""

from __future__ import annotations

import itertools

from iop_cli.authoring import lint as analysis
from iop_cli.decide.engine import decide
from iop_cli.decide.space import Search, Space
from iop_cli.decide.values import applicable
from iop_cli.pack.answers import clean_answers


def complete(pack, partial: dict) -> dict:
    """Fill the questions a partial example leaves open with their first representative answer."""
    answers = dict(partial)
    space = Space(pack)
    domains = space.domains
    for question in pack.asked:
        if question.id in answers or question.type == "text" or question.id in space.items:
            continue  # an instrument's items stay blank: the region gives its total (or leaves it blank)
        values, applies, _ = applicable(pack, answers)
        if space.not_chosen(question, values, applies):
            continue
        answers[question.id] = domains[question.id][0]
    return answers


def test_domains_cut_at_the_constants(pack):
    domains = Space(pack).domains
    assert domains["ciwa_ar"] == [0, 9, 10, 11, 18, 19, 20, 21, 67, None]  # optional: may be left blank
    assert domains["cows"] == [0, 12, 13, 14, 23, 24, 25, 26, 48, None]
    assert domains["dsm5_criteria_count"] == [0, 1, 2, 3, 4, 5, 6, 7, 11]
    assert domains["suicide_attempt_past_3_months"] == [True, False]


def test_every_rule_of_the_default_pack_can_decide_and_the_example_proves_it(pack):
    for index, rule in enumerate(pack.rules):
        earlier = pack.rules[:index]
        space = Space(pack)
        search = Search(space, space.reads([rule, *earlier]))

        def first(values, applies, rule=rule, earlier=earlier, space=space):
            mine = space.holds(rule, values, applies)
            before = [space.holds(e, values, applies) for e in earlier]
            if mine is False or any(b is True for b in before):
                return False
            return True if mine is True and all(b is False for b in before) else None

        example = search.first(first, [rule, *earlier])
        assert example is not None, rule.id
        decision = decide(pack, clean_answers(pack, complete(pack, example)))
        assert decision.rule == rule.id, (rule.id, example)


def test_every_gap_region_reaches_otherwise_throughout(pack):
    gaps = [f for f in analysis.lint(pack, gap_examples=5) if f.code == "gap"]
    assert gaps
    for finding in gaps:
        names = list(finding.region)
        for combo in itertools.product(*(finding.region[n] for n in names)):
            answers = complete(pack, dict(zip(names, combo, strict=True)))
            decision = decide(pack, clean_answers(pack, answers))
            assert decision.basis == "otherwise", (finding.message, answers)


def test_the_default_packs_gap_allowance_covers_exactly_its_gaps(pack):
    findings = analysis.lint(pack)
    assert [f for f in findings if f.severity != "info"] == []
    assert all(analysis.allowance(pack, f) is not None for f in findings)


def test_every_rule_and_alert_of_the_default_pack_gets_a_test_case_the_engine_confirms(pack):
    from iop_cli.authoring.lint import test_answers

    for rule in [*pack.rules, *pack.alerts]:
        answers = test_answers(pack, rule.id)
        assert answers is not None, rule.id
        decision = decide(pack, clean_answers(pack, answers))
        assert not decision.missing, (rule.id, decision.missing)
        assert decision.rule == rule.id or rule.id in {a.id for a in decision.alerts}, (rule.id, answers)
