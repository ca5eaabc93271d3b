"""The lint against the engine on every answer set: small random packs with totals of items and arithmetic over
fields, whose whole answer space is small enough to place one answer set at a time.

The reference of `test_lint_reference.py` shares the lint's representative answers, so it cannot show that they are
enough. This does: a rule has a finding exactly when no answer set is placed by it, and the gap regions (all of
them) hold exactly the answer sets that reach `otherwise`."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import yaml

from iop_cli.authoring.lint import lint
from iop_cli.authoring.search import Space
from iop_cli.decide.engine import decide
from iop_cli.pack.build import load_pack

QUESTIONS = [
    {"id": "kind", "type": "choice", "label": "Kind", "choices": ["a", "b", "c"]},
    {"id": "flag", "type": "yesno", "label": "Flag"},
    {"id": "score", "type": "integer", "label": "Score", "min": 0, "max": 6},
    {"id": "extra", "type": "yesno", "label": "Extra", "ask_if": "kind != 'c'"},
    {"id": "dose", "type": "integer", "label": "Dose", "min": 0, "max": 3},
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
        f"score >= {k(1, 5)}",
        f"score + 2 < {k(3, 8)}",  # one field and a number: cut where the test changes
        f"score - 1 in [{k(0, 2)}, {k(3, 5)}]",
        f"score + dose > {k(2, 8)}",  # two fields in one test: every value of each
        f"total >= {k(1, 3)}",  # a total of items: searched as the total
        f"total < {k(0, 2)}",
        f"total == {k(-1, 2)}",
    ]
    rules = []
    for i in range(k(2, 6)):
        parts = rng.sample(atoms, k(1, 3))
        joined = f" {rng.choice(['and', 'or'])} ".join(f"({p})" for p in parts)
        rules.append({"id": f"r{i}", "when": joined, "level": rng.choice(["low", "mid", "high"]), "because": "x"})
    pack = {
        "pack": {"name": "random", "version": "1"},
        "questions": questions,
        "levels": [{"id": lv, "name": lv, "rank": r} for lv, r in (("high", 30), ("mid", 20), ("low", 10))]
        + [{"id": "review", "name": "Review", "rank": 0}],
        "rules": rules,
        "otherwise": {"level": "review", "because": "No rule fits."},
    }
    folder.mkdir()
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    return folder


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
    for combo in itertools.product(*ranges):
        answers = dict(zip((q.id for q in asked), combo, strict=True))
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
            value = max(v for v in domain if v < value)
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
