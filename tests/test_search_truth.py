"""The analyses built on the search (lint, reachable levels, impact by region) against the engine on every answer
set: small random packs with totals of items and arithmetic over fields, whose whole answer space is small enough
to place one answer set at a time.

The reference of `test_lint_reference.py` shares the lint's representative answers, so it cannot show that they are
enough. This does: a rule has a finding exactly when no answer set is placed by it; the gap regions (all of them)
hold exactly the answer sets that reach `otherwise`; the levels reachable from partial answers are exactly those of
their completions; and the regions of `rules diff` hold exactly the answer sets two packs place differently."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import yaml

from iop_cli.authoring.diff import impact
from iop_cli.authoring.lint import lint
from iop_cli.decide.engine import decide
from iop_cli.decide.space import Space, changes_to, reachable
from iop_cli.decide.values import applicable
from iop_cli.pack.build import load_pack

from .test_lint_reference import write_random_pack

QUESTIONS = [
    {"id": "kind", "type": "choice", "label": "Kind", "choices": ["a", "b", "c"]},
    {"id": "flag", "type": "yesno", "label": "Flag"},
    {"id": "score", "type": "integer", "label": "Score", "min": 0, "max": 6},
    {"id": "extra", "type": "yesno", "label": "Extra", "ask_if": "kind != 'c'"},
    {"id": "dose", "type": "integer", "label": "Dose", "min": 0, "max": 3, "required": False},
    {"id": "item_1", "type": "integer", "label": "Item 1", "min": 0, "max": 1},
    {"id": "item_2", "type": "integer", "label": "Item 2", "min": 0, "max": 1},
    {"id": "item_3", "type": "integer", "label": "Item 3", "min": 0, "max": 1},
]
TOTALS = ["item_1 + item_2 + item_3", "item_1 + item_2 - item_3"]


def random_pack(rng: random.Random, folder: Path) -> Path:
    questions = [*QUESTIONS, {"id": "total", "type": "integer", "label": "Total", "compute": rng.choice(TOTALS)}]
    k = rng.randint
    atoms = [
        "kind == 'a'",
        "kind in ['b', 'c']",
        "flag",
        "extra",
        "extra is missing",
        "dose is missing",
        "dose is not missing and dose < 2",
        f"score >= {k(1, 5)}",
        f"score + 2 < {k(3, 8)}",  # one field and a number: cut where the test changes
        f"score - 1 in [{k(0, 2)}, {k(3, 5)}]",
        f"score + dose > {k(2, 8)}",  # two fields in one test: every value of each
        f"total >= {k(1, 3)}",  # a total of items: searched as the total
        f"total < {k(0, 2)}",
        f"total == {k(-1, 2)}",
    ]
    return write_random_pack(rng, folder, questions, atoms)


def every_answer_set(pack):
    """Every complete answer set: each question at each of its values, a skipped question left out."""
    asked = pack.asked
    ranges = [
        [True, False]
        if q.type == "yesno"
        else list(q.choice_values)
        if q.type == "choice"
        else list(range(int(q.min), int(q.max) + 1))
        for q in asked
    ]
    ranges = [values if q.required else [*values, None] for q, values in zip(asked, ranges, strict=True)]
    for combo in itertools.product(*ranges):
        answers = {q.id: value for q, value in zip(asked, combo, strict=True) if value is not None}
        if answers["kind"] == "c":
            if not answers["extra"]:
                continue  # extra is skipped: count the set once
            del answers["extra"]
        yield answers


def in_region(region, domains, values) -> bool:
    """Whether these values lie in the region, whose numbers are representatives: a number between two
    representatives decides like both, so it counts as the one below it."""
    for name, allowed in region.items():
        value = values.get(name)
        domain = domains[name]
        if value is not None and value not in domain and isinstance(value, int) and not isinstance(value, bool):
            value = max(v for v in domain if v is not None and v < value)
        if value not in allowed:
            return False
    return True


def test_the_lint_agrees_with_the_engine_on_every_answer_set(tmp_path):
    rng = random.Random(20261203)
    seen = {"gap": 0, "finding": 0, "totals": 0}
    for number in range(40):
        pack = load_pack(random_pack(rng, tmp_path / f"p{number}"))
        space = Space(pack)
        seen["totals"] += "total" in space.totals
        findings = lint(pack, gap_examples=10_000)
        flagged = {f.subject for f in findings if f.code in ("never-fires", "shadowed", "skipped-question")}
        regions = [f.region for f in findings if f.code == "gap"]
        placed: set[str] = set()
        for answers in every_answer_set(pack):
            decision = decide(pack, answers)
            inside = [r for r in regions if in_region(r, space.domains, decision.values)]
            if decision.rule is None:
                assert inside, (pack.rules, answers)  # every unplaced answer set lies in a reported gap
            else:
                placed.add(decision.rule)
                assert not inside, (pack.rules, answers, inside)  # and no placed one does
        assert flagged == {r.id for r in pack.rules} - placed, pack.rules
        for finding in findings:
            if finding.code in ("gap", "shadowed") and finding.example is not None:
                # Examples are answers to asked questions (items in place of a total).
                assert set(finding.example) <= {q.id for q in pack.asked}, finding.example
        seen["gap"] += bool(regions)
        seen["finding"] += bool(flagged)
    assert seen["gap"] >= 10 and seen["finding"] >= 10 and seen["totals"] >= 30, seen


def test_reachable_levels_are_those_of_every_completion(tmp_path):
    rng = random.Random(7)
    checked = 0
    for number in range(10):
        pack = load_pack(random_pack(rng, tmp_path / f"p{number}"))
        space = Space(pack)
        every = list(every_answer_set(pack))
        for _ in range(3):
            sample = rng.choice(every)
            fixed = {k: sample[k] for k in rng.sample(sorted(sample), rng.randint(0, 4))}
            # Each way of answering the rest, with the fixed answers (ignored, as ever, where they do not apply),
            # that leaves no required answer missing.
            decisions = [decide(pack, {**answers, **fixed}) for answers in every]
            expected = {decision.level.id for decision in decisions if not decision.missing}
            found = reachable(space, fixed)
            assert set(found) == expected and len(found) == len(expected), (pack.rules, fixed, found)
            checked += len(expected) > 1
    assert checked >= 12, checked


def edited(rng: random.Random, source: Path, folder: Path) -> Path:
    """A copy of a pack with one change an author might make: the total's formula, a rule's level, two rules
    swapped, or one rule's number moved."""
    pack = yaml.safe_load((source / "pack.yaml").read_text(encoding="utf-8"))
    rules = pack["rules"]
    change = rng.choice(["total", "level", "swap", "number"])
    if change == "total":
        total = pack["questions"][-1]
        total["compute"] = next(t for t in TOTALS if t != total["compute"])
    elif change == "level":
        rule = rng.choice(rules)
        rule["level"] = next(lv for lv in ("low", "mid", "high") if lv != rule["level"])
    elif change == "swap" and len(rules) > 1:
        i, j = rng.sample(range(len(rules)), 2)
        rules[i], rules[j] = rules[j], rules[i]
    else:
        rule = rng.choice(rules)
        rule["when"] = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), rule["when"], count=1)
    folder.mkdir()
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    return folder


def test_impact_regions_hold_exactly_the_answers_placed_differently(tmp_path):
    rng = random.Random(11)
    moved_sets = 0
    for number in range(24):
        old = load_pack(random_pack(rng, tmp_path / f"old{number}"))
        if number % 6 == 5:  # mostly one edit, as an author makes; sometimes another pack altogether
            new = load_pack(random_pack(rng, tmp_path / f"new{number}"))
        else:
            new = load_pack(edited(rng, tmp_path / f"old{number}", tmp_path / f"new{number}"))
        found = impact(old, new, limit=10_000)
        assert found.complete
        for answers in every_answer_set(old):
            before, after = decide(old, answers), decide(new, answers)
            # Each pack sees its own computed total; a region may name it, so check against both packs' values.
            values = {**before.values, **{k: v for k, v in after.values.items() if k not in before.values}}
            inside = [m for m in found.moved if in_region(m.region, found.domains, values)]
            if before.level.id == after.level.id:
                assert not inside, (answers, inside)
            else:
                moved_sets += 1
                assert inside, (old.rules, new.rules, answers)
                assert all((m.old_level, m.new_level) == (before.level.id, after.level.id) for m in inside), (
                    old.rules,
                    new.rules,
                    answers,
                    inside,
                )
                assert all((m.old_rule, m.new_rule) == (before.rule, after.rule) for m in inside)
    assert moved_sets > 100


def test_the_smallest_changes_to_each_level_are_those_of_every_answer_set(tmp_path):
    """For answers A and another level, brute force: the answer sets B placed there, each with the answers of A it
    changes (a value replaced, or cleared where B leaves an asked question blank; a question B skips is not
    changed), and the smallest such sets of three answers or fewer."""
    rng = random.Random(5)
    compared = 0
    for number in range(8):
        pack = load_pack(random_pack(rng, tmp_path / f"p{number}"))
        space = Space(pack)
        every = list(every_answer_set(pack))
        levels = [(answers, decide(pack, answers).level.id) for answers in every]
        for _ in range(3):
            start, level_now = rng.choice(levels)
            for target in {level for _, level in levels} - {level_now}:
                changed_sets = set()
                for other, level in levels:
                    if level != target:
                        continue
                    _, applies, _ = applicable(pack, other)
                    changed = frozenset(
                        k for k, v in start.items() if (k in other and other[k] != v) or (k not in other and applies[k])
                    )
                    changed_sets.add(changed)
                smallest = {c for c in changed_sets if len(c) <= 3 and not any(d < c for d in changed_sets)}
                found = changes_to(space, start, target)
                assert {frozenset(k for k in f if k in start) for f in found} == smallest, (start, target, found)
                for change in found:  # and each change, made (a question it brings in answered any way), leads there
                    made = space.complete({**start, **change}, required_only=True)
                    assert decide(pack, made).level.id == target, (start, change)
                compared += 1
    assert compared >= 30, compared


def small_pack(folder: Path, questions: list, rules: list[tuple[str, str]]) -> Path:
    pack = {
        "pack": {"name": folder.name, "version": "1"},
        "questions": questions,
        "levels": [{"id": lv, "name": lv, "rank": r} for lv, r in (("high", 30), ("mid", 20), ("low", 10))]
        + [{"id": "review", "name": "Review", "rank": 0}],
        "rules": [
            {"id": f"r{i}", "when": when, "level": level, "because": "x"} for i, (when, level) in enumerate(rules)
        ],
        "otherwise": {"level": "review", "because": "No rule fits."},
    }
    folder.mkdir()
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    return folder


def test_a_total_with_an_optional_item_is_missing_when_the_item_is_blank(tmp_path):
    items = [
        {"id": "a", "type": "integer", "label": "A", "min": 0, "max": 3, "required": False},
        {"id": "b", "type": "integer", "label": "B", "min": 0, "max": 3},
        {"id": "t", "type": "integer", "label": "T", "min": 0, "max": 6, "compute": "a + b"},
    ]
    pack = load_pack(small_pack(tmp_path / "p", items, [("t is missing", "high"), ("t >= 5", "mid"), ("t < 5", "low")]))
    assert Space(pack).totals == {}  # searched through its items, since one may be left blank
    assert not [f for f in lint(pack) if f.code in ("never-fires", "shadowed", "gap")]
    assert decide(pack, {"b": 2}).rule == "r0"


def test_lint_says_where_it_is_not_exact(tmp_path):
    decimals = [
        {"id": "x", "type": "number", "label": "X", "min": 0, "max": 10},
        {"id": "y", "type": "number", "label": "Y", "min": 0, "max": 10},
    ]
    pack = load_pack(small_pack(tmp_path / "p", decimals, [("x + y == 1.5", "high"), ("x >= 0", "low")]))
    inexact = [f for f in lint(pack) if f.code == "inexact"]
    assert {f.key for f in inexact} == {"inexact:x", "inexact:y"} and {f.severity for f in inexact} == {"warning"}
    # An author who accepts it says so in the pack, as for any finding.
    text = (tmp_path / "p" / "pack.yaml").read_text()
    allow = "lint:\n  allow:\n    - {finding: 'inexact:x', because: Doses add up.}\n"
    (tmp_path / "p" / "pack.yaml").write_text(text + allow)
    severities = {f.key: f.severity for f in lint(load_pack(tmp_path / "p"))}
    assert severities["inexact:x"] == "info" and severities["inexact:y"] == "warning"


def test_impact_compares_a_blank_with_a_skipped_question_and_whole_numbers_with_decimals(tmp_path):
    asked = [{"id": "f", "type": "yesno", "label": "F"}]
    old = load_pack(
        small_pack(
            tmp_path / "o", [*asked, {"id": "q", "type": "yesno", "label": "Q", "ask_if": "f"}], [("f and q", "high")]
        )
    )
    new = load_pack(
        small_pack(
            tmp_path / "n",
            [*asked, {"id": "q", "type": "yesno", "label": "Q", "required": False}],
            [("q is missing", "mid"), ("f and q", "high")],
        )
    )
    found = impact(old, new)
    assert [(m.old_level, m.new_level, m.text) for m in found.moved] == [("review", "mid", "f=no; q=blank")]
    # A decimal cut of one pack between the other's: the answers between them move too.
    number = [{"id": "x", "type": "number", "label": "X", "min": 0, "max": 10}]
    old = load_pack(small_pack(tmp_path / "o2", number, [("x > 5", "high")]))
    new = load_pack(small_pack(tmp_path / "n2", number, [("x >= 5.5", "high")]))
    assert decide(old, {"x": 5.2}).level.id == "high" and decide(new, {"x": 5.2}).level.id == "review"
    moved = impact(old, new).moved
    assert [(m.old_level, m.new_level, m.text) for m in moved] == [("high", "review", "x over 5 and under 5.5")]
    # And lint shows a decimal gap as the interval it is.
    gaps = [f.message for f in lint(new) if f.code == "gap"]
    assert gaps and gaps[0].endswith("(review): x from 0 to under 5.5")
    # An integer in one pack and a decimal in the other: only whole numbers are compared.
    whole = load_pack(small_pack(tmp_path / "o3", [{**number[0], "type": "integer"}], [("x >= 3", "high")]))
    decimal = load_pack(small_pack(tmp_path / "n3", number, [("x >= 2.5", "high")]))
    found = impact(whole, decimal)
    assert found.moved == [] and "x as a decimal (only NEW accepts it)" in found.unshared


def test_impact_searches_a_total_through_its_items_where_the_packs_give_them_other_ranges(tmp_path):
    def items(a_max, b_max):
        return [
            {"id": "a", "type": "integer", "label": "A", "min": 0, "max": a_max},
            {"id": "b", "type": "integer", "label": "B", "min": 0, "max": b_max},
            {"id": "t", "type": "integer", "label": "T", "min": 0, "max": 8, "compute": "a + b"},
        ]

    old = load_pack(small_pack(tmp_path / "o", items(3, 5), [("t >= 7", "high")]))
    new = load_pack(small_pack(tmp_path / "n", items(5, 3), [("t >= 8", "high")]))
    found = impact(old, new)  # both accept a and b up to 3 only: a total of 6 at most, placed alike
    assert found.complete and found.moved == []
    assert "a above the range of the other pack (only NEW accepts it)" in found.unshared
